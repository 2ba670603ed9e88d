"""What the summary, the report and the baseline are built from: records carried by test reports.

Items attach plain dicts to their reports (`overrefusal_row` for a case, `overrefusal_gate` for a suite's gate,
see `records.py`); pytest-xdist serialises report attributes, so the controller sees exactly what a serial run
sees, and both build their output the same way. Each suite kind (kinds/) has its own `KindRecords`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .records import ErrorRecord, GateReport
from .report.carry import tolerated


@dataclass
class KindRecords:
    """One suite kind's records: suite rows, case (or pair) rows in file order, tolerated mismatches."""

    suite_type: type
    row_type: type
    suites: dict[str, object] = field(default_factory=dict)  # id -> suite record
    rows: dict[tuple[str, str], object] = field(default_factory=dict)  # (suite, case id) -> row record
    order: dict[tuple[str, str], int] = field(default_factory=dict)  # (suite, case id) -> place in its file
    tolerated: list[tuple[str, object]] = field(default_factory=list)  # (nodeid, row record or None)

    def ordered_suites(self) -> list:
        return [self.suites[s] for s in sorted(self.suites)]

    def ordered_rows(self) -> list:
        return [self.rows[k] for k in sorted(self.rows)]

    def ordered_tolerated(self) -> list[tuple[str, object]]:
        """By suite, then file order (reports reach an xdist controller in any order); without a row, by nodeid."""
        def key(entry):
            nodeid, row = entry
            if row is None:
                return "", 0, nodeid
            return row.suite, self.order.get((row.suite, row.case_id), len(self.order)), nodeid
        return sorted(self.tolerated, key=key)


@dataclass
class Records:
    kinds: dict[str, KindRecords] = field(default_factory=dict)
    stats: dict[str, dict] = field(default_factory=dict)  # process -> engine stats
    errors: dict[str, ErrorRecord] = field(default_factory=dict)  # suite id -> why it was not evaluated
    model: str = ""
    judge: str = ""

    @classmethod
    def for_kinds(cls) -> Records:
        from .kinds import KINDS

        return cls(kinds={name: KindRecords(k.suite_record, k.row_record) for name, k in KINDS.items()})

    def of(self, kind: str) -> KindRecords:
        return self.kinds[kind]

    def add(self, report) -> None:
        stats = getattr(report, "overrefusal_stats", None)
        if stats is not None:
            self.stats[stats["process"]] = stats
        error = getattr(report, "overrefusal_suite_error", None)
        if error is not None:
            self.errors.setdefault(error["id"], ErrorRecord.from_dict(error))
        kind = getattr(report, "overrefusal_kind", None)
        if kind is None:
            return
        mine = self.kinds[kind]
        row = getattr(report, "overrefusal_row", None)
        if row is not None:
            row = mine.row_type.from_dict(row)
            mine.rows[(row.suite, row.case_id)] = row
        if tolerated(report):
            mine.tolerated.append((report.nodeid, row))
        gate = getattr(report, "overrefusal_gate", None)
        if gate is not None:
            gate = GateReport.from_dict(gate)
            suite = mine.suite_type.from_dict(gate.suite)
            mine.suites[suite.id] = suite
            for place, data in enumerate(gate.rows):
                row = mine.row_type.from_dict(data)
                mine.rows.setdefault((row.suite, row.case_id), row)
                mine.order.setdefault((row.suite, row.case_id), place)
            if gate.judge:  # prompt suites name the model and judge of the verdicts
                self.model, self.judge = gate.model, gate.judge

    def any_suite(self) -> bool:
        return any(k.suites for k in self.kinds.values())

    def ordered_errors(self) -> list[ErrorRecord]:
        return [self.errors[s] for s in sorted(self.errors)]

    def skipped_too_long(self) -> dict[str, int]:
        """Suite id -> cases skipped because their prompt does not fit the model's context."""
        return {s.id: len(s.skipped_too_long) for s in self.of("prompts").ordered_suites() if s.skipped_too_long}

    def totals(self) -> dict:
        keys = ("requested", "cached", "generated", "generate_seconds", "load_seconds", "judge_seconds",
                "unparsed_judge_answers")
        out = {k: sum(s.get(k, 0) for s in self.stats.values()) for k in keys}
        cases = self.of("prompts").rows
        if len(self.stats) > 1 and cases:  # xdist: every worker asks for the cases its gates need
            out["requested"] = len(cases)  # each case once, as a serial run counts it
            out["cached"] = max(0, out["requested"] - out["generated"])
        out["uncached_reason"] = next((s["uncached_reason"] for s in self.stats.values() if s.get("uncached_reason")), "")
        return out
