"""Bad or hostile data files and manifests: every one ends as a one-line SuiteError (or JudgeError) naming the file
and where in it, or as the right result; never a traceback, a hang, a huge message or a silently wrong result."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_overrefusal import textfiles
from pytest_overrefusal.cli import main as cli_main
from pytest_overrefusal.errors import JudgeError, OverrefusalError, SuiteError
from pytest_overrefusal.judges.evaluation import labelled_files, read_labelled
from pytest_overrefusal.sources import load_cases, load_pair_cases, read_table
from pytest_overrefusal.suite import load_manifest, looks_like_manifest

HERE = Path(__file__).resolve().parent
SUITES = HERE.parent / "suites"
HEAD = "schema: overrefusal-suite/1\nid: s\nexpect: comply\ngate: {max_refusal_rate: 0.5}\n"
ROWS = [{"id": "a", "prompt": "How do I bake bread?"}, {"id": "b", "prompt": "How do I fix a bike?"}]
BOM = "\ufeff"


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def suite_over(folder: Path, name: str, content: str | bytes, extra: str = "columns: {id: id}\n") -> Path:
    """A manifest `s.yaml` whose `source.file` is `name` holding `content`."""
    write(folder, name, content)
    return write(folder, "s.yaml", HEAD + f"source: {{file: {name}}}\n" + extra)


def one_line_error(call, kind=SuiteError) -> str:
    with pytest.raises(kind) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and len(message) < 600, message
    return message


def cases_of(manifest: Path, data_dir: Path | None = None):
    return load_cases(load_manifest(manifest), data_dir)


def jsonl(rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


# --- 1: empty data, also after filtering ------------------------------------------------------------------------


@pytest.mark.parametrize("name, content", [("e.jsonl", ""), ("e.jsonl", "\n \n"), ("e.csv", ""),
                                           ("e.csv", "id,prompt\n"), ("e.json", "[]"), ("e.jsonl", BOM)])
def test_empty_data_file_is_an_error_naming_it(tmp_path, name, content):
    message = one_line_error(lambda: cases_of(suite_over(tmp_path, name, content)))
    assert name in message and "no rows" in message


def test_where_or_exclude_leaving_nothing_is_an_error(tmp_path):
    rows = [{"id": "a", "prompt": "x", "label": "safe"}]
    manifest = suite_over(tmp_path, "r.jsonl", jsonl(rows), "columns: {id: id}\nwhere: {label: unsafe}\n")
    message = one_line_error(lambda: cases_of(manifest))
    assert "s.yaml" in message and "'where'" in message and "r.jsonl" in message
    manifest = suite_over(tmp_path, "r.jsonl", jsonl(rows), "columns: {id: id}\nexclude: [{id: a, reason: r}]\n")
    assert "no cases" in one_line_error(lambda: cases_of(manifest))


def test_empty_data_gives_no_nan_gate_in_a_run(pytester, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    suite_over(pytester.path, "e.jsonl", "")
    result = pytester.runpytest("-p", "no:randomly", "--overrefusal-model", "python:fakes:model", "s.yaml")
    out = "\n".join(result.outlines + result.errlines)
    assert result.ret != 0 and "rate nan" not in out and "Traceback" not in out, out
    assert any("e.jsonl" in line and "no rows" in line for line in result.outlines), out


# --- 2: columns and BOMs -----------------------------------------------------------------------------------------


def test_csv_without_the_declared_id_column_names_file_column_and_columns(tmp_path):
    manifest = suite_over(tmp_path, "r.csv", "qid,prompt\n1,hello\n2,there\n")
    message = one_line_error(lambda: cases_of(manifest))
    assert "r.csv" in message and "'id'" in message and "qid, prompt" in message and "None" not in message


@pytest.mark.parametrize("column", ["category", "context"])
def test_other_declared_columns_must_exist_too(tmp_path, column):
    manifest = suite_over(tmp_path, "r.csv", "id,prompt\n1,hello\n", f"columns: {{id: id, {column}: kind}}\n")
    message = one_line_error(lambda: cases_of(manifest))
    assert "r.csv" in message and "'kind'" in message


def test_where_column_missing_from_a_csv_is_an_error(tmp_path):
    manifest = suite_over(tmp_path, "r.csv", "id,prompt\n1,hello\n", "columns: {id: id}\nwhere: {lable: safe}\n")
    assert "'lable'" in one_line_error(lambda: cases_of(manifest))


@pytest.mark.parametrize("name, content", [
    ("r.csv", BOM + "id,prompt\na,How do I bake bread?\nb,How do I fix a bike?\n"),
    ("r.jsonl", BOM + jsonl(ROWS)),
    ("r.json", BOM + json.dumps(ROWS)),
])
def test_a_bom_is_accepted_in_data_files(tmp_path, name, content):
    got = cases_of(suite_over(tmp_path, name, content))
    assert [(c.case_id, c.prompt) for c in got] == [(r["id"], r["prompt"]) for r in ROWS]


def test_a_bom_is_accepted_in_manifests(tmp_path):
    manifest = suite_over(tmp_path, "r.jsonl", jsonl(ROWS))
    manifest.write_bytes(BOM.encode() + manifest.read_bytes())
    assert looks_like_manifest(manifest)
    assert len(cases_of(manifest)) == 2


# --- 3 and 22: not UTF-8 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, content", [
    ("r.csv", b"id,prompt\na,caf\xe9 au lait\n"),
    ("r.jsonl", b'{"id": "a", "prompt": "ok"}\n{"id": "b", "prompt": "caf\xe9"}\n'),
    ("r.json", b'[{"id": "a", "prompt": "caf\xe9"}]'),
    ("r.jsonl", b'{"id": "a", "prompt": "ok"}\n{"id": "b", "prompt": "\xe2\x82'),  # cut inside a character
])
def test_non_utf8_data_names_file_and_byte_offset(tmp_path, name, content):
    message = one_line_error(lambda: cases_of(suite_over(tmp_path, name, content)))
    with pytest.raises(UnicodeDecodeError) as info:
        content.decode("utf-8")
    line = content[:info.value.start].count(b"\n") + 1
    assert name in message and f"byte offset {info.value.start}, line {line})" in message and "UTF-8" in message


@settings(max_examples=100, deadline=None)
@given(before=st.text(max_size=300), bad=st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\xe2\x82"]),
       after=st.binary(max_size=20), chunk=st.integers(1, 9))
def test_first_bad_byte_matches_a_whole_decode(tmp_path_factory, before, bad, after, chunk):
    path = tmp_path_factory.mktemp("u") / "x.csv"
    content = before.encode("utf-8") + bad + after
    path.write_bytes(content)
    try:
        content.decode("utf-8")
        expected = None  # `after` completed the character
    except UnicodeDecodeError as exc:
        expected = (exc.start, content[exc.start], content[:exc.start].count(b"\n") + 1)
    saved, textfiles.CHUNK_BYTES = textfiles.CHUNK_BYTES, chunk  # small chunks: bad bytes across chunk edges
    try:
        assert textfiles.first_bad_byte(path) == expected
    finally:
        textfiles.CHUNK_BYTES = saved


@pytest.mark.parametrize("content", ["\ufeffid,prompt\n".encode("utf-16"), "id,prompt\n".encode("utf-16-le")])
def test_utf16_data_is_named_as_such(tmp_path, content):
    message = one_line_error(lambda: cases_of(suite_over(tmp_path, "r.csv", content)))
    assert "r.csv" in message and "UTF-8" in message


def test_non_utf8_manifest_names_the_offset(tmp_path):
    path = write(tmp_path, "s.yaml", HEAD.encode() + b"title: caf\xe9\nsource: {file: r.jsonl}\n")
    message = one_line_error(lambda: load_manifest(path))
    assert "s.yaml" in message and f"byte offset {len(HEAD) + 10}" in message and "UTF-8" in message


def test_judge_eval_on_a_non_utf8_csv_is_one_line(tmp_path, capsys):
    write(tmp_path, "m.csv", b"prompt,completion,final_label\nhi,caf\xe9,1_full_compliance\n")
    assert "byte offset" in one_line_error(lambda: [read_labelled(p) for p in labelled_files([tmp_path])],
                                           JudgeError)
    assert cli_main(["judge-eval", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "m.csv" in err and "UTF-8" in err and "\n" not in err


def test_judge_eval_accepts_a_bom(tmp_path):
    write(tmp_path, "m.csv", BOM + "prompt,completion,final_label\nhi,Sure,1_full_compliance\n")
    assert read_labelled(labelled_files([tmp_path])[0]).gold == ["comply"]


# --- 4: parquet ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"PAR1 this is not parquet", b"hello"])
def test_a_parquet_that_is_not_parquet_is_one_line(tmp_path, content):
    message = one_line_error(lambda: cases_of(suite_over(tmp_path, "r.parquet", content)))
    assert "r.parquet" in message and "parquet" in message.split("r.parquet", 1)[1]


def test_parquet_without_pandas_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    message = one_line_error(lambda: cases_of(suite_over(tmp_path, "r.parquet", b"PAR1")))
    assert "pytest-overrefusal[reports]" in message


# --- 6: manifests named on the command line ------------------------------------------------------------------------


def test_bom_manifest_and_schemaless_yaml_named_on_the_command_line(pytester, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    manifest = suite_over(pytester.path, "r.jsonl", jsonl(ROWS))
    manifest.write_bytes(BOM.encode() + manifest.read_bytes())
    result = pytester.runpytest("-p", "no:randomly", "--overrefusal-model", "python:fakes:model", "s.yaml",
                                "--collect-only", "-q")
    assert "3 tests collected" in "\n".join(result.outlines), result.outlines
    write(pytester.path, "other.yaml", HEAD.replace("schema: overrefusal-suite/1\n", "") + "source: {file: r.jsonl}\n")
    result = pytester.runpytest("-p", "no:randomly", "--overrefusal-model", "python:fakes:model", "other.yaml")
    out = "\n".join(result.outlines + result.errlines)
    assert result.ret != 0 and "Traceback" not in out, out
    assert any("other.yaml" in line and "schema: overrefusal-suite/1" in line for line in result.outlines), out
    result = pytester.runpytest("-p", "no:randomly", "--overrefusal-model", "python:fakes:model", ".",
                                "--collect-only", "-q")  # a folder walk still ignores it
    assert "3 tests collected" in "\n".join(result.outlines), result.outlines


# --- 7 and 8: alias bombs, huge and deep manifests -----------------------------------------------------------------


def alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    bomb = alias_bomb().replace("\n", "\n  ").replace("a0:", "title:\n  a0:", 1)
    path = write(tmp_path, "s.yaml", HEAD + "source: {file: r.jsonl}\n" + bomb)
    message = one_line_error(lambda: load_manifest(path))
    assert "s.yaml" in message and "alias" in message


def test_small_legitimate_aliases_still_work(tmp_path):
    write(tmp_path, "r.jsonl", jsonl(ROWS))
    path = write(tmp_path, "s.yaml", HEAD + "source: {file: r.jsonl}\ncolumns: &c {id: id}\ndescription: &d hi\n"
                 "citation: *d\n")
    assert load_manifest(path).citation == "hi"


@pytest.mark.parametrize("key, value", [("title", "[" + "'x', " * 20000 + "]"), ("kind", "'" + "y" * 50000 + "'"),
                                        ("title", "{" + "".join(f"k{i}: v, " for i in range(5000)) + "}"),
                                        ("bogus" * 100, "1")])
def test_manifest_values_are_capped_in_messages(tmp_path, key, value):
    path = write(tmp_path, "s.yaml", HEAD + f"source: {{file: r.jsonl}}\n{key}: {value}\n")
    message = one_line_error(lambda: load_manifest(path))
    assert key[:20] in message


@pytest.mark.parametrize("text", ["title: " + "[" * 5000 + "]" * 5000, "a: &a [*a]",
                                  "title: a\ntitle: b", "title: 1" + "0" * 5000, "title: 2024-13-45"])
def test_deep_recursive_duplicate_or_odd_yaml_is_one_line(tmp_path, text):
    path = write(tmp_path, "s.yaml", HEAD + "source: {file: r.jsonl}\n" + text + "\n")
    assert "s.yaml" in one_line_error(lambda: load_manifest(path))


def test_a_manifest_over_the_size_cap_is_refused(tmp_path):
    path = write(tmp_path, "s.yaml", HEAD + "source: {file: r.jsonl}\n" + "#" * (1 << 20) + "\n")
    assert "s.yaml" in one_line_error(lambda: load_manifest(path))


def test_suite_search_survives_a_bomb_and_a_huge_manifest_under_the_folder(pytester, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    suite_over(pytester.path, "r.jsonl", jsonl(ROWS))
    write(pytester.path, "deep/bomb.yaml", "schema: overrefusal-suite/1\n" + alias_bomb())
    write(pytester.path, "deep/huge.yaml", "schema: overrefusal-suite/1\n" + "#" * (2 << 20) + "\n")
    write(pytester.path, "deep/plain.yaml", alias_bomb())  # no schema line: never parsed at all
    if hasattr(os, "mkfifo"):
        os.mkfifo(pytester.path / "deep" / "pipe.yaml")  # opening it would block forever
    result = pytester.runpytest("-p", "no:randomly", "--overrefusal-model", "python:fakes:model",
                                "--overrefusal-suite", "s", "--collect-only", "-q")
    out = "\n".join(result.outlines + result.errlines)
    assert "INTERNALERROR" not in out and "3 tests collected" in out, out


# --- 25: where the data may come from ------------------------------------------------------------------------------


@pytest.mark.parametrize("file", ["/etc/hostname", "../outside.jsonl", "sub/../../outside.jsonl", "link.jsonl"])
def test_source_file_stays_in_the_manifest_folder(tmp_path, file):
    write(tmp_path, "outside.jsonl", jsonl(ROWS))
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "link.jsonl").symlink_to(tmp_path / "outside.jsonl")
    manifest = write(tmp_path / "m", "s.yaml", HEAD + f"source: {{file: '{file}'}}\ncolumns: {{id: id}}\n")
    message = one_line_error(lambda: cases_of(manifest))
    assert "s.yaml" in message and "--overrefusal-data" in message


def test_a_symlink_loop_is_one_line(tmp_path):
    (tmp_path / "loop.jsonl").symlink_to(tmp_path / "loop.jsonl")
    manifest = write(tmp_path, "s.yaml", HEAD + "source: {file: loop.jsonl}\n")
    assert "loop.jsonl" in one_line_error(lambda: cases_of(manifest))


def test_a_symlink_inside_the_manifest_folder_is_fine(tmp_path):
    write(tmp_path, "real/r.jsonl", jsonl(ROWS))
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "real" / "r.jsonl")
    manifest = write(tmp_path, "s.yaml", HEAD + "source: {file: link.jsonl}\ncolumns: {id: id}\n")
    assert len(cases_of(manifest)) == 2


@pytest.mark.parametrize("data", ["/etc/hostname", "../r.jsonl", "x/../../r.jsonl"])
def test_source_data_stays_in_the_data_folder(tmp_path, data):
    write(tmp_path, "r.jsonl", jsonl(ROWS))
    manifest = write(tmp_path, "s.yaml", HEAD + f"source: {{data: '{data}'}}\ncolumns: {{id: id}}\n")
    message = one_line_error(lambda: cases_of(manifest, tmp_path / "mirror"))
    assert "s.yaml" in message and "source.data" in message


# --- rows of the wrong type, truncated files, huge lines, duplicates -----------------------------------------------


@pytest.mark.parametrize("name, content, where, what", [
    ("r.jsonl", '{"id": "a", "prompt": 5}\n', "r.jsonl:1", "'prompt'"),
    ("r.jsonl", '{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": null}\n', "r.jsonl:2", "'prompt'"),
    ("r.jsonl", '{"id": "a", "prompt": "   "}\n', "r.jsonl:1", "'prompt'"),
    ("r.jsonl", '{"id": "a", "prompt": ["x"]}\n', "r.jsonl:1", "'prompt'"),
    ("r.jsonl", '{"id": "a", "prompt": "x"}\n{"prompt": "x"}\n', "r.jsonl:2", "'id'"),
    ("r.jsonl", '{"id": "a", "prompt": "x"}\n{"id": "b\\nc", "prompt": "x"}\n', "r.jsonl:2", "'id'"),
    ("r.jsonl", '{"prompt": "x"}\n', "r.jsonl", "no column 'id'"),
    ("r.jsonl", '{"id": null, "prompt": "x"}\n', "r.jsonl:1", "'id'"),
    ("r.jsonl", '{"id": {"a": 1}, "prompt": "x"}\n', "r.jsonl:1", "'id'"),
    ("r.jsonl", '{"id": "a", "prompt": "x"}\n\n{"id": "a", "prompt": "y"}\n', "r.jsonl:3", "duplicate case id 'a'"),
    ("r.jsonl", '{"id": "a", "prompt": "x"}\n{"id": "b", "pro', "r.jsonl:2", "invalid JSON"),
    ("r.jsonl", "[" * 100000 + "\n", "r.jsonl:1", "JSON"),
    ("r.jsonl", '{"id": "a", "prompt": "x", "prompt": "y"}\n', "r.jsonl:1", "'prompt' appears twice"),
    ("r.json", '[{"id": "a", "prompt": "x", "id": "b"}]', "r.json", "'id' appears twice"),
    ("r.json", '{"rows": []}', "r.json", "list"),
    ("r.json", '[{"id": "a", "prompt": "x"}, ["b", "y"]]', "r.json: item 1", "object"),
    ("r.json", '[{"id": "a", "prompt": "x"}, {"id": "a", "prompt": "y"}]', "r.json: item 1", "duplicate"),
    ("r.json", '[{"id": "a", "prompt": "x"', "r.json:1", "invalid JSON"),
    ("r.json", "[" * 100000, "r.json", "JSON"),
    ("r.csv", "id,prompt\na,x\na,y\n", "r.csv:3", "duplicate case id 'a'"),
    ("r.csv", "id,prompt\na,\n", "r.csv:2", "'prompt'"),
    ("r.csv", 'id,prompt\na,"' + "z" * 200000 + '"\n', "r.csv:2", "field"),
    ("r.csv", 'id,prompt\na,"never closed\n', "r.csv", "CSV"),
    ("r.csv", "id,prompt\na,x\x00y\n", "r.csv", "NUL"),
])
def test_bad_rows_name_file_and_place(tmp_path, name, content, where, what):
    message = one_line_error(lambda: cases_of(suite_over(tmp_path, name, content)))
    assert where in message and what in message


def test_a_huge_exclusion_id_is_one_line(tmp_path):
    manifest = suite_over(tmp_path, "r.jsonl", jsonl(ROWS), "columns: {id: id}\nexclude: [{id: '" + "1" * 5000 +
                          "', reason: r}]\n")
    assert "matches no case" in one_line_error(lambda: cases_of(manifest))


def test_a_huge_single_line_is_refused_without_reading_it_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(textfiles, "MAX_LINE_BYTES", 1000)
    manifest = suite_over(tmp_path, "r.jsonl", jsonl(ROWS) + '{"id": "c", "prompt": "' + "x" * 5000 + '"}\n')
    message = one_line_error(lambda: cases_of(manifest))
    assert "r.jsonl:3" in message and "longer" in message


def test_data_path_that_is_a_folder_or_a_device_is_refused(tmp_path):
    (tmp_path / "d.jsonl").mkdir()
    manifest = write(tmp_path, "s.yaml", HEAD + "source: {file: d.jsonl}\n")
    assert "d.jsonl" in one_line_error(lambda: cases_of(manifest))


def test_preference_suites_get_the_same_checks(tmp_path):
    write(tmp_path, "p.jsonl", "")
    manifest = write(tmp_path, "p.yaml", "schema: overrefusal-suite/1\nid: p\nkind: preference\n"
                     "source: {file: p.jsonl}\nches: {flag_above: 0}\ngate: {max_flagged_fraction: 0.5}\n")
    assert "no rows" in one_line_error(lambda: load_pair_cases(load_manifest(manifest), None))


def test_read_table_still_yields_plain_rows(tmp_path):
    path = write(tmp_path, "r.csv", BOM + "id,prompt\na,x\n")
    assert list(read_table(path)) == [{"id": "a", "prompt": "x"}]


def test_shipped_manifests_still_load():
    for path in sorted(SUITES.glob("*.yaml")):
        assert looks_like_manifest(path) and load_manifest(path).id


# --- properties ----------------------------------------------------------------------------------------------------

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                        max_size=3), max_leaves=8)
rows_strategy = st.lists(st.one_of(json_values, st.fixed_dictionaries(
    {"id": json_values, "prompt": json_values}, optional={"category": json_values})), max_size=5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy, as_lines=st.booleans())
def test_any_json_rows_give_cases_or_one_line(tmp_path, rows, as_lines):
    name = "r.jsonl" if as_lines else "r.json"
    text = "".join(json.dumps(r) + "\n" for r in rows) if as_lines else json.dumps(rows)
    manifest = suite_over(tmp_path, name, text, "columns: {id: id, category: category}\n")
    _cases_or_one_line(manifest)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=60) | st.text(max_size=60).map(str.encode),
       name=st.sampled_from(["r.jsonl", "r.json", "r.csv", "r.parquet"]))
def test_any_bytes_as_data_give_cases_or_one_line(tmp_path, content, name):
    _cases_or_one_line(suite_over(tmp_path, name, b"id,prompt\n" + content if name == "r.csv" else content))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tail=st.binary(max_size=80) | st.text(alphabet="abc:-[]{}&*!'\"|>#\n\t @,?", max_size=80).map(str.encode))
def test_any_manifest_bytes_give_a_suite_or_one_line(tmp_path, tail):
    path = write(tmp_path, "s.yaml", b"schema: overrefusal-suite/1\n" + tail)
    try:
        load_manifest(path)
    except OverrefusalError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 600 and "s.yaml" in str(exc)


def _cases_or_one_line(manifest: Path) -> None:
    try:
        got = cases_of(manifest)
    except OverrefusalError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 600, str(exc)
        return
    assert got and all(isinstance(c.prompt, str) and c.prompt.strip() for c in got)
    assert len({c.case_id for c in got}) == len(got)


@pytest.mark.parametrize("key", ["title", "source.get_it", "description"])
def test_control_characters_in_manifest_strings_are_refused(tmp_path, key):
    value = '"red \\e[31m alert \\0"'
    text = HEAD + ("source: {file: r.jsonl, get_it: %s}\n" % value if key == "source.get_it"
                   else "source: {file: r.jsonl}\n%s: %s\n" % (key, value))
    message = one_line_error(lambda: load_manifest(write(tmp_path, "s.yaml", text)))
    assert f"'{key}'" in message and "\x1b" not in message and "\x00" not in message


def test_a_huge_get_it_hint_is_capped_in_the_missing_data_message(tmp_path):
    path = write(tmp_path, "s.yaml", HEAD + "source: {data: x/r.jsonl, get_it: '" + "download " * 5000 + "'}\n")
    assert "x/r.jsonl" in one_line_error(lambda: cases_of(path, tmp_path))


def test_an_unknown_id_names_a_manifest_that_could_not_be_read(tmp_path):
    from pytest_overrefusal.catalog import find_suites

    write(tmp_path, "bomb.yaml", "schema: overrefusal-suite/1\n" + alias_bomb())
    message = one_line_error(lambda: find_suites(["wanted"], [tmp_path]))
    assert "unknown suite id(s) wanted" in message and "bomb.yaml" in message and "alias" in message


def _tree_size(node) -> int:
    children = node.value if isinstance(node.value, list) else []
    return 1 + sum(_tree_size(n) for c in children for n in (c if isinstance(c, tuple) else (c,)))


def _distinct(node, seen: set) -> set:
    if id(node) not in seen:
        seen.add(id(node))
        for c in node.value if isinstance(node.value, list) else []:
            for n in c if isinstance(c, tuple) else (c,):
                _distinct(n, seen)
    return seen


@settings(max_examples=60, deadline=None)
@given(fanouts=st.lists(st.integers(1, 4), min_size=1, max_size=6), limit=st.integers(0, 60))
def test_alias_expansion_is_refused_exactly_past_the_limit(fanouts, limit):
    import yaml

    from pytest_overrefusal import safe_yaml

    lines = ["a0: &a0 [x]"]
    for i, fan in enumerate(fanouts, 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]")
    text = "\n".join(lines) + "\n"
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    extra = _tree_size(node) - len(_distinct(node, set()))
    saved, safe_yaml.MAX_ALIAS_EXPANSION = safe_yaml.MAX_ALIAS_EXPANSION, limit
    try:
        safe_yaml.load(text, Path("m.yaml"), SuiteError)
        assert extra <= limit
    except SuiteError as exc:
        assert extra > limit and "alias" in str(exc)
    finally:
        safe_yaml.MAX_ALIAS_EXPANSION = saved
