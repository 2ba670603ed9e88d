"""On-disk response cache (SQLite), keyed by everything that changes an answer.

WAL mode and one transaction per stored chunk (or per answer, for streaming backends): concurrent writers (xdist
workers, two pytest runs) wait for each other instead of failing, and a crash, Ctrl-C or SIGKILL loses at most what
was being generated. A damaged file is never used silently: opening it runs SQLite's quick_check, and every row
carries a checksum of its answer that is verified when the row is read.
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
from .errors import OverrefusalError

KEY_SCHEMA = 1


class CacheError(OverrefusalError):
    """The response cache file is damaged or not a cache at all."""


def request_key(fingerprint: str, request: ChatRequest) -> str:
    """sha256 over the model fingerprint (weights + chat template + dtype), messages and sampling."""
    payload = {"v": KEY_SCHEMA, "model": fingerprint, "messages": request.messages,
               "sampling": request.sampling.key()}
    # surrogatepass: a lone surrogate from a JSON "\\ud800" escape in a data file still gets a key (other text
    # encodes exactly as before, so existing keys are unchanged)
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def row_checksum(key: str, text: str, finish_reason: str) -> str:
    """What a stored answer must hash to; a flipped byte in a row shows up as a mismatch."""
    return hashlib.sha256(json.dumps([key, text, finish_reason], ensure_ascii=False).encode()).hexdigest()[:16]


def _storable(text: str) -> bool:
    """SQLite stores UTF-8; a lone surrogate (a server's "\\ud800" escape, a python: model's own string) cannot
    be, so that answer is kept for this run only and generated again next time."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class ResponseCache:
    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Opening is serialised across processes: switching a new file to WAL mode takes a lock for which
            # SQLite does not wait (busy_timeout does not apply), so two xdist workers opening at once saw
            # "database is locked".
            with self._file_lock(".open-lock"):
                self._open_checked()
        except OSError as exc:
            raise self._unwritable(exc.filename or self.path.parent, exc.strerror or str(exc)) from None

    def _open_checked(self) -> None:
        """Open, and prove a write goes through before anything is generated; on failure close and remove the
        -wal/-shm files this open created (SQLite gives them the database's permissions, so a read-only database
        left read-only ones that broke later runs too)."""
        created = [p for p in (self._side("-wal"), self._side("-shm")) if not p.exists()]
        try:
            self._open()
            self._probe_write()
        except BaseException:
            db = getattr(self, "_db", None)
            if db is not None:
                db.close()
            for side in created:
                with contextlib.suppress(OSError):
                    side.unlink()
            raise

    def _side(self, suffix: str) -> Path:
        return self.path.with_name(self.path.name + suffix)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60.0, isolation_level=None)

    def _probe_write(self) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("INSERT OR REPLACE INTO responses (key, model, text, finish_reason) "
                                 "VALUES ('~probe', '', '', 'stop')")
            finally:
                self._db.execute("ROLLBACK")
        except sqlite3.DatabaseError as exc:
            raise self._failure(exc) from None

    def _unwritable(self, where, why: str) -> CacheError:
        return CacheError(f"{where}: the response cache cannot be written ({why}); make it writable (chmod u+w), "
                          f"or use --overrefusal-cache DIR or --overrefusal-no-cache")

    def _open(self) -> None:
        try:
            self._db = self._connect()
            self._db.execute("PRAGMA busy_timeout=60000")
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process (only an OS crash could drop the last commits) and
            # keeps the per-answer commits of streaming backends cheap.
            self._db.execute("PRAGMA synchronous=NORMAL")
            problem = self._db.execute("PRAGMA quick_check(1)").fetchone()[0]
            if problem != "ok":
                raise self._damaged(problem)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, "
                "text TEXT NOT NULL, finish_reason TEXT NOT NULL, prompt_tokens INTEGER, "
                "completion_tokens INTEGER, created REAL, checksum TEXT)")
            self._add_checksums_to_old_rows()
        except sqlite3.DatabaseError as exc:
            raise self._failure(exc) from None

    def _failure(self, exc: sqlite3.DatabaseError) -> CacheError:
        text = str(exc).lower()
        if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
            # another process holds the file: not damage, and no reason to delete it
            return CacheError(f"{self.path}: the response cache stayed locked by another process for 60 s "
                              f"({exc}); wait for it to finish, or use --overrefusal-cache DIR")
        if "readonly" in text or "read-only" in text or "disk is full" in text or "unable to open" in text:
            return self._unwritable(self.path, " ".join(str(exc).split())[:120])
        return self._damaged(str(exc))

    @contextlib.contextmanager
    def _file_lock(self, suffix: str) -> Iterator[None]:
        with open(self.path.with_suffix(suffix), "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _damaged(self, why: str) -> CacheError:
        first = " ".join(str(why).split())[:120]
        return CacheError(f"{self.path}: the response cache is damaged ({first}); move or delete the file (its "
                          f"answers will be generated again) or run with --overrefusal-no-cache")

    def _add_checksums_to_old_rows(self) -> None:
        """Caches written before checksums existed get a column and their rows' checksums once."""
        def has_column() -> bool:
            return "checksum" in [row[1] for row in self._db.execute("PRAGMA table_info(responses)")]

        if has_column():
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if has_column():  # another process (an xdist worker) added it while we waited for the lock
                self._db.execute("COMMIT")
                return
            self._db.execute("ALTER TABLE responses ADD COLUMN checksum TEXT")
            rows = self._db.execute("SELECT key, text, finish_reason FROM responses").fetchall()
            self._db.executemany("UPDATE responses SET checksum = ? WHERE key = ?",
                                 [(row_checksum(k, t, f), k) for k, t, f in rows])
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def get_many(self, keys: Sequence[str]) -> dict[str, Response]:
        found: dict[str, Response] = {}
        try:
            for start in range(0, len(keys), 500):  # stay under SQLite's host-parameter limit
                chunk = list(keys[start:start + 500])
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, text, finish_reason, prompt_tokens, completion_tokens, checksum FROM responses "
                    f"WHERE key IN ({marks})", chunk).fetchall()
                for key, text, finish, ptoks, ctoks, checksum in rows:
                    if not isinstance(text, str) or checksum != row_checksum(key, text, finish):
                        raise self._damaged(f"the stored answer for key {key[:12]}... fails its checksum")
                    found[key] = Response(text=text, finish_reason=finish, prompt_tokens=ptoks or 0,
                                          completion_tokens=ctoks or 0)
        except sqlite3.DatabaseError as exc:
            raise self._failure(exc) from None
        return found

    def put_many(self, model: str, items: Iterable[tuple[str, Response]]) -> None:
        now = time.time()
        rows = [(k, model, r.text, r.finish_reason, r.prompt_tokens, r.completion_tokens, now,
                 row_checksum(k, r.text, r.finish_reason))
                for k, r in items if r.finish_reason != "error"  # errors are retried next run
                and _storable(r.text)]
        if not rows:
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")  # one transaction per chunk: all of it or none
            try:
                self._db.executemany("INSERT OR REPLACE INTO responses (key, model, text, finish_reason, "
                                     "prompt_tokens, completion_tokens, created, checksum) "
                                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise self._failure(exc) from None

    @contextlib.contextmanager
    def generation_lock(self) -> Iterator[None]:
        """Held while generating: a second process (an xdist worker) waits, then finds the answers cached
        instead of generating them again."""
        with self._file_lock(".lock"):
            yield

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self._db.close()
