"""`@pytest.mark.overrefusal(suite=...)`: run a suite from a user's own Python test."""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from .catalog import resolve_suite
from .errors import SuiteError
from .gates import SuiteOutcome, outcome
from .pair_results import PairOutcome
from .sources import load_cases, load_pair_cases
from .suite import load_manifest
from .textfiles import show

_KEYS = {"suite", "max_refusal_rate", "min_refusal_rate", "statistic", "confidence", "limit",
         "max_flagged_fraction"}
_RATE_KEYS = {"max_refusal_rate", "min_refusal_rate", "statistic", "confidence"}


def outcome_for_marker(config, run, marker, backend) -> tuple[SuiteOutcome, bool]:
    kwargs = dict(marker.kwargs)
    if marker.args:
        kwargs.setdefault("suite", marker.args[0])
    unknown = sorted(set(kwargs) - _KEYS)
    if unknown:
        raise SuiteError(f"overrefusal marker: unknown argument(s) {', '.join(unknown)}; "
                         f"allowed: {', '.join(sorted(_KEYS))}")
    ref = kwargs.get("suite")
    if not isinstance(ref, str):
        raise SuiteError("overrefusal marker needs suite='ID' or suite='path/to/manifest.yaml'")
    check_marker_values(kwargs)
    path = resolve_suite(ref, project=Path(config.rootpath))
    suite = run.suites.get(ref) or load_manifest(path)
    if suite.kind == "preference":
        return _pair_outcome(run, suite, kwargs, backend)
    if "max_flagged_fraction" in kwargs:
        raise SuiteError(f"overrefusal marker: max_flagged_fraction applies to preference suites only; {suite.id} "
                         f"is a prompt suite (use max_refusal_rate or min_refusal_rate)")
    cases = load_cases(suite, run.settings.data_dir, kwargs.get("limit") or run.settings.limit)
    results = run.kind(suite).results_for(suite, cases, backend)
    gate_keys = {"max_refusal_rate", "min_refusal_rate", "statistic", "confidence"} & set(kwargs)
    gate = suite.gate
    if gate_keys:
        overrides = {k: kwargs[k] for k in gate_keys}
        if "max_refusal_rate" in overrides:
            overrides.setdefault("min_refusal_rate", None)
        if "min_refusal_rate" in overrides:
            overrides.setdefault("max_refusal_rate", None)
        gate = replace(gate, **overrides)
    return outcome(suite, results, gate), bool(gate_keys & {"max_refusal_rate", "min_refusal_rate"})


def check_marker_values(kwargs: dict) -> None:
    """The manifest's checks for the values a marker overrides: a rate of 2 or a limit of -1 would otherwise
    change the gate (or every case) without a word. An unknown `statistic` is named by the gate itself."""
    def fail(key: str, problem: str) -> None:
        raise SuiteError(f"overrefusal marker (suite={show(kwargs.get('suite'))}): {key}={show(kwargs[key])} "
                         f"{problem}; fix the @pytest.mark.overrefusal arguments")

    def number(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    for key in ("max_refusal_rate", "min_refusal_rate", "max_flagged_fraction"):
        if key in kwargs and not (number(kwargs[key]) and 0 <= kwargs[key] <= 1):
            fail(key, "must be a number between 0 and 1")
    if "confidence" in kwargs and not (number(kwargs["confidence"]) and 0 < kwargs["confidence"] < 1):
        fail("confidence", "must be a number strictly between 0 and 1")
    limit = kwargs.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        fail("limit", "must be a positive integer (or left out)")


def _pair_outcome(run, suite, kwargs: dict, backend):
    """A preference suite under the marker: its pairs scored (shared with its own items), its flagged-share gate."""
    wrong = sorted(_RATE_KEYS & set(kwargs))
    if wrong:
        raise SuiteError(f"overrefusal marker: {', '.join(wrong)} does not apply to preference suite {suite.id}; "
                         f"use max_flagged_fraction")
    cases = load_pair_cases(suite, run.settings.data_dir, kwargs.get("limit") or run.settings.limit)
    results = run.kind(suite).results_for(suite, cases, backend)
    gated = "max_flagged_fraction" in kwargs
    if gated:
        suite = replace(suite, gate=replace(suite.gate, max_flagged_fraction=kwargs["max_flagged_fraction"]))
    return PairOutcome(suite, tuple(results)), gated
