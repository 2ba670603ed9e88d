"""Judges by name. `get_judge("keyword")`; names may carry an argument after the first ":"."""
from __future__ import annotations

from typing import Callable

from pytest_overrefusal.errors import JudgeError
from pytest_overrefusal.judges.base import Judge

#: A factory gets the text after the first ":" of the name ("" when there is none) and the model under test
#: (None outside a run); only judges that need the model look at it.
JudgeFactory = Callable[[str, object], Judge]


def _no_argument(name: str, make: Callable[[], Judge]) -> JudgeFactory:
    def factory(arg: str, model: object = None) -> Judge:
        if arg:
            raise JudgeError(f"judge {name!r} takes no argument (got {name + ':' + arg!r}); use {name!r}")
        return make()

    return factory


def _keyword() -> Judge:
    from pytest_overrefusal.judges.keyword import KeywordJudge

    return KeywordJudge()


def _xstest_strmatch() -> Judge:
    from pytest_overrefusal.judges.xstest_strmatch import XSTestStrMatch

    return XSTestStrMatch()


def _evorefuse_prr() -> Judge:
    from pytest_overrefusal.judges.evorefuse_prr import EvoRefusePRR

    return EvoRefusePRR()


def _ensemble(arg: str, model: object = None) -> Judge:
    from pytest_overrefusal.judges.combined import DEFAULT_MEMBERS, EnsembleJudge

    names = [n for n in arg.split("+") if n] if arg else list(DEFAULT_MEMBERS)
    if len(names) < 2 or any(n.startswith("ensemble") for n in names):
        raise JudgeError(f"judge 'ensemble:{arg}' needs two or more other judges joined by '+', "
                         f"e.g. ensemble:keyword+xstest-strmatch+evorefuse-prr")
    return EnsembleJudge([get_judge(n, model) for n in names])


def _llm(arg: str, model: object = None) -> Judge:
    from pytest_overrefusal.judges.model_judges import LLMJudge

    return LLMJudge(arg)


def _logprob(arg: str, model: object = None) -> Judge:
    from pytest_overrefusal.judges.model_judges import LogprobJudge

    if arg:
        raise JudgeError(f"judge 'logprob' takes no argument (got 'logprob:{arg}'); it scores the model under test")
    return LogprobJudge(model)


def _embedding() -> Judge:
    from pytest_overrefusal.judges.embedding import EmbeddingJudge

    return EmbeddingJudge()


def _classifier(arg: str, model: object = None) -> Judge:
    from pytest_overrefusal.judges.classifier import ClassifierJudge

    return ClassifierJudge(arg)


#: name -> factory. Add entries here (e.g. "classifier", called with the path after ":").
FACTORIES: dict[str, JudgeFactory] = {
    "keyword": _no_argument("keyword", _keyword),
    "xstest-strmatch": _no_argument("xstest-strmatch", _xstest_strmatch),
    "evorefuse-prr": _no_argument("evorefuse-prr", _evorefuse_prr),
    "ensemble": _ensemble,
    "llm": _llm,
    "logprob": _logprob,
    "classifier": _classifier,
    "embedding": _no_argument("embedding", _embedding),
}

#: Names `get_judge` knows, in the order they are documented.
JUDGES: tuple[str, ...] = tuple(FACTORIES)


def get_judge(name: str, model: object = None) -> Judge:
    """The judge called `name` ("keyword", "xstest-strmatch", ..., or "<name>:<arg>"); `model` is the model
    under test, which `logprob` scores."""
    if not isinstance(name, str) or not name.strip():
        raise JudgeError(f"judge name must be a non-empty string, got {name!r}; known judges: {', '.join(FACTORIES)}")
    base, _, arg = name.strip().partition(":")
    factory = FACTORIES.get(base)
    if factory is None:
        from ..backends.registry import shown  # an llm: judge name carries a model spec: mask, then cap

        raise JudgeError(f"unknown judge {shown(name)!r}; known judges: {', '.join(FACTORIES)}")
    return factory(arg, model)
