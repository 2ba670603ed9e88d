"""Response cache states a run may meet: none yet, a file where the folder should be, a folder where the database
should be, damaged bytes, a truncated file, junk beside it (-wal, -shm, lock files), or a valid cache whose
answers must come out unchanged."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

from .contract import Shown

DB = "responses.sqlite"


@dataclass(frozen=True)
class CacheState(Shown):
    """`how` names the state; `valid`: True (the run must be correct and keep every answer), False (a clean
    error naming the cache file or folder, the file left as it was), None (either, answers kept if it ran)."""

    how: str
    offset: int = 0
    data: bytes = b""
    valid: bool | None = True

    def apply(self, warm: Path, cache: Path) -> None:
        """Make `cache` (a folder that does not exist yet) into this state, starting from the warm cache `warm`."""
        if self.how == "missing":
            return
        if self.how == "file as folder":
            cache.write_bytes(self.data)
            return
        shutil.copytree(warm, cache)
        db = cache / DB
        if self.how == "folder as db":
            db.unlink()
            db.mkdir()
        elif self.how == "flip bytes":
            raw = bytearray(db.read_bytes())
            for i, byte in enumerate(self.data):
                raw[(self.offset + 97 * i) % len(raw)] ^= byte or 1
            db.write_bytes(bytes(raw))
        elif self.how == "truncate":
            db.write_bytes(db.read_bytes()[: self.offset % max(1, db.stat().st_size)])
        elif self.how == "replace":
            db.write_bytes(self.data)
        elif self.how.startswith("junk "):
            target = cache / (DB + self.how.split(" ", 1)[1])
            if target.is_dir():
                shutil.rmtree(target)
            target.write_bytes(self.data)
        elif self.how == "lock is a folder":
            (cache / "responses.open-lock").unlink(missing_ok=True)
            (cache / "responses.open-lock").mkdir()


cache_states = st.one_of(
    st.just(CacheState("warm")),
    st.just(CacheState("missing")),
    st.binary(max_size=20).map(lambda b: CacheState("file as folder", data=b, valid=False)),
    st.just(CacheState("folder as db", valid=False)),
    st.builds(CacheState, how=st.just("flip bytes"), offset=st.integers(0, 10**6),
              data=st.binary(min_size=1, max_size=4), valid=st.just(None)),
    st.builds(CacheState, how=st.just("truncate"), offset=st.integers(1, 10**6), valid=st.just(None)),
    st.builds(CacheState, how=st.just("replace"), data=st.sampled_from(
        [b"", b"SQLite format 3\x00", b"garbage " * 100, b"SQLite format 3\x00" + b"\xff" * 4000]),
        valid=st.just(None)),
    st.builds(CacheState, how=st.sampled_from(["junk -wal", "junk -shm", "junk -journal"]),
              data=st.binary(max_size=64), valid=st.just(None)),
    st.just(CacheState("lock is a folder", valid=None)),
)
