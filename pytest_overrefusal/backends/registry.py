"""Model specs -> backends. `kind:target,key=value,...`; bare `toy` / `smollm2` are the embedded models."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from ..errors import BackendError

# kind -> "module:function"; imported only when that kind is used, so start-up stays light.
_FACTORIES: dict[str, str] = {
    "hf": "pytest_overrefusal.backends.hf:from_spec",
    "python": "pytest_overrefusal.backends.python_object:from_spec",
    "toy": "pytest_overrefusal.backends.toy:from_spec",
    "smollm2": "pytest_overrefusal.backends.smollm2:from_spec",
    "openai": "pytest_overrefusal.backends.openai_chat:from_spec",
    "vllm": "pytest_overrefusal.backends.vllm_offline:from_spec",
    "lmeval": "pytest_overrefusal.backends.lmeval:from_spec",
}
_NEEDS_TARGET = {"hf", "python", "openai", "vllm", "lmeval"}
DEFAULT_MODEL = "smollm2"


@dataclass(frozen=True)
class ModelSpec:
    kind: str
    target: str = ""
    options: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        head = f"{self.kind}:{self.target}" if self.target else self.kind
        return ",".join([head, *(f"{k}={v}" for k, v in self.options.items())])


def parse_spec(spec: str) -> ModelSpec:
    head, *extras = spec.strip().split(",")
    kind, sep, target = head.partition(":")
    kind = kind.strip()
    if kind not in _FACTORIES:
        raise BackendError(f"unknown model spec {spec!r}: kind {kind!r} is not one of "
                           f"{', '.join(sorted(_FACTORIES))} (e.g. hf:/path/to/model, toy, smollm2)")
    if kind in _NEEDS_TARGET and not target:
        raise BackendError(f"model spec {spec!r} needs a target after '{kind}:'")
    options: dict[str, str] = {}
    for extra in extras:
        key, eq, value = extra.partition("=")
        if not eq or not key.strip():
            raise BackendError(f"model spec {spec!r}: option {extra!r} must look like key=value")
        options[key.strip()] = value.strip()
    return ModelSpec(kind=kind, target=target.strip(), options=options)


def load_backend(spec: str):
    parsed = parse_spec(spec)
    module_name, _, func = _FACTORIES[parsed.kind].partition(":")
    factory = getattr(importlib.import_module(module_name), func)
    return factory(parsed)


def pop_int(options: dict[str, str], key: str, default: int, spec: object) -> int:
    raw = options.pop(key, None)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BackendError(f"model spec {spec}: {key}={raw!r} must be an integer") from None
    if value < 1:
        raise BackendError(f"model spec {spec}: {key} must be >= 1, got {value}")
    return value


def reject_unknown(options: dict[str, str], spec: object, known: str) -> None:
    if options:
        raise BackendError(f"model spec {spec}: unknown option(s) {', '.join(sorted(options))}; "
                           f"known: {known}")
