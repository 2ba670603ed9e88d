"""The backend protocol: what a model under test must offer the engine."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, Sequence, runtime_checkable

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
    `capabilities` names optional methods (e.g. {"logprobs"}).
    An optional `generate_stream(requests)` yields `(index, Response)` as answers arrive; the engine caches each
    one at once, so a crash mid-run loses nothing that was answered.
    Optional, for checking prompt lengths before generating (the hf backend, hence `toy` and `smollm2`, has both):
    `context_length: int | None` is the most positions (prompt + answer) the model takes, None when unknown;
    `prompt_token_counts(requests) -> list[int]` gives each request's prompt tokens exactly as generate() would
    encode it (chat template and any extension's rewrite applied), in input order.
    """

    name: str

    def generate(self, requests: Sequence[ChatRequest]) -> list[Response]: ...
