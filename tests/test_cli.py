"""The `overrefusal` command: run (pytest underneath), report, errors."""
from __future__ import annotations

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
