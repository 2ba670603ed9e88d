"""`overrefusal mitigate`: evaluate, train, evaluate again, and compare.

    overrefusal mitigate --method sft --model toy --fix starter-pseudo-malicious --keep starter-harmful \\
        --train synthetic-pseudo --harmful synthetic-harmful --out runs/sft

Three kinds of suite are evaluated before and after: --fix (its gate must pass after), --keep (its gate must still
pass) and held-out suites (--holdout, by default every built-in prompt suite whose data is present and that is not
fix, keep or a training source; see `mitigate.holdout` for the rule they must meet). Every evaluation runs the pytest
plugin itself, so every number in the before/after table is exactly what the plugin's gates say. The adapted model
is saved under OUT/model and runs in the plugin as `hf:OUT/model`.

Methods are pluggable: `METHODS` maps a name to "module:function" with
`function(base_spec: str, train_data: Path, out_dir: Path, options: dict[str, str]) -> str`, which trains on the
alignment JSONL at `train_data` (records {"prompt", "chosen", "rejected", "kind"}, see `mitigations.align`) and
returns the model spec of the adapted model. The parts live in `mitigations.mitigate`.
"""
from __future__ import annotations

import argparse
import importlib
import json
import resource
import time
from dataclasses import asdict
from pathlib import Path

from .mitigate import MitigateError
from .mitigate.adapters import dpo_for_loop, model_dir_of, sft_for_loop, train_kwargs as _train_kwargs
from .mitigate.compare import SuiteComparison, compare, format_comparison, summary
from .mitigate.data import data_dir, training_records, training_sources
from .mitigate.evaluate import evaluate
from .mitigate.holdout import DEFAULT_HOLDOUT_LIMIT, DEFAULT_TOLERANCE, HOLD_RULE, select as select_holdout
from .mitigate.overlap import OVERLAP_THRESHOLD, check_overlap, evaluated_prompts

__all__ = ["METHODS", "configure", "run", "sft_for_loop", "dpo_for_loop", "model_dir_of", "compare",
           "format_comparison", "SuiteComparison", "MitigateError", "evaluate", "OVERLAP_THRESHOLD"]

METHODS: dict[str, str] = {
    "sft": "mitigations.mitigate.adapters:sft_for_loop",
    "dpo": "mitigations.mitigate.adapters:dpo_for_loop",
    "dro": "mitigations.dro.loop:train_for_loop",
    "refusal-tokens": "mitigations.refusal_tokens.loop:train_for_loop",
    "dpo-ches": "mitigations.dpo:train_for_loop",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", required=True, choices=sorted(METHODS), help="mitigation to train")
    parser.add_argument("--model", required=True, help="model spec to adapt (toy, smollm2, hf:DIR)")
    parser.add_argument("--fix", action="append", default=[], help="suite whose gate must pass after (repeatable)")
    parser.add_argument("--keep", action="append", default=[], help="suite whose gate must still pass (repeatable)")
    parser.add_argument("--holdout", action="append", default=[], metavar="SUITE",
                        help="held-out suite (repeatable): evaluated before and after, never trained on; default: "
                             "every built-in prompt suite whose data is present, other than fix/keep/training "
                             "suites; `--holdout ''` or --no-holdout for none")
    parser.add_argument("--no-holdout", action="store_true", help="evaluate no held-out suite")
    parser.add_argument("--holdout-limit", type=int, default=DEFAULT_HOLDOUT_LIMIT,
                        help=f"deterministic sample of N cases per held-out suite (default {DEFAULT_HOLDOUT_LIMIT}; "
                             f"0 = every case)")
    parser.add_argument("--holdout-tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help=f"how much worse a held-out suite that already failed before may get "
                             f"(default {DEFAULT_TOLERANCE})")
    parser.add_argument("--out", required=True, type=Path, help="output folder: data, reports, table, model")
    parser.add_argument("--train", action="append", default=[],
                        help="pseudo-malicious training prompts (repeatable): suite id, manifest, JSONL with a "
                             "'prompt' field (e.g. `overrefusal evolve` output) or alignment records, or "
                             "synthetic-pseudo (the default)")
    parser.add_argument("--harmful", action="append", default=[],
                        help="harmful prompts replayed with refusals (repeatable): suite id, manifest, JSONL or "
                             "synthetic-harmful (the default)")
    parser.add_argument("--harmful-ratio", type=float, default=1.0, help="harmful records per pseudo record")
    parser.add_argument("--n-train", type=int, default=1000, help="prompts drawn from a synthetic source")
    parser.add_argument("--answers", default="template",
                        help="compliant answers: 'template' or a helper model spec whose non-refusing replies are used")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="method option, e.g. epochs=2, lr=1e-3, lora=true, beta=0.1 (repeatable)")
    parser.add_argument("--allow-overlap", action="store_true",
                        help="train even if training prompts (nearly) equal evaluated ones")
    parser.add_argument("--seed", type=int, default=0)
    for flag in ("judge", "data", "limit", "max-new-tokens", "cache"):
        parser.add_argument(f"--{flag}", help=f"passed to the plugin as --overrefusal-{flag}")
    parser.add_argument("--no-cache", action="store_true", help="passed to the plugin as --overrefusal-no-cache")


def run(args: argparse.Namespace) -> int:
    if not args.fix and not args.keep:
        raise MitigateError("nothing to evaluate: give at least one --fix SUITE (and --keep SUITE for the guard)")
    _check_numbers(args)
    out: Path = args.out
    method = _method(args.method)
    options = _options(args.option)
    folder = data_dir(args)
    aimed = [(s, "fix") for s in args.fix] + [(s, "keep") for s in args.keep]
    holdout = select_holdout(args, [s for s, _ in aimed], training_sources(args), folder)
    print(f"held-out suites: {', '.join(holdout) or 'none'}"
          + (f" ({args.holdout_limit or 'every'} cases each)" if holdout else ""))
    out.mkdir(parents=True, exist_ok=True)

    records, generated = training_records(args)
    evaluated = (evaluated_prompts([s for s, _ in aimed], folder)
                 + evaluated_prompts(holdout, folder, args.holdout_limit))
    records = check_overlap(records, evaluated, allow=args.allow_overlap, generated=generated)
    from .align import write_jsonl
    train_data = write_jsonl(records, out / "alignment.jsonl")
    print(f"training data: {len(records)} records ({sum(r.kind == 'pseudo' for r in records)} pseudo-malicious, "
          f"{sum(r.kind == 'harmful' for r in records)} harmful) -> {train_data}")

    clock = [time.perf_counter()]
    before = _evaluate_all(args.model, aimed, holdout, out, "before", args)
    clock.append(time.perf_counter())
    adapted = method(args.model, train_data, out / "model", options)
    clock.append(time.perf_counter())
    # training runs in this process and evaluations in children, so this peak is the training's (and data prep's)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"adapted model: {adapted} (trained in {clock[2] - clock[1]:.0f} s)")
    after = _evaluate_all(adapted, aimed, holdout, out, "after", args)
    clock.append(time.perf_counter())

    rows = compare(before, after, dict(aimed + [(s, "holdout") for s in holdout]), args.holdout_tolerance)
    text = "\n".join([format_comparison(rows, args.model, adapted), "", *summary(rows, args.holdout_tolerance)])
    print(text)
    (out / "comparison.md").write_text(text + "\n", encoding="utf-8")
    ok = all(r.ok for r in rows)
    (out / "comparison.json").write_text(json.dumps(
        {"method": args.method, "model_before": args.model, "model_after": adapted, "passed": ok,
         "holdout_limit": args.holdout_limit, "holdout_tolerance": args.holdout_tolerance,
         "hold_rule": HOLD_RULE.format(tolerance=args.holdout_tolerance),
         "seconds": {"before": clock[1] - clock[0], "train": clock[2] - clock[1], "after": clock[3] - clock[2]},
         "peak_rss_mb_train": peak_rss_mb,
         "suites": [{**asdict(r), "verdict": r.verdict, "worsening": r.worsening} for r in rows]},
        indent=1) + "\n", encoding="utf-8")
    return 0 if ok else 1


def _check_numbers(args: argparse.Namespace) -> None:
    """Before any data is built or evaluated: a bad number here used to surface minutes later, inside a child run
    or as "no training examples", without naming the option."""
    from pytest_overrefusal.settings import _positive

    _positive(args.limit, "--limit")
    _positive(args.max_new_tokens, "--max-new-tokens")
    if args.n_train < 1:
        raise MitigateError(f"--n-train {args.n_train} must be at least 1 (prompts drawn from a synthetic source)")
    if not 0 <= args.harmful_ratio < float("inf"):  # NaN fails too
        raise MitigateError(f"--harmful-ratio {args.harmful_ratio} must be a finite number >= 0")


def _evaluate_all(model: str, aimed: list[tuple[str, str]], holdout: list[str], out: Path, when: str, args) -> dict:
    """The fix/keep run (its own --limit) and the held-out run (--holdout-limit), merged into one report."""
    report = evaluate(model, [s for s, _ in aimed], out / f"{when}.json", args)
    if holdout:
        extra = evaluate(model, holdout, out / f"holdout_{when}.json", args, limit=args.holdout_limit)
        report = {**report, "suites": report["suites"] + extra["suites"]}
    return report


def _method(name: str):
    module_name, _, function = METHODS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise MitigateError(f"method {name!r} needs module {module_name}, which is not installed in this "
                                f"checkout; choose one of the others ({', '.join(sorted(METHODS))})") from None
        raise
    if not hasattr(module, function):
        raise MitigateError(f"method {name!r}: {module_name} has no function {function}")
    return getattr(module, function)


def _options(pairs: list[str]) -> dict[str, str]:
    from pytest_overrefusal.api import parse_key_values

    return parse_key_values(pairs, lambda pair: MitigateError(
        f"--option {pair!r} must look like key=value (e.g. epochs=2)"))
