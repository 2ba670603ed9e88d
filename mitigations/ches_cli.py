"""`overrefusal ches score|filter`: CHES of preference pairs in a JSONL file (prompt, chosen, rejected).

    overrefusal ches score --model toy pairs.jsonl --out scored.jsonl
    overrefusal ches filter --model toy pairs.jsonl --keep 5% --out kept.jsonl
    overrefusal ches filter scored.jsonl --quantile 0.5 --window 10%     # scores already in the file
    overrefusal ches filter --model toy pairs.jsonl --keep 50% --per-side   # mixed sets: each side keeps 50%

Output rows are the input objects with `ches`, `ln_ches`, `chosen_tokens` and `rejected_tokens` added; `score`
keeps input order, `filter` writes the kept rows in input order. Without `--out`, rows go to stdout.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .ches import (ChesError, FilterReport, Selection, chosen_refuses, pairs_from_rows, parse_amount, read_rows,
                   score_with_backend)

SCORE_FIELDS = ("ches", "ln_ches", "chosen_tokens", "rejected_tokens")


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    score = sub.add_parser("score", help="add CHES and ln-CHES to every pair")
    filt = sub.add_parser("filter", help="keep the pairs with the lowest ln-CHES (or a quantile window)")
    for p in (score, filt):
        p.add_argument("pairs", type=Path, help="JSONL, one {prompt, chosen, rejected} object per line")
        p.add_argument("--model", help="model spec with hidden states (toy, smollm2, hf:PATH); for filter it "
                                       "may be left out when every row already has ln_ches")
        p.add_argument("--out", type=Path, help="write JSONL here instead of stdout")
        p.add_argument("--system", help="system prompt rendered before every prompt")
        for column in ("prompt", "chosen", "rejected"):
            p.add_argument(f"--{column}-column", default=column, metavar="NAME")
    which = filt.add_mutually_exclusive_group(required=True)
    which.add_argument("--keep", help="the lowest share: 5%%, 0.05 or a count such as 19")
    which.add_argument("--quantile", type=float, help="centre of a window on the sorted ln-CHES (0 = lowest)")
    filt.add_argument("--window", default="5%", help="window size with --quantile: 10%%, 0.1 or a count (default 5%%)")
    filt.add_argument("--per-side", action="store_true",
                      help="rank pairs whose chosen answer refuses (keyword judge) apart from the rest, each keeping "
                           "the share; for mixed sets, where one ranking keeps mostly one side")


def run(args: argparse.Namespace) -> int:
    if args.action == "filter" and args.quantile is not None and not 0.0 <= args.quantile <= 1.0:
        raise ChesError(f"--quantile {args.quantile} must be between 0 and 1")
    rows = read_rows(args.pairs)
    if not rows:
        raise ChesError(f"{args.pairs}: no preference pairs in the file")
    scored = _scored_rows(args, rows)
    if args.action == "score":
        _write(args.out, scored)
        return 0
    selection = (Selection(keep=parse_amount(args.keep, "--keep")) if args.keep is not None else
                 Selection(quantile=args.quantile, window=parse_amount(args.window, "--window")))
    scores = [row["ln_ches"] for row in scored]
    if not args.per_side:
        kept = selection.indices(scores)
        print(f"kept {len(kept)} of {len(scored)} pairs", file=sys.stderr)
    else:
        refusing = chosen_refuses(pairs_from_rows(args.pairs, rows, args.prompt_column, args.chosen_column,
                                                  args.rejected_column))
        kept = selection.indices_by_side(scores, refusing)
        print(FilterReport.of(scores, refusing, kept).summary(), file=sys.stderr)
    _write(args.out, [scored[i] for i in kept])
    return 0


def _scored_rows(args: argparse.Namespace, rows: list[tuple[int, dict]]) -> list[dict]:
    pairs = pairs_from_rows(args.pairs, rows, args.prompt_column, args.chosen_column, args.rejected_column)
    if args.model is None:
        if args.action == "score":
            raise ChesError("ches score needs --model SPEC (a model with hidden states: toy, smollm2, hf:PATH)")
        for lineno, row in rows:
            value = row.get("ln_ches")
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:  # NaN: unsortable
                raise ChesError(f"{args.pairs}:{lineno}: no numeric 'ln_ches'; pass --model SPEC to score the pairs")
        return [row for _, row in rows]
    from pytest_overrefusal.api import load_backend

    scores = score_with_backend(load_backend(args.model), pairs, system=args.system)
    return [{**row, "ches": s.ches, "ln_ches": s.ln_ches, "chosen_tokens": s.chosen_tokens,
             "rejected_tokens": s.rejected_tokens} for (_, row), s in zip(rows, scores)]


def _write(out: Path | None, rows: list[dict]) -> None:
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ChesError(f"{out}: cannot write ({exc.strerror or exc})") from None
