"""`hf:PATH_OR_ID`: transformers causal LMs, batched greedy generation with left padding."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

from ..errors import BackendError
from .base import ChatRequest, Response, SamplingSettings
from .registry import ModelSpec, pop_int, reject_unknown

_OPTIONS = "dtype, batch_size, device, chat_template=none, revision, attn_implementation"
_DTYPES = {"float32", "bfloat16", "float16", "auto"}


def from_spec(spec: ModelSpec) -> "HFBackend":
    opts = dict(spec.options)
    batch_size = pop_int(opts, "batch_size", 16, spec)
    kwargs = {k: opts.pop(k) for k in ("dtype", "device", "chat_template", "revision", "attn_implementation")
              if k in opts}
    reject_unknown(opts, spec, _OPTIONS)
    return HFBackend(spec.target, batch_size=batch_size, name=str(spec), **kwargs)


class HFBackend:
    capabilities = frozenset({"logprobs"})

    def __init__(self, path_or_id: str, *, batch_size: int = 16, dtype: str | None = None,
                 device: str | None = None, chat_template: str | None = None, revision: str | None = None,
                 attn_implementation: str | None = None, name: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if chat_template not in (None, "none"):
            raise BackendError(f"hf:{path_or_id}: chat_template={chat_template!r}; the only value is 'none'")
        self.name = name or f"hf:{path_or_id}"
        self.batch_size = batch_size
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = dtype or ("bfloat16" if self.device.startswith("cuda") else "float32")
        if dtype not in _DTYPES:
            raise BackendError(f"hf:{path_or_id}: dtype={dtype!r} is not one of {', '.join(sorted(_DTYPES))}")
        self.dtype = dtype
        load = {"revision": revision} if revision else {}
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path_or_id, **load)
            model_kw = {"attn_implementation": attn_implementation} if attn_implementation else {}
            self.model = AutoModelForCausalLM.from_pretrained(
                path_or_id, dtype=dtype if dtype == "auto" else getattr(torch, dtype), **load, **model_kw)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise BackendError(f"hf:{path_or_id}: cannot load model ({first}); give a local directory with "
                               f"config.json and weights, or a hub id when the hub is reachable") from None
        self.model.to(self.device).eval()
        self.raw_prompts = chat_template == "none"
        if not self.raw_prompts and not self.tokenizer.chat_template:
            raise BackendError(f"hf:{path_or_id} has no chat template; instruct models must be prompted through "
                               f"theirs. For a base model add ',chat_template=none' to send raw prompts")
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._eos_ids = self._stop_ids()
        self.fingerprint = self._fingerprint(path_or_id, revision)

    # -- protocol -------------------------------------------------------------------------------
    def generate(self, requests: Sequence[ChatRequest]) -> list[Response]:
        """Longest prompts first so each batch pads little; results come back in input order."""
        texts = [self.render(r) for r in requests]
        lengths = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        order = sorted(range(len(requests)), key=lambda i: (-lengths[i], requests[i].sampling.key().items()))
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

    def render(self, request: ChatRequest) -> str:
        if self.raw_prompts:
            return "\n\n".join(content for _, content in request.messages)
        return self.tokenizer.apply_chat_template(request.as_dicts(), tokenize=False,
                                                  add_generation_prompt=True)

    def logprobs(self, requests: Sequence[ChatRequest], continuations: Sequence[str]) -> list[float]:
        """Sum of log p(continuation tokens | rendered prompt), teacher-forced."""
        import torch

        if len(requests) != len(continuations):
            raise ValueError("requests and continuations must have the same length")
        results: list[float] = []
        for start in range(0, len(requests), self.batch_size):
            chunk = range(start, min(start + self.batch_size, len(requests)))
            prompt_ids = [self._ids(self.render(requests[i])) for i in chunk]
            cont_ids = [self._ids(continuations[i]) for i in chunk]
            seqs = [p + c for p, c in zip(prompt_ids, cont_ids)]
            width = max(len(s) for s in seqs)
            pad = self.tokenizer.pad_token_id
            ids = torch.tensor([[pad] * (width - len(s)) + s for s in seqs], device=self.device)
            mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs], device=self.device)
            with torch.no_grad():
                logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
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

        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        sample = sampling.temperature > 0
        config = GenerationConfig(max_new_tokens=sampling.max_new_tokens, do_sample=sample,
                                  temperature=sampling.temperature if sample else None,
                                  top_p=sampling.top_p if sample else None,
                                  pad_token_id=self.tokenizer.pad_token_id, eos_token_id=list(self._eos_ids))
        if sample:
            torch.manual_seed(sampling.seed)
        with torch.no_grad():
            generated = self.model.generate(**enc, generation_config=config)
        width = enc["input_ids"].shape[1]
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        return [self._response(row[width:].tolist(), int(plen), sampling.max_new_tokens)
                for row, plen in zip(generated, prompt_lens)]

    def _response(self, tokens: list[int], prompt_len: int, limit: int) -> Response:
        stop = next((i for i, t in enumerate(tokens) if t in self._eos_ids), None)
        kept = tokens if stop is None else tokens[:stop]
        finish = "stop" if stop is not None or len(tokens) < limit else "length"
        text = self.tokenizer.decode(kept, skip_special_tokens=True).strip()
        return Response(text=text, finish_reason=finish, prompt_tokens=prompt_len,
                        completion_tokens=len(kept) + (stop is not None))

    def _stop_ids(self) -> frozenset[int]:
        ids: set[int] = set()
        for source in (getattr(self.model.generation_config, "eos_token_id", None), self.tokenizer.eos_token_id):
            if isinstance(source, int):
                ids.add(source)
            elif source:
                ids.update(int(x) for x in source)
        return frozenset(ids)

    def _fingerprint(self, path_or_id: str, revision: str | None) -> str:
        """Content-sensitive but cheap: config, chat template, dtype, and head/tail bytes of each weight file."""
        h = hashlib.sha256()
        h.update(json.dumps(self.model.config.to_dict(), sort_keys=True, default=str).encode())
        h.update((self.tokenizer.chat_template or "<raw>" if not self.raw_prompts else "<raw>").encode())
        h.update(f"{self.dtype}|{revision}|{sorted(self._eos_ids)}".encode())
        root = Path(path_or_id)
        weights = sorted(root.glob("*.safetensors")) + sorted(root.glob("*.bin")) if root.is_dir() else []
        for f in weights:
            size = f.stat().st_size
            with f.open("rb") as fh:
                h.update(f"{f.name}:{size}".encode())
                h.update(fh.read(1 << 20))
                fh.seek(max(0, size - (1 << 20)))
                h.update(fh.read(1 << 20))
        if not weights:  # a hub id: names the weights; the revision pins them
            h.update(path_or_id.encode())
        return h.hexdigest()[:16]
