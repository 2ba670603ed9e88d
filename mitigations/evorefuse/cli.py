"""`overrefusal evolve`: EvoRefuse from seeds to an evolved suite (JSONL + manifest), with a progress bar.

    overrefusal evolve --seeds starter-pseudo-malicious --target toy --out evolved.jsonl
    overrefusal evolve --seeds seeds.jsonl --target hf:/models/llama --mutator hf:/models/big --filter hf:/models/big \
        --judge classifier:/models/rejection --out evolved.jsonl
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from pytest_overrefusal.api import OverrefusalError, data_folder

from .anneal import TIE_BREAKS, Schedule
from .fitness import FitnessSettings

OFFLINE = "offline"


def configure(parser: argparse.ArgumentParser) -> None:
    d, f = _defaults()
    parser.add_argument("--seeds", required=True, help="suite id, manifest path, or JSONL with prompt[/label] or "
                                                       "instruction")
    parser.add_argument("--seed-label", action="append", default=[],
                        help="keep JSONL seed rows with this label (repeatable; e.g. safe)")
    parser.add_argument("--limit", type=int, help="use the first N seeds")
    parser.add_argument("--target", required=True, help="model spec of the model to make over-refuse (needs "
                                                        "log-probabilities: hf:, toy, smollm2)")
    parser.add_argument("--judge", default="keyword", help="refusal judge giving p_hat (default keyword; e.g. "
                                                           "classifier:PATH for a rejection classifier)")
    parser.add_argument("--mutator", default=OFFLINE, metavar="SPEC",
                        help="model spec of the mutator, or 'offline' (rules)")
    parser.add_argument("--recombiner", metavar="SPEC",
                        help="model spec, 'offline' or 'none' (default: same as --mutator)")
    parser.add_argument("--filter", default=OFFLINE, dest="safety_filter", metavar="SPEC",
                        help="model spec of an LLM safety judge, judge:NAME (a registered judge or classifier "
                             "reading the instruction; refuse = unsafe), or 'offline' (rules)")
    parser.add_argument("--out", required=True, type=Path, help="output JSONL; the manifest goes next to it (.yaml)")
    parser.add_argument("--data", type=Path, help="benchmark data folder (default $OVERREFUSAL_DATA)")
    parser.add_argument("--iterations", type=int, default=d.iterations, help=f"I (default {d.iterations})")
    parser.add_argument("--mutants", type=int, default=d.safe_mutants, help=f"L safe mutants (default "
                                                                            f"{d.safe_mutants})")
    parser.add_argument("--children", type=int, default=d.children, help=f"N children (default {d.children})")
    parser.add_argument("--k", type=int, default=f.k, help=f"sampled replies per fitness estimate (default {f.k})")
    parser.add_argument("--lam", type=float, default=f.lam, help=f"lambda (default {f.lam})")
    parser.add_argument("--floor", type=float, default=f.floor, help=f"p_hat floor (default {f.floor})")
    parser.add_argument("--max-new-tokens", type=int, default=f.max_new_tokens)
    parser.add_argument("--temperature", type=float, default=f.temperature, help="sampling temperature of q")
    parser.add_argument("--system-prompt", help="safety-prior system prompt for fitness generation and scoring")
    parser.add_argument("--tau0", type=float, default=d.schedule.tau0)
    parser.add_argument("--beta", type=float, default=d.schedule.beta)
    parser.add_argument("--tau-final", type=float, default=d.schedule.tau_final)
    parser.add_argument("--tie-break", choices=TIE_BREAKS, default=d.tie_break)
    parser.add_argument("--seed", type=int, default=0, help="random seed (mutations, parents, annealing, sampling)")
    parser.add_argument("--no-progress", action="store_true")


def _defaults():
    from .search import EvolveConfig

    return EvolveConfig(), FitnessSettings()


def run(args: argparse.Namespace) -> int:
    from pytest_overrefusal.api import get_judge, load_backend

    from .fitness import FitnessEstimator
    from .search import EvolveConfig, evolve
    from .seeds import load_seeds

    for name in ("iterations", "mutants", "children", "k", "max_new_tokens"):
        if getattr(args, name) < (0 if name in ("iterations", "children") else 1):
            raise OverrefusalError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    data_dir = data_folder(args.data)
    seeds = load_seeds(args.seeds, data_dir, labels=args.seed_label, limit=args.limit)
    config = EvolveConfig(iterations=args.iterations, safe_mutants=args.mutants, children=args.children,
                          schedule=Schedule(args.tau0, args.beta, args.tau_final), tie_break=args.tie_break,
                          seed=args.seed)
    settings = FitnessSettings(k=args.k, lam=args.lam, floor=args.floor, temperature=args.temperature,
                               max_new_tokens=args.max_new_tokens, system_prompt=args.system_prompt)
    target = load_backend(args.target)
    judge = get_judge(args.judge, target)
    fitness = FitnessEstimator(target, judge, settings, seed=args.seed)
    rng = random.Random(args.seed)
    loaded: dict[str, object] = {args.target: target}  # mutator, recombiner, filter on one spec share one model

    def backend(spec: str):
        if spec not in loaded:
            loaded[spec] = load_backend(spec)
        return loaded[spec]

    mutator = _mutator(args.mutator, rng, backend)
    recombiner = _recombiner(args.recombiner if args.recombiner is not None else args.mutator, backend)
    safety_filter = _filter(args.safety_filter, backend)
    print(f"evolving {len(seeds)} seed(s) against {args.target}: I={config.iterations} L={config.safe_mutants} "
          f"N={config.children} K={settings.k}", file=sys.stderr)
    bar = None if args.no_progress else _progress_bar(config.iterations)
    lineages = evolve(seeds, mutator=mutator, recombiner=recombiner, safety_filter=safety_filter, fitness=fitness,
                      config=config, progress=bar)
    if bar is not None:
        bar.close()
    from .output import write_outputs

    manifest = write_outputs(lineages, args.out, target=args.target, judge=args.judge, mutator=args.mutator,
                             safety_filter=args.safety_filter, config=config, k=settings.k)
    _summary(lineages, target, judge, fitness.requests_sent)
    print(f"wrote {args.out} and {manifest}\nrun it: pytest --overrefusal-suite {manifest} "
          f"--overrefusal-model {args.target}")
    return 0


def _mutator(spec: str, rng: random.Random, backend):
    if spec == OFFLINE:
        from .operators import OfflineMutator
        return OfflineMutator(rng)
    from .model_operators import ModelMutator
    return ModelMutator(backend(spec))


def _recombiner(spec: str, backend):
    if spec == "none":
        return None
    if spec == OFFLINE:
        from .operators import OfflineRecombiner
        return OfflineRecombiner()
    from .model_operators import ModelRecombiner
    return ModelRecombiner(backend(spec))


def _filter(spec: str, backend):
    if spec == OFFLINE:
        from .operators import RuleSafetyFilter
        return RuleSafetyFilter()
    if spec.startswith("judge:"):
        from pytest_overrefusal.api import get_judge

        from .model_operators import JudgeSafetyFilter
        return JudgeSafetyFilter(get_judge(spec.removeprefix("judge:")))
    from .model_operators import ModelSafetyFilter
    return ModelSafetyFilter(backend(spec))


class _progress_bar:
    """tqdm over iterations, showing the lineages' mean current fitness and the share of refused samples."""

    def __init__(self, total: int):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc="evolve", unit="iter", file=sys.stderr)

    def __call__(self, done: int, lineages) -> None:
        n = max(1, len(lineages))
        self.bar.set_postfix(mean_F=f"{sum(x.current_fitness.value for x in lineages) / n:.3f}",
                             refused=f"{sum(x.current_fitness.refused for x in lineages) / n:.2f}")
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def _summary(lineages, target, judge, requests_sent: int) -> None:
    from .metrics import distinct_n, msttr, refusal_triggering_rate, response_confidence

    seeds = [x.seed.text for x in lineages]
    finals = [x.best for x in lineages]
    n = max(1, len(lineages))
    print(f"fitness: seeds {sum(x.seed_fitness.value for x in lineages) / n:.3f} -> evolved "
          f"{sum(x.best_fitness.value for x in lineages) / n:.3f} (target requests: {requests_sent})")
    print(f"refusal-triggering rate (greedy): seeds {refusal_triggering_rate(target, judge, seeds):.2f} -> "
          f"evolved {refusal_triggering_rate(target, judge, finals):.2f}")
    print(f"lexical diversity: MSTTR {msttr(seeds):.3f} -> {msttr(finals):.3f}, distinct-2 "
          f"{distinct_n(seeds, 2):.3f} -> {distinct_n(finals, 2):.3f}")
    before, after = response_confidence(target, seeds), response_confidence(target, finals)
    print(f"response confidence (log p of the reply per token, safety system prompt): {before.per_token:.3f} -> "
          f"{after.per_token:.3f}")
