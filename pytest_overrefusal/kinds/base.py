"""The suite-kind protocol: what a kind of suite (`kind:` in a manifest) supplies to the session.

A kind loads its cases, makes its pytest items, produces results for the selected items in one batch, builds the
records their reports carry (a row per case, a `GateReport` per gate), and presents them: summary lines, a
terminal section, JSON report sections and HTML sections. The session and the report code only talk to kinds
through this protocol; a new kind is one module implementing it plus one line in `kinds/__init__.py`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Iterator, Protocol

if TYPE_CHECKING:
    from ..aggregate import KindRecords
    from ..records import GateReport
    from ..run import OverrefusalRun
    from ..suite import Suite


class KindState:
    """What every kind keeps for a session: the run it belongs to, its cases, their results, settled gates.
    A kind states what it is in its class line: `class X(KindState, name=..., suite_record=..., row_record=...,
    json_keys=(...))`."""

    name: ClassVar[str]
    suite_record: ClassVar[type]
    row_record: ClassVar[type]
    json_keys: ClassVar[tuple[str, str]]

    def __init_subclass__(cls, *, name: str, suite_record: type, row_record: type, json_keys: tuple[str, str],
                          **rest) -> None:
        super().__init_subclass__(**rest)
        cls.name, cls.suite_record, cls.row_record, cls.json_keys = name, suite_record, row_record, json_keys

    def __init__(self, run: OverrefusalRun) -> None:
        self.run = run
        self.cases: dict[str, list] = {}
        self.results: dict[tuple[str, str], object] = {}
        self.outcomes: dict[str, object] = {}


class SuiteKind(Protocol):
    name: ClassVar[str]  # the manifest's `kind:`
    suite_record: ClassVar[type]  # records.py type of a suite's report row
    row_record: ClassVar[type]  # records.py type of a case's (or pair's) report row
    json_keys: ClassVar[tuple[str, str]]  # the JSON report's keys for suite rows and case rows

    def __init__(self, run: OverrefusalRun) -> None: ...

    # -- collection and the run -------------------------------------------------------------------------
    cases: dict[str, list]  # suite id -> its cases, as collected
    results: dict[tuple[str, str], object]  # (suite id, case id) -> its result, read by the kind's items
    outcomes: dict[str, object]  # suite id -> its settled gate outcome

    def load_cases(self, suite: Suite, limit: int | None = None) -> list: ...

    def items(self, parent, suite: Suite, cases: list) -> Iterator: ...

    def prepare(self, backend) -> None:
        """Results for every case any selected item needs, in one batch, the first time it is asked."""

    def results_for(self, suite: Suite, cases: list, backend) -> list:
        """A marker's suite: its cases' results, produced now if its items did not."""

    def gate_problems(self, suite_id: str) -> list[str]:
        """Why a settled gate fails (empty when it passes): what its gate item reports."""

    def gate_passes(self, suite_id: str) -> bool: ...

    # -- records ----------------------------------------------------------------------------------------
    def row(self, item) -> object | None:
        """The record a case item's report carries, or None."""

    def gate_report(self, suite_id: str) -> GateReport | None:
        """What a gate item's report carries, or None when the gate was not settled."""

    def attach(self, item, report) -> None:
        """Anything else this kind's call reports carry (engine totals, a suite's error)."""

    # -- presentation (records only: serial and xdist runs alike) ---------------------------------------------
    @staticmethod
    def terminal_section(tr, records: KindRecords) -> None:
        """A section of its own, written before the over-refusal summary."""

    @staticmethod
    def summary_lines(records, verbose: bool) -> list[tuple[str, dict]]:
        """(line, markup) inside the over-refusal summary."""

    @staticmethod
    def html_overview(records: KindRecords) -> str: ...

    @staticmethod
    def html_details(records: KindRecords) -> str: ...

    def close(self) -> None: ...
