"""The KV cache of `greedy_pruned`: a prefill that pays for real prompt tokens, not for padding, and a cache that
drops the padding columns no running row needs any more.

A batch padded to its longest prompt pays for every pad position in the prefill, and then attends over them at
every step. Prompts of one batch vary a lot (evorefuse-test: 39 to 218 tokens at batch 64, so 13,952 padded
positions for 4,571 real ones), so the prefill runs in chunks of similar length and their caches are joined into
one left-padded cache. Pad positions are masked either way, so the answers are the ones a single padded prefill
gives, up to the float noise any change of batch shape brings.

Only a plain `DynamicCache` of full-attention layers is joined or trimmed: a sliding-window or quantised cache keeps
the single padded prefill (`prefill` falls back to it by itself).
"""
from __future__ import annotations

import inspect

# a chunk grows while its padded size stays within this share of its real tokens, and within a fixed number of
# positions (the prefill's attention scores grow with rows x length^2)
PAD_SHARE = 1.15
CHUNK_POSITIONS = 4096


def chunks_by_length(lengths: list[int]) -> list[list[int]]:
    """Indices into `lengths`, in ascending length, cut into runs whose padding is small."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out: list[list[int]] = []
    real = 0
    for i in order:
        grown = len(out[-1]) + 1 if out else 0
        if out and grown * lengths[i] <= min(PAD_SHARE * (real + lengths[i]), CHUNK_POSITIONS):
            out[-1].append(i)
            real += lengths[i]
        else:
            out.append([i])
            real = lengths[i]
    return out


def left_padded(sequences: list[list[int]], pad: int, device):
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.tensor([[pad] * (width - len(s)) + s for s in sequences], device=device)
    mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in sequences], device=device)
    return ids, mask


class Prefill:
    """`cache`, `mask` and the last position's `logits` of every row, rows in the order `rows` gives."""

    def __init__(self, model, sequences: list[list[int]], pad: int, device):
        params = inspect.signature(model.forward).parameters
        # transformers renamed `past_key_values` to `cache` (5.2x); the vLLM environment pins an earlier release
        self.cache_arg = "cache" if "cache" in params else "past_key_values"
        self._keep = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
        self.model, self.pad, self.device = model, pad, device
        groups = chunks_by_length([len(s) for s in sequences])
        parts = [self._forward([sequences[i] for i in groups[0]])]
        if len(groups) > 1 and not joinable(parts[0][0]):  # known after one chunk: the rest would be wasted
            groups, parts = [list(range(len(sequences)))], [self._forward(sequences)]
        parts += [self._forward([sequences[i] for i in rows]) for rows in groups[1:]]
        self.rows = [i for rows in groups for i in rows]
        self.cache, self.mask, self.logits = join(parts) if len(parts) > 1 else parts[0]

    def _forward(self, sequences: list[list[int]]):
        ids, mask = left_padded(sequences, self.pad, self.device)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                         use_cache=True, **self._keep)
        return getattr(out, self.cache_arg), mask, out.logits[:, -1, :]


def joinable(cache) -> bool:
    layers = getattr(cache, "layers", None)
    return type(cache).__name__ == "DynamicCache" and bool(layers) and \
        all(type(layer).__name__ == "DynamicLayer" and getattr(layer, "keys", None) is not None for layer in layers)


def join(parts):
    import torch
    import torch.nn.functional as F

    width = max(mask.shape[1] for _, mask, _ in parts)
    cache = parts[0][0]
    for n, layer in enumerate(cache.layers):
        for name in ("keys", "values"):
            setattr(layer, name, torch.cat([F.pad(getattr(c.layers[n], name), (0, 0, width - m.shape[1], 0))
                                            for c, m, _ in parts]))
    mask = torch.cat([F.pad(m, (width - m.shape[1], 0)) for _, m, _ in parts])
    return cache, mask, torch.cat([logits for _, _, logits in parts])


def trim_padding(cache, mask):
    """Drop the leading columns that are padding in every running row (once the longest prompts have left)."""
    if not joinable(cache):
        return mask
    cut = int((mask.cumsum(-1) == 0).sum(-1).min())
    if cut == 0:
        return mask
    for layer in cache.layers:
        layer.keys, layer.values = layer.keys[:, :, cut:], layer.values[:, :, cut:]
    return mask[:, cut:]
