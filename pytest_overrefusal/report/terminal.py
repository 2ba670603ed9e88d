"""Tables for the terminal, built from suite records (the JSON report's `suites` entries)."""
from __future__ import annotations

from typing import Sequence

from ..suite import Gate

HEADERS = ("suite", "n", "refusals", "rate", "95% CI", "gate", "result", "judge", "model")
CATEGORY_HEADERS = ("category", "n", "refusals", "rate", "95% CI")
GATE_KEYS = ("max_refusal_rate", "min_refusal_rate", "statistic", "confidence")


def gate_text(gate: dict) -> str:
    return Gate(**{k: gate[k] for k in GATE_KEYS}).describe()


def suite_passed(record: dict) -> bool:
    """The gate and, when there is one, the baseline comparison."""
    compared = record.get("baseline")
    return record["gate"]["passed"] and (compared is None or (compared["comparable"] and not compared["regressed"]))


def summary_table(suites: Sequence[dict], judge: str, model: str) -> tuple[list[tuple[str, ...]], tuple[str, ...]]:
    """Rows and headers; with a baseline, a `vs baseline` column (mismatch-rate change, McNemar p)."""
    with_baseline = any(s.get("baseline") is not None for s in suites)
    rows = []
    for s in suites:
        cells = [s["id"], str(s["n"]), str(s["refusals"]), f"{s['rate']:.3f}",
                 f"[{s['ci_low']:.3f}, {s['ci_high']:.3f}]", gate_text(s["gate"])]
        if with_baseline:
            compared = s.get("baseline")
            ok = compared is not None and compared["comparable"]
            cells.append(f"{compared['delta']:+.3f} (p={compared['p_value']:.2g})" if ok else "n/a")
        rows.append((*cells, "PASS" if suite_passed(s) else "FAIL", judge, model))
    headers = HEADERS if not with_baseline else (*HEADERS[:6], "vs baseline", *HEADERS[6:])
    return rows, headers


def describe_comparison(compared: dict) -> str:
    if not compared["comparable"]:
        return compared["reason"]
    head = (f"vs baseline: {compared['worse']} case(s) worse, {compared['better']} better over "
            f"{compared['paired']} paired; exact McNemar p={compared['p_value']:.4g}; "
            f"mismatch rate {compared['delta']:+.3f}")
    return head + ("; REGRESSION: " + "; ".join(compared["reasons"]) if compared["reasons"] else "")


def category_rows(suite: dict) -> list[tuple[str, ...]]:
    return [(cat, str(v["n"]), str(v["refusals"]), f"{v['rate']:.3f}", f"[{v['ci_low']:.3f}, {v['ci_high']:.3f}]")
            for cat, v in suite["categories"].items()]


def format_table(rows: list[tuple[str, ...]], headers: tuple[str, ...] = HEADERS) -> list[str]:
    """Left-aligned columns, a dashed rule under the headers."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return [line(headers), line(tuple("-" * w for w in widths)), *(line(r) for r in rows)]
