"""Control-token schemes for training: `[respond]` plus one `[refuse]`, or one token per CoCoNot category.

The scheme is written beside the weights as `refusal_tokens.json` (read back by the `hf:` steering options); ids
are always looked up in the folder's own tokenizer, so the file stays valid whatever ids were assigned.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from .inference import (RESPOND, TOKEN_FILE, TokenScheme, read_scheme,
                                                           token_ids)
from pytest_overrefusal.api import OverrefusalError

__all__ = ["CATEGORIES", "REFUSE", "RESPOND", "TOKEN_FILE", "TokenScheme", "add_tokens", "binary", "categorical",
           "read_scheme", "save_scheme", "start_at_first_replies", "token_ids"]

REFUSE = "refuse"

#: short name -> token string: the 5 CoCoNot top-level categories (methods.md 3.1), each registered whole
#: as one special token (upstream used the last sub-token of each string instead).
CATEGORIES: dict[str, str] = {
    "incomplete": "[Incomplete requests]",
    "indeterminate": "[Indeterminate requests]",
    "safety": "[Requests with safety concerns]",
    "humanizing": "[Humanizing requests]",
    "unsupported": "[Unsupported requests]",
}


def binary() -> TokenScheme:
    return TokenScheme(refusals=((REFUSE, "[refuse]"),))


def categorical(names: Iterable[str] = tuple(CATEGORIES)) -> TokenScheme:
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in CATEGORIES]
    if unknown or not names:
        raise OverrefusalError(f"unknown refusal category {', '.join(unknown) or '(none given)'}; "
                               f"choose from {', '.join(CATEGORIES)}")
    return TokenScheme(refusals=tuple((n, CATEGORIES[n]) for n in names))


def save_scheme(model_dir: Path, scheme: TokenScheme) -> None:
    (Path(model_dir) / TOKEN_FILE).write_text(json.dumps(scheme.to_json(), indent=1) + "\n", encoding="utf-8")


def add_tokens(model, tokenizer, scheme: TokenScheme) -> dict[str, int]:
    """Register the control tokens as special tokens (so decoding drops them), grow the embeddings to match, and
    return name -> id. Tokens the tokenizer already has keep their ids, so a trained folder can be trained again."""
    tokenizer.add_tokens(scheme.tokens(), special_tokens=True)
    if model.get_input_embeddings().weight.shape[0] < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    return token_ids(tokenizer, scheme, "the tokenizer")


def start_at_first_replies(model, new_ids: Mapping[str, int], firsts: Sequence[tuple[str, int, float]]) -> None:
    """Move each newly added control token's embedding (input, and output when untied) to the weighted mean of the
    embeddings of the first reply tokens it labels; `firsts` holds (label, first reply token id, weight) per row.

    Why: resizing puts a new token at the mean embedding, where it gets almost no first-position probability, and a
    short fine-tune cannot lift it (SmolLM2-135M, 19 steps at lr 1e-3: 0.016 of the mass on both tokens, so no
    threshold ever fired). Started here, the tokens take the mass the base gave those first words, split as the base
    split them, and training only sharpens the split. A label without rows keeps the default start."""
    import torch

    tables = [model.get_input_embeddings().weight]
    output = model.get_output_embeddings()
    if output is not None and output.weight.data_ptr() != tables[0].data_ptr():
        tables.append(output.weight)
    with torch.no_grad():
        for name, token_id in new_ids.items():
            rows = [(first, weight) for label, first, weight in firsts if label == name and weight > 0]
            if not rows:
                continue
            index = torch.tensor([first for first, _ in rows])
            weight = torch.tensor([w for _, w in rows], dtype=tables[0].dtype).unsqueeze(1)
            for table in tables:
                table[token_id] = (table[index] * weight).sum(0) / weight.sum()
