"""What every suite kind of one session shares: collected suites, the selection, the response cache, the model's
name, the baseline, and suites that could not be evaluated. Each kind's own state and pipeline is in `kinds/`."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .cache import ResponseCache
from .errors import SuiteError
from .settings import Settings
from .suite import Suite


@dataclass
class OverrefusalRun:
    settings: Settings
    suites: dict[str, Suite] = field(default_factory=dict)
    selected_cases: dict[str, set[str]] = field(default_factory=dict)
    selected_gates: set[str] = field(default_factory=set)
    model_name: str = ""
    skipped_suites: dict[str, str] = field(default_factory=dict)
    baseline: object = None  # baseline.storage.Baseline when --overrefusal-baseline is given
    cache: ResponseCache | None = None  # one per session, shared by generation and pair scores
    suite_errors: dict[str, str] = field(default_factory=dict)  # suite id -> why it could not be evaluated
    errors_shown: set[str] = field(default_factory=set)  # failure lines items already showed
    kinds: dict[str, object] = field(default_factory=dict)  # kind name -> its state and pipeline (kinds/)

    def __post_init__(self) -> None:
        from .kinds import KINDS

        self.kinds = {name: kind(self) for name, kind in KINDS.items()}

    def kind(self, suite: Suite):
        return self.kinds[suite.kind]

    def add_suite(self, suite: Suite) -> list:
        other = self.suites.get(suite.id)
        if other is not None and other.path.resolve() != suite.path.resolve():
            raise SuiteError(f"{suite.path}: suite id {suite.id!r} is already defined in {other.path}; "
                             f"ids must be unique")
        kind = self.kind(suite)
        if suite.id not in kind.cases:
            self.suites[suite.id] = suite
            kind.cases[suite.id] = kind.load_cases(suite)
        return kind.cases[suite.id]

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

    def response_cache(self) -> ResponseCache | None:
        """The session's response cache, opened once; None when caching is off."""
        if self.cache is None and self.settings.cache_dir is not None:
            self.cache = ResponseCache(Path(self.settings.cache_dir) / "responses.sqlite")
        return self.cache

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
        for kind in self.kinds.values():
            kind.close()
