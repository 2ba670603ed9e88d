"""Filters on CHES (methods.md section 4.2) and the preference-file reader; scoring is `pytest_overrefusal.ches`."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from pytest_overrefusal.api import (
    ChesError, ChesScore, Pair, RenderPrompt, chat_renderer, ches_from_sums, json_objects, response_state_sums,
    score_pairs, score_with_backend,
)

# Scoring is re-exported so mitigations code and users find everything CHES in one place.
__all__ = ["ChesError", "ChesScore", "Pair", "RenderPrompt", "chat_renderer", "ches_from_sums", "chosen_refuses",
           "response_state_sums", "score_pairs", "score_with_backend", "FilterReport", "Selection", "parse_amount",
           "read_pairs",
           "read_rows", "pairs_from_rows"]

# ---------------------------------------------------------------- filtering

@dataclass(frozen=True)
class Selection:
    """Which share of the pairs, sorted by ascending ln-CHES, a filter keeps."""

    keep: float | int | None = None  # a fraction of the pairs (0.05) or a count (19): the lowest ones
    quantile: float | None = None  # or a window centred on this quantile of the sorted scores
    window: float | int | None = None

    def indices(self, scores: Sequence[float]) -> list[int]:
        """Indices of the kept pairs, in input order."""
        ranked = sorted(range(len(scores)), key=lambda i: (scores[i], i))
        if self.quantile is None:
            chosen = ranked[:_count(self.keep, len(scores))]
        else:
            chosen = _window(ranked, self.quantile, _count(self.window, len(scores)))
        return sorted(chosen)

    def for_part(self, part: int, whole: int) -> "Selection":
        """The same share of `part` of `whole` pairs: fractions stay, counts shrink in proportion, rounded up so that
        a part is never dropped entirely."""
        def scaled(amount):
            return math.ceil(amount * part / whole) if isinstance(amount, int) and whole else amount

        return Selection(keep=scaled(self.keep), quantile=self.quantile, window=scaled(self.window))

    def indices_by_side(self, scores: Sequence[float], refusing: Sequence[bool]) -> list[int]:
        """`indices`, with the pairs whose chosen answer refuses ranked apart from the rest, each keeping its share.
        ln-CHES compares a pair's two answers, and templated answers of one side score alike, so one ranking over a
        mixed set keeps mostly one side (on the keyword SmolLM2, 50% kept 268 of 360 refusing-chosen pairs and 32
        of 240 complying) and DPO on that teaches one behaviour. The CHES paper's pairs are all one side."""
        sides = [[i for i, r in enumerate(refusing) if r == side] for side in (True, False)]
        return sorted(side[j] for side in sides if side
                      for j in self.for_part(len(side), len(scores)).indices([scores[i] for i in side]))


@dataclass(frozen=True)
class FilterReport:
    total: int
    kept: int
    threshold: float  # the highest ln-CHES among the kept pairs
    # pairs whose chosen answer is a refusal (keyword judge): all of them, and those kept. Filtering by ln-CHES can
    # drop one side wholesale (templated answers score alike), and DPO on what is left then teaches one behaviour.
    refusing_total: int = 0
    refusing_kept: int = 0

    @classmethod
    def of(cls, scores: Sequence[float], refusing: Sequence[bool], kept: Sequence[int]) -> "FilterReport":
        return cls(len(scores), len(kept), max(scores[i] for i in kept), sum(refusing), sum(refusing[i] for i in kept))

    def as_dict(self) -> dict:
        return {"total": self.total, "kept": self.kept, "max_kept_ln_ches": self.threshold,
                "chosen_refuses": {"total": self.refusing_total, "kept": self.refusing_kept},
                "chosen_complies": {"total": self.total - self.refusing_total,
                                    "kept": self.kept - self.refusing_kept}}

    def summary(self) -> str:
        """One line for the mitigate log; says so when the filter removed every pair of one side."""
        complying_total, complying_kept = self.total - self.refusing_total, self.kept - self.refusing_kept
        line = (f"CHES filter kept {self.kept} of {self.total} pairs: {self.refusing_kept} of {self.refusing_total} "
                f"whose chosen answer refuses, {complying_kept} of {complying_total} whose chosen answer complies")
        for name, total, kept in (("refuses", self.refusing_total, self.refusing_kept),
                                  ("complies", complying_total, complying_kept)):
            if total and not kept:
                line += f"; none whose chosen answer {name} is left, so training cannot teach that"
        return line


def chosen_refuses(pairs: Sequence[Pair]) -> list[bool]:
    """Whether each pair's chosen answer is a refusal, by the plugin's default judge."""
    from pytest_overrefusal.api import get_judge

    verdicts = get_judge("keyword").judge([p.prompt for p in pairs], [p.chosen for p in pairs])
    return [v.refused for v in verdicts]


def _count(amount: float | int | None, n: int) -> int:
    """A count stays a count (capped at n); a fraction rounds up, so 5% of 370 pairs keeps 19 as in the paper."""
    if amount is None:
        return n
    if isinstance(amount, int):
        return min(amount, n)
    return min(n, math.ceil(amount * n - 1e-9))


def _window(ranked: list[int], quantile: float, size: int) -> list[int]:
    if not ranked or size <= 0:
        return []
    centre = round(quantile * (len(ranked) - 1))
    start = min(max(0, centre - size // 2), len(ranked) - size)
    return ranked[start:start + size]


def parse_amount(text: str, what: str) -> float | int:
    """'5%' -> 0.05, '0.05' -> 0.05, '19' -> 19 (a count). Anything else is a one-line error."""
    raw = str(text).strip()
    try:
        if raw.endswith("%"):
            value: float | int = float(raw[:-1]) / 100
        elif raw.isdigit():
            value = int(raw)
        else:
            value = float(raw)
    except ValueError:
        raise ChesError(f"{what}: {text!r} is not a percentage (5%), a fraction (0.05) or a count (19)") from None
    if isinstance(value, float) and not 0.0 <= value <= 1.0:
        raise ChesError(f"{what}: {text!r} must be between 0% and 100% (or a whole count)")
    return value


# ---------------------------------------------------------------- preference files

Row = dict


def read_rows(path: Path) -> list[tuple[int, Row]]:
    """(line number, object) for every non-blank line of a JSONL file; a malformed line is a one-line error."""
    return list(json_objects(path, ChesError, what="preference file", fields=" with prompt, chosen and rejected"))


def pairs_from_rows(path: Path, rows: Sequence[tuple[int, Row]], prompt: str = "prompt", chosen: str = "chosen",
                    rejected: str = "rejected", id_column: str | None = "id") -> list[Pair]:
    pairs = []
    for lineno, row in rows:
        texts = []
        for column in (prompt, chosen, rejected):
            value = row.get(column)
            if not isinstance(value, str) or not value.strip():
                raise ChesError(f"{path}:{lineno}: '{column}' must be a non-empty string, got {value!r}")
            texts.append(value)
        raw_id = row.get(id_column) if id_column else None
        pairs.append(Pair(*texts, id=str(raw_id) if raw_id is not None else str(lineno)))
    return pairs


def read_pairs(path: Path, prompt: str = "prompt", chosen: str = "chosen", rejected: str = "rejected",
               id_column: str | None = "id") -> list[Pair]:
    """Pairs from a JSONL file (one object per line with the three text columns)."""
    return pairs_from_rows(path, read_rows(path), prompt, chosen, rejected, id_column)
