"""The terminal summary table: one row per gated suite."""
from __future__ import annotations

from typing import Iterable

from ..gates import SuiteOutcome

HEADERS = ("suite", "n", "refusals", "rate", "95% CI", "gate", "result", "judge", "model")


def summary_table(outcomes: Iterable[SuiteOutcome], judge: str, model: str,
                  comparisons: dict | None = None) -> tuple[list[tuple[str, ...]], tuple[str, ...]]:
    """Rows and headers; with a baseline, a delta column (mismatch-rate change, McNemar p) before result."""
    comparisons = comparisons or {}
    rows = []
    for o in outcomes:
        rate = o.rate
        lo, hi = rate.interval
        cells = [o.suite.id, str(rate.n), str(rate.k), f"{rate.value:.3f}", f"[{lo:.3f}, {hi:.3f}]", o.gate.describe()]
        compared = comparisons.get(o.suite.id)
        passed = o.passed
        if comparisons:
            if compared is None or isinstance(compared, str):
                cells.append("n/a")
                passed = passed and compared is None
            else:
                cells.append(f"{compared.delta:+.3f} (p={compared.p_value:.2g})")
                passed = passed and not compared.regressed
        rows.append((*cells, "PASS" if passed else "FAIL", judge, model))
    headers = HEADERS if not comparisons else (*HEADERS[:6], "vs baseline", *HEADERS[6:])
    return rows, headers


CATEGORY_HEADERS = ("category", "n", "refusals", "rate", "95% CI")


def category_rows(o: SuiteOutcome) -> list[tuple[str, ...]]:
    return [(cat, str(r.n), str(r.k), f"{r.value:.3f}", f"[{r.interval[0]:.3f}, {r.interval[1]:.3f}]")
            for cat, r in o.by_category.items()]


def format_table(rows: list[tuple[str, ...]], headers: tuple[str, ...] = HEADERS) -> list[str]:
    """Left-aligned columns, a dashed rule under the headers."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return [line(headers), line(tuple("-" * w for w in widths)), *(line(r) for r in rows)]
