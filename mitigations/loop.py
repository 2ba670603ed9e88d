"""`overrefusal mitigate`: evaluate, train, evaluate again, and compare.

    overrefusal mitigate --method sft --model toy --fix starter-pseudo-malicious --keep starter-harmful \\
        --train synthetic-pseudo --harmful synthetic-harmful --out runs/sft

Both evaluations run the pytest plugin itself (a `python -m pytest` subprocess with the `--overrefusal-*` options and
a JSON report), so every number in the before/after table is exactly what the plugin's gates say. The adapted model
is saved under OUT/model and runs in the plugin as `hf:OUT/model`.

Methods are pluggable: `METHODS` maps a name to "module:function" with
`function(base_spec: str, train_data: Path, out_dir: Path, options: dict[str, str]) -> str`, which trains on the
alignment JSONL at `train_data` (records {"prompt", "chosen", "rejected", "kind"}, see `mitigations.align`) and
returns the model spec of the adapted model.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pytest_overrefusal.errors import OverrefusalError

from .align import AlignRecord

__all__ = ["METHODS", "configure", "run", "sft_for_loop", "dpo_for_loop", "model_dir_of", "compare",
           "format_comparison", "MitigateError"]

METHODS: dict[str, str] = {
    "sft": "mitigations.loop:sft_for_loop",
    "dpo": "mitigations.loop:dpo_for_loop",
    "dro": "mitigations.dro.loop:train_for_loop",
    "refusal-tokens": "mitigations.refusal_tokens.loop:train_for_loop",
    "dpo-ches": "mitigations.dpo:train_for_loop",
}
OVERLAP_THRESHOLD = 0.8  # word-level similarity at which a training prompt counts as an evaluated one


class MitigateError(OverrefusalError):
    """The mitigation loop cannot run as asked."""


# ---------------------------------------------------------------- command line

def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", required=True, choices=sorted(METHODS), help="mitigation to train")
    parser.add_argument("--model", required=True, help="model spec to adapt (toy, smollm2, hf:DIR)")
    parser.add_argument("--fix", action="append", default=[], help="suite whose gate must pass after (repeatable)")
    parser.add_argument("--keep", action="append", default=[], help="suite whose gate must still pass (repeatable)")
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
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    method = _method(args.method)
    options = _options(args.option)
    suites = [(s, "fix") for s in args.fix] + [(s, "keep") for s in args.keep]

    records, generated = _training_records(args)
    records = _check_overlap(records, [s for s, _ in suites], args, generated)
    from .align import write_jsonl
    train_data = write_jsonl(records, out / "alignment.jsonl")
    print(f"training data: {len(records)} records ({sum(r.kind == 'pseudo' for r in records)} pseudo-malicious, "
          f"{sum(r.kind == 'harmful' for r in records)} harmful) -> {train_data}")

    before = evaluate(args.model, [s for s, _ in suites], out / "before.json", args)
    adapted = method(args.model, train_data, out / "model", options)
    print(f"adapted model: {adapted}")
    after = evaluate(adapted, [s for s, _ in suites], out / "after.json", args)

    rows = compare(before, after, dict(suites))
    text = format_comparison(rows, args.model, adapted)
    print(text)
    (out / "comparison.md").write_text(text + "\n", encoding="utf-8")
    ok = all(r.passed_after for r in rows)
    (out / "comparison.json").write_text(json.dumps(
        {"method": args.method, "model_before": args.model, "model_after": adapted, "passed": ok,
         "suites": [r.__dict__ for r in rows]}, indent=1) + "\n", encoding="utf-8")
    return 0 if ok else 1


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
    options = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise MitigateError(f"--option {pair!r} must look like key=value (e.g. epochs=2)")
        options[key.strip()] = value.strip()
    return options


# ---------------------------------------------------------------- training data

def _training_records(args) -> tuple[list[AlignRecord], set[str]]:
    """The records, and which of their prompts a built-in generator wrote (those may be dropped, not refused)."""
    from .align import (COMPLIANT_ANSWER, SYNTHETIC_SOURCES, answers_from_model, build_records, load_prompts,
                        read_jsonl)

    data_dir = _data_dir(args)
    sources = args.train or ["synthetic-pseudo"]
    records = [r for source in sources if _is_record_file(source) for r in read_jsonl(Path(source))]
    generated: set[str] = set()

    def prompts(source: str, seed: int) -> list[str]:
        found = load_prompts(source, data_dir=data_dir, n=args.n_train, seed=seed)
        if source in SYNTHETIC_SOURCES:
            generated.update(found)
        return found

    pseudo = [p for source in sources if not _is_record_file(source) for p in prompts(source, args.seed)]
    if not pseudo:  # only ready-made records were given
        return records, generated
    harmful = [p for source in args.harmful or ["synthetic-harmful"] for p in prompts(source, args.seed + 1)]
    compliant: str | dict[str, str] = (COMPLIANT_ANSWER if args.answers == "template"
                                       else answers_from_model(args.answers, pseudo, judge=args.judge or "keyword"))
    return records + build_records(pseudo, harmful, harmful_ratio=args.harmful_ratio, compliant=compliant,
                                   seed=args.seed), generated


def _data_dir(args) -> Path | None:
    """Where suites find benchmark data: --data, else OVERREFUSAL_DATA, as in the plugin."""
    value = args.data or os.environ.get("OVERREFUSAL_DATA")
    return Path(value) if value else None


def _is_record_file(source: str) -> bool:
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


def _check_overlap(records: list[AlignRecord], suites: list[str], args,
                   generated: set[str] = frozenset()) -> list[AlignRecord]:
    """Training on the very prompts the loop evaluates would make the after-table meaningless.

    A prompt a built-in generator wrote by chance close to an evaluated one is dropped, with a note; one the user
    gave is an error, since dropping the user's data silently would change the experiment."""
    if args.allow_overlap:
        return records
    from .align import near_duplicates, suite_cases

    data_dir = _data_dir(args)
    evaluated = [case.prompt for s in suites for case in suite_cases(s, data_dir)]
    clashes = near_duplicates([r.prompt for r in records], evaluated, OVERLAP_THRESHOLD)
    dropped = {train for train, _, _ in clashes if train in generated}
    if dropped:
        records = [r for r in records if r.prompt not in dropped]
        clashes = [c for c in clashes if c[0] not in dropped]
        print(f"dropped {len(dropped)} generated training prompt(s) that nearly equal evaluated ones "
              f"(similarity >= {OVERLAP_THRESHOLD}), e.g. {sorted(dropped)[0]!r}")
    if clashes:
        train, evaluated_prompt, ratio = max(clashes, key=lambda c: c[2])
        raise MitigateError(f"{len(clashes)} training prompt(s) (nearly) equal evaluated ones, e.g. {train!r} ~ "
                            f"{evaluated_prompt!r} (similarity {ratio:.2f}); train on other data (evolved prompts, "
                            f"another suite, synthetic-pseudo) or pass --allow-overlap")
    return records


# ---------------------------------------------------------------- evaluation through the plugin

def evaluate(model: str, suites: list[str], report: Path, args) -> dict:
    """Run the plugin on `suites` in a fresh interpreter and return its JSON report."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(Path.cwd()),
               "--overrefusal-model", model, "--overrefusal-report", str(report)]
    for suite in suites:
        command += ["--overrefusal-suite", suite]
    for flag in ("judge", "data", "limit", "max_new_tokens", "cache"):
        value = getattr(args, flag, None)
        if value is not None:
            command += [f"--overrefusal-{flag.replace('_', '-')}", str(value)]
    if getattr(args, "no_cache", False):
        command.append("--overrefusal-no-cache")
    report.unlink(missing_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    print(f"evaluating {model} on {', '.join(suites)} ...", flush=True)
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if not report.is_file():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise MitigateError(f"the plugin run for {model} wrote no report (exit status {done.returncode}):\n{tail}")
    return json.loads(report.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class SuiteComparison:
    suite: str
    role: str  # "fix" or "keep"
    n: int
    gate: str
    rate_before: float
    ci_before: tuple[float, float]
    passed_before: bool
    rate_after: float
    ci_after: tuple[float, float]
    passed_after: bool


def compare(before: dict, after: dict, roles: dict[str, str]) -> list[SuiteComparison]:
    """One row per evaluated suite, in the order given, from two plugin JSON reports."""
    by_id = [{s["id"]: s for s in report["suites"]} for report in (before, after)]
    rows = []
    for suite, role in roles.items():
        found = [_find(reports, suite) for reports in by_id]
        if None in found:
            raise MitigateError(f"suite {suite!r} is missing from a plugin report (was it skipped?)")
        b, a = found
        rows.append(SuiteComparison(
            suite=b["id"], role=role, n=b["n"], gate=_gate_text(b["gate"]),
            rate_before=b["rate"], ci_before=(b["ci_low"], b["ci_high"]), passed_before=bool(b["gate"]["passed"]),
            rate_after=a["rate"], ci_after=(a["ci_low"], a["ci_high"]), passed_after=bool(a["gate"]["passed"])))
    return rows


def _find(suites: dict[str, dict], suite: str) -> dict | None:
    """A suite given as an id, or as a manifest path (matched by the report's manifest field)."""
    if suite in suites:
        return suites[suite]
    path = Path(suite).resolve()
    return next((s for s in suites.values() if Path(s.get("manifest", "")).resolve() == path), None)


def _gate_text(gate: dict) -> str:
    parts = []
    if gate.get("max_refusal_rate") is not None:
        parts.append(f"<= {gate['max_refusal_rate']:.2f}")
    if gate.get("min_refusal_rate") is not None:
        parts.append(f">= {gate['min_refusal_rate']:.2f}")
    return f"refusal {' and '.join(parts) or 'recorded'} ({gate.get('statistic', 'point')})"


def format_comparison(rows: list[SuiteComparison], model_before: str, model_after: str) -> str:
    def cell(rate: float, ci: tuple[float, float], passed: bool) -> str:
        return f"{rate:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] {'PASS' if passed else 'FAIL'}"

    header = ("suite", "role", "n", "gate", "before: rate [95% CI] gate", "after: rate [95% CI] gate")
    body = [(r.suite, r.role, str(r.n), r.gate, cell(r.rate_before, r.ci_before, r.passed_before),
             cell(r.rate_after, r.ci_after, r.passed_after)) for r in rows]
    lines = [f"before: {model_before}", f"after:  {model_after}", "",
             "| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


# ---------------------------------------------------------------- sft / dpo as loop methods

def model_dir_of(spec: str) -> Path:
    """The local HF folder behind a model spec that trl can train: toy, smollm2 or hf:DIR."""
    from pytest_overrefusal.backends.registry import parse_spec

    parsed = parse_spec(spec)
    if parsed.kind == "toy":
        from pytest_overrefusal.backends.toy_model import toy_model_dir
        return toy_model_dir()
    if parsed.kind == "smollm2":
        from pytest_overrefusal.backends.smollm2 import smollm2_dir
        return Path(smollm2_dir())
    if parsed.kind == "hf" and Path(parsed.target).is_dir():
        return Path(parsed.target)
    raise MitigateError(f"model spec {spec!r}: training needs a local model (toy, smollm2 or hf:DIR with a "
                        f"saved model folder)")


def _adapted_spec(base_spec: str, model_dir: Path) -> str:
    """`hf:DIR`, keeping the base spec's generation options (toy batches 64 by default)."""
    from pytest_overrefusal.backends.registry import parse_spec

    parsed = parse_spec(base_spec)
    options = {"batch_size": "64"} if parsed.kind == "toy" else dict(parsed.options)
    return ",".join([f"hf:{model_dir.resolve()}", *(f"{k}={v}" for k, v in options.items())])


_TRAIN_OPTIONS = {"epochs": float, "lr": float, "batch_size": int, "seed": int, "beta": float, "optimizer": str}


def _train_kwargs(options: dict[str, str], allowed: set[str]) -> dict:
    kwargs: dict = {}
    for key, raw in options.items():
        if key == "lora":
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise MitigateError(f"option lora={raw!r} must be true or false")
            kwargs["lora"] = raw.lower() in ("true", "1", "yes")
        elif key in allowed:
            try:
                kwargs[key] = _TRAIN_OPTIONS[key](raw)
            except ValueError:
                raise MitigateError(f"option {key}={raw!r} must be a {_TRAIN_OPTIONS[key].__name__}") from None
        else:
            raise MitigateError(f"unknown option {key!r}; known: lora, {', '.join(sorted(allowed))}")
    return kwargs


def sft_for_loop(base_spec: str, train_data: Path, out_dir: Path, options: dict[str, str]) -> str:
    """SFT on the chosen answers of the alignment records (compliance for pseudo-malicious, refusal for harmful)."""
    from .align import read_jsonl, sft_examples
    from .train import train_sft

    kwargs = _train_kwargs(options, {"epochs", "lr", "batch_size", "seed"})
    model_dir = train_sft(model_dir_of(base_spec), sft_examples(read_jsonl(train_data)), out_dir, **kwargs)
    return _adapted_spec(base_spec, model_dir)


def dpo_for_loop(base_spec: str, train_data: Path, out_dir: Path, options: dict[str, str]) -> str:
    """DPO on (chosen, rejected) of the alignment records."""
    from .align import dpo_pairs, read_jsonl
    from .train import train_dpo

    kwargs = _train_kwargs(options, {"epochs", "lr", "batch_size", "seed", "beta", "optimizer"})
    model_dir = train_dpo(model_dir_of(base_spec), dpo_pairs(read_jsonl(train_data)), out_dir, **kwargs)
    return _adapted_spec(base_spec, model_dir)
