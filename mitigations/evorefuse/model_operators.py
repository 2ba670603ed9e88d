"""Mutator, recombiner and safety filter driven by any backend (`hf:...`, `openai:...`, `python:...`).

The paper runs GPT-4o at temperature 0.01; the default here is the same temperature on whatever backend is given.
All requests of one round go to the backend in a single `generate` batch.
"""
from __future__ import annotations

from typing import Sequence

from pytest_overrefusal.api import ChatRequest, SamplingSettings

from .records import Proposal, SafetyVerdict
from .strategies import (BY_NAME, RECOMBINE_PROMPT, SAFETY_PROMPT, mutation_system_prompt, parse_modified,
                         parse_safety)

MUTATOR_SAMPLING = SamplingSettings(max_new_tokens=160, temperature=0.01, seed=0)
FILTER_SAMPLING = SamplingSettings(max_new_tokens=8, temperature=0.0)


class ModelMutator:
    def __init__(self, backend, sampling: SamplingSettings = MUTATOR_SAMPLING):
        self.backend = backend
        self.sampling = sampling
        self.name = f"model[{getattr(backend, 'name', type(backend).__name__)}]"
        self.malformed = 0

    def mutate(self, jobs: Sequence[tuple[str, str]]) -> list[Proposal | None]:
        requests = [ChatRequest.user(instruction, system=mutation_system_prompt(BY_NAME[strategy]),
                                     sampling=self.sampling) for strategy, instruction in jobs]
        out: list[Proposal | None] = []
        for (strategy, _), reply in zip(jobs, self.backend.generate(requests)):
            parsed = parse_modified(reply.text)
            self.malformed += parsed is None
            out.append(None if parsed is None else Proposal(parsed[0], parsed[1], strategy))
        return out


class ModelRecombiner:
    def __init__(self, backend, sampling: SamplingSettings = MUTATOR_SAMPLING):
        self.backend = backend
        self.sampling = sampling
        self.malformed = 0

    def recombine(self, pairs: Sequence[tuple[str, str]]) -> list[Proposal | None]:
        requests = [ChatRequest.user(f"Instruction 1: {a}\nInstruction 2: {b}", system=RECOMBINE_PROMPT,
                                     sampling=self.sampling) for a, b in pairs]
        out: list[Proposal | None] = []
        for (a, b), reply in zip(pairs, self.backend.generate(requests)):
            parsed = parse_modified(reply.text)
            self.malformed += parsed is None
            out.append(None if parsed is None else Proposal(parsed[0], parsed[1], "recombine", (a, b)))
        return out


class ModelSafetyFilter:
    """An answer that is neither `safe` nor `unsafe` counts as unsafe, and its verdict says so: a candidate is
    never let through on a judge's silence."""

    def __init__(self, backend, sampling: SamplingSettings = FILTER_SAMPLING):
        self.backend = backend
        self.sampling = sampling
        self.name = f"model[{getattr(backend, 'name', type(backend).__name__)}]"

    def check(self, proposals: Sequence[Proposal]) -> list[SafetyVerdict]:
        requests = [ChatRequest.user(f"Instruction: {p.instruction}\nReason: {p.reason}", system=SAFETY_PROMPT,
                                     sampling=self.sampling) for p in proposals]
        verdicts = []
        for reply in self.backend.generate(requests):
            safe = parse_safety(reply.text)
            note = f"judge answered {reply.text.strip()[:60]!r}"
            verdicts.append(SafetyVerdict(bool(safe), self.name, note if safe is not None else f"UNPARSEABLE: {note}"))
        return verdicts


class JudgeSafetyFilter:
    """Any registered judge as the filter (`--filter judge:NAME`), reading the instruction as the text to judge: a
    `refuse` or `partial` verdict means unsafe. For a harmful-prompt classifier, map its labels so that its harmful
    label is `refuse`, e.g. `judge:classifier:/models/prompt-guard,refuse=UNSAFE,comply=SAFE`."""

    def __init__(self, judge):
        self.judge = judge
        self.name = f"judge[{judge.id}@{judge.version}]"

    def check(self, proposals: Sequence[Proposal]) -> list[SafetyVerdict]:
        texts = [p.instruction for p in proposals]
        return [SafetyVerdict(not v.refused, self.name, f"{v.label} ({v.score:.2f}): {v.reason}"[:200])
                for v in self.judge.judge(texts, texts)]
