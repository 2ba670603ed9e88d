"""pytest hooks only: options, collection, tolerated mismatches, summary, fixtures. The work is in `run.py`."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from . import items as nodes
from .catalog import resolve_suites
from .errors import OverrefusalError
from .node_ids import file_nodeid, keep_selected, resolve_args
from .settings import OPTIONS, Settings
from .suite import looks_like_manifest, looks_like_yaml

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
        resolve_args(config)  # ids printed for manifests outside the rootdir map back to their files
        if settings.suites:
            _add_suite_args(config, settings)
        run = _new_run(settings)
    except OverrefusalError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[nodes.RUN_KEY] = run
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is not None:  # download and toy-build progress show through output capture
        from .console import use_console
        use_console(capman.global_and_fixture_disabled)
    config.pluginmanager.register(_ReportListener(run.records), "overrefusal-report-listener")


def _new_run(settings):
    from .preflight import check_outputs
    from .run import OverrefusalRun

    check_outputs(settings)  # report, baseline and cache paths: before anything is generated
    run = OverrefusalRun(settings)
    if settings.baseline is not None:
        from .baseline.storage import load_baseline
        run.baseline = load_baseline(settings.baseline)
    return run


def _add_suite_args(config, settings: Settings) -> None:
    """`--overrefusal-suite ID` brings its manifest into the collection even when no path names it."""
    given = [Path(a.split("::")[0]).resolve() for a in config.args]
    found = resolve_suites(settings.suites, project=Path(config.rootpath), also=given)
    explicit = config.args_source == pytest.Config.ArgsSource.ARGS
    extra = [str(p) for p in found.values()
             if not any(p.resolve() == g or g in p.resolve().parents for g in given) or not explicit]
    if explicit:
        config.args.extend(extra)
    else:
        config.args[:] = extra


def pytest_collect_file(file_path: Path, parent):
    # A YAML named on the command line is meant as a suite: without the schema line it errors, not vanishes.
    if looks_like_manifest(file_path) or (looks_like_yaml(file_path) and parent.session.isinitpath(file_path)):
        nodeid = file_nodeid(file_path, parent.config.rootpath)
        extra = {} if nodeid is None else {"nodeid": nodeid}
        return nodes.SuiteFile.from_parent(parent, path=file_path, **extra)
    return None


def pytest_sessionstart(session):
    from .junit import adapt

    adapt(session.config)  # --junitxml: tolerated mismatches as xfail-style skips, suite ids as classnames


def pytest_collection_modifyitems(config, items):
    keep_selected(config, items)  # `file::suite::gate` arguments, which pytest cannot match by name itself


def pytest_collection_finish(session):
    nodes.get_run(session.config).note_selection(session.items)


def pytest_itemcollected(item):
    # A marked test gets its suite run (and thresholds checked) even if it never asks for the results.
    names = getattr(item, "fixturenames", None)
    if names is not None and item.get_closest_marker("overrefusal") and "overrefusal_results" not in names:
        names.append("overrefusal_results")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach plain-data records to call reports; pytest-xdist carries report attributes to the controller."""
    report = yield
    if isinstance(item, nodes.SuiteItem):
        report.overrefusal_suite_id = item.suite_id  # every phase: JUnit's classname (junit.py)
    if call.when != "call" or not isinstance(item, nodes.SuiteItem):
        return report
    run = nodes.get_run(item.config)
    if isinstance(item, nodes.PreferenceItem):
        _attach_pair_records(item, run, call, report)
        return report
    if run.engine is not None:  # every report carries its process's totals: each worker's last one counts
        report.overrefusal_stats = run.stats_record()
    report.overrefusal_suite_error = run.error_record(item.suite_id)  # a suite that could not be evaluated
    if isinstance(item, nodes.GateItem) and item.suite_id in run.outcomes:
        report.overrefusal_gate = run.gate_record(item.suite_id)
    elif (item.suite_id, item.case_id) in run.results:
        from .report.files import case_record

        report.overrefusal_case = case_record(run.results[(item.suite_id, item.case_id)])
        exc = call.excinfo.value if call.excinfo is not None else None
        report.overrefusal_tolerated = isinstance(exc, nodes.CaseMismatch) and exc.tolerated
    return report


def _attach_pair_records(item, run, call, report) -> None:
    if isinstance(item, nodes.PairGateItem):
        if item.suite_id in run.pair_outcomes:
            counts = run.pair_counts.get(item.suite_id)
            report.overrefusal_pair_gate = {**run.pair_outcomes[item.suite_id].record(run.model_name),
                                            "scores": asdict(counts) if counts else None}
    elif isinstance(item, nodes.PairItem):
        exc = call.excinfo.value if call.excinfo is not None else None
        report.overrefusal_tolerated = isinstance(exc, nodes.PairFlagged) and exc.tolerated


def _tolerated(report) -> bool:
    return report.failed and getattr(report, "overrefusal_tolerated", False)


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report, config):
    if report.when == "call" and _tolerated(report):
        return "tolerated", "t", ("TOLERATED", {"yellow": True})
    return None


class _ReportListener:
    """Sees every test report (a serial run's own, or those xdist workers send the controller).

    It collects the records summary and report files are built from, and keeps the exit status following the
    gates: a mismatch inside a passing gate's budget stays a recorded failure (so --lf and -k find it) but is not
    counted as a failed test."""

    def __init__(self, records):
        self.records = records
        self.session = None

    def pytest_sessionstart(self, session):
        self.session = session

    def pytest_runtest_logreport(self, report):
        self.records.add(report)
        if report.when == "call" and _tolerated(report):
            if self.session is not None:
                self.session.testsfailed = max(0, self.session.testsfailed - 1)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    from .report.terminal import (CATEGORY_HEADERS, category_rows, describe_comparison, format_table,
                                  judge_error_line, problem_lines, summary_table)

    run = nodes.get_run(config)
    records = run.records
    _preference_summary(terminalreporter, records)
    suites = records.ordered_suites()
    problems = problem_lines(records, run.output_errors)
    if not suites and not run.skipped_suites and not problems:
        if records.pair_suites and run.settings.report is not None:
            terminalreporter.write_line(f"report written to {run.settings.report}")
        return
    tr = terminalreporter
    tr.section("over-refusal summary")
    if suites:
        for line in format_table(*summary_table(suites, records.judge, records.model)):
            tr.write_line(line)
        judge_line = judge_error_line(suites)  # how far the judge's own errors can move these rates
        if judge_line:
            tr.write_line(judge_line)
        if config.get_verbosity() > 0:
            for s in suites:
                tr.write_line(f"\n{s['id']} by category:")
                for line in format_table(category_rows(s), CATEGORY_HEADERS):
                    tr.write_line("  " + line)
        t = records.totals()
        tr.write_line(f"responses: {t['requested']} requested, {t['cached']} from cache, {t['generated']} generated "
                      f"in {t['generate_seconds']:.1f}s"
                      + (f" (model loaded in {t['load_seconds']:.1f}s)" if t["load_seconds"] >= 0.05 else "")
                      + f"; judged in {t['judge_seconds']:.2f}s")
        if t["uncached_reason"]:
            tr.write_line(f"cache not used: {t['uncached_reason']}")
        if t["unparsed_judge_answers"]:
            tr.write_line(f"{t['unparsed_judge_answers']} judge answer(s) named no label; their verdicts fell back "
                          f"to the keyword judge and say so in their reason", red=True)
    truncated = sum(s["truncated"] for s in suites)
    if truncated:
        tr.write_line(f"{truncated} response(s) hit the token limit; raise --overrefusal-max-new-tokens "
                      f"if verdicts look wrong", yellow=True)
    if records.tolerated:
        tr.write_line(f"{len(records.tolerated)} mismatching case(s) tolerated within passing gates "
                      f"(rerun them with --lf to see each prompt and response):", yellow=True)
        for nodeid, case in records.ordered_tolerated()[:20]:
            tr.write_line(f"  {nodeid}: {case['label']}: {case['prompt'][:70]!r}")
        if len(records.tolerated) > 20:
            tr.write_line(f"  ... and {len(records.tolerated) - 20} more (see the report file)")
    for why in run.skipped_suites.values():
        tr.write_line(f"suite skipped: {why}", yellow=True)
    for line, is_error in problems:
        tr.write_line(line, red=is_error, yellow=not is_error)
    for s in suites:
        compared = s.get("baseline")
        if compared is not None:
            tr.write_line(f"{s['id']} {describe_comparison(compared)}",
                          red=not compared["comparable"] or compared["regressed"])
    if run.settings.report is not None and (suites or records.pair_suites or records.errors) \
            and "report" not in run.output_errors:
        tr.write_line(f"report written to {run.settings.report}")
    if run.settings.save_baseline is not None and suites and "baseline" not in run.output_errors:
        tr.write_line(f"baseline saved to {run.settings.save_baseline}")


def _preference_summary(tr, records) -> None:
    from .report.terminal import format_table

    if not records.pair_suites:
        return
    tr.section("preference pairs (likelihood displacement)")
    rows = [(g["id"], str(g["n"]), str(g["flagged"]), f"{g['fraction']:.3f}", f"ln-CHES > {g['flag_above']:g}",
             g["gate"], "PASS" if g["passed"] else "FAIL", f"{g['mean_ln_ches']:.3f}",
             "-" if g["reference"] is None else f"{g['over_drop']} > {g['max_logp_drop']:g} vs {g['reference']}",
             g["model"]) for g in records.ordered_pair_suites()]
    for line in format_table(rows, ("suite", "n", "flagged", "fraction", "flag", "gate", "result", "mean ln-CHES",
                                    "log p(chosen) drops", "model")):
        tr.write_line(line)
    counted = [g["scores"] for g in records.pair_suites.values() if g.get("scores")]
    if counted:
        tr.write_line(f"pair scores: {sum(c['computed'] for c in counted)} computed, "
                      f"{sum(c['cached'] for c in counted)} from cache")
    if records.tolerated_pairs:
        tr.write_line(f"{len(records.tolerated_pairs)} flagged pair(s) tolerated within passing gates:", yellow=True)
        for nodeid in records.ordered_tolerated_pairs()[:20]:
            tr.write_line(f"  {nodeid}")


def pytest_sessionfinish(session, exitstatus):
    run = nodes.get_run(session.config)
    if not hasattr(session.config, "workerinput"):
        from .report.files import write_outputs

        run.output_errors = write_outputs(run)  # a file that cannot be written is one line in the summary
        if (run.output_errors or run.records.errors) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    run.close()


def _pair_model(records) -> str:
    return next((g["model"] for g in records.pair_suites.values()), "")


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
    except OverrefusalError as exc:  # every item would print a cached fixture error: the items show it once
        from .boundary import UnloadableModel

        yield UnloadableModel(str(exc))
        return
    yield backend
    close = getattr(backend, "close", None)
    if callable(close) and parse_spec(spec).kind != "python":  # a python: object belongs to its module
        close()


@pytest.fixture
def overrefusal_results(request, overrefusal_model):
    """The outcome (rate, per-case results, gate) of the suite named by this test's overrefusal marker."""
    from .marker import outcome_for_marker

    nodes.fail_if_unloadable(request.config, overrefusal_model)
    marker = request.node.get_closest_marker("overrefusal")
    if marker is None:
        pytest.fail("overrefusal_results needs @pytest.mark.overrefusal(suite=...) on the test", pytrace=False)
    try:
        found, gated = outcome_for_marker(request.config, nodes.get_run(request.config), marker, overrefusal_model)
        message = ""
    except OverrefusalError as exc:
        message = str(exc)
    if message:
        pytest.fail(message, pytrace=False)
    if gated:
        request.node.stash[_MARKER_OUTCOME] = found
    return found

