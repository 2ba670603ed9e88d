"""Training records for the loop: ready-made alignment records, or prompts answered and refused by template/model."""
from __future__ import annotations

import json
from pathlib import Path

from ..align import AlignRecord


def data_dir(args) -> Path | None:
    """Where suites find benchmark data: --data, else OVERREFUSAL_DATA, as in the plugin."""
    from pytest_overrefusal.api import data_folder

    return data_folder(getattr(args, "data", None))


def training_sources(args) -> list[str]:
    """Every --train and --harmful source, with the defaults the loop uses when none is given."""
    return (args.train or ["synthetic-pseudo"]) + (args.harmful or ["synthetic-harmful"])


def training_records(args) -> tuple[list[AlignRecord], set[str]]:
    """The records, and which of their prompts a built-in generator wrote (those may be dropped, not refused)."""
    from ..align import COMPLIANT_ANSWER, SYNTHETIC_SOURCES, answers_from_model, build_records, load_prompts, read_jsonl

    folder = data_dir(args)
    sources = args.train or ["synthetic-pseudo"]
    records = [r for source in sources if is_record_file(source) for r in read_jsonl(Path(source))]
    generated: set[str] = set()

    def prompts(source: str, seed: int) -> list[str]:
        found = load_prompts(source, data_dir=folder, n=args.n_train, seed=seed)
        if source in SYNTHETIC_SOURCES:
            generated.update(found)
        return found

    pseudo = [p for source in sources if not is_record_file(source) for p in prompts(source, args.seed)]
    if not pseudo:  # only ready-made records were given
        return records, generated
    harmful = [p for source in args.harmful or ["synthetic-harmful"] for p in prompts(source, args.seed + 1)]
    compliant: str | dict[str, str] = (COMPLIANT_ANSWER if args.answers == "template"
                                       else answers_from_model(args.answers, pseudo, judge=args.judge or "keyword"))
    return records + build_records(pseudo, harmful, harmful_ratio=args.harmful_ratio, compliant=compliant,
                                   seed=args.seed), generated


def is_record_file(source: str) -> bool:
    path = Path(source)
    if path.suffix != ".jsonl" or not path.is_file():
        return False
    with path.open(encoding="utf-8") as lines:
        first = next((line for line in lines if line.strip()), "")
    try:
        row = json.loads(first)
    except ValueError:
        return False
    return isinstance(row, dict) and "chosen" in row and "rejected" in row
