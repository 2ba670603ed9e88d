"""The toy model's tokenizer, network and training loop (the recipe's training half; see toy_model.py).

A change here changes the artifact, so bump `toy_model.RECIPE_VERSION`.
"""
from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Callable, Sequence

from .toy_corpus import BOS, CHAT_TEMPLATE, IM_END, PAD, SPECIAL_TOKENS, Example, render_prompt

VOCAB_TARGET = 1024
BATCH_SIZE = 32
BUCKET_WINDOW = 16  # batches sorted by length together
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 0.01
WARMUP_SHARE = 0.1
GRAD_CLIP = 1.0
FINAL_LR_SHARE = 0.1


# ---------------------------------------------------------------- tokenizer

def train_tokenizer(corpus: Sequence[Example]):
    """Byte-level BPE on the rendered corpus, wrapped as a HF fast tokenizer with a ChatML template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_TARGET, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator((render_prompt(ex.prompt) + ex.reply + IM_END for ex in corpus), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=IM_END, pad_token=PAD,
                                   padding_side="left", chat_template=CHAT_TEMPLATE,
                                   model_max_length=256)


def encode_examples(tokenizer, corpus: Sequence[Example]) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, reply ids + end marker) per example; the prompt is exactly what generation will see."""
    backend = tokenizer.backend_tokenizer
    prompts = backend.encode_batch([render_prompt(ex.prompt) for ex in corpus], add_special_tokens=False)
    distinct = sorted({ex.reply for ex in corpus})
    end = tokenizer.convert_tokens_to_ids(IM_END)
    reply_ids = {text: enc.ids + [end]
                 for text, enc in zip(distinct, backend.encode_batch(distinct, add_special_tokens=False))}
    return [(p.ids, reply_ids[ex.reply]) for p, ex in zip(prompts, corpus)]


# ---------------------------------------------------------------- model and training

def new_model(tokenizer, seed: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=128, intermediate_size=384, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256, tie_word_embeddings=True,
        pad_token_id=tokenizer.convert_tokens_to_ids(PAD), bos_token_id=tokenizer.convert_tokens_to_ids(BOS),
        eos_token_id=tokenizer.convert_tokens_to_ids(IM_END),
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def _batch_plan(lengths: Sequence[int], labels: Sequence[bool], steps: int, seed: int) -> list[list[int]]:
    """`steps` batches of corpus indices that waste little padding yet keep each batch's refusal share.

    The corpus is walked in order, `BUCKET_WINDOW` batches at a time. Inside a window every example gets its length
    quantile within its own class (refused or not); sorting by that quantile and cutting into batches puts similar
    lengths together while every batch keeps the window's class mix. The window's batches are then shuffled."""
    rng = random.Random(seed)
    window = BATCH_SIZE * BUCKET_WINDOW
    plan: list[list[int]] = []
    for offset in range(0, steps * BATCH_SIZE, window):
        idx = [(offset + i) % len(lengths) for i in range(window)]
        quantile: dict[int, float] = {}
        for label in (True, False):
            members = sorted((i for i in idx if labels[i] is label), key=lambda i: lengths[i])
            quantile.update((i, (rank + 0.5) / len(members)) for rank, i in enumerate(members))
        idx.sort(key=lambda i: (quantile[i], labels[i]))
        batches = [idx[b:b + BATCH_SIZE] for b in range(0, window, BATCH_SIZE)]
        rng.shuffle(batches)
        plan.extend(batches)
    return plan[:steps]


def _collate(rows: Sequence[tuple[list[int], list[int]]], pad_id: int):
    """Right-padded input ids, and the (row, position) targets of the reply tokens: position t predicts t + 1."""
    import torch

    width = max(len(p) + len(r) for p, r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    where: list[tuple[int, int]] = []
    targets: list[int] = []
    for i, (p, r) in enumerate(rows):
        ids[i, :len(p) + len(r)] = torch.tensor(p + r)
        where.extend((i, len(p) - 1 + j) for j in range(len(r)))
        targets.extend(r)
    rows_idx, pos_idx = zip(*where)
    return ids, torch.tensor(rows_idx), torch.tensor(pos_idx), torch.tensor(targets)


def _lr_factor(step: int, steps: int) -> float:
    """Linear warm-up over the first `WARMUP_SHARE` of the steps, then cosine decay to `FINAL_LR_SHARE`."""
    warmup = max(1, int(steps * WARMUP_SHARE))
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return FINAL_LR_SHARE + (1 - FINAL_LR_SHARE) * 0.5 * (1 + math.cos(math.pi * progress))


def train(model, encoded: Sequence[tuple[list[int], list[int]]], refused: Sequence[bool], pad_id: int,
          steps: int, seed: int, progress: Callable[[int, int, float], None] | None = None) -> float:
    """Plain AdamW loop; the loss covers only the reply and its end marker, and the LM head runs only there.
    No attention mask is needed: padding is on the right and attention is causal. Returns the last loss.
    `progress(step, steps, loss)` is called after each step."""
    import torch
    import torch.nn.functional as F

    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, steps))
    model.train()
    loss_value = float("nan")
    for step, batch in enumerate(_batch_plan([len(p) + len(r) for p, r in encoded], refused, steps, seed), 1):
        ids, rows, positions, targets = _collate([encoded[i] for i in batch], pad_id)
        hidden = model.model(input_ids=ids).last_hidden_state
        loss = F.cross_entropy(model.lm_head(hidden[rows, positions]), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        optimizer.step()
        schedule.step()
        loss_value = loss.item()
        if progress is not None:
            progress(step, steps, loss_value)
    model.eval()
    return loss_value


def save(model, tokenizer, out_dir: Path, recipe: dict) -> None:
    """Model + greedy generation config + tokenizer via `save_pretrained`, and `toy_recipe.json`."""
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig(
        do_sample=False, max_new_tokens=32,
        eos_token_id=tokenizer.convert_tokens_to_ids(IM_END),
        pad_token_id=tokenizer.convert_tokens_to_ids(PAD),
        bos_token_id=tokenizer.convert_tokens_to_ids(BOS),
    )
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    (out_dir / "toy_recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")
