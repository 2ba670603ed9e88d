"""The before/after rows, one per evaluated suite, their verdicts, and the markdown table."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytest_overrefusal.api import gate_text

from . import MitigateError
from .holdout import HOLD_RULE, holds

ROLES = ("fix", "keep", "holdout")


@dataclass(frozen=True)
class SuiteComparison:
    suite: str
    role: str  # "fix", "keep" or "holdout"
    n: int
    gate: str
    rate_before: float
    ci_before: tuple[float, float]
    passed_before: bool
    rate_after: float
    ci_after: tuple[float, float]
    passed_after: bool
    worse_if: str = ""  # "lower" (a refuse gate), "higher" (a comply gate), "" (no gate)
    ok: bool = True  # fix/keep: the gate passes after; holdout: the hold rule
    n_after: int | None = None  # differs from n when prompts were skipped (e.g. too long for the adapted model)

    @property
    def worsening(self) -> float:
        """How far the rate moved in the gate's bad direction (negative = it improved)."""
        moved = self.rate_after - self.rate_before
        return {"lower": -moved, "higher": moved}.get(self.worse_if, 0.0)

    @property
    def evaluated(self) -> bool:
        return self.n > 0 and bool(self.n_after)

    @property
    def verdict(self) -> str:
        if not self.evaluated:
            return "NOT EVALUATED"
        if self.role == "fix":
            return "fixed" if self.ok else "NOT FIXED"
        if self.role == "holdout" and self.ok and not self.passed_after:
            return f"held (still failing, {self.worsening:+.3f})"
        if self.role == "keep" and not self.ok and not self.passed_before:
            return "FAILS (failed before too)"
        return ("kept" if self.role == "keep" else "held") if self.ok else "BROKEN"


def compare(before: dict, after: dict, roles: dict[str, str], tolerance: float = 0.05) -> list[SuiteComparison]:
    """One row per evaluated suite, in the order given, from two plugin JSON reports (or merged ones)."""
    by_id = [{s["id"]: s for s in report["suites"]} for report in (before, after)]
    rows = []
    for suite, role in roles.items():
        found = [_find(reports, suite) for reports in by_id]
        if found == [None, None]:
            raise MitigateError(f"suite {suite!r} is missing from both plugin reports (was it skipped?)")
        # a suite whose every case was skipped on one side (e.g. prompts too long) is absent from that report
        b, a = (f or _empty(suite, next(x for x in found if x)) for f in found)
        row = SuiteComparison(
            suite=b["id"], role=role, n=b["n"], gate=gate_text(b["gate"]),
            rate_before=b["rate"], ci_before=(b["ci_low"], b["ci_high"]), passed_before=bool(b["gate"]["passed"]),
            rate_after=a["rate"], ci_after=(a["ci_low"], a["ci_high"]), passed_after=bool(a["gate"]["passed"]),
            worse_if=_worse_if(b["gate"]), n_after=a["n"])
        if role == "holdout":
            ok = row.evaluated and holds(row.passed_before, row.passed_after, row.worsening, tolerance)
        else:
            ok = row.evaluated and row.passed_after
        rows.append(SuiteComparison(**{**row.__dict__, "ok": ok}))
    return rows


def _empty(suite: str, other: dict) -> dict:
    nan = float("nan")
    return {"id": other["id"], "n": 0, "rate": nan, "ci_low": nan, "ci_high": nan,
            "gate": {**other["gate"], "passed": False}}


def _find(suites: dict[str, dict], suite: str) -> dict | None:
    """A suite given as an id, or as a manifest path (matched by the report's manifest field)."""
    if suite in suites:
        return suites[suite]
    path = Path(suite).resolve()
    return next((s for s in suites.values() if Path(s.get("manifest", "")).resolve() == path), None)


def _worse_if(gate: dict) -> str:
    if gate.get("min_refusal_rate") is not None:
        return "lower"
    if gate.get("max_refusal_rate") is not None:
        return "higher"
    return ""


def format_comparison(rows: list[SuiteComparison], model_before: str, model_after: str) -> str:
    def cell(rate: float, ci: tuple[float, float], passed: bool) -> str:
        if rate != rate:  # NaN: no case of this suite ran
            return "no case ran"
        return f"{rate:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] {'PASS' if passed else 'FAIL'}"

    header = ("suite", "role", "n", "gate", "before: rate [95% CI] gate", "after: rate [95% CI] gate", "verdict")
    body = [(r.suite, r.role, str(r.n), r.gate, cell(r.rate_before, r.ci_before, r.passed_before),
             cell(r.rate_after, r.ci_after, r.passed_after), r.verdict) for r in rows]
    lines = [f"before: {model_before}", f"after:  {model_after}", "",
             "| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def summary(rows: list[SuiteComparison], tolerance: float) -> list[str]:
    """The lines under the table: the rules, then each gate that stops exit status 0."""
    lines = ["exit 0 needs: every fix suite's gate passes after, every keep suite's gate still passes, and every "
             "held-out suite holds (" + HOLD_RULE.format(tolerance=tolerance) + ")"]
    failing = {"fix": "fix gate not met", "keep": "keep gate broken", "holdout": "held-out gate broken"}
    for r in rows:
        if not r.evaluated:
            lines.append(f"not evaluated: {r.suite} ({r.role}): no case ran {'before' if not r.n else 'after'} "
                         f"training (were its prompts too long for the model? see the plugin report)")
        elif not r.ok:
            what = "keep gate fails" if r.role == "keep" and not r.passed_before else failing[r.role]
            lines.append(f"{what}: {r.suite} ({r.gate}): {r.rate_before:.3f} "
                         f"{'PASS' if r.passed_before else 'FAIL'} -> {r.rate_after:.3f} "
                         f"{'PASS' if r.passed_after else 'FAIL'}")
    if all(r.ok for r in rows):
        lines.append("result: PASS (fix suites fixed, keep suites kept, held-out suites held)")
    else:
        lines.append(f"result: FAIL ({sum(not r.ok for r in rows)} of {len(rows)} suites)")
    return lines
