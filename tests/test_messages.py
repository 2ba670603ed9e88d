"""What the user sees while waiting: the toy model's first build announces itself and shows its steps."""
from __future__ import annotations

import contextlib
from pathlib import Path

from pytest_overrefusal import console
from pytest_overrefusal.backends import toy_model


def test_first_toy_build_announces_itself_shows_steps_and_says_where_it_is_kept(tmp_path, monkeypatch, capsys):
    def fake_build(out_dir: Path, steps: int = 0, seed: int = 0, progress=None) -> Path:
        for step in range(1, 9):
            progress(step, 8, 1.0 / step)
        for name in toy_model.MODEL_FILES:
            (out_dir / name).write_text("x")
        return out_dir

    monkeypatch.setattr(toy_model, "build_toy_model", fake_build)
    monkeypatch.setattr(console, "_console", contextlib.nullcontext)  # this session's plugin bypasses capsys
    toy_model.toy_model_dir(tmp_path)
    err = capsys.readouterr().err
    assert err.startswith("building the toy model on first use") and str(tmp_path) in err
    assert [line.strip() for line in err.splitlines() if line.strip().startswith("training step ")] == [
        "training step 2/8 (loss 0.500)", "training step 4/8 (loss 0.250)", "training step 6/8 (loss 0.167)",
        "training step 8/8 (loss 0.125)"]
    assert err.splitlines()[-1].startswith("toy model built in ")
    toy_model.toy_model_dir(tmp_path)  # built: silent
    assert capsys.readouterr().err == ""


def test_training_reports_every_step(tmp_path):
    seen = []
    toy_model.build_toy_model(tmp_path, steps=3, progress=lambda step, steps, loss: seen.append((step, steps)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


class LazyModel:
    """Loads its 'weights' (a sleep) on first generate, as the hf backend does."""

    name = "lazy"
    fingerprint = "lazy-1"

    def __init__(self, load_s: float):
        self.load_s, self.load_seconds, self.loaded = load_s, 0.0, False

    def generate(self, requests):
        import time

        from pytest_overrefusal.backends.base import Response

        if not self.loaded:
            began = time.perf_counter()
            time.sleep(self.load_s)
            self.loaded, self.load_seconds = True, self.load_seconds + time.perf_counter() - began
        return [Response("Sure, here it is.") for _ in requests]


def test_summary_times_model_loading_apart_from_generation(tmp_path):
    from pytest_overrefusal.backends.base import ChatRequest
    from pytest_overrefusal.engine import Engine
    from pytest_overrefusal.judges.registry import get_judge
    from pytest_overrefusal.suite import Case

    engine = Engine(backend=LazyModel(0.6), judge=get_judge("keyword"), cache=None, progress=False)
    cases = [Case("s", str(i), f"question {i}", "comply") for i in range(4)]
    engine.run([(c, ChatRequest.user(c.prompt)) for c in cases])
    assert engine.stats.load_seconds >= 0.6
    assert engine.stats.generate_seconds < 0.3


def run_demo(tmp_path, *args):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "OVERREFUSAL_HOME": str(tmp_path / "home")}
    return subprocess.run([sys.executable, "-m", "pytest_overrefusal.demo", "--suite", "starter-harmful",
                           "--suite", "starter-pseudo-malicious", "--report", str(tmp_path / "demo.json"), *args],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)


def test_demo_ends_cleanly_with_failing_gates_and_says_where_the_report_is(tmp_path):
    done = run_demo(tmp_path, "--model", "python:fakes:make,words=zzz", "--threads", "1")  # never refuses
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]  # --threads is the demo's, not run's
    tail = done.stdout.strip().splitlines()[-2:]
    assert tail[0].startswith(f"report: {tmp_path / 'demo.json'}")
    assert tail[1].startswith("gates failed for starter-harmful")
    assert "Traceback" not in done.stderr


def test_demo_threads_default_to_every_usable_core_and_can_be_chosen():
    import os

    import torch

    from pytest_overrefusal.demo import _without_threads, use_threads

    before = torch.get_num_threads()
    try:
        assert use_threads(None) == len(os.sched_getaffinity(0)) == torch.get_num_threads()
        assert use_threads(1) == 1 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert _without_threads(["--threads", "3", "--limit", "4", "--threads=2"]) == ["--limit", "4"]


def test_demo_fails_on_an_error_rather_than_hiding_it(tmp_path):
    done = run_demo(tmp_path, "--model", "python:nowhere:model")
    assert done.returncode not in (0,) and "nowhere" in done.stdout + done.stderr


def test_demo_explains_why_the_embedded_model_fails_the_harmful_gates():
    from pytest_overrefusal.demo import WHY_HARMFUL_FAILS, closing_lines

    doc = {"suites": [{"id": "starter-harmful", "expect": "refuse", "gate": {"passed": False}},
                      {"id": "xstest-safe", "expect": "comply", "gate": {"passed": True}}]}
    assert closing_lines(doc, "smollm2", False) == [WHY_HARMFUL_FAILS]
    assert "pipeline" in WHY_HARMFUL_FAILS and "not a safe model" in WHY_HARMFUL_FAILS
    assert closing_lines({"suites": [{**doc["suites"][1]}]}, "smollm2", True) == []
