"""The terminal summary table: one row per gated suite."""
from __future__ import annotations

from typing import Iterable

from ..gates import SuiteOutcome

HEADERS = ("suite", "n", "refusals", "rate", "95% CI", "gate", "result", "judge", "model")


def summary_rows(outcomes: Iterable[SuiteOutcome], judge: str, model: str) -> list[tuple[str, ...]]:
    rows = []
    for o in outcomes:
        rate = o.rate
        lo, hi = rate.interval
        rows.append((o.suite.id, str(rate.n), str(rate.k), f"{rate.value:.3f}", f"[{lo:.3f}, {hi:.3f}]",
                     o.gate.describe(), "PASS" if o.passed else "FAIL", judge, model))
    return rows


CATEGORY_HEADERS = ("category", "n", "refusals", "rate", "95% CI")


def category_rows(o: SuiteOutcome) -> list[tuple[str, ...]]:
    return [(cat, str(r.n), str(r.k), f"{r.value:.3f}", f"[{r.interval[0]:.3f}, {r.interval[1]:.3f}]")
            for cat, r in o.by_category.items()]


def format_table(rows: list[tuple[str, ...]], headers: tuple[str, ...] = HEADERS) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return [line(headers), line(tuple("-" * w for w in widths)), *(line(r) for r in rows)]
