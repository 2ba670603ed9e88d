"""On-disk response cache (SQLite), keyed by everything that changes an answer.

WAL mode and one transaction per stored chunk: concurrent writers (xdist workers, two pytest runs) wait
for each other instead of failing, and a crash or Ctrl-C loses at most the chunk being generated.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from .backends.base import ChatRequest, Response

KEY_SCHEMA = 1


def request_key(fingerprint: str, request: ChatRequest) -> str:
    """sha256 over the model fingerprint (weights + chat template + dtype), messages and sampling."""
    payload = {"v": KEY_SCHEMA, "model": fingerprint, "messages": request.messages,
               "sampling": request.sampling.key()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ResponseCache:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=60000")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, "
            "text TEXT NOT NULL, finish_reason TEXT NOT NULL, prompt_tokens INTEGER, "
            "completion_tokens INTEGER, created REAL)")

    def get_many(self, keys: Sequence[str]) -> dict[str, Response]:
        found: dict[str, Response] = {}
        for start in range(0, len(keys), 500):  # stay under SQLite's host-parameter limit
            chunk = list(keys[start:start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, text, finish_reason, prompt_tokens, completion_tokens FROM responses "
                f"WHERE key IN ({marks})", chunk)
            for key, text, finish, ptoks, ctoks in rows:
                found[key] = Response(text=text, finish_reason=finish, prompt_tokens=ptoks or 0,
                                      completion_tokens=ctoks or 0)
        return found

    def put_many(self, model: str, items: Iterable[tuple[str, Response]]) -> None:
        now = time.time()
        rows = [(k, model, r.text, r.finish_reason, r.prompt_tokens, r.completion_tokens, now)
                for k, r in items if r.finish_reason != "error"]  # errors are retried next run
        self._db.execute("BEGIN IMMEDIATE")  # one transaction per chunk: all of it or none
        try:
            self._db.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextlib.contextmanager
    def generation_lock(self) -> Iterator[None]:
        """Held while generating: a second process (an xdist worker) waits, then finds the answers cached
        instead of generating them again."""
        with open(self.path.with_suffix(".lock"), "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self._db.close()
