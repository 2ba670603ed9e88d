"""Inference-time options of `hf:` that come from mitigations (DRO soft prompts, refusal-token steering).

Each option key maps to a factory that pops the keys it owns from the spec's options and returns an extension.
Nothing here is imported unless a spec uses one of these keys, so plain `hf:` runs stay light.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol, Sequence

if TYPE_CHECKING:
    from .base import ChatRequest, Response, SamplingSettings
    from .hf import HFBackend

# option key -> "module:factory"; a factory is `factory(options: dict[str, str], spec) -> HFExtension`.
_FACTORIES: dict[str, str] = {
    "soft_prompt": "pytest_overrefusal.backends.hf_soft_prompt:from_options",
    "refusal_threshold": "pytest_overrefusal.backends.hf_refusal_tokens:from_options",
    "refusal_bias": "pytest_overrefusal.backends.hf_refusal_tokens:from_options",
    "refusal_suppress": "pytest_overrefusal.backends.hf_refusal_tokens:from_options",
    "refusal_temperature": "pytest_overrefusal.backends.hf_refusal_tokens:from_options",
}
KNOWN = ", ".join(sorted(_FACTORIES))


class HFExtension(Protocol):
    tag: str  # joins the backend's settings tag, so steered answers never share cache rows with plain ones

    def on_load(self, backend: "HFBackend") -> None:
        """Runs once after weights load (e.g. register soft-prompt tokens and write their embeddings)."""

    def rewrite(self, request: "ChatRequest") -> "ChatRequest":
        """Runs before the chat template is applied (e.g. swap the system message for soft-prompt tokens)."""

    def generate_batch(self, backend: "HFBackend", texts: Sequence[str],
                       sampling: "SamplingSettings") -> "list[Response] | None":
        """Return responses to replace plain generation for this batch, or None to leave it alone."""


def pop_extensions(options: dict[str, str], spec: object) -> list[HFExtension]:
    """Build every extension whose keys appear in `options`, removing the keys it consumed."""
    extensions: list[HFExtension] = []
    seen: set[str] = set()
    for key in [k for k in _FACTORIES if k in options]:
        target = _FACTORIES[key]
        if key not in options or target in seen:  # one factory may own several keys
            continue
        seen.add(target)
        module_name, _, func = target.partition(":")
        extensions.append(getattr(importlib.import_module(module_name), func)(options, spec))
    return extensions
