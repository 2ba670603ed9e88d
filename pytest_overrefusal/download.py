"""Benchmark files fetched by URL: pinned by sha256, downloaded once into the user cache, atomically.

`source.url` + `source.sha256` in a manifest make a suite usable without a hand-made data folder. The file lands
in `<user cache>/data/<sha256[:16]>/<name>` only after its checksum matched, so a half-finished or wrong download
is never read. `OVERREFUSAL_MIRROR=BASE` fetches `BASE/<host>/<path>` instead (CI machines without internet).
Standard library only: a plugin should not pull an HTTP stack in for one GET.
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from .console import console
from .errors import SuiteError
from .paths import user_cache_dir
from .textfiles import cap

TIMEOUT_S = 30.0
MAX_BYTES = 256 * 1024 * 1024  # far above any benchmark file; stops a wrong URL from filling the disk
_CHUNK = 64 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")

def pin_problem(url: str | None, sha256: str | None) -> tuple[str, str] | None:
    """(key, why) when a manifest's `source.url` / `source.sha256` pair is unusable, else None."""
    if url is None and sha256 is None:
        return None
    if url is None or sha256 is None:
        return "source", "needs 'url' and 'sha256' together: give both (the checksum pins the file's version)"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "source.url", f"{cap(url, 80)!r} must be an http(s) URL with a host"
    if parts.username or parts.password:
        return "source.url", "must not hold credentials; put them in OVERREFUSAL_MIRROR's base URL instead"
    if not parts.path.rstrip("/") or parts.path.endswith("/"):
        return "source.url", f"{cap(url, 80)!r} must name a file, not a folder"
    if not _SHA256.fullmatch(sha256):
        return "source.sha256", f"{cap(sha256, 80)!r} must be 64 lower-case hex digits (sha256sum's output)"
    return None


def mirrored(url: str) -> str:
    """The URL actually fetched: `BASE/<host>/<path>` when OVERREFUSAL_MIRROR is set, else `url`."""
    base = os.environ.get("OVERREFUSAL_MIRROR", "").strip()
    if not base:
        return url
    parts = urllib.parse.urlsplit(url)
    return f"{base.rstrip('/')}/{parts.hostname}{parts.path}"


def shown(url: str) -> str:
    """`url` fit for a message: no credentials (a mirror's base URL may carry them), capped."""
    parts = urllib.parse.urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return cap(url, 160)


def cached_path(url: str, sha256: str) -> Path:
    name = Path(urllib.parse.urlsplit(url).path).name or "data"
    return user_cache_dir() / "data" / sha256[:16] / name


def fetch(suite_id: str, url: str, sha256: str, local: str | None = None) -> Path:
    """The verified local copy of `url`, downloading it on first use. `local`: the file's place under a data
    folder, named in errors as the way around a failed download."""
    target = cached_path(url, sha256)
    if target.is_file() and _sha256_of(target) == sha256:
        return target
    source = mirrored(url)
    how = (f"check OVERREFUSAL_MIRROR ({shown(os.environ.get('OVERREFUSAL_MIRROR', ''))})"
           if source != url else "check the network (or set OVERREFUSAL_MIRROR=BASE)")
    fallback = (f"or download the file yourself and pass --overrefusal-data DIR holding {cap(local, 80)}" if local
                else "or download the file yourself and pass --overrefusal-data DIR")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SuiteError(f"suite {suite_id}: cannot create the data cache {target.parent} ({exc.strerror}); "
                         f"set OVERREFUSAL_HOME to a writable folder, {fallback}") from None
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _download(suite_id, source, out, how, fallback)
        if digest != sha256:
            raise SuiteError(f"suite {suite_id}: {shown(source)} has sha256 {digest[:16]}... but the manifest pins "
                             f"{sha256[:16]}...; the file changed upstream or the mirror holds another version: "
                             f"fix the mirror or the manifest's source.sha256, {fallback}")
        os.replace(tmp, target)  # atomic: readers see no file or the whole verified file
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _download(suite_id: str, url: str, out, how: str, fallback: str) -> str:
    where = f"suite {suite_id}: cannot download {shown(url)}"
    request = urllib.request.Request(url, headers={"User-Agent": "pytest-overrefusal"})
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            if total is not None and total > MAX_BYTES:
                raise SuiteError(f"{where} ({total} bytes, over the {MAX_BYTES} byte cap); {how}, {fallback}")
            done = 0
            with console(), _Progress(suite_id, total) as bar:
                while chunk := response.read(_CHUNK):
                    done += len(chunk)
                    if done > MAX_BYTES:
                        raise SuiteError(f"{where} (over the {MAX_BYTES} byte cap); {how}, {fallback}")
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(done)
    except urllib.error.HTTPError as exc:
        raise SuiteError(f"{where} (HTTP {exc.code} {cap(str(exc.reason), 60)}); {how}, {fallback}") from None
    except urllib.error.URLError as exc:
        raise SuiteError(f"{where} ({cap(str(exc.reason), 80)}); {how}, {fallback}") from None
    except (TimeoutError, OSError) as exc:  # a read that stalls past the timeout, a reset connection
        raise SuiteError(f"{where} ({cap(str(exc) or type(exc).__name__, 80)}); {how}, {fallback}") from None
    return digest.hexdigest()


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class _Progress:
    """`downloading <suite>: [#####-----] 52% 101/195 kB` on stderr; redrawn in place on a terminal,
    a start and an end line elsewhere (CI logs)."""

    WIDTH = 24

    def __init__(self, suite_id: str, total: int | None):
        self.label, self.total = f"downloading {suite_id} data", total
        self.live = sys.stderr.isatty()
        self.last = 0.0

    def __enter__(self):
        if not self.live:
            self._write(f"{self.label} ...\n")
        return self

    def update(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if self.live and now - self.last > 0.1:
            self.last = now
            self._write("\r" + self._line(done))

    def __exit__(self, kind, *_):
        if kind is None:
            done = getattr(self, "done", 0)
            self._write(("\r" if self.live else "") + self._line(done) + " done\n")
        elif self.live:
            self._write("\n")

    def _line(self, done: int) -> str:
        kb = f"{done / 1000:.0f}" + (f"/{self.total / 1000:.0f} kB" if self.total else " kB")
        if not self.total:
            return f"{self.label}: {kb}"
        filled = min(self.WIDTH, self.WIDTH * done // self.total)
        return f"{self.label}: [{'#' * filled}{'-' * (self.WIDTH - filled)}] {100 * done // self.total:3d}% {kb}"

    @staticmethod
    def _write(text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()
