"""The `hf:` backend's extension hook: spec options that change how a local model answers, owned by other packages.

An extension is registered under each option key it reads, in the entry-point group `pytest_overrefusal.hf_extensions`
(`key = "package.module:factory"` in the owner's pyproject.toml), or by calling `register_extension(key, factory)`.
A factory is `factory(options: dict[str, str], spec) -> HFExtension`: it pops the keys it owns from `options` and
raises a one-line OverrefusalError for bad values. The backend knows no extension by name, and nothing is imported
unless a spec uses one of the keys, so plain `hf:` runs stay light. `mitigations/` registers its inference-time
options this way (see pyproject.toml). Extensions apply prompt rewriters first, then generation replacers.
"""
from __future__ import annotations

import importlib
from importlib.metadata import distributions
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from ..errors import BackendError

if TYPE_CHECKING:
    from .base import ChatRequest, Response, SamplingSettings
    from .hf import HFBackend

GROUP = "pytest_overrefusal.hf_extensions"
Factory = Callable[[dict, object], "HFExtension"]

_registered: dict[str, "str | Factory"] = {}  # option key -> factory, or its "module:function" until first use


class HFExtension(Protocol):
    """What the backend calls. An extension may use the backend's public attributes: `model`, `tokenizer`,
    `device`, `path_or_id`, `stop_ids` and `response_from_tokens(tokens, prompt_len, limit)`."""

    tag: str  # joins the backend's settings tag, so steered answers never share cache rows with plain ones
    keeps_generation: bool  # True when generate_batch never replaces generation, so answers may be continued

    def on_load(self, backend: "HFBackend") -> None:
        """Runs once after weights load (e.g. add tokens to the tokenizer or wrap the embedding module)."""

    def rewrite(self, request: "ChatRequest") -> "ChatRequest":
        """Runs before the chat template is applied (e.g. replace the system message)."""

    def generate_batch(self, backend: "HFBackend", texts: Sequence[str],
                       sampling: "SamplingSettings") -> "list[Response] | None":
        """Return responses to replace plain generation for this batch, or None to leave it alone."""


def register_extension(key: str, factory: "str | Factory") -> None:
    """Make `hf:...,KEY=VALUE` build an extension with `factory` (or the "module:function" naming it)."""
    _registered[key] = factory


def _factories() -> dict[str, "str | Factory"]:
    # every installed copy's metadata, not only the first one found: a stale `*.egg-info` in the working directory
    # (left by an older build) would otherwise hide the installed entry points
    found: dict[str, str] = {}
    for dist in distributions():
        for ep in dist.entry_points.select(group=GROUP):
            found.setdefault(ep.name, ep.value)
    return {**found, **_registered}


def known_options() -> str:
    """The extension keys, for the backend's list of options in error messages."""
    return ", ".join(sorted(_factories()))


def pop_extensions(options: dict[str, str], spec: object) -> list[HFExtension]:
    """Build every extension whose keys appear in `options`, removing the keys it consumed."""
    if not options:
        return []
    factories = _factories()
    extensions: list[HFExtension] = []
    for key in sorted(k for k in factories if k in options):
        if key not in options:  # an earlier factory owned this key too
            continue
        extensions.append(_load(key, factories[key])(options, spec))
    # prompt rewriters before generation replacers: a fixed order, so the settings tag (the cache key) is too
    return sorted(extensions, key=lambda ext: not ext.keeps_generation)


def _load(key: str, factory: "str | Factory") -> Factory:
    if callable(factory):
        return factory
    module_name, _, function = factory.partition(":")
    try:
        return getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError) as exc:
        why = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise BackendError(f"hf option {key}= comes from {module_name}, which cannot be loaded ({why}); install "
                           f"pytest-overrefusal[mitigations] or drop the option") from None
