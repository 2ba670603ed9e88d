"""What the summary, the report and the baseline are built from: records carried by test reports.

Items attach plain dicts to their reports (`overrefusal_case`, `overrefusal_gate`, and for preference-pair suites
`overrefusal_pair_gate`); pytest-xdist serialises report
attributes, so the controller sees exactly what a serial run sees, and both build their output the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Records:
    suites: dict[str, dict] = field(default_factory=dict)  # id -> suite record (report format)
    cases: dict[tuple[str, str], dict] = field(default_factory=dict)  # (suite, case id) -> case record
    tolerated: list[tuple[str, dict]] = field(default_factory=list)  # (nodeid, case record)
    stats: dict[str, dict] = field(default_factory=dict)  # process -> engine stats
    pair_suites: dict[str, dict] = field(default_factory=dict)  # preference suite id -> gate record, no pairs
    pairs: dict[tuple[str, str], dict] = field(default_factory=dict)  # (suite, case id) -> pair record
    tolerated_pairs: list[str] = field(default_factory=list)  # node ids of flagged pairs within a passing gate
    errors: dict[str, dict] = field(default_factory=dict)  # suite id -> {"id", "error", "model"}: not evaluated
    model: str = ""
    judge: str = ""
    case_order: dict[tuple[str, str], int] = field(default_factory=dict)  # (suite, case id) -> place in its file

    def add(self, report) -> None:
        stats = getattr(report, "overrefusal_stats", None)
        if stats is not None:
            self.stats[stats["process"]] = stats
        error = getattr(report, "overrefusal_suite_error", None)
        if error is not None:
            self.errors.setdefault(error["id"], error)
        case = getattr(report, "overrefusal_case", None)
        tolerated = report.when == "call" and report.failed and getattr(report, "overrefusal_tolerated", False)
        if case is not None:
            self.cases[(case["suite"], case["case_id"])] = case
            if getattr(report, "overrefusal_tolerated", False):
                self.tolerated.append((report.nodeid, case))
        elif tolerated:
            self.tolerated_pairs.append(report.nodeid)
        pair_gate = getattr(report, "overrefusal_pair_gate", None)
        if pair_gate is not None:
            pair_gate = dict(pair_gate)
            for record in pair_gate.pop("pairs", []):
                self.pairs[(record["suite"], record["case_id"])] = record
            self.pair_suites[pair_gate["id"]] = pair_gate
        gate = getattr(report, "overrefusal_gate", None)
        if gate is not None:
            self.suites[gate["suite"]["id"]] = gate["suite"]
            for place, record in enumerate(gate["cases"]):
                self.cases.setdefault((record["suite"], record["case_id"]), record)
                self.case_order.setdefault((record["suite"], record["case_id"]), place)
            self.model, self.judge = gate["model"], gate["judge"]

    def ordered_tolerated(self) -> list[tuple[str, dict]]:
        """Tolerated cases by suite, then file order: reports reach an xdist controller in any order."""
        def key(entry):
            nodeid, case = entry
            return case["suite"], self.case_order.get((case["suite"], case["case_id"]), len(self.case_order)), nodeid
        return sorted(self.tolerated, key=key)

    def ordered_tolerated_pairs(self) -> list[str]:
        return sorted(self.tolerated_pairs)

    def ordered_suites(self) -> list[dict]:
        return [self.suites[s] for s in sorted(self.suites)]

    def ordered_errors(self) -> list[dict]:
        return [self.errors[s] for s in sorted(self.errors)]

    def skipped_too_long(self) -> dict[str, int]:
        """Suite id -> cases skipped because their prompt does not fit the model's context."""
        return {s["id"]: len(s["skipped_too_long"]) for s in self.ordered_suites() if s.get("skipped_too_long")}

    def ordered_cases(self) -> list[dict]:
        return [self.cases[k] for k in sorted(self.cases)]

    def ordered_pair_suites(self) -> list[dict]:
        return [self.pair_suites[s] for s in sorted(self.pair_suites)]

    def ordered_pairs(self) -> list[dict]:
        return [self.pairs[k] for k in sorted(self.pairs)]

    def totals(self) -> dict:
        keys = ("requested", "cached", "generated", "generate_seconds", "load_seconds", "judge_seconds",
                "unparsed_judge_answers")
        out = {k: sum(s.get(k, 0) for s in self.stats.values()) for k in keys}
        if len(self.stats) > 1 and self.cases:  # xdist: every worker asks for the cases its gates need
            out["requested"] = len(self.cases)  # each case once, as a serial run counts it
            out["cached"] = max(0, out["requested"] - out["generated"])
        out["uncached_reason"] = next((s["uncached_reason"] for s in self.stats.values() if s.get("uncached_reason")), "")
        return out
