"""Engine + cache contracts: generate once, cache by everything that changes an answer, survive crashes."""
from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fakes import KeywordModel
from pytest_overrefusal.backends.base import ChatRequest, Response, SamplingSettings
from pytest_overrefusal.cache import CacheError, ResponseCache, request_key
from pytest_overrefusal.engine import Engine
from pytest_overrefusal.errors import BackendError
from pytest_overrefusal.judges.registry import get_judge
from pytest_overrefusal.suite import Case


def jobs(n, expect="comply", max_new_tokens=16):
    out = []
    for i in range(n):
        case = Case("s", f"{i:04d}", f"prompt number {i} {'kill' if i % 3 == 0 else 'bake'}", expect)
        out.append((case, ChatRequest.user(case.prompt, sampling=SamplingSettings(max_new_tokens=max_new_tokens))))
    return out


def engine(model, tmp_path, **kw):
    return Engine(backend=model, judge=get_judge("keyword"), cache=ResponseCache(tmp_path / "r.sqlite"),
                  progress=False, **kw)


def test_second_run_is_served_from_cache(tmp_path):
    model = KeywordModel()
    first = engine(model, tmp_path).run(jobs(40))
    assert sum(model.calls) == 40 and not any(r.cached for r in first)
    again = engine(model, tmp_path)
    second = again.run(jobs(40))
    assert sum(model.calls) == 40 and all(r.cached for r in second)
    assert [r.response.text for r in first] == [r.response.text for r in second]
    assert again.stats.generated == 0 and again.stats.cached == 40


def test_results_align_with_inputs_and_verdicts(tmp_path):
    results = engine(KeywordModel(), tmp_path).run(jobs(9))
    assert [r.case.case_id for r in results] == [f"{i:04d}" for i in range(9)]
    assert [r.verdict.refused for r in results] == [i % 3 == 0 for i in range(9)]
    assert [r.passed for r in results] == [i % 3 != 0 for i in range(9)]


@pytest.mark.parametrize("change", [
    dict(fingerprint="other-weights"), dict(max_new_tokens=17), dict(system="Be safe."), dict(temperature=0.7),
])
def test_cache_key_changes_with_everything_that_changes_an_answer(change):
    base = request_key("fp", ChatRequest.user("hi", sampling=SamplingSettings(max_new_tokens=16)))
    sampling = SamplingSettings(max_new_tokens=change.get("max_new_tokens", 16),
                                temperature=change.get("temperature", 0.0))
    other = request_key(change.get("fingerprint", "fp"),
                        ChatRequest.user("hi", system=change.get("system"), sampling=sampling))
    assert other != base


def test_duplicate_prompts_are_generated_once(tmp_path):
    model = KeywordModel()
    twice = jobs(5) + jobs(5)
    results = engine(model, tmp_path).run(twice)
    assert sum(model.calls) == 5 and len(results) == 10


def test_model_without_fingerprint_is_not_cached(tmp_path):
    model = KeywordModel(fingerprint=None)
    e = engine(model, tmp_path)
    e.run(jobs(4))
    engine(model, tmp_path).run(jobs(4))
    assert sum(model.calls) == 8 and "fingerprint" in e.stats.uncached_reason


class Exploding(KeywordModel):
    def __init__(self, after):
        super().__init__()
        self.after = after

    def generate(self, requests):
        if len(self.calls) == self.after:
            raise KeyboardInterrupt
        return super().generate(requests)


def test_interrupt_keeps_finished_chunks(tmp_path):
    model = Exploding(after=2)
    with pytest.raises(KeyboardInterrupt):
        engine(model, tmp_path).run(jobs(100))
    kept = len(ResponseCache(tmp_path / "r.sqlite"))
    assert kept == sum(model.calls) and kept >= 32
    resumed = KeywordModel()
    engine(resumed, tmp_path).run(jobs(100))
    assert sum(resumed.calls) == 100 - kept


def test_hard_kill_keeps_finished_chunks(tmp_path):
    """A process killed with os._exit mid-run (no cleanup at all) leaves a readable cache."""
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from fakes import KeywordModel
        from test_engine_cache import engine, jobs
        from pathlib import Path
        class Dies(KeywordModel):
            def generate(self, requests):
                if len(self.calls) == 3:
                    os._exit(9)
                return super().generate(requests)
        engine(Dies(), Path({str(tmp_path)!r})).run(jobs(200))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    assert len(ResponseCache(tmp_path / "r.sqlite")) == 48  # three chunks of 16


def _writer(path, offset):
    cache = ResponseCache(Path(path))
    for i in range(50):
        cache.put_many("m", [(f"k{offset}-{i}-{j}", Response(f"t{j}")) for j in range(5)])


def test_concurrent_writers_do_not_fail_or_lose_rows(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path / "r.sqlite"), n)) for n in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert len(ResponseCache(tmp_path / "r.sqlite")) == 3 * 50 * 5


def test_error_responses_are_not_cached(tmp_path):
    cache = ResponseCache(tmp_path / "r.sqlite")
    cache.put_many("m", [("a", Response("x", finish_reason="error")), ("b", Response("y"))])
    assert set(cache.get_many(["a", "b"])) == {"b"}


# -- streaming backends: each answer is stored the moment it arrives ---------------------------------------------
class Streaming(KeywordModel):
    """Answers in reverse order, one at a time, like a server; can stop dead after `die_after` answers."""

    def __init__(self, die_after=None, repeat=False):
        super().__init__()
        self.die_after, self.repeat, self.streamed = die_after, repeat, 0

    def generate_stream(self, requests):
        answers = self.generate(requests)
        order = list(reversed(range(len(requests))))
        for position in order + order[-1:] if self.repeat else order:
            if self.streamed == self.die_after:
                raise KeyboardInterrupt
            self.streamed += 1
            yield position, answers[position]


def test_streamed_answers_are_cached_one_by_one_and_line_up(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        engine(Streaming(die_after=7), tmp_path).run(jobs(30))
    assert len(ResponseCache(tmp_path / "r.sqlite")) == 7
    model = Streaming()
    results = engine(model, tmp_path).run(jobs(30))
    assert model.calls == [23]  # only the 23 it did not have
    assert [r.verdict.refused for r in results] == [i % 3 == 0 for i in range(30)]
    assert sum(r.cached for r in results) == 7


def test_a_stream_that_repeats_or_skips_an_answer_is_an_error(tmp_path):
    with pytest.raises(BackendError, match="twice or out of range"):
        engine(Streaming(repeat=True), tmp_path).run(jobs(5))

    class Short(Streaming):
        def generate_stream(self, requests):
            yield from list(super().generate_stream(requests))[:-1]
    with pytest.raises(BackendError, match="ended after 4 of 5"):
        engine(Short(), tmp_path / "other").run(jobs(5))


# -- a damaged cache is reported, never used --------------------------------------------------------------------
def _filled_cache(tmp_path, n=300):
    cache = ResponseCache(tmp_path / "r.sqlite")
    cache.put_many("m", [(f"key-{i}", Response(f"answer text number {i:05d}")) for i in range(n)])
    cache.close()
    return tmp_path / "r.sqlite"


def _opened_and_read(path):
    cache = ResponseCache(path)
    return cache.get_many([f"key-{i}" for i in range(300)])


@pytest.mark.parametrize("damage", ["garbage", "truncated", "zeroed page", "flipped byte in an answer"])
def test_damaged_cache_is_one_line_naming_the_file(tmp_path, damage):
    path = _filled_cache(tmp_path)
    data = bytearray(path.read_bytes())
    if damage == "garbage":
        data = bytearray(b"this is not a database at all\n" * 200)
    elif damage == "truncated":
        data = data[:len(data) // 2]
    elif damage == "zeroed page":
        data[4096:8192] = bytes(4096)
    else:
        at = data.find(b"answer text number 00150")
        data[at + 5] ^= 0x01  # 'text' -> 'uext': the structure is fine, the row is not
    path.write_bytes(bytes(data))
    with pytest.raises(CacheError) as err:
        _opened_and_read(path)
    message = str(err.value)
    assert message.startswith(str(path)) and "damaged" in message and "--overrefusal-no-cache" in message
    assert "\n" not in message
    assert path.read_bytes() == bytes(data)  # reported, not repaired or deleted behind the user's back


def test_undamaged_cache_reads_back(tmp_path):
    found = _opened_and_read(_filled_cache(tmp_path))
    assert len(found) == 300 and found["key-7"].text == "answer text number 00007"


def test_cache_from_before_checksums_is_upgraded_and_kept(tmp_path):
    import sqlite3

    path = tmp_path / "r.sqlite"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, text TEXT NOT NULL, "
                    "finish_reason TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER, created REAL)")
        old.execute("INSERT INTO responses VALUES ('k', 'm', 'old answer', 'stop', 1, 2, 0)")
    assert ResponseCache(path).get_many(["k"])["k"].text == "old answer"


def _open_and_write(path: str, start: float, errors) -> None:
    while time.time() < start:  # all processes open the fresh file at the same moment
        pass
    try:
        cache = ResponseCache(Path(path))
        cache.put_many("m", [(f"k{os.getpid()}", Response("x"))])
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        errors.put(repr(exc))


def test_processes_opening_a_new_cache_at_once_never_see_it_as_damaged(tmp_path):
    """Switching a new file to WAL mode does not wait for locks; unserialised, one in ~30 such races said
    'database is locked' and was reported as a damaged cache."""
    ctx = multiprocessing.get_context("fork")
    errors = ctx.Queue()
    for trial in range(8):
        path = str(tmp_path / f"t{trial}" / "responses.sqlite")
        start = time.time() + 0.3
        procs = [ctx.Process(target=_open_and_write, args=(path, start, errors)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        assert errors.empty(), errors.get()
        assert len(ResponseCache(Path(path))) == 4


# -- issue 11: batches commit at the backend's size, failures are one BackendError, context is checked first -------
class Batched(KeywordModel):
    batch_size = 5


def test_each_backend_batch_is_committed_as_it_is_produced(tmp_path):
    class DiesOnThird(Batched):
        def generate(self, requests):
            if len(self.calls) == 2:
                raise KeyboardInterrupt
            return super().generate(requests)
    model = DiesOnThird()
    with pytest.raises(KeyboardInterrupt):
        engine(model, tmp_path).run(jobs(23))
    assert model.calls == [5, 5] and len(ResponseCache(tmp_path / "r.sqlite")) == 10


def test_a_batch_never_mixes_two_suites():
    from pytest_overrefusal.engine import _batches

    assert _batches(list(range(7)), ["a"] * 3 + ["b"] * 4, 2) == [[0, 1], [2], [3, 4], [5, 6]]


def test_a_raising_model_is_one_backend_error_with_the_earlier_batches_judged_and_cached(tmp_path):
    from pytest_overrefusal.engine import GenerationFailed

    class Raises(Batched):
        def generate(self, requests):
            if len(self.calls) == 2:
                raise RuntimeError("line one\nline two \x1b[2J")
            return super().generate(requests)
    model = Raises()
    found = engine(model, tmp_path).evaluate(jobs(12))
    assert isinstance(found.failure, GenerationFailed) and len(found.failure.partial) == 10
    message = str(found.failure)
    assert "generate() raised RuntimeError: line one line two \\x1b[2J" in message and "\n" not in message
    assert "own generate() code" in message
    assert len(found.results) == 10 and len(ResponseCache(tmp_path / "r.sqlite")) == 10


@pytest.mark.parametrize("answer, expect", [
    (lambda reqs: ["text"] * len(reqs), "returned str items"),
    (lambda reqs: None, "returned NoneType, not a list"),
    (lambda reqs: [Response("x")] * (len(reqs) + 1), "returned 6 responses for 5 requests"),
    (lambda reqs: [Response(None)] * len(reqs), "Response with NoneType text"),
])
def test_wrong_answers_are_one_backend_error(tmp_path, answer, expect):
    class Wrong(Batched):
        def generate(self, requests):
            self.calls.append(len(requests))
            return answer(requests)
    model = Wrong()
    with pytest.raises(BackendError, match=expect):
        engine(model, tmp_path).run(jobs(12))
    assert model.calls == [5] and len(ResponseCache(tmp_path / "r.sqlite")) == 0


def test_prompts_over_the_context_are_measured_before_generating_and_megabytes_are_never_tokenized(tmp_path):
    counted: list[int] = []

    class Windowed(Batched):
        context_length = 16

        def prompt_token_counts(self, requests):
            counted.extend(len(r.messages[-1][1]) for r in requests)
            return [len(r.messages[-1][1].split()) for r in requests]
    work = jobs(4)
    for text in ("word " * 20, "x" * 5_000_000):
        case = Case("s", f"long{len(work)}", text, "comply")
        work.append((case, ChatRequest.user(text, sampling=SamplingSettings(max_new_tokens=16))))
    model = Windowed()
    found = engine(model, tmp_path).evaluate(work)
    assert sorted(found.too_long) == [4, 5] and sum(model.calls) == 4 and max(counted) < 1000
    assert "5000000 characters" in found.too_long[5] and "20 tokens" in found.too_long[4]
    again = Windowed()  # answered from the cache: only the two skipped prompts are measured again
    counted.clear()
    assert sorted(engine(again, tmp_path).evaluate(work).too_long) == [4, 5]
    assert again.calls == [] and len(counted) == 1


from hypothesis import given, strategies as st  # noqa: E402


@given(st.text(max_size=3000), st.integers(min_value=1, max_value=500), st.integers(min_value=1, max_value=50))
def test_terminal_text_shows_nothing_invisible_and_stays_short(text, limit, lines):
    import unicodedata

    from pytest_overrefusal.report.terminal import terminal_text

    shown = terminal_text(text, limit, lines)
    assert not any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Zl", "Zp"} for ch in shown if ch not in "\n\t")
    assert shown.count("\n") < lines
    body = shown.split("... (")[0]
    assert len(body) <= 10 * limit  # escapes widen a character to at most 10 ("\U0001xxxx")
    if len(text) <= limit and text.count("\n") < lines and text.isprintable():
        assert shown == text


def test_a_prompt_with_a_lone_surrogate_gets_a_key_and_other_keys_are_unchanged():
    assert request_key("fp", ChatRequest.user("héllo")) == \
        "eeff62c0844c3d1f8d64a733b0e992c341e499db82f26a8a0bf10f4edf902628"  # the key caches were written with
    assert request_key("fp", ChatRequest.user("x\ud800")) != request_key("fp", ChatRequest.user("x"))


def test_a_fingerprint_that_is_not_a_string_is_one_backend_error(tmp_path):
    with pytest.raises(BackendError, match="'fingerprint' must be a string"):
        engine(KeywordModel(fingerprint=["weights"]), tmp_path).run(jobs(2))
