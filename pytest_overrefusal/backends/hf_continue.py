"""`hf:` (hence `toy`, `smollm2`) continuing answers from their exact token ids, for verdict-aware decoding.

The prompt is encoded exactly as `generate()` encodes it, the answer's ids so far are appended, and greedy
decoding goes on; left padding and the attention mask are what `generate()` uses, so a continued answer is the
one an uninterrupted run gives (up to the float noise a different batch shape already brings to `generate()`).
"""
from __future__ import annotations

from typing import Callable, Sequence

from ..continuation import Partial
from .base import ChatRequest


def supports_continuation(backend) -> bool:
    """Not while an extension replaces generation (it may decide on the whole answer, not on a continuation)."""
    return all(ext.keeps_generation for ext in backend.extensions)


def continue_generation(backend, requests: Sequence[ChatRequest], partials: Sequence[Partial | None],
                        max_new_tokens: int, stop_when: Callable[[int, str], bool] | None = None) -> list[Partial]:
    """`stop_when(i, text)`: checked every few tokens inside the call; an answer it accepts stops there (its
    row idles until the batch ends, which it does once every row has stopped): no prefill is paid twice."""
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
        check = None if stop_when is None else _VerdictStop(backend, rows, prior, stop_when)
        grown = _generate(backend, [prompts[i] + ids for i, ids in zip(rows, prior)], step, check)
        for row, (i, ids, new) in enumerate(zip(rows, prior, grown)):
            if check is not None and row in check.at:
                new = new[:check.at[row]]
            out[i] = _partial(backend, ids, new, len(prompts[i]))
    return out  # type: ignore[return-value]


def _generate(backend, sequences: list[list[int]], step: int, check=None) -> list[list[int]]:
    import torch
    from transformers import GenerationConfig, StoppingCriteriaList

    pad = backend.tokenizer.pad_token_id
    width = max(len(s) for s in sequences)
    ids = torch.tensor([[pad] * (width - len(s)) + s for s in sequences], device=backend.device)
    mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in sequences], device=backend.device)
    config = GenerationConfig(max_new_tokens=step, do_sample=False, pad_token_id=pad,
                              eos_token_id=list(backend.stop_ids))
    with torch.no_grad():
        extra = {} if check is None else {"stopping_criteria": StoppingCriteriaList([check])}
        if check is not None:
            check.width = width
        generated = backend.model.generate(input_ids=ids, attention_mask=mask, generation_config=config, **extra)
    return [row[width:].tolist() for row in generated]


class _VerdictStop:
    """A per-row stopping criterion: every `every` tokens, each running row's text so far goes to `stop_when`."""

    every = 4

    def __init__(self, backend, rows: list[int], prior: list[list[int]], stop_when):
        self.backend, self.rows, self.prior, self.stop_when = backend, rows, prior, stop_when
        self.at: dict[int, int] = {}  # row -> new tokens it kept when it stopped
        self.width = 0
        self.steps = 0

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        self.steps += 1
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        if self.steps % self.every:
            return done
        stop_ids = self.backend.stop_ids
        for row in range(input_ids.shape[0]):
            if row in self.at:
                done[row] = True
                continue
            new = input_ids[row, self.width:].tolist()
            if any(t in stop_ids for t in new):
                continue  # ended by itself
            text = self.backend.tokenizer.decode(self.prior[row] + new, skip_special_tokens=True).strip()
            if self.stop_when(self.rows[row], text):
                self.at[row] = len(new)
                done[row] = True
        return done


def _partial(backend, prior: list[int], new: list[int], prompt_len: int) -> Partial:
    stop = next((k for k, t in enumerate(new) if t in backend.stop_ids), None)
    kept = prior + (new if stop is None else new[:stop])
    text = backend.tokenizer.decode(kept, skip_special_tokens=True).strip()
    return Partial(text=text, token_ids=tuple(kept), eos=stop is not None,
                   new_tokens=len(kept) + (stop is not None), prompt_tokens=prompt_len)
