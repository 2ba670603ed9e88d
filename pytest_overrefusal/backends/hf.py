"""`hf:PATH_OR_ID`: transformers causal LMs, batched greedy generation with left padding."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Sequence

from ..errors import BackendError
from .base import ChatRequest, Response, SamplingSettings
from .hf_extensions import HFExtension, known_options, pop_extensions
from .hf_folder import (check_model_folder, context_length_of, fingerprint_dir, local_root, read_json,
                        unusable_path_is_an_error, user_load_errors)
from .registry import ModelSpec, pop_int, reject_unknown, shown

_OPTIONS = "dtype, batch_size, device, chat_template=none, revision, attn_implementation"
_DTYPES = {"float32", "bfloat16", "float16", "auto"}


def from_spec(spec: ModelSpec) -> "HFBackend":
    opts = dict(spec.options)
    batch_size = pop_int(opts, "batch_size", 16, spec)
    kwargs = {k: opts.pop(k) for k in ("dtype", "device", "chat_template", "revision", "attn_implementation")
              if k in opts}
    extensions = pop_extensions(opts, spec)
    if opts:  # extensions' keys (hf_extensions.py) are listed only when needed: finding them reads entry points
        reject_unknown(opts, spec, f"{_OPTIONS}, {known_options()}")
    return HFBackend(spec.target, batch_size=batch_size, name=str(spec), extensions=extensions, **kwargs)


class HFBackend:
    """Weights load on the first generate()/logprobs() call: a run answered from the cache never imports torch."""

    capabilities = frozenset({"logprobs", "continue", "stop_when", "refill", "hidden_states", "token_counts"})

    def __init__(self, path_or_id: str, *, batch_size: int = 16, dtype: str | None = None,
                 device: str | None = None, chat_template: str | None = None, revision: str | None = None,
                 attn_implementation: str | None = None, name: str | None = None,
                 extensions: Sequence[HFExtension] = ()):
        if chat_template not in (None, "none"):
            raise BackendError(f"hf:{shown(path_or_id, 200)}: chat_template={shown(chat_template, 40)!r}; "
                               f"the only value is 'none'")
        if dtype is not None and dtype not in _DTYPES:
            raise BackendError(f"hf:{shown(path_or_id, 200)}: dtype={shown(dtype, 40)!r} is not one of "
                               f"{', '.join(sorted(_DTYPES))}")
        self.path_or_id = path_or_id
        self.name = name or f"hf:{path_or_id}"
        self.batch_size = batch_size
        self.raw_prompts = chat_template == "none"
        self.revision = revision
        self._device, self._dtype, self._attn = device, dtype, attn_implementation
        self.extensions = list(extensions)
        self._model = self._tokenizer = None
        self.load_seconds = 0.0
        root = local_root(path_or_id)
        if root is not None:  # everything the cache key needs is on disk; no need to load anything yet
            with unusable_path_is_an_error(path_or_id):
                check_model_folder(root, path_or_id)
                self.path_or_id = str(root)
                self._check_template_files(root)
                self.fingerprint = fingerprint_dir(root, self._settings_tag())
        else:  # a hub id: the resolved weights only exist after loading
            self._load()
            self.fingerprint = hashlib.sha256(f"{path_or_id}|{self._settings_tag()}".encode()).hexdigest()[:16]

    @property
    def model(self):
        self._ready()
        return self._model

    @property
    def tokenizer(self):
        self._ready()
        return self._tokenizer

    def _ready(self) -> None:
        if self._model is None:
            began = time.perf_counter()
            try:
                self._load()
            finally:  # the summary reports loading apart from generating (engine.RunStats.load_seconds)
                self.load_seconds += time.perf_counter() - began

    def close(self) -> None:
        """Drop the weights now rather than at interpreter exit (matters for big models in one process)."""
        self._model = None

    def _settings_tag(self) -> str:
        tags = "".join(f"|{ext.tag}" for ext in self.extensions)
        return f"dtype={self._dtype or 'default'}|raw={self.raw_prompts}|revision={self.revision}{tags}"

    def _check_template_files(self, root: Path) -> None:
        if self.raw_prompts:
            return
        if (root / "chat_template.jinja").is_file() or (root / "chat_template.json").is_file():
            return
        config = root / "tokenizer_config.json"
        try:
            has = bool(json.loads(config.read_text(encoding="utf-8")).get("chat_template"))
        except (OSError, ValueError):
            has = False
        if not has:
            raise BackendError(_NO_TEMPLATE.format(shown(self.path_or_id, 200)))

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = self._device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = self._dtype or ("bfloat16" if device.startswith("cuda") else "float32")
        load = {"revision": self.revision} if self.revision else {}
        model_kw = {"attn_implementation": self._attn} if self._attn else {}
        _quiet_loading()
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.path_or_id, **load)
            model = AutoModelForCausalLM.from_pretrained(
                self.path_or_id, dtype=dtype if dtype == "auto" else getattr(torch, dtype), **load, **model_kw)
        except user_load_errors() as exc:
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            where = f"hf:{shown(self.path_or_id, 200)}"
            if "ignore_mismatched_sizes" in first or "size mismatch" in first:
                raise BackendError(f"{where}: the weights do not match the sizes in config.json; give the config "
                                   f"the weights were saved with") from None
            raise BackendError(f"{where}: cannot load model ({type(exc).__name__}: {shown(first, 200)}); give a "
                               f"local directory with config.json and weights, or a hub id when the hub is "
                               f"reachable") from None
        if not self.raw_prompts and not tokenizer.chat_template:
            raise BackendError(_NO_TEMPLATE.format(shown(self.path_or_id, 200)))
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.device = device
        self._tokenizer, self._model = tokenizer, model.to(device).eval()
        self.stop_ids = self._collect_stop_ids()
        for ext in self.extensions:
            ext.on_load(self)

    # -- protocol -------------------------------------------------------------------------------
    def generate(self, requests: Sequence[ChatRequest]) -> list[Response]:
        """Grouped by sampling setting, longest prompts first, so each batch pads little; results come back in
        input order."""
        self._ready()
        texts = [self.render(r) for r in requests]
        lengths = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        # Sampling setting first: K seeds per prompt (EvoRefuse fitness) then fill whole batches, not K small ones.
        order = sorted(range(len(requests)),
                       key=lambda i: (tuple(requests[i].sampling.key().items()), -lengths[i]))
        out: list[Response | None] = [None] * len(requests)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            groups: dict[SamplingSettings, list[int]] = {}
            for i in idx:  # a batch shares one sampling setting
                groups.setdefault(requests[i].sampling, []).append(i)
            for sampling, members in groups.items():
                for i, resp in zip(members, self._generate_batch([texts[i] for i in members], sampling)):
                    out[i] = resp
        return out  # type: ignore[return-value]

    def can_continue(self) -> bool:
        from .hf_continue import supports_continuation
        return supports_continuation(self)

    def continue_generation(self, requests, partials, max_new_tokens: int, stop_when=None, on_done=None):
        """Greedy answers grown to `max_new_tokens` new tokens from their token ids so far (verdict decoding)."""
        from .hf_continue import continue_generation
        return continue_generation(self, requests, partials, max_new_tokens, stop_when, on_done)

    def prompt_token_counts(self, requests: Sequence[ChatRequest]) -> list[int]:
        """Tokens of each chat-rendered prompt, counted exactly as generate() encodes it."""
        if not requests:
            return []
        self._ready()
        # verbose=False: counting is how over-long prompts are found, so transformers' own "longer than the
        # maximum" warning would only repeat what the run reports as a skip
        return [len(ids) for ids in self.tokenizer([self.render(r) for r in requests], add_special_tokens=False,
                                                   verbose=False)["input_ids"]]

    @property
    def context_length(self) -> int | None:
        """Most positions (prompt + answer) the model takes: its config's limit, else the tokenizer's; None when
        neither says. Read from the folder's files when the weights are not loaded yet."""
        if self._model is not None:
            return context_length_of(self._model.config.to_dict(), self._tokenizer.model_max_length)
        root = Path(self.path_or_id)
        return context_length_of(read_json(root / "config.json"),
                                 read_json(root / "tokenizer_config.json").get("model_max_length"))

    def render(self, request: ChatRequest) -> str:
        for ext in self.extensions:
            request = ext.rewrite(request)
        if self.raw_prompts:
            return "\n\n".join(content for _, content in request.messages)
        try:
            return self.tokenizer.apply_chat_template(request.as_dicts(), tokenize=False,
                                                      add_generation_prompt=True)
        except Exception as exc:  # jinja2's errors: the model's own template is broken or refuses the messages
            if not type(exc).__module__.startswith("jinja2"):
                raise
            why = " ".join(str(exc).split())[:160] or type(exc).__name__
            raise BackendError(f"hf:{shown(self.path_or_id, 200)}: its chat template fails on a conversation with "
                               f"roles {', '.join(r for r, _ in request.messages)} ({shown(why, 160)}); fix the "
                               f"template, drop the suite's system prompt if the model takes none, or add "
                               f"',chat_template=none' for raw prompts") from None

    def logprobs(self, requests: Sequence[ChatRequest], continuations: Sequence[str]) -> list[float]:
        """Sum of log p(continuation tokens | rendered prompt), teacher-forced."""
        import torch

        from .hf_kv import left_padded

        self._ready()

        if len(requests) != len(continuations):
            raise ValueError("requests and continuations must have the same length")
        results: list[float] = []
        for start in range(0, len(requests), self.batch_size):
            chunk = range(start, min(start + self.batch_size, len(requests)))
            prompt_ids = [self._ids(self.render(requests[i])) for i in chunk]
            cont_ids = [self._ids(continuations[i]) for i in chunk]
            seqs = [p + c for p, c in zip(prompt_ids, cont_ids)]
            ids, mask = left_padded(seqs, self.tokenizer.pad_token_id, self.device)
            width = ids.shape[1]
            # Left padding shifts absolute positions (GPT-2 style models) unless they are given explicitly.
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            with torch.no_grad():
                logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1)
            for row, cont in enumerate(cont_ids):
                n = len(cont)
                if n == 0:
                    results.append(0.0)
                    continue
                positions = torch.arange(width - 1 - n, width - 1, device=self.device)
                targets = ids[row, width - n:]
                results.append(float(logp[row, positions, targets].sum()))
        return results

    # -- internals --------------------------------------------------------------------------------
    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _generate_batch(self, texts: list[str], sampling: SamplingSettings) -> list[Response]:
        import torch
        from transformers import GenerationConfig

        for ext in self.extensions:
            steered = ext.generate_batch(self, texts, sampling)
            if steered is not None:
                return steered
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        sample = sampling.temperature > 0
        config = GenerationConfig(max_new_tokens=sampling.max_new_tokens, do_sample=sample,
                                  temperature=sampling.temperature if sample else None,
                                  top_p=sampling.top_p if sample else None,
                                  pad_token_id=self.tokenizer.pad_token_id, eos_token_id=list(self.stop_ids))
        if sample:
            torch.manual_seed(sampling.seed)
        with torch.no_grad():
            generated = self.model.generate(**enc, generation_config=config)
        width = enc["input_ids"].shape[1]
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        return [self.response_from_tokens(row[width:].tolist(), int(plen), sampling.max_new_tokens)
                for row, plen in zip(generated, prompt_lens)]

    def response_from_tokens(self, tokens: list[int], prompt_len: int, limit: int) -> Response:
        stop = next((i for i, t in enumerate(tokens) if t in self.stop_ids), None)
        kept = tokens if stop is None else tokens[:stop]
        finish = "stop" if stop is not None or len(tokens) < limit else "length"
        text = self.tokenizer.decode(kept, skip_special_tokens=True).strip()
        return Response(text=text, finish_reason=finish, prompt_tokens=prompt_len,
                        completion_tokens=len(kept) + (stop is not None))

    def _collect_stop_ids(self) -> frozenset[int]:
        ids: set[int] = set()
        for source in (getattr(self.model.generation_config, "eos_token_id", None), self.tokenizer.eos_token_id):
            if isinstance(source, int):
                ids.add(source)
            elif source:
                ids.update(int(x) for x in source)
        return frozenset(ids)


_NO_TEMPLATE = ("hf:{} has no chat template; instruct models must be prompted through theirs. "
                "For a base model add ',chat_template=none' to send raw prompts")


def _quiet_loading() -> None:
    """transformers draws a per-tensor progress bar on every load; in a test run it is only noise."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
