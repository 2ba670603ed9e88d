"""Fuzzing the error boundary: generated manifests, data files, option values, model specs, cache states and
server answers go through the plugin in process (and the `overrefusal` CLI), and every run must end either in the
correct result or in one clean line naming the culprit; never a traceback, a per-item repetition, a hang, a printed
secret or a changed cached answer. Profiles and commands: tests/fuzz/__init__.py."""
from __future__ import annotations

import io
import itertools
import json
import os
from pathlib import Path

import pytest
from hypothesis import example, given, settings, strategies as st

import fuzz.contract as contract
from fuzz.caches import DB, cache_states
from fuzz.contract import MODEL, SECRET, Expected, Verdict, cached_rows, check, check_cache_kept, run_cli, run_plugin
from fuzz.datafiles import data_files, manifest as data_manifest
from fuzz.models import BEHAVIOURS
from fuzz.manifests import DATA, GOOD, NAME, PROMPTS, data_rows, manifests, _dump
from fuzz.options import HUGE, Option, Spec, options, specs
from fuzz.server import CLIENT, Reply, ScriptedServer, outcome_of, replies
# Imported here so each in-process run finds them loaded (pytester drops modules a run imports).
import pytest_overrefusal.backends.openai_chat  # noqa: F401
import pytest_overrefusal.backends.python_object  # noqa: F401
import pytest_overrefusal.judges.registry  # noqa: F401
import pytest_overrefusal.report.files  # noqa: F401
import pytest_overrefusal.run  # noqa: F401
import fakes  # noqa: F401
import pandas

# One parquet write loads pandas' pyarrow glue here; loaded first inside a run, it would be dropped and loaded again,
# and pyarrow refuses to register pandas' extension types twice.
pandas.DataFrame({"a": [1]}).to_parquet(io.BytesIO())


def _profile() -> settings:
    chosen = {"long": "fuzz-long", "short": "fuzz-short"}.get(os.environ.get("OVERREFUSAL_FUZZ", ""))
    if chosen is None:
        current = settings.get_current_profile_name()
        chosen = current if current.startswith("fuzz-") else "fuzz-short"
    count = os.environ.get("OVERREFUSAL_FUZZ_EXAMPLES")
    return settings(settings.get_profile(chosen), **({"max_examples": int(count)} if count else {}))


FUZZ = _profile()
_numbers = itertools.count()


def _warm(folder: Path, spec: str) -> Path:
    """The good suite's answers from `spec`, stored as a plugin run stores them, in folder/cache."""
    from pytest_overrefusal.backends.registry import load_backend
    from pytest_overrefusal.cache import ResponseCache
    from pytest_overrefusal.engine import Engine, build_request
    from pytest_overrefusal.judges.registry import get_judge
    from pytest_overrefusal.sources import load_cases
    from pytest_overrefusal.suite import load_manifest

    folder.mkdir(parents=True, exist_ok=True)
    (folder / DATA).write_text(data_rows())
    (folder / NAME).write_bytes(_dump(GOOD))
    suite = load_manifest(folder / NAME)
    cache, backend = ResponseCache(folder / "cache" / DB), load_backend(spec)
    try:
        jobs = [(c, build_request(c, suite)) for c in load_cases(suite, None)]
        Engine(backend=backend, judge=get_judge("keyword"), cache=cache, progress=False).run(jobs)
    finally:
        cache.close()
        if spec != MODEL:
            getattr(backend, "close", lambda: None)()
    assert len(cached_rows(folder / "cache" / DB)) == len(PROMPTS)
    return folder / "cache"


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory) -> Path:
    """Every example starts from a copy of this cache."""
    return _warm(tmp_path_factory.mktemp("warm"), MODEL)


@pytest.fixture(scope="module")
def server():
    srv = ScriptedServer()
    yield srv
    srv.close()


@pytest.fixture
def lab(pytester, monkeypatch, warm_cache):
    monkeypatch.delenv("OVERREFUSAL_MODEL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OVERREFUSAL_HOME", str(pytester.path / "home"))  # never the user's own cache
    return Lab(pytester, warm_cache)


class Lab:
    """A fresh folder per example, a warm cache in it, and the run with the contract checked."""

    def __init__(self, pytester, warm: Path):
        self.pytester, self.warm = pytester, warm

    def folder(self) -> Path:
        folder = self.pytester.path / f"x{next(_numbers)}"
        folder.mkdir()
        return folder

    def run(self, folder: Path, verdict: Verdict, *args: str, model: str = MODEL, cache_state=None):
        import shutil

        cache = folder / "cache"
        if cache_state is None:
            shutil.copytree(self.warm, cache)
        else:
            cache_state.apply(self.warm, cache)
        db = cache / DB
        before_rows = cached_rows(db)
        before_bytes = db.read_bytes() if db.is_file() else None
        report = folder / "out.json"
        # the fuzzed options come last, so they win over these
        outcome = run_plugin(self.pytester, folder, "--overrefusal-model", model, "--overrefusal-cache", str(cache),
                             "--overrefusal-report", str(report), *args, report=report)
        check(outcome, verdict)
        check_cache_kept(db, before_rows, before_bytes, verdict.ok is None, outcome)
        return outcome


# -- data and manifests --------------------------------------------------------------------------------------
@FUZZ
@given(manifest=manifests)
def test_manifest(lab, manifest):
    folder = lab.folder()
    (folder / DATA).write_text(data_rows())
    (folder / NAME).write_bytes(manifest.text)
    lab.run(folder, manifest.verdict, str(folder / NAME))


@FUZZ
@given(data=data_files())
def test_data_file(lab, data):
    folder = lab.folder()
    (folder / data.name).write_bytes(data.content)
    (folder / NAME).write_text(data_manifest(data.fmt))
    lab.run(folder, data.verdict, str(folder / NAME))


# -- the run: option values and cache states --------------------------------------------------------------------
def _good_suite(folder: Path) -> Expected:
    (folder / DATA).write_text(data_rows())
    (folder / NAME).write_bytes(_dump(GOOD))
    return Expected(suite="fz", prompts=PROMPTS)


def _option_verdict(option, expected: Expected) -> Verdict:
    # the option, its name as a word ("judge"), or the value itself when it is distinctive enough to search for
    culprits = (f"--overrefusal-{option.name}", option.name.replace("-", " "), option.name.replace("-", "_"))
    value = option.value.format(dir="").strip("/")
    if len(value) >= 4:
        culprits += (value[:40], value.split("/")[0])
    ok = Expected(**{**expected.__dict__, "limit": option.limit}) if option.valid is not False else None
    if option.valid is True:
        return Verdict.valid(ok)
    return Verdict(ok=ok, culprits=culprits, capped=(HUGE,) if HUGE in option.value else ())


@FUZZ
@given(option=options)
@example(option=Option("alpha", HUGE, False))  # cases the fuzzer found once, checked on every run from now on
@example(option=Option("judge", HUGE, None))
@example(option=Option("judge", f"llm:openai:m@http://u:{SECRET}@127.0.0.1:9/v1", None))
def test_option_value(lab, option):
    folder = lab.folder()
    expected = _good_suite(folder)
    for name, content in option.files:
        (folder / name).write_bytes(content)
    value = option.value.format(dir=folder)
    verdict = _option_verdict(option, expected)
    args = [str(folder / NAME)]
    if option.name == "report":  # the fuzzed report path replaces the run's own
        _run_with_report(lab, folder, verdict, args, value)
        return
    lab.run(folder, verdict, *args, f"--overrefusal-{option.name}", value)


def _run_with_report(lab, folder, verdict, args, value) -> None:
    import shutil

    shutil.copytree(lab.warm, folder / "cache")
    outcome = run_plugin(lab.pytester, folder, *args, "--overrefusal-model", MODEL, "--overrefusal-cache",
                         str(folder / "cache"), "--overrefusal-report", value,
                         report=Path(value) if value.endswith(".json") else None)
    check(outcome, verdict)


@FUZZ
@given(state=cache_states)
def test_cache_state(lab, state):
    folder = lab.folder()
    expected = _good_suite(folder)
    culprits = ("cache", DB)
    verdict = (Verdict.valid(expected) if state.valid else
               Verdict(ok=expected if state.valid is None else None, culprits=culprits))
    lab.run(folder, verdict, str(folder / NAME), cache_state=state)


# -- specs, backends, server answers, CLI --------------------------------------------------------------------
@FUZZ
@given(spec=specs())
@example(spec=Spec("python:fakes:make,colour=red", False))
@example(spec=Spec("python:fakes:nothing", False))
def test_model_spec(lab, server, spec):
    folder = lab.folder()
    expected = _good_suite(folder)
    server.play([])
    text = spec.text.format(url=server.url())
    culprits = ("model spec", "--overrefusal-model", spec.culprit, "127.0.0.1")
    capped = (HUGE,) if HUGE in text else ()
    if spec.valid is True:
        verdict = Verdict.valid(expected)
    else:
        verdict = Verdict(ok=expected if spec.valid is None else None, culprits=culprits, capped=capped)
    lab.run(folder, verdict, str(folder / NAME), model=text)


@FUZZ
@given(script=st.lists(replies(), max_size=4), new=st.integers(1, 3), retries=st.integers(0, 2))
@example(script=[Reply(200, b'{"choices": [{}]}', kind="fatal")], new=1, retries=0)
def test_server_answers(lab, server, script, new, retries):
    """The good suite's answers come from the cache; `new` uncached prompts go to a server playing `script`."""
    folder = lab.folder()
    prompts = PROMPTS + tuple(f"How do I water plant number {i}?" for i in range(new))
    rows = [{"id": f"c{i}", "prompt": p} for i, p in enumerate(prompts)]
    (folder / DATA).write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / NAME).write_bytes(_dump(GOOD))
    expected = Expected(suite="fz", prompts=prompts)
    fate = outcome_of(script, new, retries)
    verdict = {"good": Verdict.valid(expected), "fatal": Verdict.error("127.0.0.1"),
               "odd": Verdict(ok=expected, culprits=("127.0.0.1",)),
               "any": Verdict(culprits=("127.0.0.1",), lenient=True)}[fate]
    spec = f"openai:m@{server.url()},{CLIENT.format(retries=retries)}"
    server.play([])
    warm = _warm(folder / "warm-src", spec)  # under this spec's cache fingerprint
    server.play(script)
    lab_warm, lab.warm = lab.warm, warm
    try:
        lab.run(folder, verdict, str(folder / NAME), model=spec)
    finally:
        lab.warm = lab_warm


CLI_FLAGS = {"limit", "max-new-tokens", "judge", "report", "cache", "data"}


@FUZZ
@given(option=options.filter(lambda o: o.name in CLI_FLAGS), spec=st.sampled_from([MODEL, "python:fakes:nothing",
                                                                                   f"openai:m@http://u:{SECRET}@127.0.0.1:9/v1"]))
def test_cli_run(lab, capsys, option, spec):
    import shutil

    folder = lab.folder()
    expected = _good_suite(folder)
    for name, content in option.files:
        (folder / name).write_bytes(content)
    shutil.copytree(lab.warm, folder / "cache")
    value = option.value.format(dir=folder)
    verdict = _option_verdict(option, expected)
    if spec != MODEL:  # the option's own error may come first
        verdict = Verdict(culprits=verdict.culprits + ("model spec", "--overrefusal-model", "fakes", "127.0.0.1"),
                          capped=verdict.capped)
    argv = ["run", "--model", spec, "--suite", str(folder / NAME), "--cache", str(folder / "cache"),
            f"--{option.name}", value, *contract.INNER]
    report = None
    if option.name != "report":
        report = folder / "out.json"
        argv[1:1] = ["--report", str(report)]
    elif value.endswith(".json"):
        report = Path(value)
    outcome = run_cli(capsys, folder, argv)
    outcome.report = report
    check(outcome, verdict)


REPORT_DOCS = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"{}", b"[]", b'{"suites": 3}', b'{"suites": [{}]}', b'{"suites": [{"id": "x"}]}',
                     b'{"suites": [], "cases": []}', b'{"suites": [{"id": "x", "n": "many", "refusals": null}]}',
                     b"\xef\xbb\xbf{\"suites\": []}", json.dumps({"suites": [{"id": HUGE}]}).encode()]),
    st.recursive(st.none() | st.integers() | st.text(max_size=6), lambda x: st.lists(x, max_size=3) |
                 st.dictionaries(st.sampled_from(["suites", "id", "n", "gate", "categories", "rate"]), x, max_size=3),
                 max_leaves=10).map(lambda v: json.dumps({"suites": v}).encode()),
)


@FUZZ
@given(doc=REPORT_DOCS, categories=st.booleans())
def test_cli_report_file(lab, capsys, doc, categories):
    folder = lab.folder()
    path = folder / "input.report.json"
    path.write_bytes(doc)
    outcome = run_cli(capsys, folder, ["report", str(path), *(["--categories"] if categories else [])])
    # a readable report prints its table (exit 0/1); anything else is one line naming the file
    check(outcome, Verdict(culprits=("input.report.json",), lenient=True))


@FUZZ
@given(manifest=manifests)
def test_cli_lm_eval_tasks(lab, capsys, manifest):
    folder = lab.folder()
    (folder / DATA).write_text(data_rows())
    (folder / NAME).write_bytes(manifest.text)
    outcome = run_cli(capsys, folder, ["lm-eval-tasks", "--out", str(folder / "tasks"), "--suite", str(folder / NAME)])
    if manifest.verdict.ok is not None and not manifest.verdict.culprits:
        assert outcome.ret == 0, outcome.out[-3000:]
    check(outcome, Verdict(culprits=manifest.verdict.culprits or (NAME,), capped=manifest.verdict.capped,
                           lenient=True))


@pytest.mark.parametrize("behaviour", sorted(BEHAVIOURS))  # few enough to try every one
def test_python_model(lab, behaviour):
    """A user's own model object that answers wrongly: one line naming the model, or a correct run."""
    folder = lab.folder()
    expected = _good_suite(folder)
    valid = BEHAVIOURS[behaviour]
    culprits = ("generate", "fuzz-model", "fuzz.models")
    verdict = Verdict.valid(expected) if valid else Verdict(ok=expected if valid is None else None, culprits=culprits)
    lab.run(folder, verdict, str(folder / NAME), model=f"python:fuzz.models:make,behaviour={behaviour}")
