"""`lmeval:NAME:ARGS`: any model registered in lm-evaluation-harness, generating through its `generate_until`.

    lmeval:hf:pretrained=/models/x,dtype=float32      lm-eval's `--model hf --model_args pretrained=...,dtype=...`
    lmeval:vllm:pretrained=/models/x,max_model_len=2048

The registry splits a spec on commas, so every `key=value` option after the target is lm-eval model_args again:
the backend rebuilds `pretrained=/models/x,dtype=float32` and hands it to
`get_model(NAME).create_from_arg_string`. No option is this backend's own; as lm-eval's CLI does, it adds
`device` (cuda when available, else cpu) unless the args name it, and for lm-eval's `hf` model `batch_size=16`
(as `hf:`; lm-eval's own default is 1). Prompts go through the model's
`apply_chat_template`; every request carries explicit gen kwargs (`until: []`, `max_gen_toks`, `do_sample`,
temperature/top_p only when sampling).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

from ..errors import BackendError
from .base import ChatRequest, Response, SamplingSettings
from .registry import ModelSpec


def from_spec(spec: ModelSpec) -> "LMEvalBackend":
    name, _, first_args = spec.target.partition(":")
    if not name.strip():
        raise BackendError(f"model spec {spec}: needs an lm-eval model name, e.g. lmeval:hf:pretrained=/path")
    args = [a for a in [first_args.strip(), *(f"{k}={v}" for k, v in spec.options.items())] if a]
    for arg in args:
        if "=" not in arg:
            raise BackendError(f"model spec {spec}: lm-eval model arg {arg!r} must look like key=value")
    return LMEvalBackend(name.strip(), ",".join(args), name=str(spec))


class LMEvalBackend:
    """lm-eval and the model load on the first generate(): a run answered from the cache imports neither."""

    capabilities: frozenset[str] = frozenset()  # generate() only; see backends/base.py for what others offer

    def __init__(self, model_name: str, model_args: str, *, name: str | None = None):
        self.model_name = model_name
        self.model_args = model_args
        self.name = name or f"lmeval:{model_name}:{model_args}"
        self._lm = None
        self.fingerprint = _fingerprint(model_name, model_args)

    @property
    def lm(self):
        if self._lm is None:
            self._lm = self._load()
        return self._lm

    def close(self) -> None:
        """Drop the model; lm-eval's vLLM model also gets its engine stopped, since it holds worker memory."""
        lm, self._lm = self._lm, None
        engine_core = getattr(getattr(getattr(lm, "model", None), "llm_engine", None), "engine_core", None)
        if engine_core is not None:
            engine_core.shutdown()

    def _load(self):
        try:
            from lm_eval.api.registry import get_model
        except ImportError:
            raise BackendError(f"{self.name}: lm-eval is not installed; pip install 'pytest-overrefusal[lmeval]'"
                               ) from None
        try:
            model_class = get_model(self.model_name)
        except ValueError as exc:
            raise BackendError(f"{self.name}: {str(exc).splitlines()[0][:300]}") from None
        try:
            lm = model_class.create_from_arg_string(self.model_args, _defaults(self.model_name, self.model_args))
        except (OSError, ValueError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise BackendError(f"{self.name}: lm-eval cannot build model {self.model_name!r} from "
                               f"{self.model_args!r} ({first})") from None
        _drop_generation_config_limit(lm)
        return lm

    # -- protocol -------------------------------------------------------------------------------
    def generate(self, requests: Sequence[ChatRequest]) -> list[Response]:
        from lm_eval.api.instance import Instance

        contexts = [self.render(r) for r in requests]
        out: list[Response | None] = [None] * len(requests)
        groups: dict[SamplingSettings, list[int]] = {}
        for i, request in enumerate(requests):
            groups.setdefault(request.sampling, []).append(i)
        for sampling, members in groups.items():  # usually one group: the whole batch in one call
            kwargs = gen_kwargs(sampling)
            instances = [Instance(request_type="generate_until", doc={}, arguments=(contexts[i], dict(kwargs)),
                                  idx=0, metadata=("overrefusal", n, 1)) for n, i in enumerate(members)]
            if sampling.temperature > 0:
                _seed(sampling.seed)  # lm-eval has no per-request seed; seed the generators it samples from
            texts = self.lm.generate_until(instances, disable_tqdm=True)
            for i, text in zip(members, texts):
                out[i] = self._response(contexts[i], text, sampling.max_new_tokens)
        return out  # type: ignore[return-value]

    def render(self, request: ChatRequest) -> str:
        try:
            return self.lm.apply_chat_template(request.as_dicts(), add_generation_prompt=True)
        except NotImplementedError:
            raise BackendError(f"{self.name}: lm-eval model {self.model_name!r} cannot apply a chat template; "
                               f"use a chat-capable lm-eval model") from None

    def _response(self, context: str, text: str, limit: int) -> Response:
        """lm-eval returns bare strings: token counts come from re-encoding, so 'length' is an estimate."""
        completion = self._count_tokens(text)
        return Response(text=text.strip(), finish_reason="length" if completion >= limit else "stop",
                        prompt_tokens=self._count_tokens(context), completion_tokens=completion)

    def _count_tokens(self, text: str) -> int:
        encode = getattr(self.lm, "tok_encode", None)
        if encode is None:
            return 0
        try:
            return len(encode(text, add_special_tokens=False))
        except (TypeError, NotImplementedError):  # API models have no local tokenizer
            return 0


def gen_kwargs(sampling: SamplingSettings) -> dict:
    """Everything lm-eval needs, nothing left to its defaults (256 tokens, `until: ["\\n\\n"]`)."""
    kwargs: dict = {"until": [], "max_gen_toks": sampling.max_new_tokens, "do_sample": sampling.temperature > 0}
    if sampling.temperature > 0:
        kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p)
    else:
        kwargs["temperature"] = 0.0
    return kwargs


def _defaults(model_name: str, model_args: str) -> dict:
    """What lm-eval's CLI would add: without them HFLM asks for "cuda" even on a CPU-only host, and batch 1."""
    given = {a.split("=", 1)[0].strip() for a in model_args.split(",") if "=" in a}
    defaults: dict = {}
    if "device" not in given:
        try:
            import torch

            defaults["device"] = "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:
            pass
    if model_name in ("hf", "hf-auto", "huggingface") and "batch_size" not in given:
        defaults["batch_size"] = 16
    return defaults


def _drop_generation_config_limit(lm) -> None:
    """lm-eval's HF model passes `max_length`; a `max_new_tokens` in the checkpoint's generation_config.json
    would silently win over the requested token limit (transformers prefers it), so remove it."""
    config = getattr(getattr(lm, "model", None), "generation_config", None)
    if config is not None and getattr(config, "max_new_tokens", None) is not None:
        config.max_new_tokens = None


def _seed(seed: int) -> None:
    import random

    random.seed(seed)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)


def _fingerprint(model_name: str, model_args: str) -> str:
    """A local `pretrained=` directory is fingerprinted by content like `hf:`; anything else by its spec."""
    args = dict(a.split("=", 1) for a in model_args.split(",") if "=" in a)
    settings = f"lmeval|{model_name}|" + ",".join(f"{k}={v}" for k, v in sorted(args.items()) if k != "pretrained")
    pretrained = Path(args.get("pretrained", ""))
    if args.get("pretrained") and pretrained.is_dir():
        from .hf import fingerprint_dir

        return fingerprint_dir(pretrained, settings)
    return hashlib.sha256(f"{settings}|{args.get('pretrained', '')}".encode()).hexdigest()[:16]
