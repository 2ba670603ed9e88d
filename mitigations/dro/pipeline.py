"""The whole DRO run in the order that matters: label + embed anchors, fit subspace and probes, train, save."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from .inference import save_soft_prompt

from .anchors import DEFAULT_SAFETY_PROMPT, DEFAULT_SETTINGS, Anchors, LabelSampling, collect_anchors
from .soft_prompt import DROTraining, TrainedPrompt, train_soft_prompt
from .subspace import Probe, ProbeTraining, Subspace, fit_probe, fit_subspace


@dataclass
class DROResult:
    prompt: TrainedPrompt
    subspace: Subspace
    refusal: Probe
    harmfulness: Probe
    anchors: Anchors
    human_prompt: str
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per stage


def fit_dro(backend, harmful: Sequence[str], harmless: Sequence[str], human_prompt: str = DEFAULT_SAFETY_PROMPT,
            settings: dict[str, str | None] | None = None, judge=None, sampling: LabelSampling = LabelSampling(),
            components: int = 4, probe: ProbeTraining = ProbeTraining(),
            training: DROTraining = DROTraining()) -> DROResult:
    """Train a soft prompt for `backend` (an `hf:` backend) starting from `human_prompt`."""
    import torch

    settings = dict(DEFAULT_SETTINGS if settings is None else settings)
    if human_prompt not in settings.values():  # the optimised prompt is always one of the anchor settings
        settings["human"] = human_prompt
    clock = time.perf_counter()
    anchors = collect_anchors(backend, harmful, harmless, settings, judge, sampling)
    seconds = {"anchors": time.perf_counter() - clock}
    clock = time.perf_counter()
    subspace = fit_subspace(anchors.hidden, m=components, seed=training.seed)
    z_m, _ = subspace.split(anchors.hidden)
    refusal = fit_probe(z_m, anchors.compliance, probe)
    harmfulness = fit_probe(z_m, anchors.harmless, probe)
    seconds["subspace_and_probes"] = time.perf_counter() - clock
    clock = time.perf_counter()
    queries = list(harmful) + list(harmless)
    labels = [False] * len(harmful) + [True] * len(harmless)
    with torch.random.fork_rng():
        prompt = train_soft_prompt(backend, queries, labels, subspace, refusal, harmfulness, human_prompt, training)
    seconds["soft_prompt"] = time.perf_counter() - clock
    return DROResult(prompt, subspace, refusal, harmfulness, anchors, human_prompt, seconds)


def save_result(result: DROResult, backend, path: Path, training: DROTraining = DROTraining()) -> Path:
    """Write the soft prompt with what identifies its base model and how it was trained."""
    from pytest_overrefusal.api import fingerprint_dir

    root = Path(getattr(backend, "path_or_id", ""))
    metadata = {"base_model": str(getattr(backend, "path_or_id", "")), "human_prompt": result.human_prompt,
                "human_prompt_ids": ",".join(map(str, result.prompt.human_ids)),
                "components": str(result.subspace.m),
                **{f"training.{k}": str(v) for k, v in asdict(training).items()}}
    if root.is_dir():
        metadata["base_fingerprint"] = fingerprint_dir(root, "")
    if result.prompt.history:
        metadata.update({f"final.{k}": f"{v:.6g}" for k, v in result.prompt.history[-1].items()})
    return save_soft_prompt(path, result.prompt.matrix, metadata)
