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
