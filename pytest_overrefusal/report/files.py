"""Report files: JSON and HTML (the whole run), CSV and parquet (one row per prompt case). Format follows the
extension; `writer.py` decides when they are written."""
from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

from ..errors import OverrefusalError
from ..records import CASE_FIELDS, SCHEMA

REPORT_FORMATS = (".json", ".csv", ".parquet", ".html")


def write_report(path: Path, records, *, model: str, judge: str, settings: dict) -> None:
    """Every suite kind's suites and rows, and suites that could not be evaluated, in JSON (and HTML); CSV and
    parquet are one row per prompt case. `records`: an `aggregate.Records`."""
    suffix = path.suffix.lower()
    if suffix not in REPORT_FORMATS:
        raise OverrefusalError(f"--overrefusal-report {path}: unknown format {suffix!r}; "
                               f"use {', '.join(REPORT_FORMATS[:-1])} or {REPORT_FORMATS[-1]}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        if suffix == ".json":
            from ..kinds import KINDS

            doc = {"schema": SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "model": model,
                   "judge": judge, "settings": settings}
            for kind, mine in records.kinds.items():
                suites_key, rows_key = KINDS[kind].json_keys
                doc[suites_key] = [s.to_dict() for s in mine.ordered_suites()]
                doc[rows_key] = [r.to_dict() for r in mine.ordered_rows()]
            doc["not_evaluated"] = [e.to_dict() for e in records.ordered_errors()]
            # a lone surrogate in model text becomes its JSON escape: the file stays UTF-8 and reads back exact
            tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8",
                           errors="backslashreplace")
        elif suffix == ".html":
            from .html import render_html

            page = render_html(records, model=model, judge=judge, created=time.strftime("%Y-%m-%d %H:%M:%S %Z"))
            tmp.write_text(page, encoding="utf-8", errors="backslashreplace")
        else:
            cases = [c.to_dict() for c in records.of("prompts").ordered_rows()]
            if suffix == ".parquet":
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
