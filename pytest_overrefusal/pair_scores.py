"""Scores of preference pairs (CHES, log p(chosen)), kept in the response cache beside the answers.

A score depends on the model (its fingerprint: weights, chat template, dtype), the kind of score and the pair's
texts, so those make the key. Scores are stored as JSON text rows of the same checksummed SQLite file, under keys of
their own schema, so they can never be mistaken for an answer.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Callable, Sequence

from .backends.base import Response
from .cache import ResponseCache
from .suite import PairCase

SCORE_SCHEMA = "pair-score/1"
_FINISH = "score"  # finish_reason of a stored score row


def score_key(fingerprint: str, kind: str, case: PairCase) -> str:
    payload = {"v": SCORE_SCHEMA, "model": fingerprint, "kind": kind, "prompt": case.prompt, "chosen": case.chosen,
               "rejected": case.rejected}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass
class ScoreCounts:
    computed: int = 0
    cached: int = 0


def cached_scores(cache: ResponseCache | None, backend, kind: str, cases: Sequence[PairCase],
                  compute: Callable[[list[PairCase]], Sequence], counts: ScoreCounts) -> list:
    """`compute(cases)` for the cases whose score is not cached yet; every value must be JSON (floats, lists)."""
    fingerprint = getattr(backend, "fingerprint", None)
    if cache is None or not fingerprint:
        counts.computed += len(cases)
        return list(compute(list(cases)))
    keys = [score_key(fingerprint, kind, c) for c in cases]
    with cache.generation_lock():  # an xdist worker waits, then reads what the other one computed
        found = cache.get_many(keys)
        todo = [i for i, k in enumerate(keys) if k not in found]
        fresh = list(compute([cases[i] for i in todo])) if todo else []
        cache.put_many(str(getattr(backend, "name", "")),
                       [(keys[i], Response(text=json.dumps(v), finish_reason=_FINISH)) for i, v in zip(todo, fresh)])
    counts.computed += len(todo)
    counts.cached += len(cases) - len(todo)
    values = {keys[i]: v for i, v in zip(todo, fresh)}
    return [values[k] if k in values else json.loads(found[k].text) for k in keys]
