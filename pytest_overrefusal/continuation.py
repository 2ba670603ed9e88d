"""Answers generated so far, and the cache table that keeps them so a later run continues instead of restarting.

A backend that can continue an answer (`"continue"` in its `capabilities`) offers
`continue_generation(requests, partials, max_new_tokens) -> list[Partial]`: each answer grown to
`max_new_tokens` new tokens in all (or to its end), going on from `partials[i]` (None: from the start).

The table `partials` sits beside `responses` in the same SQLite file. Its key leaves out `max_new_tokens`: greedy
answers to the same prompt at different budgets share their start, so one stopped on its verdict, or cut at a
smaller budget, is continued by a `full` run or a larger budget. Old caches simply lack the table until a
verdict run adds it; the `responses` table is unchanged, and complete answers still go there as before.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Sequence

from .backends.base import ChatRequest, has_capability

PARTIAL_SCHEMA = 1


@dataclass(frozen=True)
class Partial:
    text: str  # the answer so far, as the judge sees it
    token_ids: tuple[int, ...] = ()  # generated ids, stop token excluded (empty: the backend continues from text)
    eos: bool = False  # the model ended the answer
    new_tokens: int = 0  # tokens generated so far, a stop token included (as Response.completion_tokens)
    prompt_tokens: int = 0


def can_continue(backend) -> bool:
    return has_capability(backend, "continue")


def partial_key(fingerprint: str, request: ChatRequest) -> str:
    sampling = {k: v for k, v in request.sampling.key().items() if k != "max_new_tokens"}
    payload = {"v": PARTIAL_SCHEMA, "kind": "partial", "model": fingerprint, "messages": request.messages,
               "sampling": sampling}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _checksum(key: str, p: Partial) -> str:
    body = [key, p.text, list(p.token_ids), p.eos, p.new_tokens]
    return hashlib.sha256(json.dumps(body, ensure_ascii=False).encode()).hexdigest()[:16]


class PartialStore:
    """Reads and writes the `partials` table through an open ResponseCache's connection."""

    def __init__(self, cache):
        self.cache = cache
        try:
            cache._db.execute(
                "CREATE TABLE IF NOT EXISTS partials (key TEXT PRIMARY KEY, model TEXT NOT NULL, text TEXT NOT NULL, "
                "token_ids TEXT NOT NULL, eos INTEGER NOT NULL, new_tokens INTEGER NOT NULL, prompt_tokens INTEGER, "
                "created REAL, checksum TEXT NOT NULL)")
        except sqlite3.DatabaseError as exc:
            raise cache._failure(exc) from None

    def get_many(self, keys: Sequence[str]) -> dict[str, Partial]:
        found: dict[str, Partial] = {}
        try:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start:start + 500])
                rows = self.cache._db.execute(
                    f"SELECT key, text, token_ids, eos, new_tokens, prompt_tokens, checksum FROM partials "
                    f"WHERE key IN ({','.join('?' * len(chunk))})", chunk).fetchall()
                for key, text, ids, eos, new, ptoks, checksum in rows:
                    try:
                        p = Partial(text, tuple(int(t) for t in json.loads(ids)), bool(eos), int(new), ptoks or 0)
                    except (TypeError, ValueError):
                        p = None
                    if p is None or checksum != _checksum(key, p):  # a damaged row is only a lost head start
                        continue
                    found[key] = p
        except sqlite3.DatabaseError as exc:
            raise self.cache._failure(exc) from None
        return found

    def put_many(self, model: str, items: Sequence[tuple[str, Partial]]) -> None:
        now = time.time()
        rows = []
        for key, p in items:
            try:
                p.text.encode("utf-8")
            except UnicodeEncodeError:  # SQLite cannot hold a lone surrogate; the answer is kept for this run
                continue
            rows.append((key, model, p.text, json.dumps(list(p.token_ids)), int(p.eos), p.new_tokens,
                         p.prompt_tokens, now, _checksum(key, p)))
        if not rows:
            return
        db = self.cache._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                # a shorter start (a smaller budget's run) never replaces a longer one
                db.executemany("INSERT INTO partials (key, model, text, token_ids, eos, new_tokens, prompt_tokens, "
                               "created, checksum) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                               "model=excluded.model, text=excluded.text, token_ids=excluded.token_ids, "
                               "eos=excluded.eos, new_tokens=excluded.new_tokens, "
                               "prompt_tokens=excluded.prompt_tokens, created=excluded.created, "
                               "checksum=excluded.checksum WHERE excluded.new_tokens >= partials.new_tokens", rows)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise self.cache._failure(exc) from None
