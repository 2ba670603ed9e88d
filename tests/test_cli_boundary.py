"""Every `overrefusal` subcommand behind one boundary: a failure the user caused (an OverrefusalError, a missing or
unreadable path, a path that is a file where a folder is wanted, a malformed report) is one line `overrefusal...:
error: ...` and exit 2; a bug in the code still shows its traceback."""
from __future__ import annotations

import copy
import errno
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from pytest_overrefusal import cli
from pytest_overrefusal.cli import main

GOOD_REPORT = {
    "schema": "pytest-overrefusal/report-1", "model": "m", "judge": "keyword@1",
    "suites": [{"id": "x", "n": 10, "refusals": 5, "rate": 0.5, "ci_low": 0.2, "ci_high": 0.8,
                "adjusted_rate": 0.4, "adjusted_ci_low": 0.1, "adjusted_ci_high": 0.7,
                "gate": {"max_refusal_rate": 0.6, "min_refusal_rate": None, "statistic": "point",
                         "confidence": 0.95, "passed": True},
                "baseline": {"comparable": True, "delta": 0.1, "p_value": 0.5, "regressed": False},
                "categories": {"a": {"n": 10, "refusals": 5, "rate": 0.5, "ci_low": 0.2, "ci_high": 0.8}}}],
    "cases": [], "pairs": [], "not_evaluated": [],
}


def one_error_line(capsys, prog: str = "overrefusal") -> str:
    captured = capsys.readouterr()
    err = captured.err
    assert "Traceback" not in err + captured.out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{prog}: error: "), err
    return lines[0]


# -- report: structure is checked, one line names the file and what is wrong -------------------------------------
def write(tmp_path: Path, doc, name: str = "r.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def test_a_good_report_still_prints(tmp_path, capsys):
    assert main(["report", str(write(tmp_path, GOOD_REPORT)), "--categories"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "+0.100" in out and "0.400 [0.100, 0.700]" in out


def test_report_on_a_baseline_file_says_it_is_a_baseline(tmp_path, capsys):
    baseline = {"schema": "pytest-overrefusal/baseline-1", "model": "m", "judge": "j",
                "suites": {"x": {"cases": {}}}}
    path = write(tmp_path, baseline, "base.json")
    assert main(["report", str(path)]) == 2
    line = one_error_line(capsys)
    assert str(path) in line and "baseline" in line and "--overrefusal-report" in line


@pytest.mark.parametrize("mutate, needle", [
    (lambda d: d.update(suites={"x": {}}), "suites is an object, expected a list"),
    (lambda d: d.update(suites="x"), "suites is a string, expected a list"),
    (lambda d: d.pop("suites"), "has no suites"),
    (lambda d: d["suites"].append(3), "suites[1] is an integer, expected an object"),
    (lambda d: d["suites"][0].pop("rate"), "suites[0] has no rate"),
    (lambda d: d["suites"][0].update(rate="high"), "suites[0].rate is a string, expected a number"),
    (lambda d: d["suites"][0].update(n=True), "suites[0].n is a boolean, expected an integer"),
    (lambda d: d["suites"][0]["gate"].pop("passed"), "suites[0].gate has no passed"),
    (lambda d: d["suites"][0]["gate"].update(max_refusal_rate=None), "suites[0].gate names no max_refusal_rate"),
    (lambda d: d["suites"][0].update(baseline=[]), "suites[0].baseline is a list, expected an object"),
    (lambda d: d["suites"][0]["baseline"].pop("delta"), "suites[0].baseline has no delta"),
    (lambda d: d["suites"][0]["categories"]["a"].update(ci_low=None),
     "suites[0].categories.a.ci_low is null, expected a number"),
    (lambda d: d.update(schema="pytest-overrefusal/report-9"), "schema is 'pytest-overrefusal/report-9'"),
    (lambda d: d.update(model=["m"]), "model is a list, expected a string"),
])
def test_report_structure_errors_are_one_line_naming_file_and_field(tmp_path, capsys, mutate, needle):
    doc = copy.deepcopy(GOOD_REPORT)
    mutate(doc)
    path = write(tmp_path, doc)
    assert main(["report", str(path), "--categories"]) == 2
    line = one_error_line(capsys)
    assert str(path) in line and needle in line


@pytest.mark.parametrize("content, needle", [
    ("", "not JSON"), ("{", "not JSON"), ("[1, 2]", "not a pytest-overrefusal JSON report"),
    ("null", "not a pytest-overrefusal JSON report"), (b"\xff\xfe\x00", "not UTF-8"),
])
def test_report_on_what_is_not_json_is_one_line(tmp_path, capsys, content, needle):
    path = tmp_path / "r.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main(["report", str(path)]) == 2
    line = one_error_line(capsys)
    assert str(path) in line and needle in line


@pytest.mark.parametrize("where", ["missing", "folder"])
def test_report_on_a_missing_path_or_a_folder_is_one_line(tmp_path, capsys, where):
    path = tmp_path / "nope.json"
    if where == "folder":
        path.mkdir()
    assert main(["report", str(path)]) == 2
    assert str(path) in one_error_line(capsys)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                  max_size=3), max_leaves=6)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


_ALL_PATHS = [p for p in _paths(GOOD_REPORT) if p]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(_ALL_PATHS), value=_json, delete=st.booleans())
def test_any_damaged_report_prints_or_fails_in_one_line(tmp_path, capsys, where, value, delete):
    doc = copy.deepcopy(GOOD_REPORT)
    parent = doc
    for key in where[:-1]:
        parent = parent[key]
    if delete and isinstance(parent, dict):
        parent.pop(where[-1])
    else:
        parent[where[-1]] = value
    path = write(tmp_path, doc)
    code = main(["report", str(path), "--categories"])
    if code == 2:
        assert str(path) in one_error_line(capsys)
    else:
        assert code in (0, 1)
        assert "Traceback" not in capsys.readouterr().err


def test_results_load_validates_the_same_way(tmp_path):
    from pytest_overrefusal.errors import OverrefusalError
    from pytest_overrefusal.results import load, load_pairs

    path = write(tmp_path, {"schema": "pytest-overrefusal/baseline-1", "suites": {}})
    for reader in (load, load_pairs):
        with pytest.raises(OverrefusalError, match="baseline"):
            reader(path)
    path = write(tmp_path, {**GOOD_REPORT, "cases": {"a": 1}})
    with pytest.raises(OverrefusalError, match=r"cases is an object, expected a list"):
        load(path)


# -- lm-eval-tasks -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["file", "under_a_file"])
def test_lm_eval_tasks_out_that_is_not_a_folder_is_one_line(tmp_path, capsys, layout):
    blocker = tmp_path / "out.txt"
    blocker.write_text("x")
    out = blocker if layout == "file" else blocker / "tasks"
    code = main(["lm-eval-tasks", "--out", str(out), "--suite", "starter-harmful"])
    assert code == 2
    line = one_error_line(capsys, "overrefusal lm-eval-tasks")
    assert str(blocker) in line and "not a folder" in line
    assert blocker.read_text() == "x"


# -- the boundary itself -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("code, text", [
    (errno.ENOENT, "No such file or directory"), (errno.EACCES, "Permission denied"),
    (errno.EISDIR, "Is a directory"), (errno.ENOTDIR, "Not a directory"), (errno.ENOSPC, "No space left on device"),
])
def test_user_caused_os_errors_are_one_line_with_the_path(monkeypatch, capsys, code, text):
    def fail(*args, **kwargs):
        raise OSError(code, text, "/some/where.json")
    monkeypatch.setattr(cli, "_report", fail)
    assert main(["report", "x.json"]) == 2
    line = one_error_line(capsys)
    assert "/some/where.json" in line and text in line


def test_user_caused_os_errors_in_a_plugged_subcommand_are_one_line(monkeypatch, capsys):
    import pytest_overrefusal.lmeval_tasks as module

    def fail(args):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/data/missing.jsonl")
    monkeypatch.setattr(module, "run", fail)
    assert main(["lm-eval-tasks", "--out", "x"]) == 2
    assert "/data/missing.jsonl" in one_error_line(capsys, "overrefusal lm-eval-tasks")


def test_a_bug_still_shows_its_traceback(monkeypatch):
    def bug(*args, **kwargs):
        raise KeyError("a bug")
    monkeypatch.setattr(cli, "_report", bug)
    with pytest.raises(KeyError):
        main(["report", "x.json"])

    def other_os_error(*args, **kwargs):
        raise OSError(errno.EBADF, "Bad file descriptor")
    monkeypatch.setattr(cli, "_report", other_os_error)
    with pytest.raises(OSError):
        main(["report", "x.json"])


def test_a_multi_line_error_is_shown_on_one_line(monkeypatch, capsys):
    from pytest_overrefusal.errors import OverrefusalError

    def fail(*args, **kwargs):
        raise OverrefusalError("first\nsecond")
    monkeypatch.setattr(cli, "_report", fail)
    assert main(["report", "x.json"]) == 2
    assert "first second" in one_error_line(capsys)


@pytest.mark.parametrize("argv, prog, needle", [
    (["judge-eval", "/no/such/folder"], "overrefusal", "/no/such/folder"),
    (["judge-eval", "--judge", "nope-judge", "/tmp"], "overrefusal", "nope-judge"),
    (["run", "--suite", "no-such-suite-xyz"], "overrefusal", "no-such-suite-xyz"),
    (["lm-eval-tasks", "--out", "{tmp}/o", "--suite", "/no/such/suite.yaml"], "overrefusal lm-eval-tasks",
     "/no/such/suite.yaml"),
    (["lm-eval-tasks", "--out", "{tmp}/o", "--suite", "starter-harmful", "--limit", "0"],
     "overrefusal lm-eval-tasks", "--limit"),
    (["ches", "score", "/no/such/pairs.jsonl", "--model", "toy"], "overrefusal ches", "/no/such/pairs.jsonl"),
    (["dro", "--model", "toy", "--harmful", "/no/h.jsonl", "--harmless", "/no/s.jsonl", "--out", "{tmp}/p"],
     "overrefusal dro", "/no/"),
    (["evolve", "--seeds", "/no/seeds.jsonl", "--target", "toy", "--out", "{tmp}/e.jsonl"], "overrefusal evolve",
     "/no/seeds.jsonl"),
    (["refusal-tokens", "train", "--base", "toy", "--data", "/no/d.jsonl", "--out", "{tmp}/m"],
     "overrefusal refusal-tokens", "/no/d.jsonl"),
    (["mitigate", "--method", "sft", "--model", "toy", "--fix", "starter-harmful", "--train", "/no/t.jsonl",
      "--out", "{tmp}/m"], "overrefusal mitigate", "/no/t.jsonl"),
])
def test_bad_paths_in_every_subcommand_are_one_line(tmp_path, capsys, monkeypatch, argv, prog, needle):
    monkeypatch.chdir(tmp_path)
    code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code == 2
    assert needle in one_error_line(capsys, prog)


def test_a_file_where_a_folder_is_needed_is_named_as_such(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")

    def make_under_a_file():
        (blocker / "sub" / "deeper").mkdir(parents=True, exist_ok=True)
        return 0
    assert cli.guarded("overrefusal x", make_under_a_file) == 2
    line = one_error_line(capsys, "overrefusal x")
    assert f"{blocker} is a file, not a folder" in line


def test_run_with_a_suite_file_that_is_no_manifest_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("just text\n")
    assert main(["run", "--suite", str(tmp_path / "notes.txt")]) == 2
    assert "notes.txt" in one_error_line(capsys)


def test_a_missing_optional_package_of_a_plugged_subcommand_is_one_line(monkeypatch, capsys):
    import importlib

    real = importlib.import_module

    def fake_import(name, *args, **kwargs):
        if name == cli.PLUGGED["dro"][0]:
            raise ModuleNotFoundError("No module named 'trl'", name="trl")
        return real(name, *args, **kwargs)
    monkeypatch.setattr(importlib, "import_module", fake_import)
    assert main(["dro", "--help"]) == 2
    line = one_error_line(capsys, "overrefusal dro")
    assert "'trl'" in line and "pytest-overrefusal[mitigations]" in line


def test_an_os_error_about_a_descriptor_number_is_still_one_line(monkeypatch, capsys):
    def fail(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", 7)
    monkeypatch.setattr(cli, "_report", fail)
    assert main(["report", "x.json"]) == 2
    assert "No space left on device" in one_error_line(capsys)


def test_a_report_whose_suites_were_not_evaluated_fails_and_says_why(tmp_path, capsys):
    doc = {**GOOD_REPORT, "suites": [], "not_evaluated": [{"id": "x", "error": "the model did not load\nat all",
                                                           "model": "m"}]}
    assert main(["report", str(write(tmp_path, doc))]) == 1
    assert "suite x not evaluated: the model did not load at all" in capsys.readouterr().out
    doc["not_evaluated"] = [{"id": "x"}]
    path = write(tmp_path, doc)
    assert main(["report", str(path)]) == 2
    assert "not_evaluated[0] has no error" in one_error_line(capsys)


@pytest.mark.parametrize("argv", [
    ["dro", "--model", "openai:m@http://u:SECRETQ1@127.0.0.1:9/v1", "--harmful", "h.jsonl", "--harmless",
     "s.jsonl", "--out", "p.safetensors"],
    ["refusal-tokens", "train", "--base", "hf:/x,api_key=SECRETQ1", "--data", "d.jsonl", "--out", "rt"],
    ["ches", "score", "p.jsonl", "--model", "openai:m@http://127.0.0.1:9/v1?token=SECRETQ1"],
])
def test_no_subcommand_error_line_shows_a_credential_from_the_command_line(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    for name in ("h.jsonl", "s.jsonl", "d.jsonl", "p.jsonl"):
        (tmp_path / name).write_text('{"prompt": "hi", "reply": "x", "chosen": "a", "rejected": "b"}\n')
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "SECRETQ1" not in captured.err + captured.out
    (line,) = captured.err.strip().splitlines()
    assert line.startswith(f"overrefusal {argv[0]}: error: ")


def test_guarded_masks_what_the_command_line_held(capsys):
    from pytest_overrefusal.errors import OverrefusalError

    def fail():  # a message written elsewhere, echoing a comma-split fragment of the password
        raise OverrefusalError("model 'openai:m@http://u:pass,word@h/v1' is wrong; option 'word@h/v1'")
    assert cli.guarded("overrefusal x", fail, ["--model", "openai:m@http://u:pass,word@h/v1"]) == 2
    line = one_error_line(capsys, "overrefusal x")
    assert "pass" not in line and "word" not in line


@pytest.mark.parametrize("suffix", [".csv", ".html", ".parquet"])
def test_report_on_another_report_format_says_it_reads_json(tmp_path, capsys, suffix):
    path = tmp_path / f"r{suffix}"
    path.write_text("suite,case_id\n")
    assert main(["report", str(path)]) == 2
    line = one_error_line(capsys)
    assert str(path) in line and "reads the JSON report" in line


def test_ctrl_c_is_one_line_and_status_130(monkeypatch, capsys):
    def interrupted(argv=None):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "main", interrupted)
    assert cli.console() == 130
    captured = capsys.readouterr()
    assert captured.err.strip() == "overrefusal: interrupted" and "Traceback" not in captured.err
