"""`hf:` (hence `toy`, `smollm2`) continuing answers from their exact token ids, for verdict-aware decoding.

The prompt is encoded exactly as `generate()` encodes it, the answer's ids so far are appended, and greedy
decoding goes on; left padding and the attention mask are what `generate()` uses, so a continued answer is the
one an uninterrupted run gives (up to the float noise a different batch shape already brings to `generate()`).
"""
from __future__ import annotations

from typing import Callable, Sequence

from ..continuation import Partial
from .base import ChatRequest
from .hf_kv import Prefill, join, joinable, left_padded, trim_padding


def supports_continuation(backend) -> bool:
    """Not while an extension replaces generation (it may decide on the whole answer, not on a continuation)."""
    return all(ext.keeps_generation for ext in backend.extensions)


def continue_generation(backend, requests: Sequence[ChatRequest], partials: Sequence[Partial | None],
                        max_new_tokens: int, stop_when: Callable[[int, str], bool] | None = None,
                        on_done: Callable[[int, Partial], None] | None = None) -> list[Partial]:
    """`stop_when(i, text)`: checked every few tokens inside the call; an answer it accepts stops there and leaves
    the batch (greedy_pruned): no prefill is paid twice, and no row waits for the batch's longest.
    `on_done(i, partial)`: each answer as it ends; with it, the call takes more requests than one batch and keeps
    `batch_size` rows running, admitting waiting requests as rows end (continuous batching)."""
    backend._ready()
    prompts = backend.tokenizer([backend.render(r) for r in requests], add_special_tokens=False)["input_ids"]
    out: list[Partial | None] = [None] * len(requests)
    open_rows = []
    for i, p in enumerate(partials):
        if p is not None and (p.eos or p.new_tokens >= max_new_tokens):
            out[i] = p
            if on_done is not None:
                on_done(i, p)
        else:
            open_rows.append(i)
    prior = {i: list(partials[i].token_ids) if partials[i] is not None else [] for i in open_rows}
    if stop_when is None:
        steps: dict[int, list[int]] = {}  # how many more tokens -> rows; one generate() call each
        for i in open_rows:
            steps.setdefault(max_new_tokens - len(prior[i]), []).append(i)
        for step, rows in steps.items():
            grown = _generate(backend, [prompts[i] + prior[i] for i in rows], step)
            for i, new in zip(rows, grown):
                out[i] = _partial(backend, prior[i], new, len(prompts[i]))
        return out  # type: ignore[return-value]
    check = _VerdictStop(backend, open_rows, [prior[i] for i in open_rows], stop_when)

    def ended(row: int, new: list[int]) -> None:
        i = open_rows[row]
        out[i] = _partial(backend, prior[i], new, len(prompts[i]))
        if on_done is not None:
            on_done(i, out[i])
    greedy_pruned(backend, [prompts[i] + prior[i] for i in open_rows],
                  [max_new_tokens - len(prior[i]) for i in open_rows], check, ended,
                  slots=backend.batch_size if on_done is not None else len(open_rows))
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


def greedy_pruned(backend, sequences: list[list[int]], limits: list[int], check: "_VerdictStop",
                  ended: Callable[[int, list[int]], None], slots: int) -> None:
    """Greedy decoding, as `generate()` does it, of at most `slots` rows at once. A row leaves the batch (and its
    KV cache) once it ends, reaches its limit or `check` stops it, and `ended(row, new_ids)` gets its new tokens;
    waiting rows are admitted as others leave. So a batch costs what its running rows cost, not what its longest
    row costs, and stays full while rows wait."""
    import torch

    new: list[list[int]] = [[] for _ in sequences]
    stop_ids, pad = set(backend.stop_ids), backend.tokenizer.pad_token_id
    # shortest prompts first: rows admitted together are of similar length, so their prefill pads little
    waiting = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    live: list[int] = []  # batch position -> row
    cache = mask = logits = None
    with torch.no_grad():
        while True:
            free = slots - len(live)
            # admitting costs a prefill and a copy of the cache: worth it for a few rows at a time, not for one
            if waiting and (not live or (free >= max(1, slots // 8) and joinable(cache))):
                take, waiting = waiting[:free], waiting[free:]
                first = Prefill(backend.model, [sequences[i] for i in take], pad, backend.device)
                joined = (cache, mask, logits) if live else None
                cache, mask, logits = first.cache, first.mask, first.logits
                if joined is not None:
                    cache, mask, logits = join([joined, (cache, mask, logits)])
                live += [take[k] for k in first.rows]
            if not live:
                return
            chosen = logits.argmax(-1).tolist()
            keep = []
            for k, (row, token) in enumerate(zip(live, chosen)):
                new[row].append(token)
                if token not in stop_ids and len(new[row]) < limits[row] and not check.stops(row, new[row]):
                    keep.append(k)
                else:
                    ended(row, new[row])
            if not keep:
                live = []
                continue
            if len(keep) < len(live):
                index = torch.tensor(keep, device=mask.device)
                cache.batch_select_indices(index)
                mask, live = trim_padding(cache, mask[index]), [live[k] for k in keep]
            mask = torch.cat([mask, mask.new_ones((len(live), 1))], dim=1)
            tokens = torch.tensor([[new[row][-1]] for row in live], device=mask.device)
            out = backend.model(input_ids=tokens, attention_mask=mask, position_ids=mask.sum(-1, keepdim=True) - 1,
                                use_cache=True, **{first.cache_arg: cache})
            cache, logits = getattr(out, first.cache_arg), out.logits[:, -1, :]


class _VerdictStop:
    """Every `every` new tokens, a running row's text so far goes to `stop_when`."""

    every = 4

    def __init__(self, backend, rows: list[int], prior: list[list[int]], stop_when):
        self.backend, self.rows, self.prior, self.stop_when = backend, rows, prior, stop_when

    def stops(self, row: int, new: list[int]) -> bool:
        if len(new) % self.every:
            return False
        text = self.backend.tokenizer.decode(self.prior[row] + new, skip_special_tokens=True).strip()
        return bool(self.stop_when(self.rows[row], text))


def _partial(backend, prior: list[int], new: list[int], prompt_len: int) -> Partial:
    stop = next((k for k, t in enumerate(new) if t in backend.stop_ids), None)
    kept = prior + (new if stop is None else new[:stop])
    text = backend.tokenizer.decode(kept, skip_special_tokens=True).strip()
    return Partial(text=text, token_ids=tuple(kept), eos=stop is not None,
                   new_tokens=len(kept) + (stop is not None), prompt_tokens=prompt_len)
