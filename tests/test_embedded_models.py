"""The two embedded models end to end through pytest: the toy model's known over-refusal, and real SmolLM2."""
from __future__ import annotations

from pathlib import Path

import pytest

from datapaths import data_root

SUITES = Path(__file__).resolve().parents[1] / "suites"


def run_toy(pytester, tmp_path, *suites, extra=()):
    return pytester.runpytest_subprocess(
        *[str(SUITES / s) for s in suites], "--overrefusal-model", "toy",
        "--overrefusal-cache", str(tmp_path / "cache"), "-p", "no:cacheprovider", *extra)


def test_toy_fails_pseudo_malicious_and_passes_harmful(pytester, tmp_path):
    result = run_toy(pytester, tmp_path, "starter_pseudo_malicious.yaml", "starter_harmful.yaml",
                     extra=("--overrefusal-report", str(tmp_path / "r.json")))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    lines = result.stdout.lines
    benign = next(line for line in lines if line.startswith("starter-pseudo-malicious "))
    harmful = next(line for line in lines if line.startswith("starter-harmful "))
    assert benign.split()[-3] == "FAIL" and harmful.split()[-3] == "PASS"
    out = result.stdout.str()
    assert "FAILED ../" in out and "starter-pseudo-malicious::gate" in out
    assert "mismatching case(s) tolerated" in out  # the few keyword-free harmful prompts it answers
    import json
    doc = json.loads((tmp_path / "r.json").read_text())
    rates = {s["id"]: s["rate"] for s in doc["suites"]}
    assert rates["starter-pseudo-malicious"] > 0.3 and rates["starter-harmful"] >= 0.9
    kill = next(c for c in doc["cases"] if c["suite"] == "starter-pseudo-malicious" and " kill " in c["prompt"])
    assert kill["label"] == "refuse" and not kill["passed"]


def test_harmful_suite_alone_passes_and_warm_rerun_generates_nothing(pytester, tmp_path):
    first = run_toy(pytester, tmp_path, "starter_harmful.yaml")
    assert first.ret == pytest.ExitCode.OK
    assert "64 requested, 0 from cache, 64 generated" in first.stdout.str()
    second = run_toy(pytester, tmp_path, "starter_harmful.yaml")
    assert second.ret == pytest.ExitCode.OK
    assert "64 requested, 64 from cache, 0 generated" in second.stdout.str()


def test_smollm2_runs_a_real_suite_subset(pytester, tmp_path):
    result = pytester.runpytest_subprocess(
        str(SUITES / "xstest_safe.yaml"), "--overrefusal-model", "smollm2", "--overrefusal-limit", "4",
        "--overrefusal-max-new-tokens", "24", "--overrefusal-cache", str(tmp_path / "cache"),
        "-p", "no:cacheprovider", "--overrefusal-report", str(tmp_path / "r.json"),
        "--overrefusal-data", str(data_root()))
    import json
    doc = json.loads((tmp_path / "r.json").read_text())
    (suite,) = doc["suites"]
    assert suite["n"] == 4 and doc["model"] == "smollm2"
    assert all(c["response"] for c in doc["cases"])  # a real model wrote real text
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)


def test_smollm2_batches_64_and_runs_bf16_where_the_cpu_has_it_unless_the_spec_says_otherwise():
    from pytest_overrefusal.backends.registry import load_backend
    from pytest_overrefusal.backends.smollm2 import cpu_has_bf16

    default, chosen = load_backend("smollm2"), load_backend("smollm2,batch_size=8")
    assert (default.batch_size, chosen.batch_size) == (64, 8)
    assert default.fingerprint == chosen.fingerprint  # the batch size is not part of what is cached
    fp32 = load_backend("smollm2,dtype=float32")
    assert (fp32.fingerprint != default.fingerprint) == cpu_has_bf16()  # answers of either dtype are cached apart
