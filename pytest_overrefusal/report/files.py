"""Report files: JSON (the whole run) and CSV (one row per case). Format follows the extension."""
from __future__ import annotations

import contextlib
import csv
import json
import os
import time
from pathlib import Path

from ..engine import CaseResult
from ..errors import OverrefusalError
from ..gates import SuiteOutcome

SCHEMA = "pytest-overrefusal/report-1"
REPORT_FORMATS = (".json", ".csv", ".parquet", ".html")
CASE_FIELDS = ("suite", "case_id", "category", "expect", "prompt", "response", "finish_reason", "truncated",
               "label", "refused", "score", "judge", "reason", "passed", "cached", "new_tokens", "stopped",
               "label_settled")
_STOPPED = {"verdict": "verdict", "length": "length"}  # finish_reason -> why generation stopped; else the end (eos)


def case_record(r: CaseResult) -> dict:
    return {"suite": r.case.suite_id, "case_id": r.case.case_id, "category": r.case.category,
            "expect": r.case.expect, "prompt": r.case.prompt, "response": r.response.text,
            "finish_reason": r.response.finish_reason, "truncated": r.response.truncated,
            "label": r.verdict.label, "refused": r.verdict.refused, "score": r.verdict.score,
            "judge": r.verdict.judge, "reason": r.verdict.reason, "passed": r.passed, "cached": r.cached,
            "new_tokens": r.response.completion_tokens, "stopped": _STOPPED.get(r.response.finish_reason, "eos"),
            # a refusal stopped on its verdict: `refused` is final, the partial/full split was read on less text
            "label_settled": not (r.response.finish_reason == "verdict" and r.verdict.refused)}


def suite_record(o: SuiteOutcome) -> dict:
    rate = o.rate
    lo, hi = rate.interval
    return {
        "id": o.suite.id, "title": o.suite.title, "manifest": str(o.suite.path), "expect": o.suite.expect,
        "n": rate.n, "refusals": rate.k, "rate": rate.value, "ci_low": lo, "ci_high": hi,
        "confidence": rate.confidence, "truncated": o.truncated, "mismatches": len(o.mismatches),
        "gate": {"max_refusal_rate": o.gate.max_refusal_rate, "min_refusal_rate": o.gate.min_refusal_rate,
                 "statistic": o.gate.statistic, "confidence": o.gate.confidence, "value": o.gated_value,
                 "passed": o.passed},
        **o.adjusted_record(),  # adjusted_rate, adjusted_ci_low, adjusted_ci_high, judge_card, adjusted_note
        "categories": {cat: {"n": r.n, "refusals": r.k, "rate": r.value, "ci_low": r.interval[0],
                             "ci_high": r.interval[1]} for cat, r in o.by_category.items()},
        "citation": o.suite.citation, "license": o.suite.license,
    }


def comparison_record(found) -> dict | None:
    if found is None:
        return None
    if isinstance(found, str):
        return {"comparable": False, "reason": found}
    return {"comparable": True, "paired": found.paired, "worse": found.worse, "better": found.better,
            "p_value": found.p_value, "delta": found.delta, "regressed": found.regressed,
            "reasons": list(found.reasons),
            "categories": {c: {"worse": w, "better": b, "p_holm": p} for c, (w, b, p) in found.categories.items()}}


def write_outputs(run) -> dict[str, str]:
    """The report and the baseline from what the run recorded; each written or not on its own (one failing keeps
    the other). Returns output name -> one line saying why it was not written."""
    from dataclasses import asdict

    from ..baseline.storage import save_baseline

    records, settings, problems = run.records, run.settings, {}
    if settings.report is not None and (records.suites or records.pair_suites or records.errors):
        from ..backends.registry import redact

        plain = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()}
        # a model or judge spec (llm:openai:...) may carry URL credentials or token= values
        plain = {k: (redact(v) if isinstance(v, str) else v) for k, v in plain.items()}
        model = records.model or next((g["model"] for g in records.pair_suites.values()), "") or \
            next((e["model"] for e in records.errors.values()), "")
        with _output_boundary("report", "--overrefusal-report", settings.report, problems):
            write_report(settings.report, records.ordered_suites(), records.ordered_cases(), model=model,
                         judge=records.judge, settings=plain, pair_suites=records.ordered_pair_suites(),
                         pairs=records.ordered_pairs(), errors=records.ordered_errors())
    if settings.save_baseline is not None and records.suites:
        with _output_boundary("baseline", "--overrefusal-save-baseline", settings.save_baseline, problems):
            save_baseline(settings.save_baseline, records.ordered_suites(), records.ordered_cases(),
                          model=records.model, judge=records.judge)
    return problems


@contextlib.contextmanager
def _output_boundary(name: str, option: str, path: Path, problems: dict[str, str]):
    try:
        yield
    except OverrefusalError as exc:
        problems[name] = str(exc)
    except (OSError, ValueError, ImportError, csv.Error) as exc:
        why = getattr(exc, "strerror", None) or " ".join(str(exc).split())[:160] or type(exc).__name__
        problems[name] = f"{option} {path}: not written ({why}); the results above are complete, rerun with a " \
                         f"writable path"


def write_report(path: Path, suites: list[dict], cases: list[dict], *, model: str, judge: str,
                 settings: dict, pair_suites: list[dict] = (), pairs: list[dict] = (), errors: list[dict] = ()) -> None:
    """Prompt suites and their cases in every format; preference-pair suites and their pairs, and suites that
    could not be evaluated, in JSON (pairs in HTML too); CSV and parquet stay one row per prompt case."""
    suffix = path.suffix.lower()
    if suffix not in REPORT_FORMATS:
        raise OverrefusalError(f"--overrefusal-report {path}: unknown format {suffix!r}; "
                               f"use .json, .csv, .parquet or .html")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        if suffix == ".json":
            doc = {"schema": SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "model": model,
                   "judge": judge, "settings": settings, "suites": suites, "cases": cases,
                   "preference_suites": list(pair_suites), "pairs": list(pairs), "not_evaluated": list(errors)}
            # a lone surrogate in model text becomes its JSON escape: the file stays UTF-8 and reads back exact
            tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8",
                           errors="backslashreplace")
        elif suffix == ".html":
            from .html import render_html

            page = render_html(suites, cases, model=model, judge=judge, created=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                               pair_suites=pair_suites, pairs=pairs)
            tmp.write_text(page, encoding="utf-8", errors="backslashreplace")
        elif suffix == ".parquet":
            import pandas as pd

            pd.DataFrame.from_records(cases, columns=list(CASE_FIELDS)).to_parquet(tmp, index=False)
        else:
            with tmp.open("w", newline="", encoding="utf-8", errors="backslashreplace") as fh:
                writer = csv.DictWriter(fh, fieldnames=CASE_FIELDS)
                writer.writeheader()
                writer.writerows(cases)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # no half-written file left beside the report
        raise
