"""Control-token schemes for training: `[respond]` plus one `[refuse]`, or one token per CoCoNot category.

The scheme is written beside the weights as `refusal_tokens.json` (read back by the `hf:` steering options); ids
are always looked up in the folder's own tokenizer, so the file stays valid whatever ids were assigned.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from .inference import (RESPOND, TOKEN_FILE, TokenScheme, read_scheme,
                                                           token_ids)
from pytest_overrefusal.api import OverrefusalError

__all__ = ["CATEGORIES", "REFUSE", "RESPOND", "TOKEN_FILE", "TokenScheme", "add_tokens", "binary", "categorical",
           "read_scheme", "save_scheme", "token_ids"]

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
