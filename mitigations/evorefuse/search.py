"""One EvoRefuse lineage per seed: mutate (L safe mutants), recombine (N children), anneal; keep the best ever.

All lineages advance in lock-step so that every fitness evaluation of an iteration is one batch on the target,
and every mutator / recombiner / filter round is one batch too. Defaults are the paper's (methods.md 1.3):
L = 4, N = 2 children from 2 random parents among the top-4 mutants, I = 5 iterations.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .anneal import Annealer, Schedule, TieBreak, is_better
from .records import Candidate, Fitness, Mutator, Recombiner, SafetyFilter, Scorer, Step
from .strategies import STRATEGIES


@dataclass(frozen=True)
class EvolveConfig:
    iterations: int = 5
    safe_mutants: int = 4  # L
    children: int = 2  # N
    parent_pool: int = 4  # children's parents come from this many best mutants
    mutation_cycles: int = 2  # give up on an iteration's mutants after this many passes over the 9 strategies
    schedule: Schedule = Schedule()
    tie_break: TieBreak = "shorter"
    tie_tolerance: float = 1e-3
    seed: int = 0


@dataclass(frozen=True)
class Seed:
    id: str
    text: str
    label: str | None = None


@dataclass
class Lineage:
    seed: Seed
    seed_fitness: Fitness  # F(seed) before any mutation
    current: str
    current_fitness: Fitness
    best: str
    best_fitness: Fitness
    best_candidate: Candidate | None = None  # None while the seed itself is the best
    steps: list[Step] = field(default_factory=list)
    strategy_cursor: int = 0


Progress = Callable[[int, Sequence[Lineage]], None]


def evolve(seeds: Sequence[Seed], *, mutator: Mutator, recombiner: Recombiner | None, safety_filter: SafetyFilter,
           fitness: Scorer, config: EvolveConfig = EvolveConfig(),
           progress: Progress | None = None) -> list[Lineage]:
    """Run the search; `recombiner=None` is the paper's no-recombination ablation."""
    rng = random.Random(config.seed)
    annealer = Annealer(rng, config.schedule, config.tie_break, config.tie_tolerance)
    start = fitness.score([s.text for s in seeds])
    # lineages start at different strategies, so that a run over many seeds uses all nine from the first iteration
    lineages = [Lineage(seed=s, seed_fitness=f, current=s.text, current_fitness=f, best=s.text, best_fitness=f,
                        strategy_cursor=(i * config.safe_mutants) % len(STRATEGIES))
                for i, (s, f) in enumerate(zip(seeds, start))]
    for iteration in range(config.iterations):
        steps = [Step(iteration=iteration, temperature=config.schedule.temperature(iteration), current=lin.current,
                      current_fitness=lin.current_fitness.value) for lin in lineages]
        mutants = _safe_mutants(lineages, steps, mutator, safety_filter, config)
        _score([c for group in mutants for c in group], fitness)
        children = (_children(mutants, steps, recombiner, safety_filter, config, rng)
                    if recombiner is not None else [[] for _ in lineages])
        # children and the fresh re-score of every current instruction share one batch
        child_list = [c for group in children for c in group]
        scores = fitness.score([c.instruction for c in child_list] + [lin.current for lin in lineages])
        for cand, f in zip(child_list, scores):
            cand.fitness = f
        for lin, step, f in zip(lineages, steps, scores[len(child_list):]):
            lin.current_fitness, step.current_fitness = f, f.value
        for lin, step, pool in zip(lineages, steps, (m + c for m, c in zip(mutants, children))):
            _select(lin, step, pool, annealer, config, iteration)
            lin.steps.append(step)
        if progress is not None:
            progress(iteration + 1, lineages)
    return lineages


def _safe_mutants(lineages: Sequence[Lineage], steps: Sequence[Step], mutator: Mutator, safety_filter: SafetyFilter,
                  config: EvolveConfig) -> list[list[Candidate]]:
    """Cycle each lineage through the strategies until it has L safe mutants (or runs out of passes)."""
    safe: list[list[Candidate]] = [[] for _ in lineages]
    budget = [config.mutation_cycles * len(STRATEGIES)] * len(lineages)
    malformed = [0] * len(lineages)
    while True:
        jobs: list[tuple[int, str, str]] = []
        for i, lin in enumerate(lineages):
            need = min(config.safe_mutants - len(safe[i]), budget[i])
            for _ in range(max(0, need)):
                jobs.append((i, STRATEGIES[lin.strategy_cursor % len(STRATEGIES)].name, lin.current))
                lin.strategy_cursor += 1
                budget[i] -= 1
        if not jobs:
            break
        proposals = mutator.mutate([(strategy, text) for _, strategy, text in jobs])
        formed = [(i, p) for (i, _, _), p in zip(jobs, proposals) if p is not None]
        for (i, _, _), p in zip(jobs, proposals):
            malformed[i] += p is None
        for (i, proposal), verdict in zip(formed, safety_filter.check([p for _, p in formed])):
            candidate = Candidate(proposal, verdict)
            steps[i].candidates.append(candidate)
            if verdict.safe:
                safe[i].append(candidate)
    for step, count, group in zip(steps, malformed, safe):
        if count:
            step.note += f"{count} malformed mutator answer(s) skipped; "
        if len(group) < config.safe_mutants:
            step.note += f"only {len(group)} safe mutant(s) after {config.mutation_cycles} strategy cycle(s); "
    return safe


def _children(mutants: Sequence[list[Candidate]], steps: Sequence[Step], recombiner: Recombiner,
              safety_filter: SafetyFilter, config: EvolveConfig, rng: random.Random) -> list[list[Candidate]]:
    pairs: list[tuple[int, str, str]] = []
    for i, group in enumerate(mutants):
        top = sorted(group, key=lambda c: -c.fitness.value)[:config.parent_pool]  # type: ignore[union-attr]
        if len(top) < 2:
            continue
        for _ in range(config.children):
            a, b = rng.sample(top, 2)
            pairs.append((i, a.instruction, b.instruction))
    proposals = recombiner.recombine([(a, b) for _, a, b in pairs]) if pairs else []
    formed = [(i, p) for (i, _, _), p in zip(pairs, proposals) if p is not None]
    skipped = [0] * len(mutants)
    for (i, _, _), p in zip(pairs, proposals):
        skipped[i] += p is None
    for step, count in zip(steps, skipped):
        if count:
            step.note += f"{count} recombination(s) gave nothing to merge or a malformed answer; "
    children: list[list[Candidate]] = [[] for _ in mutants]
    # children pass the same filter as mutants (one upstream version reused the parents' verdict instead)
    for (i, proposal), verdict in zip(formed, safety_filter.check([p for _, p in formed])):
        candidate = Candidate(proposal, verdict)
        steps[i].candidates.append(candidate)
        if verdict.safe:
            children[i].append(candidate)
    return children


def _score(candidates: Sequence[Candidate], fitness: Scorer) -> None:
    for candidate, f in zip(candidates, fitness.score([c.instruction for c in candidates])):
        candidate.fitness = f


def _select(lin: Lineage, step: Step, pool: Sequence[Candidate], annealer: Annealer, config: EvolveConfig,
            iteration: int) -> None:
    """x' = the best safe candidate (ties to the shorter); then the annealing rule against the re-scored x_i."""
    if not pool:
        step.note += "no safe candidate; kept the current instruction"
        return
    best = max(pool, key=lambda c: (c.fitness.value, -len(c.instruction.split())))  # type: ignore[union-attr]
    assert best.fitness is not None
    decision = annealer.decide(iteration, (best.instruction, best.fitness.value),
                               (lin.current, lin.current_fitness.value))
    step.proposed, step.proposed_fitness = best.instruction, best.fitness.value
    step.probability, step.accepted = decision.probability, decision.accepted
    step.note += decision.note
    if not decision.accepted:
        return
    lin.current, lin.current_fitness = best.instruction, best.fitness
    if is_better((best.instruction, best.fitness.value), (lin.best, lin.best_fitness.value), config.tie_tolerance):
        lin.best, lin.best_fitness, lin.best_candidate = best.instruction, best.fitness, best
