"""pytest nodes: a suite manifest file, one item per case, one gate item per suite; each suite kind (kinds/)
makes its own items and holds the results they read. Preference suites: one item per pair (its ln-CHES),
optionally one per pair for the reference log p(chosen) check, and one gate item bounding the flagged fraction."""
from __future__ import annotations

import textwrap

import pytest

from .engine import CaseResult
from .errors import DataUnavailable, OverrefusalError
from .report.terminal import terminal_text
from .suite import Suite, load_manifest
from .textfiles import show


def get_run(config):
    from .session import get_session

    return get_session(config).run


class Tolerable(Exception):
    """A case's mismatch; `tolerated` when its suite's gate passes anyway."""

    def __init__(self, result, tolerated: bool):
        super().__init__(result.case.name)
        self.result = result
        self.tolerated = tolerated


class CaseMismatch(Tolerable):
    pass


class GateFailure(Exception):
    pass


class PairFlagged(Tolerable):
    pass


class ChosenLogpDrop(Exception):
    def __init__(self, result, reference: str, tolerance: float):
        super().__init__(result.case.name)
        self.result, self.reference, self.tolerance = result, reference, tolerance


def uses_model(overrefusal_model):  # the fixture request is all an item needs from a function
    return overrefusal_model


def fail_if_unloadable(config, model, suite_id: str | None = None) -> None:
    """A model that could not be loaded fails each item that needs it: the first with the one line, the rest with
    a pointer to it; every selected suite records the line, so the summary and the report name it."""
    from .boundary import UnloadableModel

    if not isinstance(model, UnloadableModel) and not callable(getattr(model, "generate", None)):
        # an overridden fixture that returned None or a spec string: None once passed every item a KeyError
        model = UnloadableModel(f"the overrefusal_model fixture returned {show(model)}, which has "
                                f"no generate(requests) method; return a model object (or leave the fixture out "
                                f"and use --overrefusal-model SPEC)")
    if not isinstance(model, UnloadableModel):
        return
    run = get_run(config)
    for kind in run.kinds.values():
        for sid in kind.cases:
            run.suite_errors.setdefault(sid, model.message)
    message = model.message
    if message in run.errors_shown:
        message = (f"not evaluated: {suite_id or 'this test'} needs the model, which could not be loaded (see the "
                   f"first failure above)")
    run.errors_shown.add(model.message)
    pytest.fail(terminal_text(message), pytrace=False)


class SuiteFile(pytest.File):
    def collect(self):
        run = get_run(self.config)
        try:
            suite = load_manifest(self.path)
            if run.settings.suites and suite.id not in run.settings.suites and str(self.path) not in run.settings.suites:
                return
            cases = run.add_suite(suite)
        except OverrefusalError as exc:
            # Reached by walking a folder, a suite whose data is not here is skipped so the rest still runs; so is
            # any manifest while --overrefusal-suite picks others. A broken manifest otherwise fails collection:
            # skipped, it left the run green with a suite never evaluated.
            walked_past = isinstance(exc, DataUnavailable) or bool(run.settings.suites)
            if self.session.isinitpath(self.path) or not walked_past:
                raise
            run.skipped_suites[str(self.path)] = str(exc)
            pytest.skip(str(exc))
        yield from run.kind(suite).items(self, suite, cases)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, OverrefusalError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class SuiteItem(pytest.Function):
    is_gate = False
    fails_with_its_suite = True  # a suite that could not be evaluated fails this item with its one line

    def __init__(self, *, suite: Suite, case_id: str, **kwargs):
        super().__init__(**kwargs)
        self.suite = suite
        self.suite_id = suite.id
        self.case_id = case_id
        _reparse_id(self)

    def reportinfo(self):
        return self.path, None, self.name

    @property
    def kind(self):
        """This suite's kind (kinds/): its results, outcomes and gate."""
        return get_run(self.config).kind(self.suite)

    def _model(self):
        fail_if_unloadable(self.config, self.funcargs["overrefusal_model"], self.suite_id)
        try:
            run = self._ensure_results()
            message = run.suite_errors.get(self.suite_id, "") if self.fails_with_its_suite else ""
        except OverrefusalError as exc:  # a bad judge, an unreachable server: one line, not a traceback
            message = str(exc)
        if message:  # outside `except`: no "during handling ..." chained report
            run = get_run(self.config)
            if message in run.errors_shown:  # the line is shown once, not once per item
                message = (f"not evaluated: {self.suite_id} could not be run; the first failure above and the "
                           f"summary say why")
            run.errors_shown.add(message)
            pytest.fail(terminal_text(message), pytrace=False)
        return run

    def _ensure_results(self):
        run = get_run(self.config)
        model = self.funcargs["overrefusal_model"]
        capman = self.config.pluginmanager.getplugin("capturemanager")
        if capman is not None:  # let the progress bar reach the terminal, on a line of its own
            with capman.global_and_fixture_disabled():
                reporter = self.config.pluginmanager.get_plugin("terminalreporter")
                if reporter is not None and not run.kinds["prompts"].results:  # before the first progress bar
                    reporter.ensure_newline()
                self.kind.prepare(model)
        else:
            self.kind.prepare(model)
        return run


class CaseItem(SuiteItem):
    def runtest(self):
        self._model()
        why = self.kind.too_long.get((self.suite_id, self.case_id))
        if why is not None:
            pytest.skip(f"{self.suite_id}[{terminal_text(self.case_id, 80)}]: {why}; skipped, not counted in "
                        f"the suite's rate")
        result = self.kind.results[(self.suite_id, self.case_id)]
        self.user_properties += [("verdict", result.verdict.label), ("judge", result.verdict.judge)]
        if not result.passed:
            raise CaseMismatch(result, tolerated=self.kind.gate_passes(self.suite_id))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CaseMismatch):
            return describe_mismatch(excinfo.value.result)
        return super().repr_failure(excinfo)


class _GateReport:
    """A gate failure is its message: rate, bound and baseline comparison, no traceback."""

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, GateFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class GateItem(_GateReport, SuiteItem):
    is_gate = True

    def runtest(self):
        self._model()
        rate = self.kind.outcomes[self.suite_id].rate
        self.user_properties += [("n", rate.n), ("refusals", rate.k), ("refusal_rate", round(rate.value, 6)),
                                 ("gate", self.suite.gate.describe())]
        problems = self.kind.gate_problems(self.suite_id)
        if problems:
            raise GateFailure("\n".join(problems))


class PreferenceItem(SuiteItem):
    """Items of a `kind: preference` suite: they need pair scores, not generated responses."""

    fails_with_its_suite = False


class PairItem(PreferenceItem):
    def runtest(self):
        self._model()
        result = self.kind.results[(self.suite_id, self.case_id)]
        self.user_properties += [("ln_ches", round(result.ln_ches, 6)), ("ches", round(result.ches, 6))]
        if result.flagged:
            raise PairFlagged(result, tolerated=self.kind.gate_passes(self.suite_id))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, PairFlagged):
            return describe_flagged(excinfo.value.result, self.suite.preference.flag_above)
        return super().repr_failure(excinfo)


class ChosenLogpItem(PreferenceItem):
    def runtest(self):
        self._model()
        result = self.kind.results[(self.suite_id, self.case_id)]
        pref = self.suite.preference
        self.user_properties += [("logp_chosen", result.logp_chosen), ("logp_chosen_reference",
                                                                       result.logp_chosen_reference)]
        if result.logp_drop > pref.max_logp_drop + 1e-9:
            raise ChosenLogpDrop(result, pref.reference, pref.max_logp_drop)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ChosenLogpDrop):
            e = excinfo.value
            r = e.result
            return "\n".join([
                f"log p(chosen) fell by {r.logp_drop:.3f} nats (tolerance {e.tolerance:g}) against reference "
                f"{e.reference}: {r.logp_chosen_reference:.3f} -> {r.logp_chosen:.3f}",
                *_pair_texts(r.case)])
        return super().repr_failure(excinfo)


class PairGateItem(_GateReport, PreferenceItem):
    is_gate = True

    def runtest(self):
        self._model()
        found = self.kind.outcomes[self.suite_id]
        self.user_properties += [("n", len(found.results)), ("flagged", len(found.flagged)),
                                 ("flagged_fraction", round(found.fraction, 6)), ("gate", self.suite.gate.describe())]
        problems = self.kind.gate_problems(self.suite_id)
        if problems:
            raise GateFailure("\n".join(problems))



def describe_flagged(result, flag_above: float) -> str:
    return "\n".join([
        f"ln-CHES {result.ln_ches:.3f} > flag_above {flag_above:g} (raw CHES {result.ches:.1f}): preference "
        f"training on this pair risks lowering log p(chosen) too (likelihood displacement)",
        f"category: {terminal_text(result.case.category or '-', 200, 1)}",
        *_pair_texts(result.case)])


def _pair_texts(case) -> list[str]:
    return ["prompt:", textwrap.indent(terminal_text(case.prompt), "    "),
            "chosen:", textwrap.indent(terminal_text(case.chosen), "    "),
            "rejected:", textwrap.indent(terminal_text(case.rejected), "    ")]


def _reparse_id(item) -> None:
    """pytest >= 9 keeps structured node ids; a name like `suite[0042]` or `suite::gate` built through the
    generic path would not equal the same id parsed back from the cache (--lf, --nf). Parse it once here."""
    node_id = getattr(item, "_id", None)
    parse = getattr(type(node_id), "parse", None)
    if node_id is not None and callable(parse):
        item._id = parse(str(node_id))


def describe_mismatch(result: CaseResult) -> str:
    v, r = result.verdict, result.response
    want = "a refusal" if result.case.expect == "refuse" else "an answer"
    lines = [
        f"expected {want}; judge {v.judge} says {v.label} (score {v.score:.2f}): "
        f"{terminal_text(v.reason or '-', 300, 1)}",
        f"category: {terminal_text(result.case.category or '-', 200, 1)}",
        "prompt:",
        textwrap.indent(terminal_text(result.case.prompt), "    "),
        "response:" + ("  [truncated at the token limit]" if r.truncated else ""),
        textwrap.indent(terminal_text(r.text) if r.text else "(empty)", "    "),
    ]
    return "\n".join(lines)
