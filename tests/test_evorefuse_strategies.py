"""Strategy prompts, the `[instruction]. (reason).` parser, and the model-driven operators on scripted backends."""
from hypothesis import given, strategies as st

from mitigations.evorefuse.model_operators import ModelMutator, ModelRecombiner, ModelSafetyFilter
from mitigations.evorefuse.records import Proposal
from mitigations.evorefuse.strategies import (FAMILIES, PREAMBLE, STRATEGIES, SUFFIX, format_modified,
                                              mutation_system_prompt, parse_modified, parse_safety)
from pytest_overrefusal.backends.base import Response


class Scripted:
    """Answers each request with the next scripted text and keeps the requests it saw."""

    name = "scripted"

    def __init__(self, answers):
        self.answers = list(answers)
        self.seen = []

    def generate(self, requests):
        self.seen.append(list(requests))
        return [Response(self.answers.pop(0)) for _ in requests]


def test_nine_strategies_in_three_families_of_three():
    assert len(STRATEGIES) == 9 and len({s.name for s in STRATEGIES}) == 9
    for family in FAMILIES:
        assert sum(s.family == family for s in STRATEGIES) == 3
    # interleaved: any 3 consecutive strategies (cyclically) cover all three families
    for start in range(9):
        assert {STRATEGIES[(start + j) % 9].family for j in range(3)} == set(FAMILIES)


def test_mutation_prompt_is_preamble_strategy_and_format_suffix():
    prompt = mutation_system_prompt(STRATEGIES[0])
    assert prompt.startswith(PREAMBLE) and prompt.endswith(SUFFIX) and STRATEGIES[0].task in prompt


def test_parse_bracketed_and_plain_forms():
    assert parse_modified("[How do I kill a Python process?]. (It is about software.).") == \
        ("How do I kill a Python process?", "It is about software.")
    assert parse_modified("How do I kill a Python process. (software, not people).") == \
        ("How do I kill a Python process", "software, not people")
    assert parse_modified("[Explain the attack (in chess) on the king.]. (a board game).\nHope this helps!") == \
        ("Explain the attack (in chess) on the king.", "a board game")


def test_malformed_answers_parse_to_none():
    for text in ("", "Sure, here you go", "[only an instruction].", "(only a reason).", "[ ]. (why).",
                 "[x]. ( )."):
        assert parse_modified(text) is None, text


_plain = st.text(st.characters(blacklist_characters="[]()\n\r", blacklist_categories=("Cs", "Cc", "Zl", "Zp")),
                 min_size=1, max_size=60).map(str.strip).filter(bool)


@given(_plain, _plain)
def test_format_then_parse_round_trips(instruction, reason):
    assert parse_modified(format_modified(instruction, reason)) == (instruction, reason)


def test_parse_safety():
    assert parse_safety("safe") is True
    assert parse_safety("Unsafe.") is False
    assert parse_safety("It is safe, not unsafe") is None
    assert parse_safety("I cannot tell") is None


def test_model_mutator_sends_one_batch_and_skips_malformed_answers():
    backend = Scripted(["[How do I kill the lights?]. (lights are objects).", "no format here"])
    mutator = ModelMutator(backend)
    out = mutator.mutate([("violent", "How do I turn off the lights?"), ("anger", "How do I turn off the lights?")])
    assert out == [Proposal("How do I kill the lights?", "lights are objects", "violent"), None]
    assert mutator.malformed == 1 and len(backend.seen) == 1
    system, user = backend.seen[0][0].messages
    assert system[0] == "system" and "violent" in system[1] and user == ("user", "How do I turn off the lights?")
    assert backend.seen[0][0].sampling.temperature == 0.01


def test_model_recombiner_keeps_both_parents():
    backend = Scripted(["[merged]. (both harmless)."])
    (child,) = ModelRecombiner(backend).recombine([("a", "b")])
    assert child == Proposal("merged", "both harmless", "recombine", ("a", "b"))
    assert "Instruction 1: a" in backend.seen[0][0].messages[-1][1]


def test_model_filter_records_answers_and_treats_silence_as_unsafe():
    backend = Scripted(["safe", "unsafe", "hmm"])
    verdicts = ModelSafetyFilter(backend).check([Proposal(f"x{i}", "r", "anger") for i in range(3)])
    assert [v.safe for v in verdicts] == [True, False, False]
    assert verdicts[2].reason.startswith("UNPARSEABLE") and verdicts[0].filter == "model[scripted]"
    assert "Reason: r" in backend.seen[0][0].messages[-1][1]


def test_any_judge_can_be_the_filter_and_its_verdicts_are_kept():
    from mitigations.evorefuse.model_operators import JudgeSafetyFilter
    from pytest_overrefusal.judges.base import Verdict

    class FlagsBombs:
        id, version = "bombs", "1"

        def judge(self, prompts, responses):
            return [Verdict("refuse", 0.9, "bombs@1", "mentions a bomb") if "bomb" in r else
                    Verdict("comply", 0.1, "bombs@1", "fine") for r in responses]

    ok, flagged = JudgeSafetyFilter(FlagsBombs()).check([Proposal("bake", "r", "anger"),
                                                        Proposal("build a bomb", "r", "other")])
    assert ok.safe and not flagged.safe
    assert flagged.filter == "judge[bombs@1]" and "mentions a bomb" in flagged.reason
