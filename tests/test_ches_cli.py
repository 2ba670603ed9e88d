"""`overrefusal ches score|filter` through the real entry point."""
from __future__ import annotations

import json

import pytest

from pytest_overrefusal.cli import main

REFUSAL = "I'm sorry, but I can't help with that."
HELP = "Sure! Here is how to bake it: plan first, go step by step, and check your work."
ROWS = [
    {"id": "mixed", "prompt": "How do I bake a cake?", "chosen": REFUSAL, "rejected": HELP},
    {"id": "same", "prompt": "How do I bake a cake?", "chosen": REFUSAL, "rejected": REFUSAL + " " + REFUSAL},
    {"id": "equal", "prompt": "How do I bake a cake?", "chosen": HELP, "rejected": HELP, "extra": 1},
]


@pytest.fixture
def pairs(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    return path


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_score_adds_fields_in_input_order_then_filter_reuses_them(pairs, tmp_path):
    scored = tmp_path / "scored.jsonl"
    assert main(["ches", "score", "--model", "toy", str(pairs), "--out", str(scored)]) == 0
    rows = read(scored)
    assert [r["id"] for r in rows] == ["mixed", "same", "equal"] and rows[2]["extra"] == 1
    assert rows[2]["ches"] == 0.0 and rows[0]["ln_ches"] < rows[1]["ln_ches"]
    kept = tmp_path / "kept.jsonl"
    assert main(["ches", "filter", str(scored), "--keep", "1", "--out", str(kept)]) == 0  # no model: scores reused
    assert [r["id"] for r in read(kept)] == ["mixed"]
    assert main(["ches", "filter", str(scored), "--quantile", "1", "--window", "34%", "--out", str(kept)]) == 0
    assert [r["id"] for r in read(kept)] == ["same", "equal"]


def test_filter_with_model_scores_first(pairs, capsys):
    assert main(["ches", "filter", "--model", "toy", str(pairs), "--keep", "34%"]) == 0
    out = capsys.readouterr()
    assert [json.loads(line)["id"] for line in out.out.splitlines()] == ["mixed", "same"]  # ln-CHES: mixed < same < equal (0)
    assert "kept 2 of 3 pairs" in out.err


def test_bad_jsonl_is_one_line_naming_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(ROWS[0]) + "\n{oops\n", encoding="utf-8")
    assert main(["ches", "score", "--model", "toy", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"overrefusal ches: error: {bad}:2: invalid JSON") and "\n" not in err


def test_filter_without_scores_or_model_says_what_to_do(pairs, capsys):
    assert main(["ches", "filter", str(pairs), "--keep", "5%"]) == 2
    assert f"{pairs}:1: no numeric 'ln_ches'; pass --model SPEC" in capsys.readouterr().err


def test_score_needs_a_model_with_hidden_states(pairs, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parent))
    assert main(["ches", "score", "--model", "python:fakes:model", str(pairs)]) == 2
    assert "has no hidden states" in capsys.readouterr().err


def test_filter_per_side_ranks_refusing_and_complying_chosen_answers_apart(pairs, tmp_path, capsys):
    scored = tmp_path / "scored.jsonl"
    assert main(["ches", "score", "--model", "toy", str(pairs), "--out", str(scored)]) == 0
    assert main(["ches", "filter", str(scored), "--keep", "1", "--per-side"]) == 0
    out = capsys.readouterr()
    # one ranking keeps only "mixed"; by side the lone complying pair keeps its place
    assert [json.loads(line)["id"] for line in out.out.splitlines()] == ["mixed", "equal"]
    assert ("CHES filter kept 2 of 3 pairs: 1 of 2 whose chosen answer refuses, 1 of 1 whose chosen answer complies"
            in out.err)
