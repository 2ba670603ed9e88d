"""`overrefusal dro`: train a DRO soft safety prompt for an `hf:` model and write it to a file.

    overrefusal dro --model hf:DIR --harmful harmful.jsonl --harmless harmless.jsonl --out prompt.safetensors
    pytest --overrefusal-model "hf:DIR,soft_prompt=prompt.safetensors" ...
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from pytest_overrefusal.api import OverrefusalError

from .anchors import DEFAULT_SAFETY_PROMPT, LabelSampling
from .soft_prompt import DROTraining
from .subspace import ProbeTraining


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="hf: model spec (needs hidden states), e.g. hf:/models/x")
    parser.add_argument("--harmful", required=True, type=Path, help="harmful anchor queries (.jsonl/.csv/.txt)")
    parser.add_argument("--harmless", required=True, type=Path, help="harmless anchor queries (.jsonl/.csv/.txt)")
    parser.add_argument("--out", required=True, type=Path, help="where to write the soft prompt (.safetensors)")
    prompt = parser.add_mutually_exclusive_group()
    prompt.add_argument("--safety-prompt", help="the human safety prompt to start from (default: the project's)")
    prompt.add_argument("--safety-prompt-file", type=Path, help="read the human safety prompt from a file")
    parser.add_argument("--setting", action="append", default=[], metavar="NAME=TEXT",
                        help="an anchor system-prompt setting (repeatable; NAME=none for no system prompt); "
                             "default: none, default, short, mistral; the safety prompt is always added")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="use the first N queries of each file (the paper uses 100 harmful + 100 harmless)")
    parser.add_argument("--judge", default="keyword", help="refusal judge for the compliance labels")
    labels, probe, train = LabelSampling(), ProbeTraining(), DROTraining()
    parser.add_argument("--samples", type=int, default=labels.samples, help="sampled replies per query/setting")
    parser.add_argument("--keep", type=int, default=None,
                        help=f"longest replies kept for the label (default: min({labels.keep}, --samples))")
    parser.add_argument("--max-new-tokens-harmless", type=int, default=labels.max_new_tokens_harmless)
    parser.add_argument("--max-new-tokens-harmful", type=int, default=labels.max_new_tokens_harmful)
    parser.add_argument("--components", type=int, default=4, help="PCA components of the refusal subspace")
    parser.add_argument("--probe-lr", type=float, default=probe.lr)
    parser.add_argument("--probe-folds", type=int, default=probe.folds)
    parser.add_argument("--epochs", type=int, default=train.epochs)
    parser.add_argument("--lr", type=float, default=train.lr)
    parser.add_argument("--batch-size", type=int, default=train.batch_size)
    parser.add_argument("--weight-harmfulness", type=float, default=train.weight_harmfulness)
    parser.add_argument("--weight-offsubspace", type=float, default=train.weight_offsubspace)
    parser.add_argument("--seed", type=int, default=train.seed)


def run(args: argparse.Namespace) -> int:
    from .queries import read_queries

    human = _safety_prompt(args)
    harmful, harmless = read_queries(args.harmful), read_queries(args.harmless)
    if args.limit is not None:
        if args.limit < 1:
            raise OverrefusalError(f"--limit {args.limit} must be a positive number of queries")
        harmful, harmless = harmful[:args.limit], harmless[:args.limit]
    summary = train_to_file(args.model, harmful, harmless, args.out, human, judge=args.judge,
                            settings=parse_settings(args.setting) if args.setting else None,
                            sampling=LabelSampling(samples=args.samples,
                                                   keep=min(LabelSampling.keep, args.samples) if args.keep is None
                                                   else args.keep,
                                                   max_new_tokens_harmless=args.max_new_tokens_harmless,
                                                   max_new_tokens_harmful=args.max_new_tokens_harmful,
                                                   seed=args.seed),
                            probe=ProbeTraining(lr=args.probe_lr, folds=args.probe_folds, seed=args.seed),
                            training=DROTraining(lr=args.lr, epochs=args.epochs, batch_size=args.batch_size,
                                                 weight_harmfulness=args.weight_harmfulness,
                                                 weight_offsubspace=args.weight_offsubspace, seed=args.seed),
                            components=args.components)
    print(json.dumps(summary, indent=2))
    print(f"use it with: --overrefusal-model \"{summary['spec']}\"")
    return 0


def parse_settings(items: list[str]) -> dict[str, str | None]:
    """`NAME=TEXT` items -> {name: text}; the text `none` (any case) means no system prompt."""
    settings: dict[str, str | None] = {}
    for item in items:
        name, eq, text = item.partition("=")
        if not eq or not name.strip() or not text.strip():
            raise OverrefusalError(f"--setting {item!r} must look like NAME=TEXT (or NAME=none)")
        settings[name.strip()] = None if text.strip().lower() == "none" else text.strip()
    return settings


def train_to_file(model_spec: str, harmful: list[str], harmless: list[str], out: Path, human_prompt: str,
                  judge: str = "keyword", settings: dict[str, str | None] | None = None, sampling: LabelSampling = LabelSampling(),
                  probe: ProbeTraining = ProbeTraining(), training: DROTraining = DROTraining(),
                  components: int = 4) -> dict:
    """Load the model, run DRO, save the prompt; returns a JSON-able summary with the spec to evaluate it."""
    from pytest_overrefusal.api import get_judge, load_backend, parse_spec

    from .pipeline import fit_dro, save_result

    spec = parse_spec(model_spec)
    if spec.kind != "hf" or "soft_prompt" in spec.options:
        raise OverrefusalError(f"DRO needs a plain hf: model spec (it reads hidden states), got {model_spec!r}")
    backend = load_backend(model_spec)
    result = fit_dro(backend, harmful, harmless, human_prompt, settings=settings, judge=get_judge(judge, backend),
                     sampling=sampling, components=components, probe=probe, training=training)
    path = save_result(result, backend, Path(out), training)
    history = result.prompt.history
    return {
        "out": str(path), "spec": f"{model_spec},soft_prompt={path}", "tokens": int(result.prompt.matrix.shape[0]),
        "anchors": len(result.anchors.queries), "mean_compliance": float(result.anchors.compliance.mean()),
        "probe_epochs": {"refusal": list(result.refusal.epochs), "harmfulness": list(result.harmfulness.epochs)},
        "loss_first_epoch": history[0] if history else {}, "loss_last_epoch": history[-1] if history else {},
        "seconds": {k: round(v, 2) for k, v in result.seconds.items()},
    }


def _safety_prompt(args: argparse.Namespace) -> str:
    if args.safety_prompt_file is not None:
        try:
            text = args.safety_prompt_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise OverrefusalError(f"{args.safety_prompt_file}: cannot read safety prompt ({exc.strerror})") from None
        if not text:
            raise OverrefusalError(f"{args.safety_prompt_file}: the safety prompt file is empty")
        return text
    return args.safety_prompt or DEFAULT_SAFETY_PROMPT
