"""pytest -n 2 gives the same verdicts, rates, summary and report as a serial run, with one summary."""
from __future__ import annotations

import json
import re
from pathlib import Path

HERE = Path(__file__).parent
SUITES = Path(__file__).resolve().parents[1] / "suites"


def run(pytester, tmp_path, name, *extra):
    return pytester.runpytest_subprocess(
        str(SUITES / "starter_pseudo_malicious.yaml"), str(SUITES / "starter_harmful.yaml"),
        "-p", "no:cacheprovider", "--overrefusal-model", "python:fakes:model",
        "--overrefusal-cache", str(tmp_path / f"cache-{name}"), "--overrefusal-report", str(tmp_path / f"{name}.json"),
        *extra)


def comparable(doc: dict) -> dict:
    for case in doc["cases"]:
        case.pop("cached")
    return {"suites": doc["suites"], "cases": doc["cases"], "model": doc["model"], "judge": doc["judge"]}


def summary(result) -> list[str]:
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "over-refusal summary" in line)
    return [line for line in lines[start + 1:start + 5] if line.strip()]


def responses_line(result) -> str:
    line = next(line for line in result.stdout.lines if line.startswith("responses:"))
    return re.sub(r"\d+\.\d+s", "_s", line)  # timings differ; counts may not


def tolerated_list(result) -> list[str]:
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "tolerated within passing gates" in line)
    block = []
    for line in lines[start + 1:]:  # the indented lines right under the header; pytest's recap follows later
        if not line.startswith("  "):
            break
        block.append(line)
    return block


def test_two_workers_match_a_serial_run(pytester, monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", str(HERE))
    serial = run(pytester, tmp_path, "serial")
    parallel = run(pytester, tmp_path, "xdist", "-n", "2")
    assert serial.ret == parallel.ret == 1  # the fake over-refuses the pseudo-malicious suite
    assert serial.parseoutcomes() == {k: v for k, v in parallel.parseoutcomes().items()}
    assert summary(serial) == summary(parallel)
    assert parallel.stdout.str().count("over-refusal summary") == 1
    one = json.loads((tmp_path / "serial.json").read_text())
    two = json.loads((tmp_path / "xdist.json").read_text())
    assert comparable(one) == comparable(two)
    assert len(two["cases"]) == 188
    # both workers needed every case for the gates, but the shared cache made them generate each once
    assert "188 generated" in serial.stdout.str()
    assert "188 generated" in parallel.stdout.str()
    # counts and lists as a serial run prints them: each case requested once, tolerated cases in file order
    assert responses_line(serial) == responses_line(parallel)
    assert "188 requested, 0 from cache, 188 generated" in responses_line(parallel)
    assert tolerated_list(serial) == tolerated_list(parallel) and len(tolerated_list(serial)) == 4
