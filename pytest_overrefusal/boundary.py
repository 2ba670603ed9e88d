"""The boundary between a backend's code and the run: anything it raises becomes one BackendError naming the
model, and prompts that cannot fit the model's context are found before any generation."""
from __future__ import annotations

import contextlib

from .backends.base import ChatRequest, has_capability
from .errors import BackendError, OverrefusalError
from .report.terminal import one_line

# A prompt over this many characters per context position is too long without tokenizing it (no shipped
# tokenizer averages 32 characters per token; tokenizing a 5 MB prompt takes longer than the check is worth).
CHARS_PER_TOKEN_CAP = 32


@contextlib.contextmanager
def model_boundary(backend, method: str):
    """Whatever a backend raises becomes one BackendError naming the model; the run raises it once."""
    try:
        yield
    except OverrefusalError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the boundary between the model's code and the run
        raise BackendError(describe_model_failure(backend, method, exc)) from None


def describe_model_failure(backend, method: str, exc: BaseException) -> str:
    name = one_line(getattr(backend, "name", None) or type(backend).__name__, 80)
    kind = type(exc).__name__
    text = one_line(exc) or "(no message)"
    if isinstance(exc, MemoryError) or "OutOfMemory" in kind or "out of memory" in text.lower():
        return (f"model {name}: out of memory while generating ({kind}: {text}); lower its batch_size (e.g. "
                f"{name},batch_size=4) or --overrefusal-max-new-tokens, or use --overrefusal-limit")
    own = not type(backend).__module__.startswith("pytest_overrefusal.")
    where = "the model's own generate() code" if own else f"the backend's {method}"
    return f"model {name}: {method} raised {kind}: {text} (from {where}); fix it and rerun - answers already " \
           f"produced stay cached"


def context_overflow(backend, requests: dict[int, ChatRequest]) -> dict[int, str]:
    """Requests whose prompt does not fit the model's context (index -> why), measured before any generation:
    a character cap first (no tokenizing megabytes), then the backend's own token counts when it has them."""
    if not requests:
        return {}
    with model_boundary(backend, "context_length"):
        limit = getattr(backend, "context_length", None)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        return {}
    too_long: dict[int, str] = {}
    to_count: list[int] = []
    for i, request in requests.items():
        chars = sum(len(text) for _, text in request.messages)
        if chars > limit * CHARS_PER_TOKEN_CAP:
            too_long[i] = (f"prompt of {chars} characters cannot fit the model's context of {limit} tokens "
                           f"(over {CHARS_PER_TOKEN_CAP} characters per position)")
        else:
            to_count.append(i)
    if to_count and has_capability(backend, "token_counts"):
        with model_boundary(backend, "prompt_token_counts()"):
            counts = list(backend.prompt_token_counts([requests[i] for i in to_count]))
        if len(counts) != len(to_count) or not all(isinstance(n, int) for n in counts):
            raise BackendError(f"model {one_line(getattr(backend, 'name', backend), 80)}: prompt_token_counts() "
                               f"must return one int per request, got {one_line(counts, 80)}")
        for i, n in zip(to_count, counts):
            if n >= limit:
                too_long[i] = (f"prompt of {n} tokens does not fit the model's context of {limit} tokens "
                               f"(no room left to answer)")
    return too_long


class UnloadableModel:
    """Stands in for a model whose spec could not be loaded, so the session fixture does not cache an exception
    that pytest would then print once per item: items see it, record the one line as every selected suite's error
    (summary and report say so) and show it once, the rest point to it."""

    def __init__(self, message: str):
        self.message = message
        self.name = "unloadable model"

    def generate(self, requests):
        raise BackendError(self.message)
