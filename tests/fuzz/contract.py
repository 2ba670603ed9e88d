"""One generated example through the plugin (or the `overrefusal` CLI) in process, and the boundary contract its
outcome must meet: a clean one-line error naming the culprit, or the correct result; never a traceback, a
repetition per item, a hang, a leaked secret, or a changed cached answer.

Each broken clause raises its own exception type from its own line, so hypothesis reports distinct bugs apart."""
from __future__ import annotations

import io
import json
import re
import signal
import sqlite3
import time
import traceback
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import fakes

SECRET = "SECRETxyz"  # the fake secret generated specs and URLs carry; it must never be printed or written
MODEL = "python:fakes:model"  # instant, deterministic: refuses when the prompt holds one of its words
HANG_SECONDS = 40  # far above any bounded example; reaching it is the "hang" finding
INNER = ("-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:hypothesispytest", "-p", "no:xdist",
         "-p", "no:anyio")
_TRACEBACK = re.compile(r"Traceback \(most recent call last\)|INTERNALERROR|^\S+\.py:\d+: in |^>\s{3}", re.M)
_SECTION = re.compile(r"^=+ (ERRORS|FAILURES) =+$")
_REPORTED = re.compile(r"error:|not evaluated:|skipped:|cache not used:", re.I)  # one-line problems elsewhere
_PREFIX = re.compile(r"^(ERROR|FAILED) \S+ - |^E\s+|^ERROR: |^overrefusal( \S+)?: error: ")


class Shown:
    """Hypothesis prints a falsifying example through its own pretty-printer: use the short repr instead."""

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


class Traceback(AssertionError): pass
class NoCleanError(AssertionError): pass
class RepeatedError(AssertionError): pass
class WrongResult(AssertionError): pass
class SecretLeaked(AssertionError): pass
class CacheChanged(AssertionError): pass
class Hung(AssertionError): pass
class Uncapped(AssertionError): pass


def refuses(prompt: str) -> bool:
    """The fake model's behaviour, read independently of the plugin: the oracle for every verdict."""
    return any(word in prompt.lower() for word in fakes.model.words)


@dataclass(frozen=True)
class Expected:
    """A correct run of one suite: its prompts (the oracle keys verdicts by prompt) and its gate."""

    suite: str
    prompts: tuple[str, ...]
    expect: str = "comply"
    max_rate: float | None = 0.5
    min_rate: float | None = None
    limit: int | None = None

    def n(self) -> int:
        return min(self.limit, len(self.prompts)) if self.limit else len(self.prompts)


@dataclass(frozen=True)
class Verdict:
    """What the example must end in. `ok`: a correct run (exit 0/1 as the gate says). `culprits`: a clean error
    naming one of them. Both set: either is acceptable (the input is odd but arguably valid)."""

    ok: Expected | None = None
    culprits: tuple[str, ...] = ()
    capped: tuple[str, ...] = ()  # huge untrusted values: no 200-character piece of them may be echoed
    lenient: bool = False  # the input may or may not parse (a truncated file): any clean ending is fine

    @classmethod
    def valid(cls, expected: Expected) -> "Verdict":
        return cls(ok=expected)

    @classmethod
    def error(cls, *culprits: str, capped: tuple[str, ...] = ()) -> "Verdict":
        return cls(culprits=culprits, capped=capped)


@dataclass
class Outcome:
    ret: int
    out: str
    seconds: float
    folder: Path
    report: Path | None = None
    written: dict[str, str] = field(default_factory=dict)  # files the run wrote (reports, baselines, caches)


class _Alarm(BaseException):
    pass


@contextmanager
def no_hang(seconds: float = HANG_SECONDS):
    """Interrupt a run stuck past `seconds` (SIGALRM reaches the main thread while it waits on a socket)."""
    def ring(signum, frame):
        raise _Alarm()
    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds, 2.0)  # and again every 2 s, should the run swallow the first
    try:
        yield
    except _Alarm:
        raise Hung(f"the run did not finish within {seconds} s") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_plugin(pytester, folder: Path, *args: str, report: Path | None = None) -> Outcome:
    start = time.perf_counter()
    with no_hang(), redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):  # pytester echoes it all
        result = pytester.runpytest_inprocess(*args, *INNER)
    seconds = time.perf_counter() - start
    out = "\n".join(result.outlines + result.errlines)
    return Outcome(ret=int(result.ret), out=out, seconds=seconds, folder=folder, report=report,
                   written=_written(folder))


def run_cli(capsys, folder: Path, argv: list[str]) -> Outcome:
    from pytest_overrefusal.cli import main

    capsys.readouterr()
    start = time.perf_counter()
    escaped = ""
    with no_hang():
        try:
            ret = main(argv)
        except SystemExit as exc:  # argparse's own usage errors: one line on stderr, exit 2
            ret = exc.code if isinstance(exc.code, int) else 2
        except Exception:  # noqa: BLE001 - what a user would see: Python's traceback
            ret, escaped = 1, traceback.format_exc()
    seconds = time.perf_counter() - start
    got = capsys.readouterr()
    return Outcome(ret=int(ret), out=got.out + "\n" + got.err + escaped, seconds=seconds, folder=folder,
                   written=_written(folder))


def _written(folder: Path) -> dict[str, str]:
    texts = {}
    for path in folder.rglob("*"):
        if path.is_file() and not path.name.startswith("input."):
            try:
                texts[str(path.relative_to(folder))] = path.read_bytes().decode("utf-8", "replace")
            except OSError:
                pass
    return texts


# -- the contract -------------------------------------------------------------------------------------------------
def check(outcome: Outcome, verdict: Verdict) -> None:
    show = f"exit {outcome.ret} after {outcome.seconds:.1f}s; output:\n{outcome.out[-6000:]}"
    if outcome.seconds > HANG_SECONDS:
        raise Hung(f"the run took {outcome.seconds:.0f} s; {show}")
    if _TRACEBACK.search(outcome.out):
        raise Traceback(f"a traceback reached the user; {show}")
    if SECRET in outcome.out:
        raise SecretLeaked(f"{SECRET} printed; {show}")
    leaked = [name for name, text in outcome.written.items() if SECRET in text]
    if leaked:
        raise SecretLeaked(f"{SECRET} written into {', '.join(leaked)} under {outcome.folder}; {show}")
    for value in verdict.capped:
        if value[:200] in outcome.out:
            raise Uncapped(f"a huge value ({len(value)} chars, {value[:20]!r}...) was echoed whole; {show}")
    problems = problem_lines(outcome.out)
    _check_not_repeated(problems, verdict.culprits, show)
    ran = outcome.ret in (0, 1) and not _named(problems, verdict.culprits)
    if verdict.lenient and ran:
        return
    if verdict.ok is not None and (ran or not verdict.culprits):
        check_result(outcome, verdict.ok, show)
        return
    if outcome.ret == 0:
        raise NoCleanError(f"broken input ran green (expected an error naming {verdict.culprits}); {show}")
    if not _named(problems, verdict.culprits):
        raise NoCleanError(f"no error line names any of {verdict.culprits}; {show}")


def problem_lines(out: str) -> list[str]:
    """Lines a user reads as the error: ERROR/FAILED summary lines, stderr-style error lines, and the bodies of the
    ERRORS/FAILURES sections, with pytest's prefixes removed."""
    lines, inside = [], False
    for line in out.splitlines():
        if _SECTION.match(line):
            inside = True
            continue
        if line.startswith("=") and line.endswith("="):
            inside = False
        if line.startswith("_") and line.endswith("_"):
            continue
        if inside or _PREFIX.match(line) or _REPORTED.search(line):
            text = _PREFIX.sub("", line).strip()
            if text:
                lines.append(text)
    return lines


def _named(problems: list[str], culprits: tuple[str, ...]) -> bool:
    """Some line names one culprit; "a&&b" asks for both on the same line (the file and its key)."""
    return any(c and all(part in line for part in c.split("&&")) for line in problems for c in culprits)


def _check_not_repeated(problems: list[str], culprits: tuple[str, ...], show: str) -> None:
    """The error itself (a line naming the culprit) at most three times: its section, the summary line and the
    over-refusal summary. Short pointers per item ("not evaluated: see above") are fine."""
    counts: dict[str, int] = {}
    for line in problems:
        if _named([line], tuple(c for c in culprits if len(c) >= 4)):
            counts[line] = counts.get(line, 0) + 1
    worst = max(counts.items(), key=lambda kv: kv[1], default=("", 0))
    if worst[1] > 3:
        raise RepeatedError(f"the same error line appears {worst[1]} times (once per item?): {worst[0][:200]!r}; "
                            f"{show}")


def check_result(outcome: Outcome, expected: Expected, show: str) -> None:
    if outcome.ret not in (0, 1):
        raise WrongResult(f"valid input did not run (expected exit 0 or 1); {show}")
    if outcome.report is None:
        return
    try:
        doc = json.loads(outcome.report.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WrongResult(f"no readable report ({exc}); {show}") from None
    cases = [c for c in doc["cases"] if c["suite"] == expected.suite]
    if len(cases) != expected.n():
        raise WrongResult(f"{len(cases)} case(s) in the report, expected {expected.n()}; {show}")
    wanted = set(expected.prompts)
    for case in cases:
        if case["prompt"] not in wanted:
            raise WrongResult(f"report prompt {case['prompt'][:80]!r} is not one of the data's prompts; {show}")
        if bool(case["refused"]) != refuses(case["prompt"]):
            raise WrongResult(f"verdict for {case['prompt'][:80]!r}: refused={case['refused']}; {show}")
    refusals = sum(refuses(c["prompt"]) for c in cases)
    rate = refusals / len(cases) if cases else 0.0
    if expected.max_rate is not None:
        passed = bool(cases) and rate <= expected.max_rate + 1e-12
    else:
        passed = bool(cases) and rate >= expected.min_rate - 1e-12
    if outcome.ret != (0 if passed else 1):
        raise WrongResult(f"exit {outcome.ret}, but the gate {'passes' if passed else 'fails'} at rate "
                          f"{rate:.3f}; {show}")


# -- cached answers ---------------------------------------------------------------------------------------------
def cached_rows(db: Path) -> dict[str, tuple] | None:
    """Every stored answer (key -> text, finish reason, checksum), or None when the file is not a readable cache."""
    if not db.is_file():
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            conn.text_factory = bytes  # a flipped byte may leave a row that is not UTF-8
            rows = conn.execute("SELECT key, text, finish_reason, checksum FROM responses").fetchall()
    except sqlite3.Error:
        return None
    return {key: tuple(rest) for key, *rest in rows}


def check_cache_kept(db: Path, before_rows: dict | None, before_bytes: bytes | None, verdict_was_error: bool,
                     outcome: Outcome) -> None:
    show = f"exit {outcome.ret}; output:\n{outcome.out[-3000:]}"
    if before_rows is not None:
        after = cached_rows(db) or {}
        lost = [k for k, v in before_rows.items() if after.get(k) != v]
        if lost:
            raise CacheChanged(f"{len(lost)} cached answer(s) changed or vanished; {show}")
    elif before_bytes is not None and verdict_was_error and outcome.ret != 0:
        now = db.read_bytes() if db.is_file() else None
        if now != before_bytes:
            raise CacheChanged(f"a damaged cache file was modified instead of being reported as it was; {show}")
