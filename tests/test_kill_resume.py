"""A run killed with SIGKILL halfway, started again, regenerates none of the answers it already had.

The suite runs as a real `pytest` subprocess against the `openai:` backend and a fake chat server in this process,
which records every prompt it answers. The kill comes once the cache holds about a third of the answers."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from fault_proxy import FakeChatServer
from pytest_overrefusal.backends.registry import load_backend
from pytest_overrefusal.cache import request_key
from pytest_overrefusal.engine import build_request
from pytest_overrefusal.sources import load_cases
from pytest_overrefusal.suite import load_manifest

N = 120
VERBS = ("bake", "kill", "paint", "attack", "fix", "clean")


def _write_suite(tmp_path):
    rows = [{"id": f"c{i:03d}", "prompt": f"How do I {VERBS[i % len(VERBS)]} the thing number {i}?"}
            for i in range(N)]
    (tmp_path / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    manifest = tmp_path / "resume.yaml"
    manifest.write_text("schema: overrefusal-suite/1\nid: resume\ntitle: resume\nexpect: comply\n"
                        "source: {file: rows.jsonl}\ncolumns: {prompt: prompt, id: id}\n"
                        "gate: {max_refusal_rate: 0.5}\n")
    return manifest


def _cached_keys(db) -> set[str]:
    try:
        with sqlite3.connect(db) as conn:
            return {k for (k,) in conn.execute("SELECT key FROM responses")}
    except sqlite3.OperationalError:  # the table does not exist yet
        return set()


def _pytest(manifest, spec, cache_dir, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "pytest", str(manifest), "-q", "-p", "no:cacheprovider",
                             "-p", "no:randomly", "--overrefusal-model", spec, "--overrefusal-cache", str(cache_dir),
                             *extra],
                            cwd=cache_dir.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_sigkill_halfway_then_rerun_regenerates_nothing_it_had(tmp_path):
    manifest = _write_suite(tmp_path)
    server = FakeChatServer(delay=0.05)
    db = tmp_path / "cache" / "responses.sqlite"
    try:
        spec = f"openai:m@{server.url()},concurrency=2"
        first = _pytest(manifest, spec, tmp_path / "cache")
        deadline = time.monotonic() + 90
        while len(_cached_keys(db)) < N // 3 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        assert first.returncode == -signal.SIGKILL, first.stdout.read()
        had = _cached_keys(db)
        while server.in_flight:  # requests the killed run had sent still finish at the server; let them
            time.sleep(0.02)
        answered_before_kill = len(server.prompts)

        second = _pytest(manifest, spec, tmp_path / "cache")
        out, _ = second.communicate(timeout=120)
    finally:
        server.close()

    assert 0 < len(had) < N, "the kill did not land halfway"
    asked_again = server.prompts[answered_before_kill:]
    assert len(asked_again) == len(set(asked_again)) == N - len(had)
    # which prompts were cached at the kill: recompute their keys exactly as the engine does
    suite = load_manifest(manifest)
    fingerprint = load_backend(spec).fingerprint
    key_of = {c.prompt: request_key(fingerprint, build_request(c, suite)) for c in load_cases(suite, None, None)}
    assert set(key_of.values()) >= had
    assert not {p for p in asked_again if key_of[p] in had}, "a cached answer was generated again"
    assert {key_of[p] for p in asked_again} | had == set(key_of.values())
    assert f"responses: {N} requested, {len(had)} from cache, {N - len(had)} generated" in out, out[-2000:]
    assert second.returncode == 0  # 1 in 3 prompts refused: tolerated within the passing 0.5 gate


def _rows(db, table: str) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:  # the table does not exist yet
        return 0


@pytest.mark.parametrize("decoding", ["full", "verdict"])
def test_sigkill_during_toy_generation_loses_at_most_the_batch_in_flight(tmp_path, decoding):
    """Issue 11 row 17: `kill -9` while the default toy model generated starter-pseudo-malicious kept 0 of 124
    answers (they were committed in chunks of 128). Each backend batch (64 for the toy) is committed as it is
    produced (answers in `full` decoding; in `verdict` decoding each batch's token ids, which the next run
    continues), so after the first commit a kill at a random (seeded) moment of the second batch costs that
    batch only."""
    import random
    from pathlib import Path

    manifest = Path(__file__).resolve().parents[1] / "suites" / "starter_pseudo_malicious.yaml"
    db = tmp_path / "cache" / "responses.sqlite"
    first = _pytest(manifest, "toy", tmp_path / "cache", "--overrefusal-decoding", decoding)
    deadline = time.monotonic() + 240

    def committed() -> int:  # verdict decoding writes a batch's token ids and its complete answers: one batch
        return max(_rows(db, "responses"), _rows(db, "partials"))
    while committed() < 1 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(random.Random(11).uniform(0.0, 0.3))  # well inside the next batch: the toy takes seconds per 64
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    assert first.returncode == -signal.SIGKILL, first.stdout.read()
    kept = committed()
    assert kept == 64, f"expected the first batch of 64 committed and the second in flight, found {kept}"

    second = _pytest(manifest, "toy", tmp_path / "cache", "--overrefusal-decoding", decoding)
    out, _ = second.communicate(timeout=240)
    assert "responses: 124 requested" in out and second.returncode in (0, 1), out[-2000:]  # every case evaluated
    if decoding == "full":
        assert "responses: 124 requested, 64 from cache, 60 generated" in out, out[-2000:]
