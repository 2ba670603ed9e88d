"""DRO end to end in the toy world: held-out refusal with no prompt / the human prompt / the DRO prompt.

    python -m mitigations.dro.toydemo [SEED ...]

Anchors are one template per train verb-object combination under the settings none / human / short; labels come
from sampled replies judged by the keyword judge. Evaluation is the exact next-token probability of "sorry" on the
held-out combinations (all templates), and the DRO prompt is evaluated through `hf:DIR,soft_prompt=FILE`.
"""
from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from pytest_overrefusal.api import ChatRequest, load_backend

from . import toyworld
from .anchors import LabelSampling, last_hidden_states, next_token_probability
from .pipeline import fit_dro, save_result
from .soft_prompt import DROTraining, train_soft_prompt
from .subspace import ProbeTraining

#: Small-world settings (methods.md 2.3): the paper's optimiser with a larger step for a 64-dim model, and probes
#: with a larger step because z_m here has unit-scale coordinates (the paper's lr 1e-4 stops after a few epochs).
TOY_SAMPLING = LabelSampling(samples=6, keep=6, max_new_tokens_harmless=4, max_new_tokens_harmful=4)
TOY_PROBE = ProbeTraining(lr=5e-2, folds=5)
TOY_TRAINING = DROTraining(lr=3e-3, epochs=20, batch_size=50)
ANCHOR_SETTINGS = ("none", "human", "short")


@dataclass
class ToyReport:
    seed: int
    refusal: dict[str, dict[str, float]]  # family -> condition (none / human / dro) -> held-out P(refuse)
    drift: float  # held-out mean (z_P,perp - z_0,perp)^2 of the DRO prompt
    seconds: float
    drift_without_offsubspace: float | None = None  # same seed and anchors, trained with the L_U weight at 0
    history: list[dict[str, float]] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)

    def row(self) -> str:
        cells = [" / ".join(f"{self.refusal[f][c]:.2f}" for c in ("none", "human", "dro"))
                 for f in toyworld.FAMILIES]
        return f"| {self.seed} | " + " | ".join(cells) + f" | {self.drift:.5g} | {self.seconds:.0f} s |"


def anchor_queries(split: toyworld.WorldSplit) -> tuple[list[str], list[str]]:
    """One template per train combination (rotating), harmful vs harmless (pseudo-harmful + safe)."""
    seen: dict[tuple[str, str], toyworld.Query] = {}
    for query in split.train:
        seen.setdefault((query.verb, query.obj), query)
    picked = [q for i, q in enumerate(split.train) if seen[(q.verb, q.obj)] is q]
    rotated = [toyworld.Query(toyworld.TEMPLATES[i % len(toyworld.TEMPLATES)].format(v=q.verb, o=q.obj),
                              q.family, q.verb, q.obj) for i, q in enumerate(picked)]
    return [q.text for q in rotated if q.harmful], [q.text for q in rotated if not q.harmful]


def run_seed(seed: int, out_dir: Path, training: DROTraining = TOY_TRAINING, world_steps: int = 300,
             compare_without_offsubspace: bool = False) -> ToyReport:
    start = time.perf_counter()
    world = toyworld.world_dir(seed, steps=world_steps)
    split = toyworld.split_world(seed)
    base = load_backend(f"hf:{world},batch_size=256")
    harmful, harmless = anchor_queries(split)
    settings = {name: toyworld.SYSTEM_PROMPTS[name] for name in ANCHOR_SETTINGS}
    training = replace(training, seed=seed)
    result = fit_dro(base, harmful, harmless, toyworld.HUMAN_PROMPT, settings=settings,
                     sampling=replace(TOY_SAMPLING, seed=seed), probe=replace(TOY_PROBE, seed=seed),
                     training=training)
    prompt_file = save_result(result, base, Path(out_dir) / f"dro-seed{seed}.safetensors", training)
    plain = load_backend(f"hf:{world},batch_size=256")
    steered = load_backend(f"hf:{world},batch_size=256,soft_prompt={prompt_file}")
    refusal: dict[str, dict[str, float]] = {}
    for family in toyworld.FAMILIES:
        queries = [q.text for q in split.family(family)]
        refusal[family] = {
            "none": _mean_refusal(plain, queries, None),
            "human": _mean_refusal(plain, queries, toyworld.HUMAN_PROMPT),
            "dro": _mean_refusal(steered, queries, None),
        }
    heldout = [q.text for q in split.heldout]
    report = ToyReport(seed, refusal, offsubspace_drift(plain, steered, heldout, result.subspace),
                       time.perf_counter() - start, history=result.prompt.history, stages=result.seconds)
    if compare_without_offsubspace:
        ablated = replace(training, weight_offsubspace=0.0)
        prompt = train_soft_prompt(base, harmful + harmless, [False] * len(harmful) + [True] * len(harmless),
                                   result.subspace, result.refusal, result.harmfulness, toyworld.HUMAN_PROMPT,
                                   ablated)
        result.prompt = prompt
        ablated_file = save_result(result, base, Path(out_dir) / f"dro-seed{seed}-no-lu.safetensors", ablated)
        without = load_backend(f"hf:{world},batch_size=256,soft_prompt={ablated_file}")
        report.drift_without_offsubspace = offsubspace_drift(plain, without, heldout, result.subspace)
    return report


def offsubspace_drift(plain, steered, queries: list[str], subspace) -> float:
    """mean (z_P,perp - z_0,perp)^2: how far the soft prompt moves states outside the refusal subspace."""
    human = last_hidden_states(plain, [ChatRequest.user(q, system=toyworld.HUMAN_PROMPT) for q in queries])
    soft = last_hidden_states(steered, [ChatRequest.user(q) for q in queries])
    _, perp_human = subspace.split(human)
    _, perp_soft = subspace.split(soft)
    return float(((perp_soft - perp_human) ** 2).mean())


def _mean_refusal(backend, queries: list[str], system: str | None) -> float:
    probs = next_token_probability(backend, [ChatRequest.user(q, system=system) for q in queries],
                                   toyworld.REFUSAL_WORD)
    return sum(probs) / len(probs)


def main(argv: list[str]) -> int:
    import torch

    torch.set_num_threads(1)
    seeds = [int(a) for a in argv] or [0, 1, 2]
    print("| seed | harmful none / human / DRO | pseudo-harmful | safe | drift | time |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            report = run_seed(seed, Path(tmp), compare_without_offsubspace=True)
            print(report.row(), f"drift without L_U {report.drift_without_offsubspace:.5g}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
