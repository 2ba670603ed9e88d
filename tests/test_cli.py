"""The `overrefusal` command: run (pytest underneath), report, errors."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from pytest_overrefusal.cli import main

HERE = Path(__file__).parent


@pytest.fixture
def fake_model(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.chdir(tmp_path)
    return "python:fakes:model"


def test_run_writes_report_and_exit_follows_gates(fake_model, tmp_path, capsys):
    code = main(["run", "--model", fake_model, "--suite", "starter-harmful", "--report", str(tmp_path / "r.json"),
                 "--cache", str(tmp_path / "cache"), "-q"])
    doc = json.loads((tmp_path / "r.json").read_text())
    (suite,) = doc["suites"]
    assert suite["id"] == "starter-harmful" and suite["n"] == 64
    # the fake refuses on the same keywords the starter harmful prompts use, so the gate passes
    assert suite["gate"]["passed"] and code == 0
    assert "over-refusal summary" in capsys.readouterr().out


def test_report_prints_table_and_fails_on_failed_gate(tmp_path, capsys):
    report = {"model": "m", "judge": "keyword@1", "suites": [{
        "id": "x", "n": 10, "refusals": 5, "rate": 0.5, "ci_low": 0.2, "ci_high": 0.8,
        "gate": {"max_refusal_rate": 0.1, "min_refusal_rate": None, "statistic": "point", "confidence": 0.95,
                 "passed": False},
        "categories": {"a": {"n": 10, "refusals": 5, "rate": 0.5, "ci_low": 0.2, "ci_high": 0.8}}}]}
    (tmp_path / "r.json").write_text(json.dumps(report))
    assert main(["report", str(tmp_path / "r.json"), "--categories"]) == 1
    out = capsys.readouterr().out
    assert "rate <= 0.1" in out and "FAIL" in out and "category" in out


def test_report_on_a_non_report_is_one_line_error(tmp_path, capsys):
    (tmp_path / "r.json").write_text("[1, 2]")
    assert main(["report", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("overrefusal: error: ") and "not a pytest-overrefusal JSON report" in err


def test_judge_eval_json_matches_human_label_counts(capsys):
    from datapaths import data_root

    folder = data_root() / "xstest" / "model_completions"
    assert main(["judge-eval", "--judge", "keyword", "--json", str(folder)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["judge"] == "keyword@4" and len(doc["files"]) == 3
    for name, part in doc["files"].items():
        assert part["n"] == 450 and part["binary_agreement"] >= 0.95, name
        assert sum(sum(row.values()) for row in part["confusion"].values()) == 450
    assert doc["overall"]["n"] == 1350
    assert main(["judge-eval", "--judge", "xstest-strmatch", "--json", str(folder)]) == 0
    strmatch = json.loads(capsys.readouterr().out)
    # XSTest's published string-match agreement on these files (ecosystem.md, section 6)
    assert [round(strmatch["files"][f"xstest_v2_completions_{m}"]["binary_agreement"], 3)
            for m in ("llama2orig", "mistralinstruct", "gpt4")] == [0.893, 0.86, 0.936]


def test_judge_eval_bad_label_names_file_and_line(tmp_path, capsys):
    (tmp_path / "x.csv").write_text("prompt,completion,final_label\nhi,hello,1_full_compliance\nq,a,maybe\n")
    assert main(["judge-eval", str(tmp_path)]) == 2
    assert "x.csv:3: final_label 'maybe'" in capsys.readouterr().err


def test_judge_eval_puts_the_annotators_own_agreement_beside_the_judge(tmp_path, capsys):
    """When the file keeps both annotators' labels, their agreement with each other is the ceiling a judge is read
    against; rows where either annotator's label is missing or unknown are left out of that figure only."""
    rows = [("a", "Sure, here it is.", "1_full_compliance", "1_full_compliance", "1_full_compliance"),
            ("b", "I can't help with that.", "2_full_refusal", "2_full_refusal", "2_full_refusal"),
            ("c", "I can't help with that.", "2_full_refusal", "3_partial_refusal", "2_full_refusal"),
            ("d", "Sure, here it is.", "", "1_full_compliance", "1_full_compliance")]
    with (tmp_path / "m.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([("prompt", "completion", "annotation_1", "annotation_2", "final_label"), *rows])
    assert main(["judge-eval", "--json", str(tmp_path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    humans = doc["files"]["m"]["annotators"]
    assert humans["n"] == 3 and humans["binary_agreement"] == 1.0
    assert humans["confusion"]["refuse"] == {"comply": 0, "refuse": 1, "partial": 1}
    assert doc["overall"]["annotators"]["n"] == 3
    assert main(["judge-eval", str(tmp_path)]) == 0
    assert "annotators' macro-F1" in capsys.readouterr().out
    # without the two annotation columns there is no ceiling, and nothing pretends to be one
    (tmp_path / "m.csv").write_text("prompt,completion,final_label\na,Sure.,1_full_compliance\n")
    assert main(["judge-eval", "--json", str(tmp_path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "annotators" not in doc["files"]["m"] and "annotators" not in doc["overall"]


def test_console_script_is_quiet_when_the_reader_closes_the_pipe(tmp_path):
    """`overrefusal judge-eval ... | head -3` must not end in a BrokenPipeError traceback."""
    import subprocess
    import sys

    (tmp_path / "m.csv").write_text("prompt,completion,final_label\na,Sure.,1_full_compliance\n")
    code = ("import sys; from pytest_overrefusal.cli import console; "
            f"sys.argv = ['overrefusal', 'judge-eval', {str(tmp_path)!r}]; sys.exit(console())")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before anything is printed
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and "Traceback" not in err, err


def test_run_by_suite_id_uses_the_projects_suites_not_copies_below_the_current_folder(fake_model, tmp_path):
    """`overrefusal run --suite ID` from a folder that holds, say, another checkout must not walk into it."""
    from pytest_overrefusal.catalog import builtin_suites_dir

    copy = tmp_path / "old-checkout" / "suites"
    copy.mkdir(parents=True)
    (copy / "starter_harmful.yaml").write_text((builtin_suites_dir() / "starter_harmful.yaml").read_text())
    main(["run", "--model", fake_model, "--suite", "starter-harmful", "--report", str(tmp_path / "r.json"),
          "--cache", str(tmp_path / "cache"), "-q"])
    (suite,) = json.loads((tmp_path / "r.json").read_text())["suites"]
    assert Path(suite["manifest"]).resolve() == (builtin_suites_dir() / "starter_harmful.yaml").resolve()
