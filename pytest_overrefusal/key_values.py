"""`key=value` lists (a model spec's options, `mitigate --option`) -> a dict, parsed one way everywhere."""
from __future__ import annotations

from typing import Callable, Iterable


def parse_key_values(items: Iterable[str], bad: Callable[[str], Exception]) -> dict[str, str]:
    """Each `key=value` item -> {key: value}, both stripped, a later key winning; an item without `=` or with an
    empty key raises `bad(item)`, the caller's one-line error naming where the item came from."""
    options: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise bad(item)
        options[key.strip()] = value.strip()
    return options


TRUE, FALSE = ("1", "true", "yes"), ("0", "false", "no")


def boolean_value(raw: str) -> bool:
    """An option's true/false value (1/0, true/false, yes/no, any case); anything else raises ValueError."""
    word = raw.strip().lower()
    if word not in TRUE + FALSE:
        raise ValueError("must be true or false")
    return word in TRUE
