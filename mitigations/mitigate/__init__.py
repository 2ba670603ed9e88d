"""The parts of `overrefusal mitigate` (the command itself is `mitigations.loop`), one concern per module:

    data.py      training records from suites, JSONL files or the synthetic generators
    overlap.py   the check that no training prompt (nearly) equals an evaluated one
    holdout.py   the held-out suites: default selection and the "hold" rule
    evaluate.py  plugin runs in a subprocess, returning the JSON report
    compare.py   the before/after rows, their verdicts and the markdown table
    adapters.py  SFT and DPO as loop methods
"""
from __future__ import annotations

from pytest_overrefusal.api import OverrefusalError


class MitigateError(OverrefusalError):
    """The mitigation loop cannot run as asked."""
