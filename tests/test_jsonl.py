"""The one JSON Lines reader every input file goes through: objects in order with their line numbers, one-line
errors naming file:line."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_overrefusal.errors import OverrefusalError, SuiteError
from pytest_overrefusal.jsonl import json_objects

values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                   max_size=3), max_leaves=6)
objects = st.dictionaries(st.text(max_size=6), values, max_size=4)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(objects, st.integers(0, 2)), max_size=8))
def test_objects_come_back_in_order_with_their_line_numbers(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("j") / "rows.jsonl"
    lines, expected = [], []
    for row, blanks in rows:
        lines += [" \t"] * blanks  # blank lines are skipped but still counted
        lines.append(json.dumps(row, ensure_ascii=False))
        expected.append((len(lines), row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert list(json_objects(path)) == expected


@pytest.mark.parametrize("content, message", [
    ('{"a": 1}\n{"a": 2\n', "rows.jsonl:2: invalid JSON"),
    ('{"a": 1}\n\n[1, 2]\n', "rows.jsonl:3: each line must be a JSON object with a"),
    (b'{"a": "\xff"}\n', "rows.jsonl: data file is not UTF-8 text"),
])
def test_bad_lines_are_one_line_errors_of_the_callers_type(tmp_path, content, message):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(SuiteError, match=message) as info:
        list(json_objects(path, SuiteError, what="data file", fields=" with a"))
    assert "\n" not in str(info.value)


def test_a_missing_file_says_what_it_was_for(tmp_path):
    with pytest.raises(OverrefusalError, match=r"nope\.jsonl: cannot read query file \(No such file"):
        list(json_objects(tmp_path / "nope.jsonl", what="query file"))
