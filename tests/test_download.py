"""Suites with `source.url` + `source.sha256`: downloaded once through OVERREFUSAL_MIRROR, verified, then cached.

A loopback HTTP server (127.0.0.1 only) serves the shared data files under `<host>/<path>` of each built-in
manifest's URL, as a CI mirror would."""
from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest

from datapaths import data_root
from pytest_overrefusal import console, download
from pytest_overrefusal.catalog import builtin_suites_dir, manifests_in
from pytest_overrefusal.errors import SuiteError
from pytest_overrefusal.suite import load_manifest

PINNED = ("xstest-safe", "xstest-unsafe", "evorefuse-test", "harmbench", "advbench")


def pinned_suites():
    return [s for s in map(load_manifest, manifests_in(builtin_suites_dir())) if s.source.url]


class Mirror:
    """A static file server on 127.0.0.1; `stop()` takes it down, as a CI mirror going away would."""

    def __init__(self, root: Path):
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.root = root
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.requests: list[str] = []
        self.server.requests = self.requests
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def path_for(self, url: str) -> Path:
        parts = urllib.parse.urlsplit(url)
        return self.root / parts.hostname / parts.path.lstrip("/")

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        self.server.requests.append(self.path)


@pytest.fixture
def mirror(tmp_path):
    root = tmp_path / "mirror"
    served = Mirror(root)
    for suite in pinned_suites():  # the data mirror's file at the place the manifest's URL maps to
        target = served.path_for(suite.source.url)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_root() / suite.source.data, target)
    yield served
    served.stop()


@pytest.fixture
def fresh_home(tmp_path, monkeypatch, mirror):
    """A user cache with no data in it, the mirror set, and no data folder."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("OVERREFUSAL_HOME", str(home))
    monkeypatch.setenv("OVERREFUSAL_MIRROR", mirror.base)
    monkeypatch.delenv("OVERREFUSAL_DATA", raising=False)
    monkeypatch.setattr(console, "_console", contextlib.nullcontext)  # progress into capture, not the terminal
    return home


def test_the_five_suites_are_pinned_to_the_data_mirrors_bytes():
    by_id = {s.id: s for s in pinned_suites()}
    assert set(PINNED) <= set(by_id)
    for suite_id in PINNED:
        src = by_id[suite_id].source
        assert src.url.startswith("https://raw.githubusercontent.com/")
        assert hashlib.sha256((data_root() / src.data).read_bytes()).hexdigest() == src.sha256, suite_id


def test_hub_suites_name_a_revision_or_are_reported():
    hub = [s for s in map(load_manifest, manifests_in(builtin_suites_dir())) if s.source.hf]
    assert hub
    unpinned = sorted(s.id for s in hub if not s.source.hf_revision)
    assert unpinned in ([], ["phtest"])  # PHTest's revision is not known offline (see the report)


def test_mirror_maps_host_and_path(monkeypatch):
    monkeypatch.setenv("OVERREFUSAL_MIRROR", "http://u:secret@mirror.local/base/")
    url = "https://raw.githubusercontent.com/o/r/abc/x/y.csv"
    assert download.mirrored(url) == "http://u:secret@mirror.local/base/raw.githubusercontent.com/o/r/abc/x/y.csv"
    assert "secret" not in download.shown(download.mirrored(url))


def test_download_verifies_caches_and_survives_the_mirror_going_away(fresh_home, mirror):
    suite = next(s for s in pinned_suites() if s.id == "xstest-safe")
    first = download.fetch(suite.id, suite.source.url, suite.source.sha256)
    assert first.read_bytes() == (data_root() / suite.source.data).read_bytes()
    assert fresh_home in first.parents
    assert len(mirror.requests) == 1
    mirror.stop()
    assert download.fetch(suite.id, suite.source.url, suite.source.sha256) == first
    assert not [p for p in first.parent.iterdir() if p.name.endswith(".part")]


def test_checksum_mismatch_is_one_line_and_leaves_no_file(fresh_home, mirror):
    suite = next(s for s in pinned_suites() if s.id == "advbench")
    served = mirror.path_for(suite.source.url)
    served.write_bytes(served.read_bytes().replace(b"bomb", b"cake", 1))
    with pytest.raises(SuiteError) as err:
        download.fetch(suite.id, suite.source.url, suite.source.sha256, suite.source.data)
    message = str(err.value)
    assert "\n" not in message and "suite advbench" in message and "sha256" in message
    assert mirror.base in message and "--overrefusal-data DIR holding advbench/harmful_behaviors.csv" in message
    assert not list(fresh_home.rglob("harmful_behaviors.csv*"))


@pytest.mark.parametrize("fault, expect", [("missing", "HTTP 404"), ("stopped", "cannot download")])
def test_http_error_and_unreachable_host_are_one_line(fresh_home, mirror, fault, expect):
    suite = next(s for s in pinned_suites() if s.id == "harmbench")
    if fault == "missing":
        mirror.path_for(suite.source.url).unlink()
    else:
        mirror.stop()
    with pytest.raises(SuiteError) as err:
        download.fetch(suite.id, suite.source.url, suite.source.sha256)
    message = str(err.value)
    assert "\n" not in message and message.startswith("suite harmbench: cannot download")
    assert expect in message and "OVERREFUSAL_MIRROR" in message


def test_size_cap_stops_a_runaway_download(fresh_home, mirror, monkeypatch):
    monkeypatch.setattr(download, "MAX_BYTES", 1000)
    suite = next(s for s in pinned_suites() if s.id == "xstest-safe")
    with pytest.raises(SuiteError, match="over the 1000 byte cap"):
        download.fetch(suite.id, suite.source.url, suite.source.sha256)
    assert not list(fresh_home.rglob("xstest_prompts.csv*"))


@pytest.mark.parametrize("source, problem", [
    ("{data: a.csv, url: 'https://h/x.csv'}", "together"),
    ("{data: a.csv, sha256: " + "ab" * 32 + "}", "together"),
    ("{url: 'ftp://h/x.csv', sha256: " + "ab" * 32 + "}", "http(s) URL"),
    ("{url: 'https://u:p@h/x.csv', sha256: " + "ab" * 32 + "}", "credentials"),
    ("{url: 'https://h/x.csv', sha256: abc}", "64 lower-case hex"),
])
def test_bad_pins_are_manifest_errors(tmp_path, source, problem):
    path = tmp_path / "s.yaml"
    path.write_text(f"schema: overrefusal-suite/1\nid: s\nexpect: comply\nsource: {source}\n")
    with pytest.raises(SuiteError, match=re.escape(problem)) as err:
        load_manifest(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


@pytest.fixture(scope="session")
def built_toy() -> Path:
    """The toy model as the normal cache holds it, found (or built) in a child process: importing transformers
    here would not survive pytester's sys.modules restore between tests."""
    found = subprocess.run([sys.executable, "-c", "from pytest_overrefusal.backends.toy_model import toy_model_dir;"
                            "print(toy_model_dir())"], capture_output=True, text=True, check=True)
    return Path(found.stdout.strip().splitlines()[-1])


@pytest.fixture
def toy_home(fresh_home, built_toy):
    """The fresh cache, holding the already-built toy model (training it is not what this test is about)."""
    (fresh_home / built_toy.name).symlink_to(built_toy, target_is_directory=True)
    return fresh_home


def test_pytest_downloads_verifies_runs_then_uses_the_cache(pytester, toy_home, mirror):
    args = ("-p", "no:randomly", "-p", "no:cacheprovider", "--overrefusal-suite", "xstest-safe",
            "--overrefusal-limit", "5", "--overrefusal-model", "toy")
    first = pytester.runpytest_subprocess(*args)
    out = first.stdout.str() + first.stderr.str()
    assert "downloading xstest-safe data" in out and "done" in out
    assert "responses: 5 requested, 0 from cache, 5 generated" in out, out
    assert sum(first.parseoutcomes().get(k, 0) for k in ("passed", "failed", "tolerated")) == 6  # 5 cases + gate
    assert len(mirror.requests) == 1

    mirror.stop()
    again = pytester.runpytest_subprocess(*args)
    assert again.ret == first.ret
    assert "downloading" not in again.stdout.str() + again.stderr.str()
    assert "responses: 5 requested, 5 from cache" in again.stdout.str()
    assert again.parseoutcomes() == first.parseoutcomes()


def test_pytest_with_a_corrupted_mirror_file_is_one_line_about_the_checksum(pytester, toy_home, mirror):
    suite = next(s for s in pinned_suites() if s.id == "xstest-safe")
    served = mirror.path_for(suite.source.url)
    served.write_bytes(served.read_bytes() + b"451,extra,homonyms,safe,,\n")
    result = pytester.runpytest_subprocess("-p", "no:randomly", "--overrefusal-suite", "xstest-safe",
                                           "--overrefusal-limit", "5", "--overrefusal-model", "toy")
    out = result.stdout.str() + result.stderr.str()
    lines = [line for line in out.splitlines() if "sha256" in line]
    assert result.ret != 0 and len(lines) == 1, out
    assert "suite xstest-safe" in lines[0] and mirror.base in lines[0]
    assert "Traceback" not in out
