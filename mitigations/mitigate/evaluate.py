"""Both evaluations are the pytest plugin itself, in a fresh interpreter, so the table holds exactly its numbers."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from . import MitigateError

PASSED_FLAGS = ("judge", "data", "limit", "max_new_tokens", "cache")


def evaluate(model: str, suites: list[str], report: Path, args, *, limit: int | None = None) -> dict:
    """Run the plugin on `suites` and return its JSON report; `limit` (if given) replaces --limit."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(Path.cwd()),
               "--overrefusal-model", model, "--overrefusal-report", str(report)]
    for suite in suites:
        command += ["--overrefusal-suite", suite]
    for flag in PASSED_FLAGS:
        value = limit if flag == "limit" and limit is not None else getattr(args, flag, None)
        if value is not None and not (flag == "limit" and value == 0):
            command += [f"--overrefusal-{flag.replace('_', '-')}", str(value)]
    if getattr(args, "no_cache", False):
        command.append("--overrefusal-no-cache")
    report.unlink(missing_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    from pytest_overrefusal.api import shown  # a spec may hold a credential; never print it

    print(f"evaluating {shown(model, 200)} on {', '.join(suites)} ...", flush=True)
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if not report.is_file():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise MitigateError(f"the plugin run for {model} wrote no report (exit status {done.returncode}):\n{tail}")
    return json.loads(report.read_text(encoding="utf-8"))
