"""EvoRefuse cost: target calls and wall time per accepted instruction, and batched fitness against one candidate
at a time on the same candidates, side by side in one process with one loaded target.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/evolve_cost.py [--target toy] [--seeds starter-pseudo-malicious]
        [--limit 10] [--k 10] [--iterations 5] [--repeats 2]

1. `evolve` with the paper's defaults (K=10, L=4, N=2, I=5) and the offline operators, from the seeds the target
   answers (greedy); an *accepted instruction* is a lineage whose final instruction differs from its seed, passed
   the safety filter and makes the target refuse (greedy, keyword judge). Target requests (generate + logprobs) and
   wall time are divided by their number.
2. The safe candidates that run produced are scored twice with the same settings: all in one `score` call (what
   `evolve` does) and one `score` call per candidate; interleaved repeats, best of each. Both give the same fitness
   up to sampling noise (the mean absolute difference is printed).
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class CountingBackend:
    """Forwards to a backend and counts its calls and requests."""

    def __init__(self, inner):
        self.inner = inner
        self.generate_calls = self.logprob_calls = self.requests = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate(self, requests):
        self.generate_calls += 1
        self.requests += len(requests)
        return self.inner.generate(requests)

    def logprobs(self, requests, continuations):
        self.logprob_calls += 1
        self.requests += len(requests)
        return self.inner.logprobs(requests, continuations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="toy")
    parser.add_argument("--seeds", default="starter-pseudo-malicious")
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=50)
    parser.add_argument("--candidates", type=int, default=40, help="candidates for the batched/serial comparison")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from mitigations.evorefuse.fitness import FitnessEstimator, FitnessSettings
    from mitigations.evorefuse.metrics import refusal_flags
    from mitigations.evorefuse.operators import OfflineMutator, OfflineRecombiner, RuleSafetyFilter
    from mitigations.evorefuse.search import EvolveConfig, evolve
    from mitigations.evorefuse.seeds import load_seeds
    from pytest_overrefusal.backends.registry import load_backend
    from pytest_overrefusal.judges.registry import get_judge

    target = CountingBackend(load_backend(args.target))
    target.model  # weights load outside every timing
    judge = get_judge("keyword")
    pool = load_seeds(args.seeds)
    answered = [s for s, refused in zip(pool, refusal_flags(target, judge, [s.text for s in pool])) if not refused]
    seeds = answered[:args.limit]
    settings = FitnessSettings(k=args.k, max_new_tokens=args.max_new_tokens)
    config = EvolveConfig(iterations=args.iterations)
    print(f"target {args.target}: {len(seeds)} seeds from {args.seeds} that it answers; K={settings.k} "
          f"L={config.safe_mutants} N={config.children} I={config.iterations} max_new_tokens={settings.max_new_tokens}")

    target.generate_calls = target.logprob_calls = target.requests = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    lineages = evolve(seeds, mutator=OfflineMutator(random.Random(0)), recombiner=OfflineRecombiner(),
                      safety_filter=RuleSafetyFilter(), fitness=FitnessEstimator(target, judge, settings),
                      config=config)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    calls = (target.generate_calls, target.logprob_calls, target.requests)
    finals = [lin.best for lin in lineages]
    refused = refusal_flags(target, judge, finals)
    accepted = sum(r and lin.best != lin.seed.text and lin.best_candidate.verdict.safe
                   for r, lin in zip(refused, lineages))
    per = max(accepted, 1)
    print(f"evolve: {wall:.1f} s wall ({cpu:.1f} s CPU), {calls[0]} generate + {calls[1]} logprobs calls, "
          f"{calls[2]} target requests; "
          f"fitness {statistics.mean(x.seed_fitness.value for x in lineages):.3f} -> "
          f"{statistics.mean(x.best_fitness.value for x in lineages):.3f}; accepted {accepted}/{len(lineages)}")
    print(f"per accepted instruction: {calls[2] / per:.0f} target requests, {(calls[0] + calls[1]) / per:.1f} "
          f"target calls, {wall / per:.2f} s wall, {cpu / per:.2f} s CPU")

    candidates = [c.instruction for lin in lineages for step in lin.steps for c in step.candidates
                  if c.verdict.safe][:args.candidates]
    batched_times, serial_times, batched_cpu, serial_cpu, diffs = [], [], [], [], []
    for repeat in range(args.repeats):  # interleaved so drifting machine load hits both alike
        est = FitnessEstimator(target, judge, settings, seed=100 * repeat)
        started, cpu_started = time.perf_counter(), time.process_time()
        together = est.score(candidates)
        batched_times.append(time.perf_counter() - started)
        batched_cpu.append(time.process_time() - cpu_started)
        est = FitnessEstimator(target, judge, settings, seed=100 * repeat)
        started, cpu_started = time.perf_counter(), time.process_time()
        alone = [est.score([c])[0] for c in candidates]
        serial_times.append(time.perf_counter() - started)
        serial_cpu.append(time.process_time() - cpu_started)
        diffs += [abs(a.value - b.value) for a, b in zip(together, alone)]
    batched, serial = min(batched_times), min(serial_times)
    print(f"fitness of {len(candidates)} candidates x K={settings.k}: batched {batched:.2f} s, one at a time "
          f"{serial:.2f} s, ratio {serial / batched:.1f}x (all batched {['%.2f' % t for t in batched_times]}, "
          f"serial {['%.2f' % t for t in serial_times]}); CPU time ratio {min(serial_cpu) / min(batched_cpu):.1f}x; "
          f"mean |F batched - F serial| {statistics.mean(diffs):.4f}")


if __name__ == "__main__":
    main()
