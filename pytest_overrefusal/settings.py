"""Options, ini keys and environment resolved into one frozen value."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .backends.registry import DEFAULT_MODEL
from .catalog import data_folder
from .paths import user_cache_dir
from .textfiles import cap

# (option suffix, ini/env help); every option has an ini key `overrefusal_<name>`.
OPTIONS: dict[str, str] = {
    "model": ("model spec: toy, smollm2, hf:PATH_OR_ID[,key=value...], openai:MODEL@BASE_URL, vllm:PATH, "
              "lmeval:NAME:ARGS, python:module:attr (env OVERREFUSAL_MODEL)"),
    "suite": "run only these suite ids (repeatable); built-in manifests are found by id",
    "judge": "refusal judge (default: keyword)",
    "data": "local mirror of benchmark data (env OVERREFUSAL_DATA)",
    "cache": "response cache directory (default: the user cache directory)",
    "report": "write a report; the format follows the extension: .json, .csv, .parquet or .html",
    "limit": "deterministic subsample of N cases per suite",
    "max-new-tokens": "override every suite's max_new_tokens",
    "baseline": "compare case by case with a saved baseline; a significant regression fails the gate",
    "save-baseline": "save this run's per-case verdicts as a baseline file",
    "alpha": "significance level of the baseline comparison (default 0.05)",
    "tolerance": "also fail when a suite's mismatch rate rises by more than this against the baseline",
    "decoding": ("verdict (default: stop each greedy answer once the judge's refused flag is settled, where judge "
                 "and model support it) or full (every answer to its end or token limit)"),
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
    baseline: Path | None = None
    save_baseline: Path | None = None
    alpha: float = 0.05
    tolerance: float | None = None
    force_baseline: bool = False
    cache_source: str = "--overrefusal-cache"  # where cache_dir came from, for messages
    decoding: str = "verdict"  # "verdict" | "full" (progressive.py)


    @classmethod
    def from_config(cls, config) -> "Settings":
        sources: dict[str, str] = {}  # option name -> where its value came from, for messages

        def get(name: str):
            key = "overrefusal_" + name.replace("-", "_")
            value = config.getoption(key)
            if value in (None, [], ""):
                value = config.getini(key) or None
                if value is not None:  # a bad ini value must be blamed on the ini file, not on a flag never typed
                    sources[name] = f"ini option {key} in {config.inipath or 'the ini file'}"
            return value

        def flag(name: str) -> str:
            return sources.get(name, f"--overrefusal-{name}")

        def path(value) -> Path | None:
            if not value:
                return None
            p = Path(os.path.expanduser(str(value)))
            return p if p.is_absolute() else Path(config.invocation_params.dir) / p

        suites = config.getoption("overrefusal_suite") or (get("suite") or "").split()
        no_cache = config.getoption("overrefusal_no_cache")
        cache_source = ("--overrefusal-cache" if config.getoption("overrefusal_cache") else
                        "ini overrefusal_cache" if get("cache") else _default_cache_source())
        return cls(
            model=get("model") or os.environ.get("OVERREFUSAL_MODEL") or DEFAULT_MODEL,
            suites=tuple(suites),
            judge=get("judge") or "keyword",
            data_dir=data_folder(get("data"), config.invocation_params.dir),
            cache_dir=None if no_cache else (path(get("cache")) or user_cache_dir()),
            report=path(get("report")),
            limit=_positive(get("limit"), flag("limit")),
            max_new_tokens=_positive(get("max-new-tokens"), flag("max-new-tokens")),
            baseline=path(get("baseline")),
            save_baseline=path(get("save-baseline")),
            alpha=_fraction(get("alpha"), flag("alpha"), 0.05),
            tolerance=_fraction(get("tolerance"), flag("tolerance"), None),
            force_baseline=bool(config.getoption("overrefusal_force_baseline")),
            cache_source=cache_source,
            decoding=_decoding(get("decoding"), flag("decoding")),
        )


def _default_cache_source() -> str:
    if os.environ.get("OVERREFUSAL_HOME"):
        return "OVERREFUSAL_HOME"
    return "XDG_CACHE_HOME (the default cache folder)" if os.environ.get("XDG_CACHE_HOME") else \
        "the default cache folder"


def _positive(value, flag: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        from .errors import OverrefusalError
        raise OverrefusalError(f"{flag}: expected a positive integer, got {cap(str(value), 80)!r}")
    return number


def _fraction(value, flag: str, default):
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not 0.0 <= number <= 1.0:
        from .errors import OverrefusalError
        raise OverrefusalError(f"{flag}: expected a number between 0 and 1, got {cap(str(value), 80)!r}")
    return number


def _decoding(value, flag: str = "--overrefusal-decoding") -> str:
    if value in (None, ""):
        return "verdict"
    text = str(value).strip().lower()
    if text not in ("verdict", "full"):
        from .errors import OverrefusalError
        raise OverrefusalError(f"{flag}: expected verdict or full, got {cap(str(value), 80)!r}")
    return text
