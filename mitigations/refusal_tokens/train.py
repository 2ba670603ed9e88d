"""A small, deterministic plain-torch SFT loop that teaches a causal LM its control tokens.

Loss covers the control token, the reply and the end-of-turn token (methods.md 3.1), never the prompt; each row's
tokens count with the row's weight, so weighted rows realise a stochastic policy exactly. AdamW with a linear decay
to zero, which lets the refusal-token probability settle on the data's rate. The result is an ordinary HF folder
(weights, tokenizer with the tokens registered, generation config) plus `refusal_tokens.json` and a training record
with the first-position check.
"""
from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from pytest_overrefusal.api import OverrefusalError

from .data import SFTExample, check_labels, encode
from .tokens import TokenScheme, add_tokens, save_scheme, start_at_first_replies, token_ids

TRAINING_FILE = "refusal_tokens_training.json"


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 3
    learning_rate: float = 1e-3
    batch_size: int = 32
    seed: int = 0
    weight_decay: float = 0.0
    grad_clip: float = 1.0


def train_model(model, tokenizer, examples: Sequence[SFTExample], scheme: TokenScheme, config: TrainConfig,
                where: str = "training data", pretrained: bool = True) -> list[float]:
    """Add the scheme's tokens to `model`/`tokenizer` and fine-tune in place; returns the mean loss per epoch.
    New tokens of a `pretrained` model start at the first reply words they label (`start_at_first_replies`)."""
    import torch

    check_labels(examples, scheme, where)
    known = len(tokenizer)
    ids = add_tokens(model, tokenizer, scheme)
    encoded = encode(tokenizer, ids, examples)
    # a retrained folder keeps what it learned; only tokens added now get a start
    if pretrained:
        start_at_first_replies(model, {name: i for name, i in ids.items() if i >= known},
                               [(ex.label, target[1], ex.weight) for ex, (_, target) in zip(examples, encoded)])
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    torch.manual_seed(config.seed)
    order_rng = random.Random(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    steps = config.epochs * -(-len(encoded) // config.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    weights = [ex.weight for ex in examples]
    device = next(model.parameters()).device
    model.train()
    losses: list[float] = []
    for _ in range(config.epochs):
        order = list(range(len(encoded)))
        order_rng.shuffle(order)
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            chosen = order[start:start + config.batch_size]
            ids_t, mask, rows, positions, targets = (t.to(device) for t in _collate([encoded[i] for i in chosen], pad))
            token_weight = torch.tensor([weights[i] for i in chosen], device=device)[rows]
            logits = model(input_ids=ids_t, attention_mask=mask).logits
            per_token = torch.nn.functional.cross_entropy(logits[rows, positions].float(), targets, reduction="none")
            loss = (per_token * token_weight).sum() / token_weight.sum()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            schedule.step()
            total += loss.item() * len(chosen)
        losses.append(total / len(encoded))
    model.eval()
    return losses


def first_position_check(model, tokenizer, examples: Sequence[SFTExample], scheme: TokenScheme,
                         limit: int = 64, batch_size: int = 16) -> dict:
    """Whether training took, on up to `limit` training rows spread evenly: the mean first-position probability of all
    control tokens together (`control_mass`; the threshold rule needs it high) and the share of rows whose most
    probable control token is the row's label (`agreement`)."""
    import torch

    ids = token_ids(tokenizer, scheme, "the tokenizer")
    picked = [examples[i * len(examples) // limit] for i in range(limit)] if len(examples) > limit else list(examples)
    encoded = encode(tokenizer, ids, picked)
    order = [ids[name] for name in scheme.names]
    device = next(model.parameters()).device
    mass, agree = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(picked), batch_size):
            rows = [(prompt, []) for prompt, _ in encoded[start:start + batch_size]]
            ids_t, mask = (t.to(device) for t in _collate(rows, tokenizer.pad_token_id or 0)[:2])
            logits = model(input_ids=ids_t, attention_mask=mask).logits
            last = torch.tensor([len(prompt) - 1 for prompt, _ in rows], device=device)
            probs = torch.softmax(logits[torch.arange(len(rows), device=device), last].float(), dim=-1)[:, order]
            mass += float(probs.sum())
            for row, ex in zip(probs, picked[start:start + batch_size]):
                agree += scheme.names[int(row.argmax())] == ex.label
    n = len(picked)
    return {"rows": n, "control_mass": round(mass / n, 4) if n else 0.0, "agreement": round(agree / n, 4) if n else 0.0}


def _collate(rows: Sequence[tuple[list[int], list[int]]], pad_id: int):
    """Right-padded ids and mask, and the (row, position) pairs whose logits predict each target token."""
    import torch

    width = max(len(p) + len(t) for p, t in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    where_rows: list[int] = []
    where_pos: list[int] = []
    targets: list[int] = []
    for i, (prompt, target) in enumerate(rows):
        n = len(prompt) + len(target)
        ids[i, :n] = torch.tensor(prompt + target)
        mask[i, :n] = 1
        where_rows += [i] * len(target)
        where_pos += range(len(prompt) - 1, n - 1)  # position t predicts token t + 1
        targets += target
    return ids, mask, torch.tensor(where_rows), torch.tensor(where_pos), torch.tensor(targets)


def save_trained(model, tokenizer, out_dir: Path, scheme: TokenScheme, record: dict) -> Path:
    """An ordinary HF folder that greedy-decodes and stops at the end-of-turn token, plus the token file."""
    from transformers import GenerationConfig

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.generation_config = GenerationConfig(do_sample=False, eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    save_scheme(out_dir, scheme)
    (out_dir / TRAINING_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return out_dir


def train_folder(base_dir: Path, examples: Sequence[SFTExample], scheme: TokenScheme, out_dir: Path,
                 config: TrainConfig = TrainConfig(), where: str = "training data") -> Path:
    """Load an HF folder, teach it the control tokens, save the result to `out_dir`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(base_dir)
        model = AutoModelForCausalLM.from_pretrained(base_dir, dtype="float32")
    except (OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise OverrefusalError(f"{base_dir}: cannot load a causal LM to train ({first}); give an HF model folder")
    if not tokenizer.chat_template:
        raise OverrefusalError(f"{base_dir}: the tokenizer has no chat template; refusal tokens are taught on chat "
                               f"replies, so the base model needs one")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    losses = train_model(model, tokenizer, examples, scheme, config, where)
    record = {"base": str(base_dir), "examples": len(examples), "config": asdict(config),
              "epoch_losses": [round(x, 4) for x in losses],
              "first_position": first_position_check(model, tokenizer, examples, scheme)}
    return save_trained(model, tokenizer, out_dir, scheme, record)
