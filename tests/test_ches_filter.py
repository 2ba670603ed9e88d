"""Keep-lowest-k% and quantile-window filters, the amount parser and the preference JSONL reader (no model)."""
from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mitigations.ches import ChesError, Selection, parse_amount, read_pairs

scores_st = st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=60)


@given(scores_st, st.floats(min_value=0.0, max_value=1.0))
def test_keep_fraction_keeps_the_lowest_and_rounds_up(scores, fraction):
    kept = Selection(keep=fraction).indices(scores)
    assert len(kept) == min(len(scores), math.ceil(fraction * len(scores) - 1e-9))
    assert kept == sorted(kept)
    dropped = set(range(len(scores))) - set(kept)
    if kept and dropped:
        assert max(scores[i] for i in kept) <= min(scores[i] for i in dropped)


def test_five_percent_of_the_papers_370_pairs_is_19():
    assert len(Selection(keep=0.05).indices([float(i) for i in range(370)])) == 19


@given(scores_st, st.integers(min_value=0, max_value=100))
def test_keep_count_is_a_count(scores, count):
    assert len(Selection(keep=count).indices(scores)) == min(count, len(scores))


@given(scores_st, st.floats(min_value=0.0, max_value=1.0), st.integers(min_value=1, max_value=80))
def test_quantile_window_is_contiguous_in_rank_and_contains_the_quantile(scores, quantile, size):
    ranked = sorted(range(len(scores)), key=lambda i: (scores[i], i))
    kept = set(Selection(quantile=quantile, window=size).indices(scores))
    ranks = sorted(ranked.index(i) for i in kept)
    assert len(kept) == min(size, len(scores))
    assert ranks == list(range(ranks[0], ranks[0] + len(ranks)))
    assert round(quantile * (len(scores) - 1)) in ranks


def test_quantile_zero_equals_keep_lowest():
    scores = [5.0, -1.0, 3.0, 0.5, 2.0, -7.0, 9.0, 1.0]
    assert Selection(quantile=0.0, window=3).indices(scores) == Selection(keep=3).indices(scores) == [1, 3, 5]
    assert Selection(quantile=1.0, window=2).indices(scores) == [0, 6]


def test_ties_keep_the_earlier_pair():
    assert Selection(keep=2).indices([1.0, 0.0, 0.0, 0.0]) == [1, 2]


@given(st.integers(min_value=0, max_value=10_000))
def test_parse_percent_and_count(n):
    assert parse_amount(f"{n}", "--keep") == n
    assert parse_amount(f"{n / 100}%", "--keep") == pytest.approx(n / 10_000)
    assert parse_amount(f"{n / 10_000}", "--keep") == pytest.approx(n / 10_000)


@pytest.mark.parametrize("bad", ["abc", "150%", "-0.5", "1.5", ""])
def test_parse_amount_rejects_with_one_line(bad):
    with pytest.raises(ChesError, match="--keep") as err:
        parse_amount(bad, "--keep")
    assert "\n" not in str(err.value)


def test_read_pairs_uses_id_column_or_line_number(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"id": 7, "prompt": "p", "chosen": "a", "rejected": "b"}) + "\n\n"
                    + json.dumps({"prompt": "q", "chosen": "c", "rejected": "d"}) + "\n", encoding="utf-8")
    pairs = read_pairs(path)
    assert [(p.id, p.prompt, p.chosen, p.rejected) for p in pairs] == [("7", "p", "a", "b"), ("3", "q", "c", "d")]


@pytest.mark.parametrize("line, problem", [
    ("{not json", "invalid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"prompt": "p", "chosen": "", "rejected": "b"}', "'chosen' must be a non-empty string"),
    ('{"prompt": "p", "chosen": "a"}', "'rejected' must be a non-empty string"),
])
def test_bad_jsonl_names_file_and_line(tmp_path, line, problem):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}) + "\n" + line + "\n",
                    encoding="utf-8")
    with pytest.raises(ChesError) as err:
        read_pairs(path)
    assert str(err.value).startswith(f"{path}:2: ") and problem in str(err.value)
