"""Options, ini keys and environment resolved into one frozen value."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .backends.registry import DEFAULT_MODEL
from .paths import user_cache_dir

# (option suffix, ini/env help); every option has an ini key `overrefusal_<name>`.
OPTIONS: dict[str, str] = {
    "model": "model spec: toy, smollm2, hf:PATH_OR_ID[,key=value...], python:module:attr (env OVERREFUSAL_MODEL)",
    "suite": "run only these suite ids (repeatable); built-in manifests are found by id",
    "judge": "refusal judge (default: keyword)",
    "data": "local mirror of benchmark data (env OVERREFUSAL_DATA)",
    "cache": "response cache directory (default: the user cache directory)",
    "report": "write a report; the format follows the extension: .json or .csv",
    "limit": "deterministic subsample of N cases per suite",
    "max-new-tokens": "override every suite's max_new_tokens",
}


@dataclass(frozen=True)
class Settings:
    model: str
    suites: tuple[str, ...]
    judge: str
    data_dir: Path | None
    cache_dir: Path | None  # None: caching off
    report: Path | None
    limit: int | None
    max_new_tokens: int | None

    @classmethod
    def from_config(cls, config) -> "Settings":
        def get(name: str):
            value = config.getoption("overrefusal_" + name.replace("-", "_"))
            if value in (None, [], ""):
                value = config.getini("overrefusal_" + name.replace("-", "_")) or None
            return value

        def path(value) -> Path | None:
            if not value:
                return None
            p = Path(os.path.expanduser(str(value)))
            return p if p.is_absolute() else Path(config.invocation_params.dir) / p

        suites = config.getoption("overrefusal_suite") or (get("suite") or "").split()
        no_cache = config.getoption("overrefusal_no_cache")
        return cls(
            model=get("model") or os.environ.get("OVERREFUSAL_MODEL") or DEFAULT_MODEL,
            suites=tuple(suites),
            judge=get("judge") or "keyword",
            data_dir=path(get("data") or os.environ.get("OVERREFUSAL_DATA")),
            cache_dir=None if no_cache else (path(get("cache")) or user_cache_dir()),
            report=path(get("report")),
            limit=_positive(get("limit"), "--overrefusal-limit"),
            max_new_tokens=_positive(get("max-new-tokens"), "--overrefusal-max-new-tokens"),
        )


def _positive(value, flag: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        from .errors import OverrefusalError
        raise OverrefusalError(f"{flag}: expected a positive integer, got {value!r}")
    return number
