"""The records a suite item's report carries (plain data: pytest-xdist sends report attributes to the controller,
where `aggregate.Records` reads them back). Each suite kind (kinds/) builds its own."""
from __future__ import annotations


def attach_records(run, item, call, report) -> None:
    report.overrefusal_suite_id = item.suite_id  # every phase: JUnit's classname (junit.py)
    report.overrefusal_kind = item.suite.kind
    if call.when != "call":
        return
    from ..items import Tolerable

    kind = run.kind(item.suite)
    kind.attach(item, report)
    if item.is_gate:
        gate = kind.gate_report(item.suite_id)
        if gate is not None:
            report.overrefusal_gate = gate.to_dict()
        return
    row = kind.row(item)
    if row is not None:
        report.overrefusal_row = row.to_dict()
    exc = call.excinfo.value if call.excinfo is not None else None
    report.overrefusal_tolerated = isinstance(exc, Tolerable) and exc.tolerated


def tolerated(report) -> bool:
    """A mismatch inside a passing gate's budget: a recorded failure that does not fail the run."""
    return report.when == "call" and report.failed and getattr(report, "overrefusal_tolerated", False)
