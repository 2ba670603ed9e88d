"""Per-session state of the plugin: collected suites, one batched generation, gates, baseline comparisons."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .aggregate import Records
from .cache import ResponseCache
from .engine import CaseResult, Engine, build_request
from .errors import SuiteError
from .gates import SuiteOutcome, outcome
from .settings import Settings
from .sources import load_cases
from .suite import Case, Suite


@dataclass
class OverrefusalRun:
    settings: Settings
    suites: dict[str, Suite] = field(default_factory=dict)
    cases: dict[str, list[Case]] = field(default_factory=dict)
    selected_cases: dict[str, set[str]] = field(default_factory=dict)
    selected_gates: set[str] = field(default_factory=set)
    results: dict[tuple[str, str], CaseResult] = field(default_factory=dict)
    outcomes: dict[str, SuiteOutcome] = field(default_factory=dict)
    records: Records = field(default_factory=Records)  # what reports carried back (serial or xdist alike)
    engine: Engine | None = None
    model_name: str = ""
    skipped_suites: dict[str, str] = field(default_factory=dict)
    _ready_for: object = None  # the backend every selected item's results were produced with
    baseline: object = None  # baseline.Baseline when --overrefusal-baseline is given
    comparisons: dict[str, object] = field(default_factory=dict)  # suite id -> Comparison, or why not comparable

    # -- collection --------------------------------------------------------------------------------
    def add_suite(self, suite: Suite) -> list[Case]:
        other = self.suites.get(suite.id)
        if other is not None and other.path.resolve() != suite.path.resolve():
            raise SuiteError(f"{suite.path}: suite id {suite.id!r} is already defined in {other.path}; "
                             f"ids must be unique")
        if suite.id not in self.cases:
            self._ready_for = None
            self.suites[suite.id] = suite
            self.cases[suite.id] = load_cases(suite, self.settings.data_dir, self.settings.limit)
        return self.cases[suite.id]

    def note_selection(self, items) -> None:
        """Called once the final item list is known (after -k, -m, --lf)."""
        for item in items:
            suite_id = getattr(item, "suite_id", None)
            if suite_id is None:
                continue
            if getattr(item, "is_gate", False):
                self.selected_gates.add(suite_id)
            else:
                self.selected_cases.setdefault(suite_id, set()).add(item.case_id)

    # -- generation ---------------------------------------------------------------------------------
    def ensure_results(self, backend) -> None:
        """Generate and judge every case any selected item needs, in one batch, the first time it is asked."""
        if self._ready_for is backend:
            return
        needed: list[Case] = []
        for sid, cases in self.cases.items():
            chosen = self.selected_cases.get(sid, set())
            needed += [c for c in cases if (sid in self.selected_gates or c.case_id in chosen)
                       and (sid, c.case_id) not in self.results]
        if needed:
            self._run(backend, needed)
        for sid in self.selected_gates:
            if sid not in self.outcomes:
                self.outcomes[sid] = outcome(self.suites[sid], [self.results[(sid, c.case_id)]
                                                                for c in self.cases[sid]])
        self._compare_with_baseline()
        self._ready_for = backend

    def _compare_with_baseline(self) -> None:
        if self.baseline is None:
            return
        from .baseline import compare, incompatibility

        for sid, found in self.outcomes.items():
            if sid in self.comparisons:
                continue
            why = incompatibility(self.baseline, found, self.judge_tag, self.settings.max_new_tokens)
            if why and not (self.settings.force_baseline and sid in self.baseline.suites):
                self.comparisons[sid] = (f"cannot be compared with the baseline: {why}; match the settings or "
                                         f"pass --overrefusal-force-baseline")
            else:
                self.comparisons[sid] = compare(self.baseline, found, alpha=self.settings.alpha,
                                                tolerance=self.settings.tolerance)

    def results_for(self, suite: Suite, cases: list[Case], backend) -> list[CaseResult]:
        missing = [c for c in cases if (suite.id, c.case_id) not in self.results]
        self.suites.setdefault(suite.id, suite)
        if missing:
            self._run(backend, missing)
        return [self.results[(suite.id, c.case_id)] for c in cases]

    def _run(self, backend, cases: list[Case]) -> None:
        engine = self._engine(backend)
        jobs = [(c, build_request(c, self.suites[c.suite_id], self.settings.max_new_tokens)) for c in cases]
        for result in engine.run(jobs):
            self.results[(result.case.suite_id, result.case.case_id)] = result

    def _engine(self, backend) -> Engine:
        if self.engine is None or self.engine.backend is not backend:
            from .judges.registry import get_judge

            cache = None
            if self.settings.cache_dir is not None:
                cache = ResponseCache(Path(self.settings.cache_dir) / "responses.sqlite")
            self.engine = Engine(backend=backend, judge=get_judge(self.settings.judge, backend), cache=cache)
            self.model_name = str(getattr(backend, "name", type(backend).__name__))
        return self.engine

    # -- lookups for items ----------------------------------------------------------------------------
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

    def gate_record(self, suite_id: str) -> dict:
        """Everything the controller needs about a gated suite, as plain data for the gate's report."""
        from .baseline import generation_settings
        from .report.files import case_record, comparison_record, suite_record

        found = self.outcomes[suite_id]
        suite = {**suite_record(found), "generation": generation_settings(found.suite, self.settings.max_new_tokens),
                 "baseline": comparison_record(self.comparisons.get(suite_id))}
        return {"suite": suite, "cases": [case_record(r) for r in found.results], "model": self.model_name,
                "judge": self.judge_tag}

    def stats_record(self) -> dict:
        return {**asdict(self.engine.stats), "process": os.environ.get("PYTEST_XDIST_WORKER", "main")}

    @property
    def judge_tag(self) -> str:
        if self.engine is None:
            return self.settings.judge
        return f"{self.engine.judge.id}@{self.engine.judge.version}"

    def close(self) -> None:
        if self.engine is not None and self.engine.cache is not None:
            self.engine.cache.close()
