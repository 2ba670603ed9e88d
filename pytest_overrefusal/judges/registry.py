"""Judges by name. `get_judge("keyword")`; names may carry an argument after the first ":"."""
from __future__ import annotations

from typing import Callable

from pytest_overrefusal.errors import JudgeError
from pytest_overrefusal.judges.base import Judge

#: A factory gets the text after the first ":" of the name ("" when there is none).
JudgeFactory = Callable[[str], Judge]


def _no_argument(name: str, make: Callable[[], Judge]) -> JudgeFactory:
    def factory(arg: str) -> Judge:
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


#: name -> factory. Add entries here (e.g. "classifier", called with the path after ":").
FACTORIES: dict[str, JudgeFactory] = {
    "keyword": _no_argument("keyword", _keyword),
    "xstest-strmatch": _no_argument("xstest-strmatch", _xstest_strmatch),
    "evorefuse-prr": _no_argument("evorefuse-prr", _evorefuse_prr),
}

#: Names `get_judge` knows, in the order they are documented.
JUDGES: tuple[str, ...] = tuple(FACTORIES)


def get_judge(name: str) -> Judge:
    """The judge called `name` ("keyword", "xstest-strmatch", "evorefuse-prr", or "<name>:<arg>")."""
    if not isinstance(name, str) or not name.strip():
        raise JudgeError(f"judge name must be a non-empty string, got {name!r}; known judges: {', '.join(FACTORIES)}")
    base, _, arg = name.strip().partition(":")
    factory = FACTORIES.get(base)
    if factory is None:
        raise JudgeError(f"unknown judge {name!r}; known judges: {', '.join(FACTORIES)}")
    return factory(arg)
