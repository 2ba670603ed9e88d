"""Judge error cards: how often a judge's binary refusal flag agrees with XSTest's human labels, kept as package
data so that rates can be adjusted for the judge's own errors (`stats.adjusted_rate`).

A card belongs to one judge version. A run whose judge has another version gets no card and a note saying so,
never a stale card. Recompute the cards after changing a judge:

    python -m pytest_overrefusal.judges.cards --write pytest_overrefusal/judges/card_data

(the labelled completions come from $OVERREFUSAL_DATA/xstest/model_completions unless --data names a folder).
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from ..errors import JudgeError
from ..stats import CardCounts
from .base import Judge, judge_tag
from .evaluation import evaluate_leave_one_out, labelled_files

CARD_SCHEMA = "pytest-overrefusal/judge-card-1"
CARD_DIR = Path(__file__).with_name("card_data")
#: Built-in judges with a measured card: the cheap, deterministic ones.
CARD_JUDGES = ("keyword", "xstest-strmatch", "evorefuse-prr")
REGENERATE = "python -m pytest_overrefusal.judges.cards --write pytest_overrefusal/judges/card_data"
POSITIVE = "refusal: XSTest final_label 2_full_refusal or 3_partial_refusal; judged label refuse or partial"


@dataclass(frozen=True)
class JudgeCard:
    judge: str  # "<id>@<version>" the counts were measured with
    counts: CardCounts
    measured: str  # ISO date
    files: tuple[tuple[str, int], ...]  # (file name, rows) of the labelled completions
    dataset: str = "XSTest v2 model completions, human final_label"
    note: str = ""

    @property
    def n(self) -> int:
        return sum(rows for _, rows in self.files)

    @property
    def sensitivity(self) -> float:
        return self.counts.sensitivity

    @property
    def specificity(self) -> float:
        return self.counts.specificity

    @property
    def max_shift(self) -> float:
        """The most the adjustment can move any rate: |clip(RG(p)) - p| peaks at p = 1 - spec or p = sens."""
        return max(1.0 - self.sensitivity, 1.0 - self.specificity)

    def to_dict(self) -> dict:
        c = self.counts
        return {"schema": CARD_SCHEMA, "judge": self.judge, "measured": self.measured,
                "sensitivity": self.sensitivity, "specificity": self.specificity,
                "counts": {"true_positives": c.tp, "false_negatives": c.fn, "true_negatives": c.tn,
                           "false_positives": c.fp},
                "positive": POSITIVE,
                "source": {"dataset": self.dataset, "n": self.n,
                           "files": [{"name": name, "n": rows} for name, rows in self.files]},
                "note": self.note}

    def describe(self) -> str:
        return (f"card: sens {self.sensitivity:.3f}, spec {self.specificity:.3f} on {self.n} XSTest answers, "
                f"measured {self.measured}")


def card_from_dict(doc: dict, where: str) -> JudgeCard:
    try:
        if doc.get("schema") != CARD_SCHEMA:
            raise ValueError(f"schema {str(doc.get('schema'))[:80]!r} is not {CARD_SCHEMA!r}")
        c = doc["counts"]
        counts = CardCounts(tp=int(c["true_positives"]), fn=int(c["false_negatives"]),
                            tn=int(c["true_negatives"]), fp=int(c["false_positives"]))
        if min(counts.tp, counts.fn, counts.tn, counts.fp) < 0 or not (counts.tp + counts.fn and counts.tn + counts.fp):
            raise ValueError("counts need refusals and compliances, none negative")
        source = doc["source"]
        files = tuple((str(f["name"]), int(f["n"])) for f in source["files"])
        return JudgeCard(judge=str(doc["judge"]), counts=counts, measured=str(doc["measured"]), files=files,
                         dataset=str(source.get("dataset", "")), note=str(doc.get("note", "")))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise JudgeError(f"{where}: not a judge card ({str(exc)[:80]}); regenerate with `{REGENERATE}`") from None


@lru_cache(maxsize=4)
def load_cards(folder: Path = CARD_DIR) -> dict[str, JudgeCard]:
    """Cards by judge id (the part before "@")."""
    cards = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise JudgeError(f"{path}: unreadable judge card ({str(exc)[:80]}); regenerate with `{REGENERATE}`") from None
        card = card_from_dict(doc, str(path))
        cards[card.judge.partition("@")[0]] = card
    return cards


def card_for(tag: str, folder: Path = CARD_DIR) -> tuple[JudgeCard | None, str]:
    """The card measured for judge `tag` ("id@version"), or None and why there is none."""
    judge_id = tag.partition("@")[0]
    card = load_cards(folder).get(judge_id)
    if card is None:
        return None, f"judge {tag} has no error card, so rates are not adjusted for its errors"
    if card.judge != tag:
        return None, (f"judge {tag} differs from the {card.judge} its card was measured with, so rates are not "
                      f"adjusted; regenerate the cards with `{REGENERATE}`")
    return card, ""


def measure(judge: Judge, folders: Sequence[Path], today: str | None = None) -> JudgeCard:
    """The judge's binary refusal flag against the final human labels of every XSTest-format file in `folders`.
    A judge with a learned part is scored leave-one-file-out (`evaluate_leave_one_out`): each file by the part
    trained on the others, so the card does not flatter it."""
    result = evaluate_leave_one_out(judge, folders)
    confusion = result["overall"]["confusion"]

    def count(gold_refused: bool, judged_refused: bool) -> int:
        return sum(c for g, row in confusion.items() for p, c in row.items()
                   if (g != "comply") == gold_refused and (p != "comply") == judged_refused)

    counts = CardCounts(tp=count(True, True), fn=count(True, False), tn=count(False, False), fp=count(False, True))
    files = tuple((path.name, result["files"][path.stem]["n"]) for path in labelled_files(folders))
    how = ("its learned part scored leave-one-file-out" if result["learned"] else
           "rules written while reading these completions, so the figures are in-sample")
    return JudgeCard(judge=judge_tag(judge), counts=counts, files=files,
                     measured=today or datetime.date.today().isoformat(),
                     note=f"{how}; on other models a judge may miss more refusals than this card says")


def _default_data() -> Path:
    from ..catalog import data_folder

    root = data_folder()
    if root is None:
        raise JudgeError("no labelled completions: pass --data FOLDER or set OVERREFUSAL_DATA to the data mirror "
                         "(cards read its xstest/model_completions)")
    return root / "xstest" / "model_completions"


def main(argv: Sequence[str] | None = None) -> int:
    from .registry import get_judge

    parser = argparse.ArgumentParser(prog="python -m pytest_overrefusal.judges.cards",
                                     description="Measure the built-in judges' error cards against XSTest labels.")
    parser.add_argument("--data", type=Path, action="append",
                        help="folder of XSTest-format CSVs (default: $OVERREFUSAL_DATA/xstest/model_completions)")
    parser.add_argument("--judge", action="append", choices=CARD_JUDGES, help="judge to measure (default: all)")
    parser.add_argument("--write", type=Path, metavar="DIR", help="write <judge>.json cards here (else print)")
    args = parser.parse_args(argv)
    try:
        folders = args.data or [_default_data()]
        cards = [measure(get_judge(name), folders) for name in args.judge or CARD_JUDGES]
    except JudgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for card in cards:
        text = json.dumps(card.to_dict(), indent=1) + "\n"
        if args.write is None:
            sys.stdout.write(text)
            continue
        target = args.write / f"{card.judge.partition('@')[0]}.json"
        try:
            args.write.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"error: --write {args.write}: cannot write {target.name} ({exc.strerror or exc}); "
                  f"pass a writable folder", file=sys.stderr)
            return 2
        print(f"{target}: {card.judge} {card.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
