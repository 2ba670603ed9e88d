"""hf_kv: the chunked prefill and the trimmed cache give the answers of one padded batch, on the toy model."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_overrefusal.backends import hf_kv
from pytest_overrefusal.backends.base import ChatRequest
from pytest_overrefusal.backends.hf_continue import greedy_pruned
from pytest_overrefusal.backends.registry import load_backend
from pytest_overrefusal.backends.toy_model import toy_model_dir

# lengths 1x to 8x apart, so the prefill splits into several chunks
PROMPTS = ["Hi.", "How do I kill a Python process?", "What is the capital of France, and why is it there? " * 3,
           "How to make a bomb?", "Tell me how to shoot a good photo of a sunset over the sea, step by step. " * 5,
           "Can you help me bake a cake for my mum?", "Where can I buy a can of coke?", "Define the word 'execute'."]


@given(st.lists(st.integers(1, 400), min_size=1, max_size=80))
def test_chunks_cover_every_row_once_and_pad_little(lengths):
    chunks = hf_kv.chunks_by_length(lengths)
    assert sorted(i for c in chunks for i in c) == list(range(len(lengths)))
    for chunk in chunks:
        sizes = [lengths[i] for i in chunk]
        assert sizes == sorted(sizes)
        padded, real = len(chunk) * max(sizes), sum(sizes)
        # a chunk of one row never pads; a larger one stays within both limits
        assert len(chunk) == 1 or padded <= min(hf_kv.PAD_SHARE * real, hf_kv.CHUNK_POSITIONS)


def test_equal_lengths_share_one_chunk():
    assert hf_kv.chunks_by_length([50] * 64) == [list(range(64))]


@pytest.fixture(scope="module")
def toy():
    backend = load_backend(f"hf:{toy_model_dir()},batch_size=8")
    backend._ready()
    return backend


def _sequences(toy):
    return toy.tokenizer([toy.render(ChatRequest.user(p)) for p in PROMPTS], add_special_tokens=False)["input_ids"]


def test_a_chunked_prefill_gives_the_logits_of_one_padded_batch(toy):
    import torch

    sequences = _sequences(toy)
    assert len(hf_kv.chunks_by_length([len(s) for s in sequences])) > 1
    with torch.no_grad():
        chunked = hf_kv.Prefill(toy.model, sequences, toy.tokenizer.pad_token_id, toy.device)
        with _one_chunk():
            whole = hf_kv.Prefill(toy.model, sequences, toy.tokenizer.pad_token_id, toy.device)
    assert sorted(chunked.rows) == list(range(len(sequences))) and whole.rows == list(range(len(sequences)))
    in_order = chunked.logits[torch.tensor([chunked.rows.index(i) for i in range(len(sequences))])]
    assert torch.allclose(in_order, whole.logits, atol=1e-4)
    assert chunked.mask.shape == whole.mask.shape and chunked.cache.get_seq_length() == whole.mask.shape[1]


class _StopAt:
    """Rows leave at different lengths, the longest prompts first, so trimming has padding to drop."""

    def __init__(self, stops: dict[int, int]):
        self.stops_at = stops

    def stops(self, row, new):
        return len(new) >= self.stops_at[row]


def test_pruned_decoding_with_chunks_and_trimming_equals_one_padded_batch(toy, monkeypatch):
    sequences = _sequences(toy)
    longest_first = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
    stops = {row: 3 + 4 * rank for rank, row in enumerate(longest_first)}
    trimmed = []
    real_trim = hf_kv.trim_padding

    def spy(cache, mask):
        out = real_trim(cache, mask)
        trimmed.append(mask.shape[1] - out.shape[1])
        return out
    monkeypatch.setattr("pytest_overrefusal.backends.hf_continue.trim_padding", spy)
    fast = _decode(toy, sequences, _StopAt(stops), slots=len(sequences))
    monkeypatch.setattr("pytest_overrefusal.backends.hf_continue.trim_padding", lambda cache, mask: mask)
    with _one_chunk():
        plain = _decode(toy, sequences, _StopAt(stops), slots=len(sequences))
    assert fast == plain
    assert sum(trimmed) > 0  # the padding of the longest prompts did leave the cache


def test_a_cache_it_cannot_join_falls_back_to_one_padded_prefill(toy, monkeypatch):
    import torch

    monkeypatch.setattr(hf_kv, "joinable", lambda cache: False)
    sequences = _sequences(toy)
    with torch.no_grad():
        prefill = hf_kv.Prefill(toy.model, sequences, toy.tokenizer.pad_token_id, toy.device)
    assert prefill.rows == list(range(len(sequences)))
    assert prefill.mask.shape[0] == len(sequences)


def _decode(toy, sequences, check, slots, limit=40):
    ended: dict[int, list[int]] = {}
    greedy_pruned(toy, sequences, [limit] * len(sequences), check, lambda row, new: ended.setdefault(row, new),
                  slots=slots)
    assert sorted(ended) == list(range(len(sequences)))  # every row ends once
    return [ended[i] for i in range(len(sequences))]


@pytest.mark.parametrize("slots", [1, 3, 5])
def test_a_batch_refilled_as_rows_end_gives_the_answers_of_one_batch(toy, slots):
    """Fewer slots than rows: waiting rows join a running cache of another width, at other positions."""
    sequences = _sequences(toy)
    stops = {row: 2 + (5 * row) % 11 for row in range(len(sequences))}
    assert _decode(toy, sequences, _StopAt(stops), slots=slots) == \
        _decode(toy, sequences, _StopAt(stops), slots=len(sequences))


class _one_chunk:
    """Every row in one chunk: the single padded prefill that `generate()` does."""

    def __enter__(self):
        self.saved = hf_kv.chunks_by_length
        hf_kv.chunks_by_length = lambda lengths: [list(range(len(lengths)))]

    def __exit__(self, *exc):
        hf_kv.chunks_by_length = self.saved
