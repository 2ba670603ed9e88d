"""Train the DRO soft safety prompt (methods.md 2.1, steps 5-7).

P (n x d) replaces the system message content. It starts as the token embeddings of the human safety prompt, as
they appear in the rendered chat (so n = its token count there, BOS never included), and is trained with the model
frozen on

    L = L_r + 1e-2 L_h + 1e-3 L_U
    L_r = BCE(sigma(w_r . (z_P,m - z_0,m)), y)     y = 1 harmless, 0 harmful; the probe bias cancels
    L_h = BCE(sigma(w_h . (z_P,m - z_0,m)), y)
    L_U = mean((z_P,perp - z_0,perp)^2)            keep everything outside the refusal subspace where it was

where z_0 are the coordinates under the human prompt (computed once) and z_P under the soft prompt. The forward
pass goes through the same placeholder-token embedding the `hf:...,soft_prompt=FILE` backend uses at inference.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Sequence

from pytest_overrefusal.api import ChatRequest
from .inference import TOKEN_PATTERN, install_soft_prompt, placeholder_text

from .anchors import last_hidden, last_hidden_states
from .subspace import Probe, Subspace


@dataclass(frozen=True)
class DROTraining:
    """The paper's optimiser settings; the loss weights are (refusal, harmfulness, off-subspace)."""

    lr: float = 1e-3
    epochs: int = 40
    batch_size: int = 50
    clip: float = 1.0
    weight_refusal: float = 1.0
    weight_harmfulness: float = 1e-2
    weight_offsubspace: float = 1e-3
    seed: int = 42


@dataclass
class TrainedPrompt:
    matrix: "object"  # (n, d) float32
    human_ids: list[int]
    history: list[dict[str, float]] = field(default_factory=list)  # mean loss terms per epoch


def dro_loss(z_prompt, z_human, harmless, m: int, refusal: Probe, harmfulness: Probe,
             training: DROTraining = DROTraining()):
    """(total loss, {"refusal", "harmfulness", "offsubspace"}) for coordinates under soft vs human prompt."""
    import torch

    bce = torch.nn.functional.binary_cross_entropy_with_logits
    shift = z_prompt[:, :m] - z_human[:, :m]
    parts = {
        "refusal": bce(shift @ refusal.weight, harmless),
        "harmfulness": bce(shift @ harmfulness.weight, harmless),
        "offsubspace": ((z_prompt[:, m:] - z_human[:, m:]) ** 2).mean(),
    }
    total = (training.weight_refusal * parts["refusal"] + training.weight_harmfulness * parts["harmfulness"]
             + training.weight_offsubspace * parts["offsubspace"])
    return total, parts


def human_prompt_ids(backend, human_prompt: str) -> list[int]:
    """Token ids of `human_prompt` exactly as the chat template places it in the system message.

    A one-token placeholder system message gives the surrounding ids; the human render minus those is the prompt.
    Tokenizers that merge across the boundary fall back to tokenizing the prompt alone (with a warning).
    """
    tokenizer = backend.tokenizer
    marker = TOKEN_PATTERN.format(0)
    tokenizer.add_tokens([marker], special_tokens=True)
    marker_id = tokenizer.convert_tokens_to_ids(marker)

    def ids(system: str) -> list[int]:
        return tokenizer(backend.render(ChatRequest.user("Hello.", system=system)),
                         add_special_tokens=False)["input_ids"]

    around, full = ids(marker), ids(human_prompt)
    at = around.index(marker_id)
    head, tail = around[:at], around[at + 1:]
    if full[:at] == head and (not tail or full[-len(tail):] == tail) and len(full) > len(around) - 1:
        return full[at:len(full) - len(tail)]
    warnings.warn("the chat template's tokens merge with the safety prompt's; initialising the soft prompt from "
                  "the prompt tokenized on its own", stacklevel=2)
    alone = tokenizer(human_prompt, add_special_tokens=False)["input_ids"]
    return [i for i in alone if i != tokenizer.bos_token_id]


def train_soft_prompt(backend, queries: Sequence[str], harmless: Sequence[bool], subspace: Subspace,
                      refusal: Probe, harmfulness: Probe, human_prompt: str,
                      training: DROTraining = DROTraining()) -> TrainedPrompt:
    """Optimise P on `queries` with the model of an `hf:` backend frozen; returns P and per-epoch loss terms."""
    import torch

    model, tokenizer = backend.model, backend.tokenizer
    human_ids = human_prompt_ids(backend, human_prompt)
    embeddings = model.get_input_embeddings()
    base = getattr(embeddings, "base_embedding", embeddings)
    matrix = torch.nn.Parameter(base.weight[human_ids].detach().clone().float())
    targets = torch.tensor([float(h) for h in harmless])
    with torch.no_grad():
        z_human = subspace.coordinates(last_hidden_states(
            backend, [ChatRequest.user(q, system=human_prompt) for q in queries]))
    frozen = [(p, p.requires_grad) for p in model.parameters()]  # before P joins the model's parameters
    for p, _ in frozen:
        p.requires_grad_(False)
    install_soft_prompt(model, tokenizer, matrix)
    texts = [backend.render(ChatRequest.user(q, system=placeholder_text(len(human_ids)))) for q in queries]
    optimiser = torch.optim.AdamW([matrix], lr=training.lr)
    generator = torch.Generator().manual_seed(training.seed)
    history: list[dict[str, float]] = []
    try:
        for _ in range(training.epochs):
            sums = {"refusal": 0.0, "harmfulness": 0.0, "offsubspace": 0.0, "total": 0.0}
            order = torch.randperm(len(texts), generator=generator).tolist()
            batches = [order[i:i + training.batch_size] for i in range(0, len(order), training.batch_size)]
            for batch in batches:
                z_prompt = subspace.coordinates(last_hidden(model, tokenizer, [texts[i] for i in batch]))
                total, parts = dro_loss(z_prompt, z_human[batch], targets[batch], subspace.m, refusal,
                                        harmfulness, training)
                optimiser.zero_grad()
                total.backward()
                torch.nn.utils.clip_grad_norm_([matrix], training.clip)  # after backward (upstream had it before)
                optimiser.step()
                for key, value in (*parts.items(), ("total", total)):
                    sums[key] += float(value.detach()) / len(batches)
            history.append(sums)
    finally:
        for p, flag in frozen:
            p.requires_grad_(flag)
    return TrainedPrompt(matrix=matrix.detach().clone(), human_ids=human_ids, history=history)
