"""Model specs -> backends. `kind:target,key=value,...`; bare `toy` / `smollm2` are the embedded models."""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field

from ..errors import BackendError, OverrefusalError
from ..key_values import parse_key_values

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
    try:
        return _parse(spec)
    except BackendError as exc:
        raise BackendError(scrub(str(exc), spec)) from None


def _parse(spec: str) -> ModelSpec:
    head, *extras = spec.strip().split(",")
    kind, sep, target = head.partition(":")
    kind = kind.strip()
    if kind not in _FACTORIES:
        raise BackendError(f"unknown model spec {shown(spec)!r}: kind {shown(kind, 30)!r} is not one of "
                           f"{', '.join(sorted(_FACTORIES))} (e.g. hf:/path/to/model, toy, smollm2)")
    if kind in _NEEDS_TARGET and not target:
        raise BackendError(f"model spec {shown(spec)!r} needs a target after '{kind}:'")
    options = parse_key_values(extras, lambda extra: BackendError(
        f"model spec {shown(spec)!r}: option {shown(extra, 40)!r} must look like key=value"))
    return ModelSpec(kind=kind, target=target.strip(), options=options)


def load_backend(spec: str):
    """The one door from a spec to a backend: every BackendError leaving it is scrubbed of the spec's secrets."""
    parsed = parse_spec(spec)
    module_name, _, func = _FACTORIES[parsed.kind].partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), func)
        backend = factory(parsed)
    except OverrefusalError as exc:  # e.g. a soft-prompt file's own error type: keep it, mask its text
        masked = scrub(str(exc), spec)
        try:
            error = type(exc)(masked)
        except TypeError:
            error = BackendError(masked)
        raise error from None
    # The name lands in reports and messages; a spec that loads with a credential (lmeval's base_url=, token=)
    # must not carry it there. A python: object's name is its own.
    name = getattr(backend, "name", None)
    if parsed.kind != "python" and isinstance(name, str) and scrub(name, spec) != name:
        backend.name = scrub(name, spec)
    return backend


def pop_int(options: dict[str, str], key: str, default: int, spec: object) -> int:
    raw = options.pop(key, None)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BackendError(f"model spec {shown(spec)}: {key}={shown(raw, 40)!r} must be an integer") from None
    if value < 1:
        raise BackendError(f"model spec {shown(spec)}: {key} must be >= 1, got {value}")
    return value


def reject_unknown(options: dict[str, str], spec: object, known: str) -> None:
    if options:
        names = shown(", ".join(sorted(options)))
        raise BackendError(f"model spec {shown(spec)}: unknown option(s) {names}; known: {known}")


# -- keeping secrets and long values out of messages -------------------------------------------------------------
# Option or query names whose value is a credential. `api_key_env` is not one: its value names a variable.
_SECRET_NAMES = r"(?:api[_-]?key|apikey|key|token|access[_-]?token|auth[_-]?token|id[_-]?token|secret|" \
                r"client[_-]?secret|password|passwd|pwd|pass|auth|authorization|bearer|credentials?|signature|sig)"
_USERINFO = re.compile(r"(://)\S*@")  # greedy: a password may itself hold '@'
_SECRET_VALUE = re.compile(r"(?i)((?:^|[,?&;])\s*" + _SECRET_NAMES + r"\s*=\s*)[^\s,&]*")
_QUERY = re.compile(r"(://[^\s?]*\?)[^\s,]+")  # a whole query: with '&' or '=' in a token even names may be it
_MESSAGE_CAP = 1000


def redact(text: str) -> str:
    """Mask URL userinfo, URL query strings and credential-named values (`api_key=`, `token=`, ...)."""
    text = _USERINFO.sub(r"\1***@", text)
    text = _QUERY.sub(r"\1***", text)
    return _SECRET_VALUE.sub(lambda m: m.group(1) + "***", text)


def shown(value: object, limit: int = 80) -> str:
    """An untrusted value as it may appear in a message: secrets masked first, then cut to `limit` characters."""
    text = redact(str(value))
    return text if len(text) <= limit else text[:limit] + "..."


def secrets_in(spec: str) -> list[str]:
    """The raw credential text of a spec and its fragments, longest first, so that a fragment echoed after the
    spec was split on commas (`u:pa,ss@host` -> option `ss@host`) is masked by value. A credential may hold ',' or
    '=', so a query or a credential-named value runs to the end of the spec: later options are masked too."""
    found: list[str] = []
    for at in [m.end() for m in re.finditer("://", spec)]:
        rest = spec[at:]
        if "@" in rest:
            found.append(rest[:rest.rindex("@")])
        if "?" in rest:
            found.append(rest[rest.index("?") + 1:])
    found += [spec[m.end():] for m in re.finditer(r"(?i)(?:^|[,?&;])\s*" + _SECRET_NAMES + r"\s*=", spec)]
    pieces = {p.strip() for text in found for p in re.split(r"[,\s:/&;=?#@'\"]", text) + [text]}
    return sorted((p for p in pieces if len(p) >= 3), key=len, reverse=True)


def scrub(message: str, spec: str) -> str:
    """A message about `spec` made safe to show: its secrets masked by value and by pattern, on one line, capped."""
    for secret in secrets_in(spec):
        message = message.replace(secret, "***")
    message = " ".join(redact(message).splitlines())
    return message if len(message) <= _MESSAGE_CAP else message[:_MESSAGE_CAP] + "..."
