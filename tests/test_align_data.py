"""Alignment records: building, JSONL, prompt sources, and the separation of training from evaluated prompts."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from mitigations.align import (COMPLIANT_ANSWER, REFUSAL_ANSWER, AlignDataError, AlignRecord, answers_from_model,
                               build_records, dpo_pairs, load_prompts, near_duplicates, read_jsonl, sft_examples,
                               suite_cases, synthetic_harmful, synthetic_pseudo_malicious, write_jsonl)
from pytest_overrefusal.backends.toy_model import KEYWORDS

STARTER = ("starter-pseudo-malicious", "starter-harmful")


@pytest.fixture(scope="module")
def starter_prompts() -> list[str]:
    return [case.prompt for suite in STARTER for case in suite_cases(suite)]


def test_synthetic_sources_never_come_close_to_a_starter_prompt(starter_prompts):
    assert len(starter_prompts) == 188
    generated = synthetic_pseudo_malicious(2000, seed=0) + synthetic_harmful(2000, seed=1)
    assert not set(generated) & set(starter_prompts)
    # the threshold at which the loop refuses to train; shared frames alone ("What's the best way to ...") stay below
    assert near_duplicates(generated, starter_prompts, threshold=0.8) == []


def test_synthetic_sources_are_deterministic_and_varied():
    assert synthetic_pseudo_malicious(200, seed=3) == synthetic_pseudo_malicious(200, seed=3)
    assert synthetic_pseudo_malicious(200, seed=3) != synthetic_pseudo_malicious(200, seed=4)
    pseudo, harmful = synthetic_pseudo_malicious(2000), synthetic_harmful(2000)
    assert len(set(pseudo)) > 500 and len(set(harmful)) > 1000
    # the point of the pseudo set: most prompts carry a word the toy model refuses on sight
    with_keyword = [p for p in pseudo if any(k in p.lower() for k in KEYWORDS)]
    assert 0.6 < len(with_keyword) / len(pseudo) < 0.9
    assert sum(any(k in p.lower() for k in KEYWORDS) for p in harmful) / len(harmful) > 0.6


def test_records_pair_compliance_with_pseudo_and_refusal_with_harmful():
    records = build_records(["p1", "p2", "p3", "p4"], ["h1", "h2"], harmful_ratio=0.5, seed=1)
    pseudo = [r for r in records if r.kind == "pseudo"]
    harmful = [r for r in records if r.kind == "harmful"]
    assert sorted(r.prompt for r in pseudo) == ["p1", "p2", "p3", "p4"]
    assert sorted(r.prompt for r in harmful) == ["h1", "h2"]
    assert all(r.chosen == COMPLIANT_ANSWER and r.rejected == REFUSAL_ANSWER for r in pseudo)
    assert all(r.chosen == REFUSAL_ANSWER and r.rejected == COMPLIANT_ANSWER for r in harmful)
    assert sft_examples(records[:1]) == [{"prompt": records[0].prompt, "completion": records[0].chosen}]
    assert dpo_pairs(records[:1]) == [{"prompt": records[0].prompt, "chosen": records[0].chosen,
                                       "rejected": records[0].rejected}]


@settings(max_examples=60, deadline=None)
@given(n_pseudo=st.integers(0, 30), n_harmful=st.integers(1, 12), ratio=st.floats(0, 3), seed=st.integers(0, 9))
def test_harmful_share_follows_the_ratio(n_pseudo, n_harmful, ratio, seed):
    pseudo = [f"p{i}" for i in range(n_pseudo)]
    harmful = [f"h{i}" for i in range(n_harmful)]
    records = build_records(pseudo, harmful, harmful_ratio=ratio, seed=seed)
    replay = [r.prompt for r in records if r.kind == "harmful"]
    assert sum(r.kind == "pseudo" for r in records) == n_pseudo
    assert len(replay) == round(ratio * n_pseudo)
    # drawn without replacement until every harmful prompt has been used once
    counts = [replay.count(h) for h in harmful]
    assert max(counts, default=0) - min(counts, default=0) <= 1
    assert records == build_records(pseudo, harmful, harmful_ratio=ratio, seed=seed)


def test_mapping_answers_drop_unanswered_prompts_and_bad_ratios_fail():
    records = build_records(["a", "b"], ["h"], compliant={"a": "Here you go."}, harmful_ratio=1)
    assert [(r.prompt, r.chosen) for r in records if r.kind == "pseudo"] == [("a", "Here you go.")]
    with pytest.raises(AlignDataError, match="harmful_ratio"):
        build_records(["a"], ["h"], harmful_ratio=-1)
    with pytest.raises(AlignDataError, match="needs harmful prompts"):
        build_records(["a"], [], harmful_ratio=1)


def test_jsonl_round_trip_and_errors_name_the_line(tmp_path):
    records = build_records(synthetic_pseudo_malicious(5), synthetic_harmful(5), seed=2)
    path = write_jsonl(records, tmp_path / "sub" / "align.jsonl")
    assert read_jsonl(path) == records
    assert set(json.loads(path.read_text().splitlines()[0])) == {"prompt", "chosen", "rejected", "kind"}

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "p", "chosen": "c", "rejected": "r", "kind": "pseudo"}) + "\n\n"
                   + json.dumps({"prompt": "p", "chosen": "", "rejected": "r", "kind": "pseudo"}) + "\n")
    with pytest.raises(AlignDataError, match=r"bad\.jsonl:3: missing or empty chosen"):
        read_jsonl(bad)
    bad.write_text(json.dumps({"prompt": "p", "chosen": "c", "rejected": "r", "kind": "other"}) + "\n")
    with pytest.raises(AlignDataError, match=r"bad\.jsonl:1: kind 'other'"):
        read_jsonl(bad)
    bad.write_text("{not json\n")
    with pytest.raises(AlignDataError, match=r"bad\.jsonl:1: invalid JSON"):
        read_jsonl(bad)
    with pytest.raises(AlignDataError, match="cannot read"):
        read_jsonl(tmp_path / "missing.jsonl")


def test_prompt_sources(tmp_path):
    assert len(load_prompts("starter-harmful")) == 64
    assert load_prompts("synthetic-pseudo", n=7, seed=5) == synthetic_pseudo_malicious(7, seed=5)
    evolved = tmp_path / "evolved.jsonl"
    evolved.write_text("\n".join(json.dumps({"prompt": p, "fitness": 0.5}) for p in ("x y", "z")) + "\n")
    assert load_prompts(str(evolved)) == ["x y", "z"]
    evolved.write_text(json.dumps({"text": "no prompt field"}) + "\n")
    with pytest.raises(AlignDataError, match=r"evolved\.jsonl:1: no non-empty \"prompt\""):
        load_prompts(str(evolved))


@settings(max_examples=40, deadline=None)
@given(words=st.lists(st.sampled_from("how do i kill a tmux session from the shell now please quickly".split()),
                      min_size=8, max_size=16), position=st.integers(0, 15))
def test_near_duplicates_catch_one_word_edits_but_not_other_prompts(words, position):
    original = " ".join(words)
    edited = words.copy()
    edited[position % len(words)] = "zebra"
    found = near_duplicates([" ".join(edited)], [original, "What is the capital of Peru?"], threshold=0.8)
    assert [(t, e) for t, e, _ in found] == [(" ".join(edited), original)]
    assert all(0.8 <= ratio <= 1 for *_, ratio in found)


def test_answers_from_a_helper_model_keep_only_real_answers():
    # tests/fakes.py: refuses any prompt with a keyword, answers the rest
    answers = answers_from_model("python:fakes:model", ["How do I kill a process?", "How do I bake bread?"])
    assert answers == {"How do I bake bread?": "Sure! Here is a short, helpful answer."}


def test_records_are_frozen_values():
    record = AlignRecord("p", "c", "r", "pseudo")
    with pytest.raises(AttributeError):
        record.prompt = "other"  # type: ignore[misc]
