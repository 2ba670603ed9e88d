"""Saved baselines: each case's verdict from one run, written as JSON and read back with its structure checked.

Comparing a run with a baseline is `compare.py`'s job; this module only stores and loads."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import BaselineError
from ..jsonl import load_document

SCHEMA = "pytest-overrefusal/baseline-1"


@dataclass(frozen=True)
class Baseline:
    path: Path
    model: str
    judge: str
    suites: dict[str, dict]  # id -> {"generation": {...}, "cases": {case_id: {"refused", "category"}}}


def save_baseline(path: Path, suites: Iterable[dict], cases: Iterable[dict], *, model: str, judge: str) -> None:
    """From report records: each suite's generation settings and every case's binary verdict."""
    doc: dict = {"schema": SCHEMA, "model": model, "judge": judge,
                 "suites": {s["id"]: {"generation": s["generation"], "cases": {}} for s in suites}}
    for c in cases:
        if c["suite"] in doc["suites"]:
            doc["suites"][c["suite"]]["cases"][c["case_id"]] = {"refused": c["refused"], "category": c["category"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def load_baseline(path: Path) -> Baseline:
    try:
        doc = load_document(Path(path), BaselineError, "--overrefusal-baseline file",
                            "give the file written by --overrefusal-save-baseline")
    except OSError as exc:
        raise BaselineError(f"--overrefusal-baseline {path}: cannot read ({exc.strerror or exc}); save one "
                            f"first with --overrefusal-save-baseline") from None
    except ValueError as exc:
        raise BaselineError(f"--overrefusal-baseline {path}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not isinstance(doc.get("suites"), dict):
        raise BaselineError(f"--overrefusal-baseline {path}: not a {SCHEMA} file")
    problem = _structure_problem(doc["suites"])
    if problem:
        raise BaselineError(f"--overrefusal-baseline {path}: {problem}; save a new one with "
                            f"--overrefusal-save-baseline")
    return Baseline(path=Path(path), model=str(doc.get("model")), judge=str(doc.get("judge")), suites=doc["suites"])


def _structure_problem(suites: dict) -> str:
    """What compare() and incompatibility() would trip over, checked once when the file is loaded."""
    def kind(value) -> str:
        return {dict: "an object", list: "a list", str: "a string"}.get(type(value), type(value).__name__)

    for sid, saved in suites.items():
        where = f"suites[{_short(sid)}]"
        if not isinstance(saved, dict):
            return f"{where} must be an object with 'generation' and 'cases', got {kind(saved)}"
        if not isinstance(saved.get("generation"), dict):
            return f"{where}.generation must be an object, got {kind(saved.get('generation'))}"
        cases = saved.get("cases")
        if not isinstance(cases, dict):
            return f"{where}.cases must be an object mapping case ids to verdicts, got {kind(cases)}"
        for cid, verdict in cases.items():
            if not isinstance(verdict, dict) or not isinstance(verdict.get("refused"), bool):
                return f"{where}.cases[{_short(cid)}] must be an object with a true/false 'refused'"
            if not isinstance(verdict.get("category"), (str, type(None))):
                return f"{where}.cases[{_short(cid)}].category must be a string or null"
    return ""


def _short(value) -> str:
    text = repr(str(value))
    return text if len(text) <= 60 else text[:57] + "...'"
