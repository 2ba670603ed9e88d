"""`python:module:attr`: any object with `generate(requests) -> responses`, or a factory returning one.

The object says what else it can do with `capabilities = frozenset({...})` (names in backends/base.py, e.g.
"logprobs", "stream", "continue"); one without the attribute is read by the methods it has."""
from __future__ import annotations

import importlib

from ..errors import BackendError
from .base import CAPABILITIES
from .registry import ModelSpec


def from_spec(spec: ModelSpec):
    module_name, sep, attr = spec.target.partition(":")
    if not sep or not attr:
        raise BackendError(f"model spec {spec}: expected python:module:attr, e.g. python:mypkg.models:make_model")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendError(f"model spec {spec}: cannot import {module_name!r} ({exc}); "
                           f"is it installed or on PYTHONPATH?") from None
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise BackendError(f"model spec {spec}: module {module_name!r} has no attribute {attr!r}") from None
    if isinstance(obj, type) or not hasattr(obj, "generate"):  # a class is a factory too, though it has generate
        if not callable(obj):
            raise BackendError(f"model spec {spec}: {attr!r} has no generate() method and is not callable")
        try:
            obj = obj(**spec.options)
        except Exception as exc:  # noqa: BLE001 - the user's factory: wrong options or its own failure, one line
            from ..report.terminal import one_line

            raise BackendError(f"model spec {spec}: {attr}({', '.join(spec.options)}) raised "
                               f"{type(exc).__name__}: {one_line(exc)}; check the options the factory takes") from None
    elif spec.options:
        raise BackendError(f"model spec {spec}: options are only passed to factories, {attr!r} is an object")
    check_backend(obj, str(spec))
    return obj


def check_backend(obj, where: str) -> None:
    if not callable(getattr(obj, "generate", None)):
        raise BackendError(f"{where}: {type(obj).__name__} is not a backend: it needs a "
                           f"generate(requests) -> list[Response] method")
    declared = getattr(obj, "capabilities", None)
    names = [declared] if isinstance(declared, str) else (declared or ())  # a bare string is a typo for a set
    unknown = sorted(str(c) for c in names if c not in CAPABILITIES)
    if declared is not None and unknown:
        from .registry import shown

        raise BackendError(f"{where}: capabilities {shown(unknown, 80)} not understood; declare a set "
                           f"of names from {', '.join(CAPABILITIES)}, e.g. frozenset({{'continue'}})")
