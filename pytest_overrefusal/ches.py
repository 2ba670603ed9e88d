"""CHES (centered hidden embedding similarity) of preference pairs (methods.md section 4).

Lives in the plugin because preference-pair suites score with it; `mitigations.ches` adds the filters and the
preference-file reader on top.

For a pair (x, y+, y-), S+ and S- are sums of the model's final hidden states (the vectors the unembedding
multiplies) over the positions that predict each response token:

    CHES    = <S+, S-> - |S+|^2
    ln-CHES = <S+, S->/(|y+| |y-|) - |S+|^2/|y+|^2

Position convention (methods.md 4.1 leaves two): the |y| positions from the last prompt token (which predicts y_1)
to the token before the last response token. No end-of-turn token is appended, so a one-token response sums exactly
the last prompt state and two one-token responses give CHES = 0.

Input: the chat template with the generation prompt, then the response text; prompt and response are tokenized
separately (`add_special_tokens=False`) and concatenated, so the prompt/response boundary never depends on how the
tokenizer would merge across it. Sequences are right-padded in batches (real tokens keep positions 0..n-1, so a
padded row sees exactly what it would see alone); sums and inner products are taken in float64 because raw CHES
overflows float16/bfloat16 on large models (unintentional-unalignment issue #1).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from pytest_overrefusal.errors import OverrefusalError

RenderPrompt = Callable[[str], str]


class ChesError(OverrefusalError):
    """Preference data or a model that CHES cannot use."""


@dataclass(frozen=True)
class Pair:
    prompt: str
    chosen: str
    rejected: str
    id: str = ""


@dataclass(frozen=True)
class ChesScore:
    ches: float
    ln_ches: float
    chosen_tokens: int
    rejected_tokens: int


# ---------------------------------------------------------------- scoring

def chat_renderer(tokenizer, system: str | None = None) -> RenderPrompt:
    """The user prompt through the tokenizer's chat template, ending with the assistant generation prompt."""
    def render(prompt: str) -> str:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return render


def score_pairs(model, tokenizer, pairs: Sequence[Pair], *, render: RenderPrompt | None = None,
                batch_size: int = 16) -> list[ChesScore]:
    """CHES and ln-CHES for every pair, `batch_size` pairs (2 x batch_size rows) per forward pass; results come
    back in input order."""
    import torch

    render = render or chat_renderer(tokenizer)
    prompts = _ids(tokenizer, [render(p.prompt) for p in pairs])
    responses = _ids(tokenizer, [text for p in pairs for text in (p.chosen, p.rejected)])
    sequences = []  # (prompt ids, response ids), chosen and rejected interleaved: row 2i is y+, 2i+1 is y-
    for index, pair in enumerate(pairs):
        for response_ids in responses[2 * index:2 * index + 2]:
            if not prompts[index] or not response_ids:
                what = "prompt" if not prompts[index] else "response"
                raise ChesError(f"pair {pair.id or index}: empty {what} after tokenization; CHES needs at least "
                                f"one token on each side")
            sequences.append((prompts[index], response_ids))
    sums = torch.zeros(len(sequences), _hidden_size(model), dtype=torch.float64)
    # longest first so each batch pads little; a pair's two rows may land in different batches
    order = sorted(range(len(sequences)), key=lambda i: -sum(map(len, sequences[i])))
    for start in range(0, len(order), 2 * batch_size):
        rows = order[start:start + 2 * batch_size]
        sums[rows] = response_state_sums(model, [sequences[i] for i in rows], _pad_id(tokenizer))
    return [_score(sums[2 * i], sums[2 * i + 1], len(sequences[2 * i][1]), len(sequences[2 * i + 1][1]))
            for i in range(len(pairs))]


def response_state_sums(model, sequences: Sequence[tuple[list[int], list[int]]], pad_id: int):
    """float64 (rows, hidden) sums of final hidden states over the positions predicting each response token."""
    import torch

    width = max(len(p) + len(r) for p, r in sequences)
    device = next(model.parameters()).device
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    weights = torch.zeros((len(sequences), width), dtype=torch.float64)
    for row, (prompt_ids, response_ids) in enumerate(sequences):
        n = len(prompt_ids) + len(response_ids)
        ids[row, :n] = torch.tensor(prompt_ids + response_ids)
        # positions len(prompt)-1 .. n-2 predict response tokens 1..|y|
        weights[row, len(prompt_ids) - 1:n - 1] = 1.0
    # No attention mask: with right padding the pads come after every real token, and causal attention never
    # looks ahead, so real positions are unaffected; without a mask the model takes its plain causal path and
    # skips building a padded 4-D mask (environment.md: ~70% of a tiny GPT-2 forward pass in one profile).
    with torch.no_grad():
        out = model(input_ids=ids.to(device), output_hidden_states=True, **_skip_logits(model))
    hidden = out.hidden_states[-1].to(torch.float64).cpu()
    return torch.einsum("rw,rwd->rd", weights, hidden)


def _skip_logits(model) -> dict:
    """Only the hidden states are needed: ask for one position's logits instead of vocab x sequence of them
    (SmolLM2's 49k x 576 head is about a fifth of its weights)."""
    import inspect

    accepts = "logits_to_keep" in inspect.signature(model.forward).parameters
    return {"logits_to_keep": 1} if accepts else {}


def ches_from_sums(s_chosen, s_rejected, n_chosen: int, n_rejected: int) -> tuple[float, float]:
    """(CHES, ln-CHES) from the two float64 sums."""
    dot = float(s_chosen @ s_rejected)
    square = float(s_chosen @ s_chosen)
    return dot - square, dot / (n_chosen * n_rejected) - square / (n_chosen * n_chosen)


def _score(s_chosen, s_rejected, n_chosen: int, n_rejected: int) -> ChesScore:
    ches, ln_ches = ches_from_sums(s_chosen, s_rejected, n_chosen, n_rejected)
    return ChesScore(ches=ches, ln_ches=ln_ches, chosen_tokens=n_chosen, rejected_tokens=n_rejected)


def _ids(tokenizer, texts: list[str]) -> list[list[int]]:
    """One batched tokenizer call (the fast tokenizers encode a list in one go)."""
    if not texts:
        return []
    return [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def _pad_id(tokenizer) -> int:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return int(pad) if pad is not None else 0  # padded positions are masked and weightless; any id will do


def _hidden_size(model) -> int:
    config = model.config
    size = getattr(config, "hidden_size", None) or getattr(config.get_text_config(), "hidden_size", None)
    if not size:
        raise ChesError(f"{type(model).__name__}: config has no hidden_size; CHES needs a causal LM's hidden states")
    return int(size)


def score_with_backend(backend, pairs: Sequence[Pair], system: str | None = None) -> list[ChesScore]:
    """Score with a loaded model under test; only backends with local weights expose hidden states."""
    from pytest_overrefusal.backends.base import ChatRequest, require

    require(backend, "hidden_states", "CHES", ChesError)
    return score_pairs(backend.model, backend.tokenizer, pairs,
                       render=lambda prompt: backend.render(ChatRequest.user(prompt, system=system)),
                       # two rows per pair: the backend's batch size (its memory budget) counts rows
                       batch_size=max(1, int(getattr(backend, "batch_size", 32)) // 2))
