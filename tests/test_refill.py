"""Continuous batching across suites (capability `refill`): one call answers every suite, answers are recorded
and stored as they end, and a failing call still fails only the suite that causes it."""
from __future__ import annotations

import pytest

from pytest_overrefusal.backends.base import ChatRequest, SamplingSettings
from pytest_overrefusal.cache import ResponseCache
from pytest_overrefusal.continuation import Partial
from pytest_overrefusal.engine import Engine
from pytest_overrefusal.judges.registry import get_judge
from pytest_overrefusal.suite import Case

REFUSAL = "I'm sorry, but I cannot help with that. It is harmful. Please stay safe. Ask me something else. " * 3
ANSWER = "Sure. Bread needs flour. " + "Knead it well. " * 40


class RefillWords:
    """One word per token; a prompt with 'kill' gets a refusal. Answers every request of a call, calling
    `on_done` as each ends; `fail_on` (a word) makes a call that reaches such a prompt raise."""

    name = "refill-words"
    fingerprint = "refill-words-v1"
    capabilities = frozenset({"continue", "stop_when", "refill"})
    batch_size = 4

    def __init__(self, fail_on: str | None = None, stop_after: int | None = None):
        self.calls: list[tuple[int, bool]] = []  # (requests, with on_done)
        self.fail_on, self.stop_after = fail_on, stop_after

    def generate(self, requests):
        raise AssertionError("verdict decoding must not fall back to generate()")

    def continue_generation(self, requests, partials, max_new_tokens, stop_when=None, on_done=None):
        self.calls.append((len(requests), on_done is not None))
        out = []
        for k, (request, partial) in enumerate(zip(requests, partials)):
            prompt = request.messages[-1][1]
            if self.fail_on and self.fail_on in prompt:
                raise RuntimeError(f"cannot answer {prompt!r}")
            if self.stop_after is not None and k == self.stop_after:
                raise KeyboardInterrupt
            words = (REFUSAL if "kill" in prompt else ANSWER).split()
            n = partial.new_tokens if partial else 0
            while n < min(max_new_tokens, len(words)):
                n += 1
                if stop_when is not None and stop_when(k, " ".join(words[:n])):
                    break
            out.append(Partial(" ".join(words[:n]), tuple(range(n)), eos=n == len(words), new_tokens=n))
            if on_done is not None:
                on_done(k, out[-1])
        return out


def jobs(suites: dict[str, int]):
    out = []
    for suite, n in suites.items():
        for i in range(n):
            case = Case(suite, f"{i:04d}", f"{suite} prompt {i} {'kill' if i % 2 else 'bake'}", "comply")
            out.append((case, ChatRequest.user(case.prompt, sampling=SamplingSettings(max_new_tokens=200))))
    return out


def engine(model, tmp_path=None, decoding="verdict"):
    cache = ResponseCache(tmp_path / "r.sqlite") if tmp_path is not None else None
    return Engine(backend=model, judge=get_judge("keyword"), cache=cache, progress=False, decoding=decoding)


def test_one_call_answers_every_suite_and_gives_the_flags_of_batches_per_suite():
    model = RefillWords()
    found = engine(model).evaluate(jobs({"a": 5, "b": 3, "c": 6}))
    assert found.failure is None and model.calls == [(14, True)]  # more than one batch (4), three suites
    per_suite = RefillWords()
    per_suite.capabilities = RefillWords.capabilities - {"refill"}
    batched = engine(per_suite).evaluate(jobs({"a": 5, "b": 3, "c": 6}))
    assert len(per_suite.calls) == 5 and all(n <= 4 for n, _ in per_suite.calls)
    assert [(r.case.case_id, r.verdict.refused, r.response.text) for r in found.results] == \
        [(r.case.case_id, r.verdict.refused, r.response.text) for r in batched.results]
    assert {r.response.finish_reason for r in found.results} == {"verdict"}


def test_a_failing_call_across_suites_is_retried_suite_by_suite_and_fails_only_its_suite():
    model = RefillWords(fail_on="c prompt 2")
    found = engine(model).evaluate(jobs({"a": 5, "b": 3, "c": 6}))
    assert found.failure is not None and "cannot answer" in str(found.failure) and "\n" not in str(found.failure)
    answered = {(r.case.suite_id, r.case.case_id) for r in found.results}
    # every answer of a and b; of c only those that ended before the failure (kept: nothing computed is lost)
    assert answered == {("a", f"{i:04d}") for i in range(5)} | {("b", f"{i:04d}") for i in range(3)} | \
        {("c", "0000"), ("c", "0001")}
    assert model.calls[0] == (14, True) and all(not refill for _, refill in model.calls[1:])


def test_a_failing_call_within_one_suite_is_not_retried():
    model = RefillWords(fail_on="a prompt 3")
    found = engine(model).evaluate(jobs({"a": 6}))
    assert found.failure is not None and model.calls == [(6, True)]


def test_answers_that_ended_before_a_kill_are_stored(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        engine(RefillWords(stop_after=6), tmp_path).evaluate(jobs({"a": 5, "b": 5}))
    again = RefillWords()
    found = engine(again, tmp_path).evaluate(jobs({"a": 5, "b": 5}))
    # the six that ended are read back (verdict-stopped answers live in the partials table); four are generated
    assert len(found.results) == 10 and again.calls == [(4, True)]


def test_each_answer_of_a_refilling_call_is_stored_once(tmp_path, monkeypatch):
    from pytest_overrefusal.continuation import PartialStore

    stored: list[str] = []
    real = PartialStore.put_many

    def spy(self, name, rows):
        stored.extend(key for key, _ in rows)
        return real(self, name, rows)
    monkeypatch.setattr(PartialStore, "put_many", spy)
    found = engine(RefillWords(), tmp_path).evaluate(jobs({"a": 5, "b": 3, "c": 6}))
    assert len(found.results) == 14 and len(stored) == len(set(stored)) == 14
