"""The backend protocol: what a model under test must offer the engine."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal, Protocol, Sequence, runtime_checkable

FinishReason = Literal["stop", "length", "error", "verdict"]  # verdict: stopped once the judge's flag was settled


@dataclass(frozen=True)
class SamplingSettings:
    max_new_tokens: int = 128
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    seed: int = 0

    def key(self) -> dict:
        return {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
                "top_p": self.top_p, "seed": self.seed}


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[tuple[str, str], ...]  # ((role, content), ...)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)

    @classmethod
    def user(cls, prompt: str, system: str | None = None,
             sampling: SamplingSettings | None = None) -> "ChatRequest":
        msgs = ((("system", system),) if system else ()) + (("user", prompt),)
        return cls(messages=msgs, sampling=sampling or SamplingSettings())

    def as_dicts(self) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in self.messages]


@dataclass(frozen=True)
class Response:
    text: str
    finish_reason: FinishReason = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def truncated(self) -> bool:
        """A reply cut at the token limit is not evidence of compliance."""
        return self.finish_reason == "length"


@runtime_checkable
class Backend(Protocol):
    """Anything with `generate` is a model under test; everything else is optional.

    `fingerprint` identifies the weights + template so the cache never mixes models.
    `capabilities: frozenset[str]` names what else it can do, from `CAPABILITIES` below; features ask with
    `has_capability` / `require`, never by probing for methods.
    An optional `generate_stream(requests)` yields `(index, Response)` as answers arrive; the engine caches each
    one at once, so a crash mid-run loses nothing that was answered.
    Optional, for checking prompt lengths before generating (the hf backend, hence `toy` and `smollm2`, has both):
    `context_length: int | None` is the most positions (prompt + answer) the model takes, None when unknown;
    `prompt_token_counts(requests) -> list[int]` gives each request's prompt tokens exactly as generate() would
    encode it (chat template and any extension's rewrite applied), in input order.
    """

    name: str

    def generate(self, requests: Sequence[ChatRequest]) -> list[Response]: ...


# -- capabilities ----------------------------------------------------------------------------------
# name -> (what it offers, as a message names it; the backend to use instead). A backend declares the ones it has in
# `capabilities`; each names the method(s) that serve it:
#   logprobs       logprobs(requests, continuations) -> list[float]: log p(continuation | prompt), teacher-forced
#   hidden_states  .model, .tokenizer and render(request) in this process (CHES, DRO training)
#   continue       continue_generation(requests, partials, max_new_tokens, stop_when=None) grows answers from their
#                  token ids (verdict decoding); an optional can_continue() may say no for a configuration
#   stop_when      continue_generation honours stop_when inside one call
#   refill         continue_generation(..., stop_when=..., on_done=...) takes more requests than one batch, keeps
#                  its batch full by admitting waiting ones as answers end, and calls on_done(i, partial) for each
#                  answer as it ends (continuous batching across suites)
#   stream         generate_stream(requests) yields (index, Response) as answers arrive
#   token_counts   prompt_token_counts(requests) -> list[int], with `context_length` (prompts checked before runs)
CAPABILITIES: dict[str, tuple[str, str]] = {
    "logprobs": ("token log-probabilities (logprobs())", "use an hf: backend (or toy / smollm2)"),
    "hidden_states": ("hidden states (model, tokenizer and render() in this process)",
                      "use an hf: backend (or toy / smollm2) with the weights loaded in this process"),
    "continue": ("a way to continue an answer (continue_generation())", "use an hf: or vllm: backend"),
    "stop_when": ("in-call stopping (continue_generation(stop_when=...))", "use an hf: backend"),
    "refill": ("continuous batching (continue_generation(on_done=...))", "use an hf: backend"),
    "stream": ("streamed answers (generate_stream())", "use an openai: backend"),
    "token_counts": ("prompt token counts (prompt_token_counts())", "use an hf: backend (or toy / smollm2)"),
}


def _callable(name: str) -> Callable[[object], bool]:
    return lambda backend: callable(getattr(backend, name, None))


# A backend that does not declare `capabilities` (e.g. a `python:` object written before the attribute existed) is
# read by its methods, so it keeps working; "continue" has always had to be declared.
_UNDECLARED: dict[str, Callable[[object], bool]] = {
    "logprobs": _callable("logprobs"),
    "hidden_states": lambda backend: all(hasattr(backend, n) for n in ("model", "tokenizer", "render")),
    "stop_when": lambda backend: False,  # needs "continue", which is always declared
    "refill": lambda backend: False,
    "stream": _callable("generate_stream"),
    "token_counts": _callable("prompt_token_counts"),
}


def has_capability(backend: object, capability: str) -> bool:
    """Whether `backend` can do `capability` (a key of CAPABILITIES) now."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}; known: {', '.join(CAPABILITIES)}")
    declared = getattr(backend, "capabilities", None)
    if declared is None:  # an object from before the attribute: read by its methods
        return capability != "continue" and _UNDECLARED[capability](backend)
    if capability == "continue":  # declared, served, and not refused by the backend's configuration
        if "continue" not in declared or not callable(getattr(backend, "continue_generation", None)):
            return False
        check = getattr(backend, "can_continue", True)  # e.g. hf: not while an extension steers generation
        return bool(check() if callable(check) else check)
    return capability in declared  # declared is the whole truth: a method alone does not opt in


def require(backend: object, capability: str, feature: str, error: type[Exception] | None = None) -> None:
    """Raise one one-line error (BackendError unless the feature's area has its own type) when `backend` cannot do
    `capability`; `feature` names who needs it, e.g. "judge 'logprob'"."""
    if has_capability(backend, capability):
        return
    from ..errors import BackendError
    from .registry import shown  # a backend's name may be a spec holding a credential

    what, instead = CAPABILITIES[capability]
    name = shown(getattr(backend, "name", None) or type(backend).__name__)
    raise (error or BackendError)(f"{feature}: model {name} has no {what}; {instead}")
