"""Prompt suites (`kind: prompts`, the default): one generated, judged response per case, a refusal-rate gate,
and the baseline comparison. Generation runs once per session, batched over every selected suite."""
from __future__ import annotations

import os
from dataclasses import asdict

from ..engine import CaseResult, Engine, build_request
from ..errors import BackendError, OverrefusalError
from ..gates import outcome
from ..records import CaseRecord, GateReport, SuiteRecord, comparison_record
from ..sources import load_cases
from ..suite import Case, Suite
from .base import KindState


class PromptSuites(KindState, name="prompts", suite_record=SuiteRecord, row_record=CaseRecord,
                   json_keys=("suites", "cases")):

    def __init__(self, run) -> None:
        super().__init__(run)  # cases, results (CaseResult) and outcomes (SuiteOutcome) by suite
        self.too_long: dict[tuple[str, str], str] = {}  # (suite, case) -> why it was skipped
        self.comparisons: dict[str, object] = {}  # suite id -> Comparison, or why not comparable
        self.engine: Engine | None = None
        self._ready_for = None  # the backend every selected item's results were produced with
        self._failed: tuple | None = None  # (backend, error) when generating with it failed for good

    # -- collection ---------------------------------------------------------------------------------
    def load_cases(self, suite: Suite, limit: int | None = None) -> list[Case]:
        self._ready_for = None  # a new suite's cases are not generated yet
        return load_cases(suite, self.run.settings.data_dir, limit or self.run.settings.limit)

    def items(self, parent, suite: Suite, cases: list[Case]):
        from ..items import CaseItem, GateItem, uses_model

        for case in cases:
            yield CaseItem.from_parent(parent, name=case.name, callobj=uses_model, suite=suite, case_id=case.case_id)
        yield GateItem.from_parent(parent, name=f"{suite.id}::gate", callobj=uses_model, suite=suite, case_id="")

    # -- generation ---------------------------------------------------------------------------------
    def prepare(self, backend) -> None:
        """Generate and judge every case any selected item needs, in one batch, the first time it is asked."""
        run = self.run
        if self._ready_for is backend:
            return
        if self._failed is not None and self._failed[0] is backend:
            raise self._failed[1]  # a server that is down fails every item at once, not once per item after retries
        needed: list[Case] = []
        for sid, cases in self.cases.items():
            chosen = run.selected_cases.get(sid, set())
            needed += [c for c in cases if (sid in run.selected_gates or c.case_id in chosen) and self._unsettled(c)]
        if needed:
            try:
                self._run(backend, needed)
            except OverrefusalError as exc:  # no suite could start (judge, cache): every item fails with this line
                self._fail(backend, needed, exc)
                raise
            except Exception as exc:  # a bug: its traceback once (first item), then one line, never a rerun
                from ..report.terminal import one_line

                self._fail(backend, needed, BackendError(f"internal error {type(exc).__name__}: {one_line(exc)} "
                                                         f"(traceback at the first failing item; please report it)"))
                raise
        for sid in run.selected_gates:
            if sid not in self.outcomes and sid in self.cases and sid not in run.suite_errors:
                self._settle_gate(sid)
        self._compare_with_baseline()
        self._ready_for = backend

    def _fail(self, backend, needed: list[Case], error: OverrefusalError) -> None:
        self._failed = (backend, error)
        for case in needed:
            self.run.suite_errors.setdefault(case.suite_id, str(error))

    def results_for(self, suite: Suite, cases: list[Case], backend) -> list[CaseResult]:
        """A marker's suite: results of the cases that fit the model's context; a failed suite is an error."""
        self.run.suites.setdefault(suite.id, suite)
        missing = [c for c in cases if self._unsettled(c)]
        if missing:
            self._run(backend, missing)
        if suite.id in self.run.suite_errors:
            raise BackendError(self.run.suite_errors[suite.id])
        return [self.results[(suite.id, c.case_id)] for c in cases if (suite.id, c.case_id) in self.results]

    def _unsettled(self, case: Case) -> bool:
        key = (case.suite_id, case.case_id)
        return key not in self.results and key not in self.too_long and case.suite_id not in self.run.suite_errors

    def _settle_gate(self, sid: str) -> None:
        answered = [self.results[(sid, c.case_id)] for c in self.cases[sid] if (sid, c.case_id) in self.results]
        self.outcomes[sid] = outcome(self.run.suites[sid], answered)

    def _run(self, backend, cases: list[Case]) -> None:
        """Generate and judge; a failed batch fails the suites it left unanswered (once, with one line) and keeps
        everything answered before it."""
        errors = self.run.suite_errors
        engine = self._engine(backend)
        jobs = [(c, build_request(c, self.run.suites[c.suite_id], self.run.settings.max_new_tokens)) for c in cases]
        found = engine.evaluate(jobs)
        for result in found.results:
            self.results[(result.case.suite_id, result.case.case_id)] = result
        for index, why in found.too_long.items():
            case = jobs[index][0]
            self.too_long[(case.suite_id, case.case_id)] = why
        if found.failure is not None:
            for case in cases:
                if self._unsettled(case):
                    errors[case.suite_id] = str(found.failure)
        for sid in {c.suite_id for c in cases} - set(errors):
            if not any(s == sid for s, _ in self.results):  # nothing of it fits: not evaluated, not "all skipped"
                first = next((why for (s, _), why in self.too_long.items() if s == sid), "")
                errors[sid] = f"suite {sid}: no case fits the model's context; {first}"

    def _engine(self, backend) -> Engine:
        if self.engine is None or self.engine.backend is not backend:
            from ..judges.registry import get_judge

            settings = self.run.settings
            self.engine = Engine(backend=backend, judge=get_judge(settings.judge, backend),
                                 cache=self.run.response_cache(), decoding=settings.decoding)
            self.run.model_name = str(getattr(backend, "name", type(backend).__name__))
        return self.engine

    @property
    def judge_tag(self) -> str:
        if self.engine is None:
            return self.run.settings.judge
        return f"{self.engine.judge.id}@{self.engine.judge.version}"

    # -- gates and the baseline ------------------------------------------------------------------------
    def _compare_with_baseline(self) -> None:
        baseline, settings = self.run.baseline, self.run.settings
        if baseline is None:
            return
        from ..baseline.compare import compare, incompatibility

        for sid, found in self.outcomes.items():
            if sid in self.comparisons:
                continue
            why = incompatibility(baseline, found, self.judge_tag, settings.max_new_tokens)
            if why and not (settings.force_baseline and sid in baseline.suites):
                self.comparisons[sid] = (f"cannot be compared with the baseline: {why}; match the settings or "
                                         f"pass --overrefusal-force-baseline")
            else:
                self.comparisons[sid] = compare(baseline, found, alpha=settings.alpha, tolerance=settings.tolerance)

    def gate_problems(self, suite_id: str) -> list[str]:
        """Why the suite's gate fails: its rate, a regression against the baseline, or an unusable baseline."""
        found = self.outcomes[suite_id]
        problems = [] if found.passed else [found.message()]
        compared = self.comparisons.get(suite_id)
        if isinstance(compared, str):
            problems.append(f"{suite_id} {compared}")
        elif compared is not None and compared.regressed:
            problems.append(f"{suite_id} {compared.describe()}")
        return problems

    def gate_passes(self, suite_id: str) -> bool:
        return suite_id in self.outcomes and not self.gate_problems(suite_id)

    # -- records ----------------------------------------------------------------------------------------
    def row(self, item) -> CaseRecord | None:
        found = self.results.get((item.suite_id, item.case_id))
        return None if found is None else CaseRecord.of(found)

    def gate_report(self, suite_id: str) -> GateReport | None:
        """Everything the controller needs about a gated suite, as plain data for the gate's report."""
        if suite_id not in self.outcomes:
            return None
        from ..baseline.compare import generation_settings

        found = self.outcomes[suite_id]
        suite = SuiteRecord.of(found, generation=generation_settings(found.suite, self.run.settings.max_new_tokens),
                               baseline=comparison_record(self.comparisons.get(suite_id)),
                               skipped_too_long=sorted(c for s, c in self.too_long if s == suite_id))
        return GateReport(kind=self.name, suite=suite.to_dict(),
                          rows=[CaseRecord.of(r).to_dict() for r in found.results], model=self.run.model_name,
                          judge=self.judge_tag)

    def attach(self, item, report) -> None:
        if self.engine is not None:  # every report carries its process's totals: each worker's last one counts
            report.overrefusal_stats = {**asdict(self.engine.stats),
                                        "process": os.environ.get("PYTEST_XDIST_WORKER", "main")}
        error = self.run.suite_errors.get(item.suite_id)  # a suite that could not be evaluated
        report.overrefusal_suite_error = None if error is None else {"id": item.suite_id, "error": error,
                                                                      "model": self.run.model_name}

    # -- presentation ---------------------------------------------------------------------------------
    @staticmethod
    def terminal_section(tr, records) -> None:
        return None  # its table is the over-refusal summary itself

    @staticmethod
    def summary_lines(records, verbose: bool) -> list[tuple[str, dict]]:
        from ..report.summary import prompt_lines

        return prompt_lines(records, verbose)

    @staticmethod
    def html_overview(records) -> str:
        from ..report.html import prompt_overview

        return prompt_overview(records.ordered_suites())

    @staticmethod
    def html_details(records) -> str:
        from ..report.html import case_table

        return case_table(records.ordered_suites(), records.ordered_rows())

    def close(self) -> None:
        return None
