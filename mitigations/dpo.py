"""CHES-filtered DPO (methods.md 4.2-4.3): score pairs with the initial model, keep the lowest ln-CHES, train DPO.

Two trainers:
  * `trl` (default): `mitigations.train.train_dpo`, the project's trl DPO wrapper.
  * `minimal`: the DPO loss written out here, full fine-tuning with a frozen reference copy. It exists because the
    single-pair displacement check needs exact control (plain SGD, one pair, no data collator, no scheduler, no
    extra tokens) that a trl Trainer does not give, and it runs without trl installed.
Sequence log-probabilities sum over the response tokens exactly as CHES counts them (mitigations.ches): prompt
through the chat template with the generation prompt, response tokenized separately, no end-of-turn token.
"""
from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from pytest_overrefusal.api import OverrefusalError, boolean_value

from .ches import (FilterReport, Pair, RenderPrompt, Selection, chat_renderer, chosen_refuses, parse_amount,
                   read_pairs, score_pairs)

TRAINERS = ("trl", "minimal")


class DpoError(OverrefusalError):
    """Bad DPO options or data."""


# ---------------------------------------------------------------- the loss

def sequence_logps(model, tokenizer, prompts: Sequence[str], responses: Sequence[str],
                   render: RenderPrompt | None = None):
    """Sum of log p(response tokens | chat-rendered prompt) per row, differentiable (float32)."""
    import torch

    render = render or chat_renderer(tokenizer)
    rows = [(_ids(tokenizer, render(p)), _ids(tokenizer, r)) for p, r in zip(prompts, responses)]
    width = max(len(p) + len(r) for p, r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(rows), width), int(pad), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    targets = torch.zeros((len(rows), width - 1), dtype=torch.bool)
    for i, (p, r) in enumerate(rows):  # right padding: real tokens keep positions 0..n-1
        ids[i, :len(p) + len(r)] = torch.tensor(p + r)
        mask[i, :len(p) + len(r)] = 1
        targets[i, len(p) - 1:len(p) + len(r) - 1] = True
    device = next(model.parameters()).device
    ids, mask, targets = ids.to(device), mask.to(device), targets.to(device)
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    token_logps = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    return (token_logps * targets).sum(dim=1)


def dpo_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta: float = 0.1):
    """Mean of -log sigmoid(beta * (chosen log-ratio - rejected log-ratio))."""
    import torch.nn.functional as F

    margin = (policy_chosen - reference_chosen) - (policy_rejected - reference_rejected)
    return -F.logsigmoid(beta * margin).mean()


@dataclass(frozen=True)
class Displacement:
    logp_chosen_before: float
    logp_chosen_after: float
    logp_rejected_before: float
    logp_rejected_after: float

    @property
    def chosen_change(self) -> float:
        return self.logp_chosen_after - self.logp_chosen_before


def single_pair_sgd(model, tokenizer, pair: Pair, *, steps: int = 30, lr: float = 0.01,
                    beta: float = 0.1) -> Displacement:
    """Train `model` in place with plain SGD on one pair against a frozen copy of itself (methods.md 4.4)."""
    import torch

    reference = copy.deepcopy(model).eval()
    with torch.no_grad():
        ref_c, ref_r = sequence_logps(reference, tokenizer, [pair.prompt] * 2, [pair.chosen, pair.rejected])
    before = (float(ref_c), float(ref_r))
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        pol_c, pol_r = sequence_logps(model, tokenizer, [pair.prompt] * 2, [pair.chosen, pair.rejected])
        loss = dpo_loss(pol_c, pol_r, ref_c, ref_r, beta)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        after_c, after_r = sequence_logps(model, tokenizer, [pair.prompt] * 2, [pair.chosen, pair.rejected])
    return Displacement(before[0], float(after_c), before[1], float(after_r))


def train_minimal(model, tokenizer, pairs: Sequence[Pair], *, beta: float = 0.1, lr: float = 5e-6,
                  epochs: int = 1, batch_size: int = 8, seed: int = 0, optimizer: str = "rmsprop") -> None:
    """Standard DPO, full fine-tuning in place, frozen reference copy, no scheduler (paper App. H.3 defaults)."""
    import torch

    torch.manual_seed(seed)
    reference = copy.deepcopy(model).eval()
    options = {"rmsprop": torch.optim.RMSprop, "sgd": torch.optim.SGD, "adamw": torch.optim.AdamW}
    if optimizer not in options:
        raise DpoError(f"optimizer={optimizer!r}: use one of {', '.join(options)}")
    opt = options[optimizer](model.parameters(), lr=lr)
    order = list(range(len(pairs)))
    model.train()
    for epoch in range(epochs):
        random.Random(seed + epoch).shuffle(order)
        for start in range(0, len(order), batch_size):
            batch = [pairs[i] for i in order[start:start + batch_size]]
            prompts = [p.prompt for p in batch] * 2
            responses = [p.chosen for p in batch] + [p.rejected for p in batch]
            with torch.no_grad():
                ref = sequence_logps(reference, tokenizer, prompts, responses)
            pol = sequence_logps(model, tokenizer, prompts, responses)
            n = len(batch)
            loss = dpo_loss(pol[:n], pol[n:], ref[:n], ref[n:], beta)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()


def _ids(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


# ---------------------------------------------------------------- filtered DPO end to end

def select_pairs(model, tokenizer, pairs: Sequence[Pair], selection: Selection,
                 per_side: bool = True) -> tuple[list[Pair], FilterReport]:
    """Score every pair once with the initial model and keep what `selection` picks (lowest ln-CHES first), from
    each side apart when `per_side` (`Selection.indices_by_side`)."""
    if not pairs:
        raise DpoError("no preference pairs to filter")
    scores = [s.ln_ches for s in score_pairs(model, tokenizer, pairs)]
    refusing = chosen_refuses(pairs)
    kept = selection.indices_by_side(scores, refusing) if per_side else selection.indices(scores)
    if not kept:
        raise DpoError(f"the filter kept none of {len(pairs)} pairs; keep a larger share")
    return [pairs[i] for i in kept], FilterReport.of(scores, refusing, kept)


def filtered_dpo(model_dir: Path, pairs: Sequence[Pair], out_dir: Path, *, selection: Selection = Selection(0.05),
                 trainer: str = "trl", beta: float = 0.1, lr: float = 5e-6, epochs: int = 1, batch_size: int = 8,
                 seed: int = 0, optimizer: str | None = None, lora: bool = False, per_side: bool = True) -> Path:
    """Filter `pairs` by ln-CHES under the model in `model_dir`, train DPO on the kept ones, save to `out_dir`.
    `optimizer` None means the trainer's default: RMSprop (the paper's) for `minimal`, train_dpo's for `trl`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if trainer not in TRAINERS:
        raise DpoError(f"trainer={trainer!r}: use one of {', '.join(TRAINERS)}")
    out_dir = Path(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    kept, report = select_pairs(model, tokenizer, pairs, selection, per_side)
    if trainer == "minimal":
        if lora:
            raise DpoError("lora=true needs trainer=trl")
        train_minimal(model, tokenizer, kept, beta=beta, lr=lr, epochs=epochs, batch_size=batch_size, seed=seed,
                      optimizer=optimizer or "rmsprop")
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    else:
        from .train import train_dpo  # trl; only the trl trainer needs it

        rows = [{"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected} for p in kept]
        del model
        chosen_optimizer = {"optimizer": optimizer} if optimizer else {}
        out_dir = Path(train_dpo(Path(model_dir), rows, out_dir, beta=beta, lora=lora, epochs=epochs, lr=lr,
                                 batch_size=batch_size, seed=seed, **chosen_optimizer))
    (out_dir / "ches_filter.json").write_text(json.dumps(report.as_dict(), indent=1) + "\n", encoding="utf-8")
    print(report.summary(), flush=True)
    return out_dir


_LOOP_OPTIONS = {"keep", "quantile", "window", "trainer", "beta", "lr", "epochs", "batch_size", "seed", "optimizer",
                 "lora", "prompt", "chosen", "rejected", "per_side"}


def train_for_loop(base_spec: str, train_data: Path, out_dir: Path, options: dict[str, str]) -> str:
    """`overrefusal mitigate --method dpo-ches`: preference JSONL in, `hf:OUT_DIR` spec of the trained model out."""
    from pytest_overrefusal.api import load_backend

    unknown = sorted(set(options) - _LOOP_OPTIONS)
    if unknown:
        raise DpoError(f"dpo-ches: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(_LOOP_OPTIONS))}")
    lora, per_side = _flag(options, "lora", False), _flag(options, "per_side", True)
    backend = load_backend(base_spec)
    model_dir = Path(getattr(backend, "path_or_id", ""))
    if not model_dir.is_dir():
        raise DpoError(f"dpo-ches: base model {base_spec} is not a local hf model directory")
    pairs = read_pairs(Path(train_data), options.get("prompt", "prompt"), options.get("chosen", "chosen"),
                       options.get("rejected", "rejected"))
    if "quantile" in options:
        selection = Selection(quantile=_number(options, "quantile", 0.0),
                              window=parse_amount(options.get("window", "5%"), "dpo-ches window"))
    else:
        selection = Selection(keep=parse_amount(options.get("keep", "5%"), "dpo-ches keep"))
    trained = filtered_dpo(model_dir, pairs, Path(out_dir), selection=selection,
                           trainer=options.get("trainer", "trl"), beta=_number(options, "beta", 0.1),
                           lr=_number(options, "lr", 5e-6), epochs=int(_number(options, "epochs", 1)),
                           batch_size=int(_number(options, "batch_size", 8)), seed=int(_number(options, "seed", 0)),
                           optimizer=options.get("optimizer"),
                           lora=lora, per_side=per_side)
    return f"hf:{trained}"


def _flag(options: dict[str, str], key: str, default: bool) -> bool:
    try:
        return boolean_value(options[key]) if key in options else default
    except ValueError:
        raise DpoError(f"dpo-ches option {key}={options[key]!r}: use true or false") from None


def _number(options: dict[str, str], key: str, default: float) -> float:
    raw = options.get(key)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise DpoError(f"dpo-ches: {key}={raw!r} must be a number") from None
