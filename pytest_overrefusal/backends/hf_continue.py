"""`hf:` (hence `toy`, `smollm2`) continuing answers from their exact token ids, for verdict-aware decoding.

The prompt is encoded exactly as `generate()` encodes it, the answer's ids so far are appended, and greedy
decoding goes on; left padding and the attention mask are what `generate()` uses, so a continued answer is the
one an uninterrupted run gives (up to the float noise a different batch shape already brings to `generate()`).
"""
from __future__ import annotations

from typing import Callable, Sequence

from ..continuation import Partial
from .base import ChatRequest
from .hf_kv import Prefill, left_padded, trim_padding


def supports_continuation(backend) -> bool:
    """Not while an extension replaces generation (it may decide on the whole answer, not on a continuation)."""
    return all(ext.keeps_generation for ext in backend.extensions)


def continue_generation(backend, requests: Sequence[ChatRequest], partials: Sequence[Partial | None],
                        max_new_tokens: int, stop_when: Callable[[int, str], bool] | None = None) -> list[Partial]:
    """`stop_when(i, text)`: checked every few tokens inside the call; an answer it accepts stops there and leaves
    the batch (greedy_pruned): no prefill is paid twice, and no row waits for the batch's longest."""
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
        sequences = [prompts[i] + ids for i, ids in zip(rows, prior)]
        grown = _generate(backend, sequences, step) if check is None else greedy_pruned(backend, sequences, step, check)
        for row, (i, ids, new) in enumerate(zip(rows, prior, grown)):
            if check is not None and row in check.at:
                new = new[:check.at[row]]
            out[i] = _partial(backend, ids, new, len(prompts[i]))
    return out  # type: ignore[return-value]


def _generate(backend, sequences: list[list[int]], step: int) -> list[list[int]]:
    import torch
    from transformers import GenerationConfig

    ids, mask = left_padded(sequences, backend.tokenizer.pad_token_id, backend.device)
    width = ids.shape[1]
    config = GenerationConfig(max_new_tokens=step, do_sample=False, pad_token_id=backend.tokenizer.pad_token_id,
                              eos_token_id=list(backend.stop_ids))
    with torch.no_grad():
        generated = backend.model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
    return [row[width:].tolist() for row in generated]


def greedy_pruned(backend, sequences: list[list[int]], step: int, check: "_VerdictStop") -> list[list[int]]:
    """Greedy decoding, as `generate()` does it, that drops each row from the batch (and its KV cache) once it
    ends or `check` stops it, so a batch costs what its running rows cost, not what its longest row costs."""
    import torch

    new: list[list[int]] = [[] for _ in sequences]
    stop_ids = set(backend.stop_ids)
    with torch.no_grad():
        first = Prefill(backend.model, sequences, backend.tokenizer.pad_token_id, backend.device)
        cache, mask, logits, live = first.cache, first.mask, first.logits, first.rows  # live: batch position -> row
        for n in range(1, step + 1):
            chosen = logits.argmax(-1).tolist()
            keep = []
            for k, (row, token) in enumerate(zip(live, chosen)):
                new[row].append(token)
                if token not in stop_ids and n < step and not check.stops(row, new[row]):
                    keep.append(k)
            if not keep:
                break
            if len(keep) < len(live):
                index = torch.tensor(keep, device=mask.device)
                cache.batch_select_indices(index)
                mask, live = trim_padding(cache, mask[index]), [live[k] for k in keep]
            mask = torch.cat([mask, mask.new_ones((len(live), 1))], dim=1)
            tokens = torch.tensor([[new[row][-1]] for row in live], device=mask.device)
            out = backend.model(input_ids=tokens, attention_mask=mask, position_ids=mask.sum(-1, keepdim=True) - 1,
                                use_cache=True, **{first.cache_arg: cache})
            cache, logits = getattr(out, first.cache_arg), out.logits[:, -1, :]
    return new


class _VerdictStop:
    """Every `every` new tokens, a running row's text so far goes to `stop_when`; `at` keeps where each stopped."""

    every = 4

    def __init__(self, backend, rows: list[int], prior: list[list[int]], stop_when):
        self.backend, self.rows, self.prior, self.stop_when = backend, rows, prior, stop_when
        self.at: dict[int, int] = {}  # row -> new tokens it kept when it stopped

    def stops(self, row: int, new: list[int]) -> bool:
        if len(new) % self.every:
            return False
        text = self.backend.tokenizer.decode(self.prior[row] + new, skip_special_tokens=True).strip()
        if self.stop_when(self.rows[row], text):
            self.at[row] = len(new)
            return True
        return False


def _partial(backend, prior: list[int], new: list[int], prompt_len: int) -> Partial:
    stop = next((k for k, t in enumerate(new) if t in backend.stop_ids), None)
    kept = prior + (new if stop is None else new[:stop])
    text = backend.tokenizer.decode(kept, skip_special_tokens=True).strip()
    return Partial(text=text, token_ids=tuple(kept), eos=stop is not None,
                   new_tokens=len(kept) + (stop is not None), prompt_tokens=prompt_len)
