"""Per-session state of the plugin: collected suites, one batched generation, gates, baseline comparisons,
suites that could not be evaluated and cases skipped as too long, and the scores of preference-pair suites
(their result types are in `pair_results.py`)."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .aggregate import Records
from .cache import ResponseCache
from .engine import CaseResult, Engine, build_request
from .errors import BackendError, OverrefusalError, SuiteError
from .gates import SuiteOutcome, outcome
from .pair_results import PairOutcome, PairResult, _ches, _chosen_logps, preference
from .pair_scores import ScoreCounts
from .settings import Settings
from .sources import load_cases, load_pair_cases
from .suite import Case, PairCase, Suite


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
    _failed: tuple | None = None  # (backend, error) when generating with it failed for good
    baseline: object = None  # baseline.storage.Baseline when --overrefusal-baseline is given
    comparisons: dict[str, object] = field(default_factory=dict)  # suite id -> Comparison, or why not comparable
    pair_cases: dict[str, list[PairCase]] = field(default_factory=dict)  # preference suites only
    pair_results: dict[tuple[str, str], PairResult] = field(default_factory=dict)
    pair_outcomes: dict[str, PairOutcome] = field(default_factory=dict)
    references: dict[str, object] = field(default_factory=dict)  # reference model spec -> backend
    pair_counts: dict[str, ScoreCounts] = field(default_factory=dict)  # preference suite id -> computed / cached
    cache: ResponseCache | None = None  # one per session, shared by generation and pair scores
    suite_errors: dict[str, str] = field(default_factory=dict)  # suite id -> why it could not be evaluated
    too_long: dict[tuple[str, str], str] = field(default_factory=dict)  # (suite, case) -> why it was skipped
    errors_shown: set[str] = field(default_factory=set)  # failure lines items already showed
    output_errors: dict[str, str] = field(default_factory=dict)  # "report" / "baseline" -> why it was not written

    # -- collection --------------------------------------------------------------------------------
    def add_suite(self, suite: Suite) -> list[Case] | list[PairCase]:
        other = self.suites.get(suite.id)
        if other is not None and other.path.resolve() != suite.path.resolve():
            raise SuiteError(f"{suite.path}: suite id {suite.id!r} is already defined in {other.path}; "
                             f"ids must be unique")
        if suite.kind == "preference":
            if suite.id not in self.pair_cases:
                self.suites[suite.id] = suite
                self.pair_cases[suite.id] = load_pair_cases(suite, self.settings.data_dir, self.settings.limit)
            return self.pair_cases[suite.id]
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
        if self._failed is not None and self._failed[0] is backend:
            raise self._failed[1]  # a server that is down fails every item at once, not once per item after retries
        needed: list[Case] = []
        for sid, cases in self.cases.items():
            chosen = self.selected_cases.get(sid, set())
            needed += [c for c in cases if (sid in self.selected_gates or c.case_id in chosen)
                       and self._unsettled(c)]
        if needed:
            try:
                self._run(backend, needed)
            except OverrefusalError as exc:  # no suite could start (judge, cache): every item fails with this line
                self._failed = (backend, exc)
                for case in needed:
                    self.suite_errors.setdefault(case.suite_id, str(exc))
                raise
            except Exception as exc:  # a bug: its traceback once (first item), then one line, never a rerun
                from .report.terminal import one_line

                self._failed = (backend, BackendError(f"internal error {type(exc).__name__}: {one_line(exc)} "
                                                      f"(traceback at the first failing item; please report it)"))
                for case in needed:
                    self.suite_errors.setdefault(case.suite_id, str(self._failed[1]))
                raise
        for sid in self.selected_gates:
            if sid not in self.outcomes and sid in self.cases and sid not in self.suite_errors:
                self._settle_gate(sid)
        self._compare_with_baseline()
        self._ready_for = backend

    # -- preference pairs ------------------------------------------------------------------------------
    def ensure_pair_results(self, backend) -> None:
        """Score every pair any selected preference item needs, in one batch per suite."""
        for sid, cases in self.pair_cases.items():
            chosen = self.selected_cases.get(sid, set())
            needed = [c for c in cases if (sid in self.selected_gates or c.case_id in chosen)
                      and (sid, c.case_id) not in self.pair_results]
            if needed:
                self._score_pairs(backend, self.suites[sid], needed)
            if sid in self.selected_gates and sid not in self.pair_outcomes:
                self.pair_outcomes[sid] = PairOutcome(self.suites[sid],
                                                      tuple(self.pair_results[(sid, c.case_id)] for c in cases))
        if not self.model_name:
            self.model_name = str(getattr(backend, "name", type(backend).__name__))

    def pair_results_for(self, suite: Suite, cases: list[PairCase], backend) -> list[PairResult]:
        """Scores for a marker's preference suite; pairs its own items already scored are not scored again."""
        self.suites.setdefault(suite.id, suite)
        missing = [c for c in cases if (suite.id, c.case_id) not in self.pair_results]
        if missing:
            self._score_pairs(backend, suite, missing)
        return [self.pair_results[(suite.id, c.case_id)] for c in cases]

    def _score_pairs(self, backend, suite: Suite, cases: list[PairCase]) -> None:
        from .pair_scores import cached_scores

        pref = preference(suite)
        cache = self._cache()
        counts = self.pair_counts.setdefault(suite.id, ScoreCounts())
        scores = cached_scores(cache, backend, "ches", cases, lambda todo: _ches(backend, todo), counts)
        now: list[float | None] = [None] * len(cases)
        reference: list[float | None] = [None] * len(cases)
        if pref.reference:
            ref_backend = self._reference(pref.reference, suite.path.parent)
            now = cached_scores(cache, backend, "logp-chosen", cases, lambda todo: _chosen_logps(backend, todo),
                                counts)
            reference = cached_scores(cache, ref_backend, "logp-chosen", cases,
                                      lambda todo: _chosen_logps(ref_backend, todo), counts)
        for case, (ches, ln_ches), lp, ref in zip(cases, scores, now, reference):
            self.pair_results[(suite.id, case.case_id)] = PairResult(
                case=case, ches=ches, ln_ches=ln_ches, flagged=ln_ches > pref.flag_above,
                logp_chosen=lp, logp_chosen_reference=ref)

    def _cache(self) -> ResponseCache | None:
        """The session's response cache, opened once; None when caching is off."""
        if self.cache is None and self.settings.cache_dir is not None:
            self.cache = ResponseCache(Path(self.settings.cache_dir) / "responses.sqlite")
        return self.cache

    def _reference(self, spec_text: str, manifest_dir: Path):
        """The reference model, loaded once per spec; a relative hf: path may sit beside the manifest."""
        from .backends.registry import load_backend, parse_spec

        spec = parse_spec(spec_text)
        beside = manifest_dir / spec.target
        if spec.kind == "hf" and not Path(spec.target).is_absolute() and beside.is_dir():
            spec = type(spec)(kind=spec.kind, target=str(beside.resolve()), options=spec.options)
        key = str(spec)
        if key not in self.references:
            self.references[key] = load_backend(key)
        return self.references[key]

    def pair_gate_problems(self, suite_id: str) -> list[str]:
        found = self.pair_outcomes[suite_id]
        return [] if found.passed else [found.message()]

    def pair_gate_passes(self, suite_id: str) -> bool:
        return suite_id in self.pair_outcomes and self.pair_outcomes[suite_id].passed

    def _compare_with_baseline(self) -> None:
        if self.baseline is None:
            return
        from .baseline.compare import compare, incompatibility

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

    def _unsettled(self, case: Case) -> bool:
        key = (case.suite_id, case.case_id)
        return key not in self.results and key not in self.too_long and case.suite_id not in self.suite_errors

    def _settle_gate(self, sid: str) -> None:
        answered = [self.results[(sid, c.case_id)] for c in self.cases[sid] if (sid, c.case_id) in self.results]
        self.outcomes[sid] = outcome(self.suites[sid], answered)

    def results_for(self, suite: Suite, cases: list[Case], backend) -> list[CaseResult]:
        """A marker's suite: results of the cases that fit the model's context; a failed suite is an error."""
        self.suites.setdefault(suite.id, suite)
        missing = [c for c in cases if self._unsettled(c)]
        if missing:
            self._run(backend, missing)
        if suite.id in self.suite_errors:
            raise BackendError(self.suite_errors[suite.id])
        return [self.results[(suite.id, c.case_id)] for c in cases if (suite.id, c.case_id) in self.results]

    def _run(self, backend, cases: list[Case]) -> None:
        """Generate and judge; a failed batch fails the suites it left unanswered (once, with one line) and keeps
        everything answered before it."""
        engine = self._engine(backend)
        jobs = [(c, build_request(c, self.suites[c.suite_id], self.settings.max_new_tokens)) for c in cases]
        found = engine.evaluate(jobs)
        for result in found.results:
            self.results[(result.case.suite_id, result.case.case_id)] = result
        for index, why in found.too_long.items():
            case = jobs[index][0]
            self.too_long[(case.suite_id, case.case_id)] = why
        if found.failure is not None:
            for case in cases:
                if self._unsettled(case):
                    self.suite_errors[case.suite_id] = str(found.failure)
        for sid in {c.suite_id for c in cases} - set(self.suite_errors):
            if not any(s == sid for s, _ in self.results):  # nothing of it fits: not evaluated, not "all skipped"
                first = next((why for (s, _), why in self.too_long.items() if s == sid), "")
                self.suite_errors[sid] = f"suite {sid}: no case fits the model's context; {first}"

    def _engine(self, backend) -> Engine:
        if self.engine is None or self.engine.backend is not backend:
            from .judges.registry import get_judge

            self.engine = Engine(backend=backend, judge=get_judge(self.settings.judge, backend), cache=self._cache(),
                                 decoding=self.settings.decoding)
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
        from .baseline.compare import generation_settings
        from .report.files import case_record, comparison_record, suite_record

        found = self.outcomes[suite_id]
        suite = {**suite_record(found), "generation": generation_settings(found.suite, self.settings.max_new_tokens),
                 "baseline": comparison_record(self.comparisons.get(suite_id)),
                 "skipped_too_long": sorted(c for s, c in self.too_long if s == suite_id)}
        return {"suite": suite, "cases": [case_record(r) for r in found.results], "model": self.model_name,
                "judge": self.judge_tag}

    def error_record(self, suite_id: str) -> dict | None:
        """Why a suite could not be evaluated, as plain data for its items' reports (xdist carries it)."""
        if suite_id not in self.suite_errors:
            return None
        return {"id": suite_id, "error": self.suite_errors[suite_id], "model": self.model_name}

    def stats_record(self) -> dict:
        return {**asdict(self.engine.stats), "process": os.environ.get("PYTEST_XDIST_WORKER", "main")}

    @property
    def judge_tag(self) -> str:
        if self.engine is None:
            return self.settings.judge
        return f"{self.engine.judge.id}@{self.engine.judge.version}"

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
        for backend in self.references.values():
            close = getattr(backend, "close", None)
            if callable(close):
                close()
