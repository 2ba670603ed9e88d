"""The plugin's one object per pytest run, kept on the config: every hook in `plugin.py` hands over to it.

It owns the start (settings, suite arguments, the run state in `run.py`), collection, the run of each item,
recording (a `report.writer.ReportWriter` registered like pytest's `junitxml.LogXML`), the finish (exit status)
and the summary lines (`report/summary.py`)."""
from __future__ import annotations

from pathlib import Path

import pytest

from .errors import OverrefusalError, printable_line
from .run import OverrefusalRun
from .settings import Settings

SESSION_KEY = pytest.StashKey["OverrefusalSession"]()
_MARKER_OUTCOME = pytest.StashKey["object"]()
MARKER_HELP = ("overrefusal(suite, max_refusal_rate=None, min_refusal_rate=None, statistic='point', confidence=0.95, "
               "limit=None): run a suite for this test; the `overrefusal_results` fixture returns its outcome")


def get_session(config) -> OverrefusalSession:
    return config.stash[SESSION_KEY]


class OverrefusalSession:
    def __init__(self, config, run: OverrefusalRun):
        from .report.writer import ReportWriter

        self.config = config
        self.run = run
        self.writer = ReportWriter(run.settings)
        self._session = None

    # -- start ------------------------------------------------------------------------------------------
    @classmethod
    def start(cls, config) -> None:
        config.addinivalue_line("markers", MARKER_HELP)
        try:
            settings = Settings.from_config(config)
            from .node_ids import resolve_args

            resolve_args(config)  # ids printed for manifests outside the rootdir map back to their files
            if settings.suites:
                _add_suite_args(config, settings)
            self = cls(config, _new_run(settings))
        except OverrefusalError as exc:
            raise pytest.UsageError(printable_line(str(exc))) from None
        config.stash[SESSION_KEY] = self
        capman = config.pluginmanager.getplugin("capturemanager")
        if capman is not None:  # download and toy-build progress show through output capture
            from .console import use_console
            use_console(capman.global_and_fixture_disabled)
        config.pluginmanager.register(self.writer, "overrefusal-report-writer")
        config.pluginmanager.register(self, "overrefusal-session")  # sees every report, xdist workers' too

    def begin(self, session) -> None:
        from .junit import adapt

        self._session = session
        adapt(self.config)  # --junitxml: tolerated mismatches as xfail-style skips, suite ids as classnames

    # -- collection -------------------------------------------------------------------------------------
    def collect_file(self, file_path: Path, parent):
        from .items import SuiteFile
        from .node_ids import file_nodeid
        from .suite import looks_like_manifest, looks_like_yaml

        # A YAML named on the command line is meant as a suite: without the schema line it errors, not vanishes.
        if looks_like_manifest(file_path) or (looks_like_yaml(file_path) and parent.session.isinitpath(file_path)):
            nodeid = file_nodeid(file_path, self.config.rootpath)
            return SuiteFile.from_parent(parent, path=file_path, **({} if nodeid is None else {"nodeid": nodeid}))
        return None

    def select(self, items) -> None:
        from .node_ids import keep_selected

        keep_selected(self.config, items)  # `file::suite::gate` arguments, which pytest cannot match by name itself

    def collected(self, items) -> None:
        self.run.note_selection(items)

    @staticmethod
    def item_collected(item) -> None:
        # A marked test gets its suite run (and thresholds checked) even if it never asks for the results.
        names = getattr(item, "fixturenames", None)
        if names is not None and item.get_closest_marker("overrefusal") and "overrefusal_results" not in names:
            names.append("overrefusal_results")

    # -- the run and recording --------------------------------------------------------------------------
    def make_report(self, item, call, report) -> None:
        from .items import SuiteItem
        from .report.carry import attach_records

        if isinstance(item, SuiteItem):
            attach_records(self.run, item, call, report)

    @staticmethod
    def teststatus(report):
        from .report.carry import tolerated

        return ("tolerated", "t", ("TOLERATED", {"yellow": True})) if tolerated(report) else None

    def pytest_runtest_logreport(self, report) -> None:
        """The exit status follows the gates: a mismatch inside a passing gate's budget stays a recorded failure
        (so --lf and -k find it) but is not counted as a failed test."""
        from .report.carry import tolerated

        if tolerated(report) and self._session is not None:
            self._session.testsfailed = max(0, self._session.testsfailed - 1)

    @staticmethod
    def check_marker_gate(item) -> None:
        found = item.stash.get(_MARKER_OUTCOME, None)
        if found is not None and not found.passed:
            raise AssertionError(found.message())

    def open_model(self):
        """The model under test, built from --overrefusal-model; one that cannot load fails its items, once."""
        from .backends.registry import load_backend

        try:
            return load_backend(self.run.settings.model)
        except OverrefusalError as exc:  # every item would print a cached fixture error: the items show it once
            from .boundary import UnloadableModel

            return UnloadableModel(str(exc))

    def close_model(self, backend) -> None:
        from .backends.registry import parse_spec
        from .boundary import UnloadableModel

        close = getattr(backend, "close", None)
        if not isinstance(backend, UnloadableModel) and callable(close) \
                and parse_spec(self.run.settings.model).kind != "python":  # a python: object belongs to its module
            close()

    def marker_results(self, request, model):
        from .items import fail_if_unloadable
        from .marker import outcome_for_marker

        fail_if_unloadable(self.config, model)
        marker = request.node.get_closest_marker("overrefusal")
        if marker is None:
            pytest.fail("overrefusal_results needs @pytest.mark.overrefusal(suite=...) on the test", pytrace=False)
        try:
            found, gated = outcome_for_marker(self.config, self.run, marker, model)
            message = ""
        except OverrefusalError as exc:
            message = str(exc)
        if message:
            pytest.fail(message, pytrace=False)
        if gated:
            request.node.stash[_MARKER_OUTCOME] = found
        return found

    # -- finish and summary -----------------------------------------------------------------------------
    def finish(self, session) -> None:
        """After the writer wrote the files: a file not written, or a suite not evaluated, fails the run."""
        if not hasattr(self.config, "workerinput"):
            if (self.writer.errors or self.writer.records.errors) and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        self.run.close()

    def summary(self, terminalreporter) -> None:
        from .report.summary import write_summary

        write_summary(terminalreporter, self.run, self.writer, verbose=self.config.get_verbosity() > 0)


def _new_run(settings: Settings) -> OverrefusalRun:
    from .preflight import check_outputs

    check_outputs(settings)  # report, baseline and cache paths: before anything is generated
    run = OverrefusalRun(settings)
    if settings.baseline is not None:
        from .baseline.storage import load_baseline
        run.baseline = load_baseline(settings.baseline)
    return run


def _add_suite_args(config, settings: Settings) -> None:
    """`--overrefusal-suite ID` brings its manifest into the collection even when no path names it."""
    from .catalog import resolve_suites

    given = [Path(a.split("::")[0]).resolve() for a in config.args]
    found = resolve_suites(settings.suites, project=Path(config.rootpath), also=given)
    explicit = config.args_source == pytest.Config.ArgsSource.ARGS
    extra = [str(p) for p in found.values()
             if not any(p.resolve() == g or g in p.resolve().parents for g in given) or not explicit]
    if explicit:
        config.args.extend(extra)
    else:
        config.args[:] = extra
