"""The report and baseline writer, registered with the plugin manager as pytest registers its `junitxml.LogXML`:
it sees every test report (a serial run's own, or those xdist workers send the controller), keeps the records
they carry, and writes the files when the session finishes."""
from __future__ import annotations

import contextlib
import csv
from dataclasses import asdict
from pathlib import Path

import pytest

from ..aggregate import Records
from ..errors import OverrefusalError
from ..settings import Settings
from . import files


class ReportWriter:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.records = Records.for_kinds()
        self.errors: dict[str, str] = {}  # "report" / "baseline" -> why it was not written

    def pytest_runtest_logreport(self, report) -> None:
        self.records.add(report)

    @pytest.hookimpl(tryfirst=True)  # before the session's own sessionfinish reads `errors`
    def pytest_sessionfinish(self, session) -> None:
        if not hasattr(session.config, "workerinput"):  # the controller (or a serial run) writes
            self.errors = self.write()

    def write(self) -> dict[str, str]:
        """The report and the baseline from the records; each written or not on its own (one failing keeps the
        other). Returns output name -> one line saying why it was not written."""
        from ..baseline.storage import save_baseline

        records, settings, problems = self.records, self.settings, {}
        prompts = records.of("prompts")
        if settings.report is not None and (records.any_suite() or records.errors):
            with _output_boundary("report", "--overrefusal-report", settings.report, problems):
                files.write_report(settings.report, records, model=self.model(), judge=records.judge,
                                   settings=self.plain_settings())
        if settings.save_baseline is not None and prompts.suites:
            with _output_boundary("baseline", "--overrefusal-save-baseline", settings.save_baseline, problems):
                save_baseline(settings.save_baseline, [s.to_dict() for s in prompts.ordered_suites()],
                              [c.to_dict() for c in prompts.ordered_rows()], model=records.model, judge=records.judge)
        return problems

    def model(self) -> str:
        """The model of the verdicts; else of any suite row that names one; else of a suite that failed."""
        named = [getattr(s, "model", "") for k in self.records.kinds.values() for s in k.suites.values()]
        return self.records.model or next((m for m in named if m), "") or \
            next((e.model for e in self.records.errors.values()), "")

    def plain_settings(self) -> dict:
        from ..backends.registry import redact

        plain = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self.settings).items()}
        # a model or judge spec (llm:openai:...) may carry URL credentials or token= values
        return {k: (redact(v) if isinstance(v, str) else v) for k, v in plain.items()}


@contextlib.contextmanager
def _output_boundary(name: str, option: str, path: Path, problems: dict[str, str]):
    try:
        yield
    except OverrefusalError as exc:
        problems[name] = str(exc)
    except (OSError, ValueError, ImportError, csv.Error) as exc:
        why = getattr(exc, "strerror", None) or " ".join(str(exc).split())[:160] or type(exc).__name__
        problems[name] = f"{option} {path}: not written ({why}); the results above are complete, rerun with a " \
                         f"writable path"
