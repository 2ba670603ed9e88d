"""`hf:` (hence `toy`, `smollm2`) continuing answers from their exact token ids, for verdict-aware decoding.

The prompt is encoded exactly as `generate()` encodes it, the answer's ids so far are appended, and greedy
decoding goes on; left padding and the attention mask are what `generate()` uses, so a continued answer is the
one an uninterrupted run gives (up to the float noise a different batch shape already brings to `generate()`).
"""
from __future__ import annotations

from typing import Sequence

from ..continuation import Partial
from .base import ChatRequest


def supports_continuation(backend) -> bool:
    """Not while an extension replaces generation (refusal-token steering decides on the whole answer)."""
    return all(type(ext).__name__ == "SoftPromptExtension" for ext in backend.extensions)


def continue_generation(backend, requests: Sequence[ChatRequest], partials: Sequence[Partial | None],
                        max_new_tokens: int) -> list[Partial]:
    backend._ready()
    prompts = backend.tokenizer([backend.render(r) for r in requests], add_special_tokens=False)["input_ids"]
    out: list[Partial | None] = [None] * len(requests)
    steps: dict[int, list[int]] = {}  # how many more tokens -> rows; one generate() call each
    for i, p in enumerate(partials):
        done = p.new_tokens if p is not None else 0
        if p is not None and (p.eos or done >= max_new_tokens):
            out[i] = p
        else:
            steps.setdefault(max_new_tokens - done, []).append(i)
    for step, rows in steps.items():
        prior = [list(partials[i].token_ids) if partials[i] is not None else [] for i in rows]
        grown = _generate(backend, [prompts[i] + ids for i, ids in zip(rows, prior)], step)
        for i, ids, new in zip(rows, prior, grown):
            out[i] = _partial(backend, ids, new, len(prompts[i]))
    return out  # type: ignore[return-value]


def _generate(backend, sequences: list[list[int]], step: int) -> list[list[int]]:
    import torch
    from transformers import GenerationConfig

    pad = backend.tokenizer.pad_token_id
    width = max(len(s) for s in sequences)
    ids = torch.tensor([[pad] * (width - len(s)) + s for s in sequences], device=backend.device)
    mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in sequences], device=backend.device)
    config = GenerationConfig(max_new_tokens=step, do_sample=False, pad_token_id=pad,
                              eos_token_id=list(backend.stop_ids))
    with torch.no_grad():
        generated = backend.model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
    return [row[width:].tolist() for row in generated]


def _partial(backend, prior: list[int], new: list[int], prompt_len: int) -> Partial:
    stop = next((k for k, t in enumerate(new) if t in backend.stop_ids), None)
    kept = prior + (new if stop is None else new[:stop])
    text = backend.tokenizer.decode(kept, skip_special_tokens=True).strip()
    return Partial(text=text, token_ids=tuple(kept), eos=stop is not None,
                   new_tokens=len(kept) + (stop is not None), prompt_tokens=prompt_len)
