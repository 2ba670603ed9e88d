"""Preference suites (`kind: preference`): each pair's ln-CHES under the model under test (and, with a reference
model, the fall of log p(chosen)), and a gate on the flagged share. Result types are in `pair_results.py`."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..pair_results import PairOutcome, PairResult, ches_scores, chosen_logps, preference
from ..pair_scores import ScoreCounts
from ..records import GateReport, PairRecord, PairSuiteRecord
from ..sources import load_pair_cases
from ..suite import PairCase, Suite
from .base import KindState


class PairSuites(KindState, name="preference", suite_record=PairSuiteRecord, row_record=PairRecord,
                 json_keys=("preference_suites", "pairs")):

    def __init__(self, run) -> None:
        super().__init__(run)  # cases, results (PairResult) and outcomes (PairOutcome) by suite
        self.references: dict[str, object] = {}  # reference model spec -> backend
        self.counts: dict[str, ScoreCounts] = {}  # suite id -> scores computed / taken from the cache

    def load_cases(self, suite: Suite, limit: int | None = None) -> list[PairCase]:
        return load_pair_cases(suite, self.run.settings.data_dir, limit or self.run.settings.limit)

    def items(self, parent, suite: Suite, cases: list[PairCase]):
        from ..items import ChosenLogpItem, PairGateItem, PairItem, uses_model

        for case in cases:
            yield PairItem.from_parent(parent, name=case.name, callobj=uses_model, suite=suite, case_id=case.case_id)
        if suite.preference is not None and suite.preference.reference:
            for case in cases:
                yield ChosenLogpItem.from_parent(parent, name=f"{suite.id}::logp[{case.case_id}]",
                                                 callobj=uses_model, suite=suite, case_id=case.case_id)
        yield PairGateItem.from_parent(parent, name=f"{suite.id}::gate", callobj=uses_model, suite=suite, case_id="")

    # -- scores -------------------------------------------------------------------------------------
    def prepare(self, backend) -> None:
        """Score every pair any selected preference item needs, in one batch per suite."""
        run = self.run
        for sid, cases in self.cases.items():
            chosen = run.selected_cases.get(sid, set())
            needed = [c for c in cases if (sid in run.selected_gates or c.case_id in chosen)
                      and (sid, c.case_id) not in self.results]
            if needed:
                self._score(backend, run.suites[sid], needed)
            if sid in run.selected_gates and sid not in self.outcomes:
                self.outcomes[sid] = PairOutcome(run.suites[sid], tuple(self.results[(sid, c.case_id)] for c in cases))
        if not run.model_name:
            run.model_name = str(getattr(backend, "name", type(backend).__name__))

    def results_for(self, suite: Suite, cases: list[PairCase], backend) -> list[PairResult]:
        """Scores for a marker's preference suite; pairs its own items already scored are not scored again."""
        self.run.suites.setdefault(suite.id, suite)
        missing = [c for c in cases if (suite.id, c.case_id) not in self.results]
        if missing:
            self._score(backend, suite, missing)
        return [self.results[(suite.id, c.case_id)] for c in cases]

    def _score(self, backend, suite: Suite, cases: list[PairCase]) -> None:
        from ..pair_scores import cached_scores

        pref = preference(suite)
        cache = self.run.response_cache()
        counts = self.counts.setdefault(suite.id, ScoreCounts())
        scores = cached_scores(cache, backend, "ches", cases, lambda todo: ches_scores(backend, todo), counts)
        now: list[float | None] = [None] * len(cases)
        reference: list[float | None] = [None] * len(cases)
        if pref.reference:
            ref_backend = self._reference(pref.reference, suite.path.parent)
            now = cached_scores(cache, backend, "logp-chosen", cases, lambda todo: chosen_logps(backend, todo),
                                counts)
            reference = cached_scores(cache, ref_backend, "logp-chosen", cases,
                                      lambda todo: chosen_logps(ref_backend, todo), counts)
        for case, (ches, ln_ches), lp, ref in zip(cases, scores, now, reference):
            self.results[(suite.id, case.case_id)] = PairResult(
                case=case, ches=ches, ln_ches=ln_ches, flagged=ln_ches > pref.flag_above,
                logp_chosen=lp, logp_chosen_reference=ref)

    def _reference(self, spec_text: str, manifest_dir: Path):
        """The reference model, loaded once per spec; a relative hf: path may sit beside the manifest."""
        from ..backends.registry import load_backend, parse_spec

        spec = parse_spec(spec_text)
        beside = manifest_dir / spec.target
        if spec.kind == "hf" and not Path(spec.target).is_absolute() and beside.is_dir():
            spec = type(spec)(kind=spec.kind, target=str(beside.resolve()), options=spec.options)
        key = str(spec)
        if key not in self.references:
            self.references[key] = load_backend(key)
        return self.references[key]

    def gate_problems(self, suite_id: str) -> list[str]:
        found = self.outcomes[suite_id]
        return [] if found.passed else [found.message()]

    def gate_passes(self, suite_id: str) -> bool:
        return suite_id in self.outcomes and self.outcomes[suite_id].passed

    # -- records ----------------------------------------------------------------------------------------
    def row(self, item) -> None:
        return None  # pairs reach the report with their gate

    def gate_report(self, suite_id: str) -> GateReport | None:
        found = self.outcomes.get(suite_id)
        if found is None:
            return None
        pref = preference(found.suite)
        drops = [r.logp_drop for r in found.results if r.logp_drop is not None]
        counts = self.counts.get(suite_id)
        suite = PairSuiteRecord(
            id=suite_id, n=len(found.results), flagged=len(found.flagged), fraction=found.fraction,
            gate=found.suite.gate.describe(), passed=found.passed, flag_above=pref.flag_above,
            reference=pref.reference, max_logp_drop=pref.max_logp_drop,
            over_drop=sum(d > pref.max_logp_drop for d in drops) if pref.max_logp_drop is not None else 0,
            model=self.run.model_name,
            mean_ln_ches=sum(r.ln_ches for r in found.results) / len(found.results) if found.results else 0.0,
            scores=asdict(counts) if counts else None)
        rows = [PairRecord.of(r).to_dict() for r in found.results]
        return GateReport(kind=self.name, suite=suite.to_dict(), rows=rows)

    def attach(self, item, report) -> None:
        return None

    # -- presentation ---------------------------------------------------------------------------------
    @staticmethod
    def terminal_section(tr, records) -> None:
        from ..report.summary import pair_section

        pair_section(tr, records)

    @staticmethod
    def summary_lines(records, verbose: bool) -> list[tuple[str, dict]]:
        return []

    @staticmethod
    def html_overview(records) -> str:
        from ..report.html import pair_section

        return pair_section(records.ordered_suites(), records.ordered_rows()) if records.suites else ""

    @staticmethod
    def html_details(records) -> str:
        return ""

    def close(self) -> None:
        for backend in self.references.values():
            close = getattr(backend, "close", None)
            if callable(close):
                close()
