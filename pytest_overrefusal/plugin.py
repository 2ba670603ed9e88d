"""pytest hooks only: options, collection, tolerated mismatches, summary, fixtures. The work is in `run.py`."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from . import items as nodes
from .catalog import builtin_suites_dir, find_suites
from .errors import OverrefusalError
from .settings import OPTIONS, Settings
from .suite import looks_like_manifest

_MARKER_OUTCOME = pytest.StashKey["object"]()


def pytest_addoption(parser):
    group = parser.getgroup("overrefusal", "over-refusal suites (pytest-overrefusal)")
    for name, help_text in OPTIONS.items():
        dest = "overrefusal_" + name.replace("-", "_")
        action = "append" if name == "suite" else "store"
        group.addoption(f"--overrefusal-{name}", dest=dest, action=action, default=None, help=help_text)
        parser.addini(dest, help=help_text, default="")
    group.addoption("--overrefusal-no-cache", dest="overrefusal_no_cache", action="store_true",
                    help="generate every response afresh and store nothing")
    group.addoption("--overrefusal-force-baseline", dest="overrefusal_force_baseline", action="store_true",
                    help="compare with the baseline even when judge or generation settings differ")


def pytest_configure(config):
    config.addinivalue_line("markers", "overrefusal(suite, max_refusal_rate=None, min_refusal_rate=None, "
                                       "statistic='point', confidence=0.95, limit=None): run a suite for this test; "
                                       "the `overrefusal_results` fixture returns its outcome")
    try:
        settings = Settings.from_config(config)
        if settings.suites:
            _add_suite_args(config, settings)
        run = _new_run(settings)
    except OverrefusalError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[nodes.RUN_KEY] = run
    config.pluginmanager.register(_ExitFollowsGates(), "overrefusal-exit-follows-gates")


def _new_run(settings):
    from .run import OverrefusalRun

    run = OverrefusalRun(settings)
    if settings.baseline is not None:
        from .baseline import load_baseline
        run.baseline = load_baseline(settings.baseline)
    return run


def _add_suite_args(config, settings: Settings) -> None:
    """`--overrefusal-suite ID` brings its manifest into the collection even when no path names it."""
    given = [Path(a.split("::")[0]).resolve() for a in config.args]
    found = find_suites(settings.suites, [*given, Path(config.rootpath) / "suites", builtin_suites_dir()])
    explicit = config.args_source == pytest.Config.ArgsSource.ARGS
    extra = [str(p) for p in found.values()
             if not any(p.resolve() == g or g in p.resolve().parents for g in given) or not explicit]
    if explicit:
        config.args.extend(extra)
    else:
        config.args[:] = extra


def pytest_collect_file(file_path: Path, parent):
    if looks_like_manifest(file_path):
        return nodes.SuiteFile.from_parent(parent, path=file_path)
    return None


def pytest_collection_finish(session):
    nodes.get_run(session.config).note_selection(session.items)


def pytest_itemcollected(item):
    # A marked test gets its suite run (and thresholds checked) even if it never asks for the results.
    names = getattr(item, "fixturenames", None)
    if names is not None and item.get_closest_marker("overrefusal") and "overrefusal_results" not in names:
        names.append("overrefusal_results")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    exc = call.excinfo.value if call.excinfo is not None else None
    if isinstance(exc, nodes.CaseMismatch) and exc.tolerated:
        report.user_properties.append((nodes.TOLERATED, "1"))
        nodes.get_run(item.config).tolerated.append((item.nodeid, exc.result))
    return report


def _tolerated(report) -> bool:
    return report.failed and any(k == nodes.TOLERATED for k, _ in getattr(report, "user_properties", ()))


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report, config):
    if report.when == "call" and _tolerated(report):
        return "tolerated", "t", ("TOLERATED", {"yellow": True})
    return None


class _ExitFollowsGates:
    """A mismatch inside a passing gate's budget stays a recorded failure (so --lf and -k find it) but
    does not count towards the exit status, which follows the gates. Registered per config."""

    def __init__(self):
        self.session = None

    def pytest_sessionstart(self, session):
        self.session = session

    def pytest_runtest_logreport(self, report):
        if report.when == "call" and _tolerated(report) and self.session is not None:
            self.session.testsfailed = max(0, self.session.testsfailed - 1)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    from .report.terminal import CATEGORY_HEADERS, category_rows, format_table, summary_table

    run = nodes.get_run(config)
    outcomes = [run.outcomes[s] for s in sorted(run.outcomes)]
    if not outcomes and not run.skipped_suites:
        return
    tr = terminalreporter
    tr.section("over-refusal summary")
    if outcomes:
        for line in format_table(*summary_table(outcomes, run.judge_tag, run.model_name, run.comparisons)):
            tr.write_line(line)
        if config.get_verbosity() > 0:
            for o in outcomes:
                tr.write_line(f"\n{o.suite.id} by category:")
                for line in format_table(category_rows(o), CATEGORY_HEADERS):
                    tr.write_line("  " + line)
    if run.engine is not None:
        s = run.engine.stats
        tr.write_line(f"responses: {s.requested} requested, {s.cached} from cache, {s.generated} generated "
                      f"in {s.generate_seconds:.1f}s; judged in {s.judge_seconds:.2f}s")
        if s.uncached_reason:
            tr.write_line(f"cache not used: {s.uncached_reason}")
    truncated = sum(o.truncated for o in outcomes)
    if truncated:
        tr.write_line(f"{truncated} response(s) hit the token limit; raise --overrefusal-max-new-tokens "
                      f"if verdicts look wrong", yellow=True)
    if run.tolerated:
        tr.write_line(f"{len(run.tolerated)} mismatching case(s) tolerated within passing gates "
                      f"(rerun them with --lf to see each prompt and response):", yellow=True)
        for nodeid, result in run.tolerated[:20]:
            tr.write_line(f"  {nodeid}: {result.verdict.label}: {result.case.prompt[:70]!r}")
        if len(run.tolerated) > 20:
            tr.write_line(f"  ... and {len(run.tolerated) - 20} more (see the report file)")
    for path, why in run.skipped_suites.items():
        tr.write_line(f"suite skipped: {why}", yellow=True)
    for sid, found in sorted(run.comparisons.items()):
        text = found if isinstance(found, str) else found.describe()
        tr.write_line(f"{sid} {text}", red=isinstance(found, str) or found.regressed)
    if run.settings.report is not None and outcomes:
        tr.write_line(f"report written to {run.settings.report}")
    if run.settings.save_baseline is not None and outcomes:
        tr.write_line(f"baseline saved to {run.settings.save_baseline}")


def pytest_sessionfinish(session, exitstatus):
    run = nodes.get_run(session.config)
    if run.settings.report is not None and run.outcomes and not hasattr(session.config, "workerinput"):
        from .report.files import write_report

        outcomes = [run.outcomes[s] for s in sorted(run.outcomes)]
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(run.settings).items()}
        write_report(run.settings.report, outcomes, run.results.values(), model=run.model_name,
                     judge=run.judge_tag, settings=settings, comparisons=run.comparisons)
    if run.settings.save_baseline is not None and run.outcomes and not hasattr(session.config, "workerinput"):
        from .baseline import save_baseline

        save_baseline(run.settings.save_baseline, [run.outcomes[s] for s in sorted(run.outcomes)],
                      model=run.model_name, judge=run.judge_tag, max_new_tokens=run.settings.max_new_tokens)
    run.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    found = item.stash.get(_MARKER_OUTCOME, None)
    if found is not None and not found.passed:
        raise AssertionError(found.message())
    return result


# -- fixtures (public: overrefusal_model, overrefusal_results) ------------------------------------------
@pytest.fixture(scope="session")
def overrefusal_model(pytestconfig):
    """The model under test, built from --overrefusal-model. Override it in conftest.py with any
    object that has `generate(requests) -> list[Response]`."""
    from .backends.registry import load_backend, parse_spec

    spec = nodes.get_run(pytestconfig).settings.model
    try:
        backend = load_backend(spec)
    except OverrefusalError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield backend
    close = getattr(backend, "close", None)
    if callable(close) and parse_spec(spec).kind != "python":  # a python: object belongs to its module
        close()


@pytest.fixture
def overrefusal_results(request, overrefusal_model):
    """The outcome (rate, per-case results, gate) of the suite named by this test's overrefusal marker."""
    from .marker import outcome_for_marker

    marker = request.node.get_closest_marker("overrefusal")
    if marker is None:
        pytest.fail("overrefusal_results needs @pytest.mark.overrefusal(suite=...) on the test", pytrace=False)
    try:
        found, gated = outcome_for_marker(request.config, nodes.get_run(request.config), marker, overrefusal_model)
    except OverrefusalError as exc:
        pytest.fail(str(exc), pytrace=False)
    if gated:
        request.node.stash[_MARKER_OUTCOME] = found
    return found

