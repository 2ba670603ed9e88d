"""One error boundary at run time (issue 11): whatever a model, a path or a cache file does wrong is one line,
raised once, before generation when it can be checked then, and never costs the results already computed.

Each test names the probe row it covers. Runs are in-process pytester runs with fake models written beside the
suites; `calls.log` in the project folder counts the prompts each generate() call was given."""
from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from pytest_overrefusal.cache import ResponseCache
from pytest_overrefusal.paths import user_cache_dir

REAL_HOME = user_cache_dir()  # where the toy model is already built; tests get their own home otherwise

MANIFEST = ("schema: overrefusal-suite/1\nid: {id}\ntitle: t\nexpect: comply\nsource: {{file: {id}.jsonl}}\n"
            "columns: {{prompt: prompt, id: id}}\ngate: {{max_refusal_rate: 0.5}}\n")
ALPHA = [f"How do I bake loaf number {i}?" for i in range(5)]
BETA = [f"How do I paint boom fence {i}?" for i in range(3)]

MODELS = '''
import os
from pytest_overrefusal.backends.base import Response

LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls.log")


class Fake:
    batch_size = 2

    def __init__(self, name, **attrs):
        self.name, self.fingerprint = name, name
        self.__dict__.update(attrs)

    def generate(self, requests):
        prompts = [r.messages[-1][1] for r in requests]
        with open(LOG, "a") as fh:
            fh.write(f"{self.name} {len(prompts)} {max(len(p) for p in prompts)}\\n")
        return self.answer(prompts)

    def answer(self, prompts):
        return [Response("Sure, here is how.") for _ in prompts]


class Raising(Fake):
    def answer(self, prompts):
        if any("boom" in p for p in prompts):
            raise ValueError("model exploded \\x1b[31m on purpose\\nsecond line " + "x" * 500)
        return super().answer(prompts)


class Strings(Fake):
    def answer(self, prompts):
        return ["Sure." for _ in prompts]


class Short(Fake):
    def answer(self, prompts):
        return super().answer(prompts)[:-1]


class OutOfMemory(Fake):
    def answer(self, prompts):
        raise MemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


class Hostile(Fake):
    ANSWER = "Sure\\x1b[2J\\x1b]0;pwned\\x07 cleared\\rover\\x00written " + "y" * 1_000_000

    def answer(self, prompts):
        return [Response(self.ANSWER) for _ in prompts]


class Windowed(Fake):
    """A context of 64 positions; one token per word."""
    context_length = 64

    def prompt_token_counts(self, requests):
        with open(LOG, "a") as fh:
            fh.write(f"count {max(len(r.messages[-1][1]) for r in requests)}\\n")
        return [len(r.messages[-1][1].split()) + 8 for r in requests]


class Exits(Fake):
    def answer(self, prompts):
        raise SystemExit(3)


class Surrogate(Fake):
    def answer(self, prompts):
        return [Response("Sure \\ud800 here") for _ in prompts]


class BadCounts(Windowed):
    def prompt_token_counts(self, requests):
        return ["many"] * len(requests)


exits = Exits("exits")
surrogate = Surrogate("surrogate")
badcounts = BadCounts("badcounts")
plain = Fake("plain")
raising = Raising("raising")
strings = Strings("strings")
short = Short("short")
oom = OutOfMemory("oom")
hostile = Hostile("hostile")
windowed = Windowed("windowed")


def make(name, **attrs):
    return Fake(name, **attrs)
'''


@pytest.fixture
def project(pytester, monkeypatch):
    monkeypatch.delenv("OVERREFUSAL_MODEL", raising=False)
    monkeypatch.setenv("OVERREFUSAL_HOME", str(pytester.path / "home"))
    pytester.syspathinsert()
    pytester.makepyfile(boundary_models=MODELS)
    write_suite(pytester.path, "alpha", ALPHA)
    write_suite(pytester.path, "beta", BETA)
    return pytester


def write_suite(folder: Path, suite_id: str, prompts: list[str]) -> None:
    rows = [{"id": f"{suite_id[0]}{i}", "prompt": p} for i, p in enumerate(prompts)]
    (folder / f"{suite_id}.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (folder / f"{suite_id}.yaml").write_text(MANIFEST.format(id=suite_id))


def run(project, model: str, *args: str):
    result = project.runpytest("alpha.yaml", "beta.yaml", "-p", "no:randomly", "--overrefusal-model",
                               f"python:boundary_models:{model}", *args)
    return result, "\n".join(result.outlines + result.errlines)


def own_lines(out: str) -> list[str]:
    """The output without pytest's own recap ("short test summary info"), which repeats each failure's first
    line: cut to the terminal width locally, in full when the CI variable is set."""
    lines, skipping = [], False
    for line in out.splitlines():
        if "short test summary info" in line:
            skipping = True
        elif skipping and line.startswith("="):
            skipping = False
        if not skipping:
            lines.append(line)
    return lines


def calls(project) -> list[str]:
    log = project.path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def assert_one_line(out: str, needle: str) -> str:
    assert "Traceback" not in out and "raise " not in out, out[-3000:]
    lines = [line for line in out.splitlines() if needle in line]
    assert lines, f"no line holds {needle!r}:\n{out[-3000:]}"
    return lines[0]


# -- rows 19, 20: a model that raises or answers wrongly: one line, once; the other suite is still reported ----------
@pytest.mark.parametrize("model, expect", [
    ("raising", "generate() raised ValueError: model exploded"),
    ("strings", "generate() returned str items"),
    ("short", "generate() returned 1 responses for 2 requests"),
    ("oom", "out of memory while generating (MemoryError"),
])
def test_a_failing_batch_fails_its_suite_once_and_keeps_the_rest(project, tmp_path, model, expect):
    report = tmp_path / "out.json"
    result, out = run(project, model, "--overrefusal-cache", str(tmp_path / "cache"), "--overrefusal-report",
                      str(report))
    assert result.ret == 1
    line = assert_one_line(out, expect)
    assert f"model {model}" in line
    if model == "raising":
        assert "the model's own generate() code" in line and "second line" in line
        assert "\x1b" not in out and "x" * 300 not in line  # escaped, capped, one line
    outcome = result.parseoutcomes()
    alpha_ok = model == "raising"  # the others fail on alpha's first batch already
    # generate() is never retried once per item: one call per batch up to the failing one
    expected_calls = 3 + 1 if alpha_ok else 1
    assert len(calls(project)) == expected_calls, calls(project)
    assert outcome["failed"] == (4 if alpha_ok else 10), out[-3000:]  # beta's 3 cases + gate (+ alpha's 6)
    doc = json.loads(report.read_text())
    assert [e["id"] for e in doc["not_evaluated"]] == (["beta"] if alpha_ok else ["alpha", "beta"])
    assert [s["id"] for s in doc["suites"]] == (["alpha"] if alpha_ok else [])
    assert "over-refusal summary" in out
    if alpha_ok:
        assert any(line.startswith("alpha ") and "PASS" in line for line in out.splitlines())
        assert "report written to" in out
        assert len(ResponseCache(tmp_path / "cache" / "responses.sqlite")) == len(ALPHA)  # earlier batches kept


def test_a_failed_suite_is_not_generated_again_by_a_marker_and_items_both(project, tmp_path):
    project.makepyfile(test_marked="""
        import pytest

        @pytest.mark.overrefusal(suite="beta.yaml")
        def test_beta(overrefusal_results):
            pass
    """)
    result = project.runpytest("alpha.yaml", "beta.yaml", "test_marked.py", "-p", "no:randomly",
                               "--overrefusal-model", "python:boundary_models:raising", "--overrefusal-no-cache")
    out = "\n".join(result.outlines)
    assert result.ret == 1
    assert_one_line(out, "generate() raised ValueError")
    assert len(calls(project)) == 4, calls(project)  # alpha: 3 batches; beta: 1 failed batch, never repeated


@pytest.mark.parametrize("model, expect, generated", [
    ("exits", "generate() raised SystemExit: 3", 1),
    ("badcounts", "prompt_token_counts() must return one int per request", 0),
])
def test_a_model_that_exits_or_counts_wrongly_is_one_line_once(project, tmp_path, model, expect, generated):
    result, out = run(project, model, "--overrefusal-cache", str(tmp_path / "cache"))
    assert result.ret == 1 and result.parseoutcomes()["failed"] == 10
    assert_one_line(out, expect)
    assert sum(expect in line for line in own_lines(out)) == 2, out  # the first item and the summary
    assert len(calls(project)) == generated


def test_an_answer_sqlite_cannot_store_is_used_and_reported_exactly(project, tmp_path):
    report = tmp_path / "out.json"
    result, out = run(project, "surrogate", "--overrefusal-cache", str(tmp_path / "cache"), "--overrefusal-report",
                      str(report))
    assert result.ret == 0, out[-3000:]
    assert json.loads(report.read_text())["cases"][0]["response"] == "Sure \ud800 here"
    assert len(ResponseCache(tmp_path / "cache" / "responses.sqlite")) == 0  # regenerated next time, not lost


# -- row 18: escape sequences, CR, NUL and a megabyte of text from the model or a data file -------------------------
def test_model_and_data_text_is_escaped_and_cut_on_the_terminal_but_exact_in_the_report(project, tmp_path):
    write_suite(project.path, "alpha", ["Bake\x1b]0;title\x07 \u202e bread\r?"] + ALPHA[1:])
    (project.path / "alpha.yaml").write_text(MANIFEST.format(id="alpha").replace("comply", "refuse")
                                             .replace("max_refusal_rate: 0.5", "min_refusal_rate: 0.9"))
    report = tmp_path / "out.json"
    result, out = run(project, "hostile", "--overrefusal-no-cache", "--overrefusal-report", str(report))
    assert result.ret == 1
    for raw in ("\x1b", "\x07", "\r", "\x00", "\u202e"):
        assert raw not in out, repr(raw)
    assert "\\x1b[2J\\x1b]0;pwned\\x07 cleared\\rover\\x00written" in out
    assert "Bake\\x1b]0;title\\x07 \\u202e bread\\r?" in out
    assert "more characters; the report keeps the full text)" in out
    assert len(out) < 200_000
    doc = json.loads(report.read_text())
    first = next(c for c in doc["cases"] if c["case_id"] == "a0")
    assert first["response"].startswith("Sure\x1b[2J\x1b]0;pwned\x07 cleared\rover\x00written")
    assert len(first["response"]) > 1_000_000 and first["prompt"] == "Bake\x1b]0;title\x07 \u202e bread\r?"


# -- row 5: a prompt longer than the model's context -------------------------------------------------------------
def test_prompts_that_do_not_fit_the_context_are_skipped_before_any_generation(project, tmp_path):
    huge = "How do I bake " + "very " * 1_000_000 + "big bread?"  # 5 MB: over the character cap
    wordy = "How do I bake " + "big " * 60 + "bread?"  # 72 tokens by the model's count, few characters
    write_suite(project.path, "alpha", ALPHA[:3] + [huge, wordy])
    report = tmp_path / "out.json"
    result, out = run(project, "windowed", "--overrefusal-cache", str(tmp_path / "c"), "--overrefusal-report",
                      str(report), "-rs")
    assert result.ret == 0, out[-3000:]
    assert result.parseoutcomes()["skipped"] == 2
    log = calls(project)
    assert all(int(line.split()[-1]) < 1000 for line in log), log  # neither generated nor tokenized at 5 MB
    assert not any(line.startswith("windowed") and int(line.split()[-1]) > 200 for line in log)
    assert "2 case(s) skipped: their prompt does not fit the model's context (alpha: 2)" in out
    skipped = [line for line in out.splitlines() if "SKIPPED" in line or "skipped" in line]
    assert any("does not fit the model's context of 64 tokens" in line for line in skipped), out[-3000:]
    doc = json.loads(report.read_text())
    alpha = next(s for s in doc["suites"] if s["id"] == "alpha")
    assert alpha["n"] == 3 and alpha["skipped_too_long"] == ["a3", "a4"]
    # a second run answers from the cache and skips the same two again
    again, out2 = run(project, "windowed", "--overrefusal-cache", str(tmp_path / "c"))
    assert again.ret == 0 and again.parseoutcomes()["skipped"] == 2
    assert "0 generated" in out2


def test_the_toy_skips_a_5_mb_prompt_and_a_300_token_one_before_generating(project, tmp_path, monkeypatch):
    """Issue 11 row 5 on the real toy (256 positions): it used to tokenize and attend over 5 MB, run out of memory
    and try again once per item. Shipped suites have such cases too: harmbench 95 of 300, evorefuse-test 39 of
    581 prompts over 256 tokens (measured with the toy's tokenizer and chat template)."""
    monkeypatch.setenv("OVERREFUSAL_HOME", str(REAL_HOME))
    write_suite(project.path, "alpha", ALPHA[:2] + ["How do I bake " + "very " * 1_000_000 + "big bread?",
                                                     "How do I bake " + "big " * 300 + "bread?"])
    result = project.runpytest("alpha.yaml", "-p", "no:randomly", "-rs", "--overrefusal-model", "toy",
                               "--overrefusal-cache", str(tmp_path / "c"))
    out = "\n".join(result.outlines + result.errlines)
    assert result.parseoutcomes()["skipped"] == 2, out[-3000:]
    assert "responses: 4 requested, 0 from cache, 2 generated" in out, out[-3000:]  # the 2 skipped never reach the model
    assert "characters cannot fit the model's context of 256 tokens" in out
    assert "tokens does not fit the model's context of 256 tokens" in out
    assert "Traceback" not in out


def test_a_suite_with_no_prompt_that_fits_fails_with_one_line(project, tmp_path):
    write_suite(project.path, "alpha", ["x " * 100] * 1 + ["y " * 100])
    for deselect in ((), ("-k", "not gate")):  # without its gate too: not evaluated is not "all skipped"
        result, out = run(project, "windowed", "--overrefusal-no-cache", *deselect)
        assert result.ret == 1
        assert_one_line(out, "suite alpha: no case fits the model's context")


# -- rows 11, 12, 16, 13, 15: paths and files checked at configure time, before any generation --------------------
def _file(path: Path) -> Path:
    path.write_text("x")
    return path


@pytest.mark.parametrize("args, expect", [
    (("--overrefusal-report", "{tmp}/out"), "unknown format '(no extension)'"),
    (("--overrefusal-report", "{tmp}/out.txt"), "unknown format '.txt'"),
    (("--overrefusal-report", "{tmp}"), "is a folder; give a file name ending in .json"),
    (("--overrefusal-report", "{file}/out.json"), "cannot be created,"),
    (("--overrefusal-save-baseline", "{file}/b.json"), "cannot be created,"),
    (("--overrefusal-save-baseline", "{tmp}"), "--overrefusal-save-baseline"),
    (("--overrefusal-cache", "{file}"), "--overrefusal-cache {file}: is a file, not a folder"),
    (("--overrefusal-cache", "{file}/deeper"), "cannot be created"),
    (("--overrefusal-baseline", "{baseline}"), "suites['alpha'].cases must be an object mapping case ids"),
    (("--overrefusal-save-baseline", "{fifo}"), "is not a regular file"),  # a pipe; never /dev/null as root
    (("--overrefusal-cache", "{dangling}"), "is a symlink to nothing"),
    (("--overrefusal-report", "{dangling}/r.json"), "is a symlink to nothing"),
])
def test_unusable_paths_are_one_line_before_any_generation(project, tmp_path, args, expect):
    file = _file(tmp_path / "a-file")
    baseline = tmp_path / "base.json"
    baseline.write_text(json.dumps({"schema": "pytest-overrefusal/baseline-1", "model": "m", "judge": "j",
                                    "suites": {"alpha": {"generation": {}, "cases": [{"refused": True}]}}}))
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    given = [a.format(tmp=tmp_path, file=file, baseline=baseline, dangling=dangling, fifo=fifo) for a in args]
    result, out = run(project, "plain", *given)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, out[-2000:]
    assert_one_line(out, expect.format(file=file))
    assert calls(project) == []


def test_overrefusal_home_that_is_a_file_is_one_line(project, tmp_path, monkeypatch):
    monkeypatch.setenv("OVERREFUSAL_HOME", str(_file(tmp_path / "home-file")))
    result, out = run(project, "plain")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert_one_line(out, "OVERREFUSAL_HOME")
    assert calls(project) == []


def test_read_only_cache_folder_or_file_is_one_line_before_generation(project, tmp_path, monkeypatch):
    """As root every file is writable, so `os.access` stands in for the permission bits a user would see."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "responses.sqlite").write_bytes(b"")
    real = os.access
    for read_only in (cache, cache / "responses.sqlite"):
        monkeypatch.setattr(os, "access", lambda p, mode, ro=read_only: False if Path(p) == ro else real(p, mode))
        result, out = run(project, "plain", "--overrefusal-cache", str(cache))
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        assert_one_line(out, "read-only")
    assert calls(project) == []


def test_a_cache_sqlite_cannot_write_is_one_line_generation_never_runs_and_nothing_is_left(project, tmp_path,
                                                                                          monkeypatch):
    cache = tmp_path / "cache"
    run(project, "plain", "--overrefusal-cache", str(cache), "-k", "alpha")  # a warm cache, closed cleanly
    warm = len(calls(project))
    before = sorted(os.listdir(cache))

    def read_only(self):
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=60.0, isolation_level=None)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ResponseCache, "_connect", read_only)
        result, out = run(project, "plain", "--overrefusal-cache", str(cache))
    assert result.ret == 1
    assert_one_line(out, "the response cache cannot be written")
    # shown by the first item and once in the summary, not once per item
    assert sum("the response cache cannot be written" in line for line in own_lines(out)) == 2, out
    assert "suites alpha, beta not evaluated: " in out
    assert len(calls(project)) == warm  # nothing generated into a cache that cannot keep it
    assert sorted(os.listdir(cache)) == before  # no read-only -wal / -shm left behind
    again, _ = run(project, "plain", "--overrefusal-cache", str(cache))
    assert again.ret == 0 and len(calls(project)) == warm + 2  # beta's 3 prompts; alpha's came from the cache


def test_a_cache_write_failing_mid_run_keeps_the_answers_and_says_so(project, tmp_path, monkeypatch):
    from pytest_overrefusal.cache import CacheError

    def full(self, model, items):
        raise CacheError(f"{self.path}: the response cache cannot be written (database or disk is full)")
    monkeypatch.setattr(ResponseCache, "put_many", full)
    result, out = run(project, "plain", "--overrefusal-cache", str(tmp_path / "cache"))
    assert result.ret == 0
    assert len(calls(project)) == 5  # alpha: 5 prompts in batches of 2, beta: 3; each generated once
    assert "this run's answers were not cached" in out


# -- row 11: a report that cannot be written at the end still leaves the summary, and fails the run ------------------
def test_a_report_that_fails_to_write_at_the_end_is_one_line_and_a_failed_exit(project, tmp_path, monkeypatch):
    import pytest_overrefusal.report.files as files

    def broken(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(files, "write_report", broken)
    baseline = tmp_path / "b.json"
    result, out = run(project, "plain", "--overrefusal-no-cache", "--overrefusal-report", str(tmp_path / "r.json"),
                      "--overrefusal-save-baseline", str(baseline))
    assert result.ret == 1 and result.parseoutcomes()["passed"] == 10
    assert_one_line(out, "r.json: not written (No space left on device)")
    assert "report written to" not in out and "over-refusal summary" in out
    assert baseline.exists()  # the other output is still written


def test_an_internal_error_shows_its_traceback_once_and_is_not_rerun_per_item(project, tmp_path, monkeypatch):
    import pytest_overrefusal.engine as engine

    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug in the plugin")
    monkeypatch.setattr(engine, "context_overflow", bug)
    result, out = run(project, "plain", "--overrefusal-no-cache")
    assert result.ret == 1 and result.parseoutcomes()["failed"] == 10
    assert out.count('raise ZeroDivisionError("a bug in the plugin")') == 1, out  # one traceback, then one line
    assert "suites alpha, beta not evaluated: internal error ZeroDivisionError: a bug in the plugin" in out
    assert calls(project) == []


def test_credentials_in_the_spec_never_reach_the_report_files(project, tmp_path):
    """The JSON report keeps the run's settings; a spec's token=/api_key= value or URL userinfo is masked there too."""
    secret = "SECRETr3p0rt"
    report = tmp_path / "out.json"
    result = project.runpytest("alpha.yaml", "-p", "no:randomly", "--overrefusal-no-cache",
                               "--overrefusal-model", f"python:boundary_models:make,name=plain,token={secret}",
                               "--overrefusal-report", str(report))
    out = "\n".join(result.outlines + result.errlines)
    assert report.exists(), out[-2000:]
    assert secret not in report.read_text() and secret not in out
    assert "token=***" in json.loads(report.read_text())["settings"]["model"]


def test_a_model_that_cannot_be_loaded_is_one_line_once_and_named_in_the_summary_and_report(project, tmp_path):
    report = tmp_path / "out.json"
    result, out = run(project, "nothing_here", "--overrefusal-no-cache", "--overrefusal-report", str(report))
    line = assert_one_line(out, "nothing_here")
    assert sum(line in l for l in own_lines(out)) <= 2, out[-3000:]  # the item's line and the summary's, no more
    assert "could not be loaded (see the first failure above)" in out
    assert result.ret != 0
    data = json.loads(report.read_text())
    assert {e["id"] for e in data["not_evaluated"]} == {"alpha", "beta"}, data.get("not_evaluated")
