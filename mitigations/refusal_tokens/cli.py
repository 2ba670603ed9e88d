"""`overrefusal refusal-tokens {train,sweep,toyworld}`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from pytest_overrefusal.api import OverrefusalError


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)

    train = sub.add_parser("train", help="teach a model [respond]/[refuse] (or per-category) control tokens")
    train.add_argument("--base", required=True, help="base model: toy, hf:DIR or DIR (a local HF folder)")
    train.add_argument("--data", required=True, type=Path,
                       help="JSONL rows: prompt, reply, optional label (respond|refuse|category) and weight; or "
                            "alignment records (prompt, chosen, rejected, kind)")
    train.add_argument("--out", required=True, type=Path, help="folder for the trained model")
    train.add_argument("--categories", default="",
                       help="'+'-joined CoCoNot categories, one token each (default: a single [refuse])")
    train.add_argument("--contrast-weight", type=float, default=0.0,
                       help="also learn each alignment record's rejected reply, at this weight, under the opposite "
                            "token (teaches the model to follow the token it is given)")
    train.add_argument("--epochs", type=int, default=3)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--seed", type=int, default=0)

    sweep = sub.add_parser("sweep", help="print refusal-rate curves over thresholds and logit biases")
    sweep.add_argument("--model", required=True, help="a refusal-token model: DIR or hf:DIR[,options]")
    sweep.add_argument("--suite", action="append", required=True, help="suite id or manifest path (repeatable)")
    sweep.add_argument("--data", type=Path, help="benchmark data folder (default: $OVERREFUSAL_DATA)")
    sweep.add_argument("--limit", type=int, help="deterministic subsample of N cases per suite")
    sweep.add_argument("--by-category", action="store_true", help="one group per suite category")
    sweep.add_argument("--thresholds", default="0,0.1,0.3,0.5,0.7,0.9,1", help="comma-separated, in [0, 1]")
    sweep.add_argument("--biases", default="-8,-4,-2,0,2,4,8", help="comma-separated logit offsets")
    sweep.add_argument("--bias-token", default="*", help="refusal token name the bias applies to (default: all)")
    sweep.add_argument("--judge", default="keyword")
    sweep.add_argument("--max-new-tokens", type=int, help="default: each suite's own setting")
    sweep.add_argument("--batch-size", type=int, default=32)
    sweep.add_argument("--json", action="store_true", help="print the points as JSON")

    world = sub.add_parser("toyworld", help="build the tiny synthetic world: model, training data, suites")
    world.add_argument("--out", required=True, type=Path)
    world.add_argument("--categories", action="store_true", help="[safety]/[unsupported] tokens, not [refuse]")


def run(args: argparse.Namespace) -> int:
    return {"train": _train, "sweep": _sweep, "toyworld": _toyworld}[args.action](args)


def _train(args) -> int:
    from .loop import train_for_loop

    options = {"epochs": str(args.epochs), "lr": str(args.lr), "batch_size": str(args.batch_size),
               "seed": str(args.seed), "contrast_weight": str(args.contrast_weight)}
    if args.categories:
        options["categories"] = args.categories
    spec = train_for_loop(args.base, args.data, args.out, options)
    print(f"trained {args.out}; run it with --overrefusal-model '{spec}'")
    return 0


def _floats(text: str, flag: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise OverrefusalError(f"{flag} {text!r}: give comma-separated numbers, e.g. 0.1,0.5,0.9") from None


def _sweep(args) -> int:
    from .inference import RefusalTokenSteering, SteeringRule
    from pytest_overrefusal.api import data_folder, get_judge, load_backend

    from .sweep import format_curve, suite_groups, sweep

    thresholds = _floats(args.thresholds, "--thresholds")
    if any(not 0 <= t <= 1 for t in thresholds):
        raise OverrefusalError(f"--thresholds {args.thresholds!r}: every threshold must be in [0, 1]")
    biases = _floats(args.biases, "--biases")
    spec = args.model if args.model.startswith("hf:") else f"hf:{args.model}"
    backend = load_backend(f"{spec},batch_size={args.batch_size}")
    data = data_folder(args.data)
    groups = suite_groups(args.suite, data, args.limit, args.by_category, args.max_new_tokens)
    judge = get_judge(args.judge, backend)
    # refusal_* options in --model (e.g. a temperature) stay in force; each point then sets its own knob
    base = next((e.rule for e in backend.extensions if isinstance(e, RefusalTokenSteering)), SteeringRule())
    points = sweep(backend, groups, judge, thresholds, biases, args.bias_token, base)
    if args.json:
        print(json.dumps([p.to_json() for p in points], indent=1))
    else:
        print(format_curve(points, f"{judge.id}@{judge.version}"))
    return 0


def _toyworld(args) -> int:
    from . import toyworld

    model = toyworld.build_world_model(args.out / "model", categories=args.categories)
    suites = toyworld.write_suites(args.out / "suites")
    data = toyworld.write_training_data(args.out / "train.jsonl", categories=args.categories)
    print(f"model: {model}\ntraining data: {data}\nsuites: {' '.join(str(s) for s in suites)}")
    return 0
