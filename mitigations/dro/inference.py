"""`hf:PATH,soft_prompt=FILE`: answer with a trained soft safety prompt (DRO) as the system message.

Registered as the `soft_prompt` hf extension (entry point group `pytest_overrefusal.hf_extensions` in
pyproject.toml; the hook is `pytest_overrefusal/backends/hf_extensions.py`).

The file is a safetensors archive holding one float matrix `soft_prompt` (n tokens x hidden size) and string
metadata (format, hidden size, base model fingerprint, the human prompt it started from). At load time the
tokenizer gets n placeholder tokens `<soft_prompt_i>` and the model's input-embedding module is wrapped so those ids
look up rows of the matrix. The output head is left alone on purpose: writing the rows into a tied embedding matrix
would also make the placeholders *generable*. Every request's system message is replaced by the placeholders (or
they are inserted as one), so plain `generate()`, `logprobs()` and batching work unchanged.

Nothing here imports torch until the weights load: a run answered from the cache stays light.
"""
from __future__ import annotations

import hashlib
import json
import struct
import warnings
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from pytest_overrefusal.api import BackendError, fingerprint_dir

if TYPE_CHECKING:
    from pytest_overrefusal.api import ChatRequest, HFBackend, Response, SamplingSettings

FORMAT = "pytest-overrefusal-soft-prompt-v1"
TENSOR_NAME = "soft_prompt"
TOKEN_PATTERN = "<soft_prompt_{}>"


def from_options(options: dict[str, str], spec: object) -> "SoftPromptExtension":
    raw = options.pop("soft_prompt")
    path = Path(raw).expanduser()
    if not path.is_file():
        raise BackendError(f"model spec {spec}: soft_prompt={raw!r} is not a file; give the path written by "
                           f"`overrefusal dro --out FILE`")
    return SoftPromptExtension(path)


def placeholder_tokens(n: int) -> list[str]:
    return [TOKEN_PATTERN.format(i) for i in range(n)]


def placeholder_text(n: int) -> str:
    return "".join(placeholder_tokens(n))


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def read_header(path: Path) -> tuple[dict[str, str], tuple[int, ...]]:
    """(metadata, matrix shape) from the safetensors JSON header, without importing torch."""
    try:
        with Path(path).open("rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(size)) if 0 < size < (1 << 24) else None
    except (OSError, struct.error, ValueError):
        header = None
    meta = (header or {}).get("__metadata__") or {}
    if not header or meta.get("format") != FORMAT or TENSOR_NAME not in header:
        raise BackendError(f"{path}: not a soft-prompt file (expected format {FORMAT}); write one with "
                           f"`overrefusal dro --out FILE`")
    return meta, tuple(header[TENSOR_NAME]["shape"])


def save_soft_prompt(path: Path, matrix, metadata: dict[str, str]) -> Path:
    """Write `matrix` (n x d) as fp32 with string metadata; returns the path."""
    from safetensors.torch import save_file

    meta = {str(k): str(v) for k, v in metadata.items()}
    meta.update(format=FORMAT, n_tokens=str(matrix.shape[0]), hidden_size=str(matrix.shape[1]))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({TENSOR_NAME: matrix.detach().float().contiguous().cpu()}, str(path), metadata=meta)
    return path


def load_soft_prompt(path: Path):
    """(matrix, metadata) from a file written by `save_soft_prompt`; one-line errors for anything else."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = dict(fh.metadata() or {})
            if meta.get("format") != FORMAT or TENSOR_NAME not in fh.keys():
                raise BackendError(f"{path}: not a soft-prompt file (format {meta.get('format')!r}); "
                                   f"write one with `overrefusal dro`")
            matrix = fh.get_tensor(TENSOR_NAME)
    except (SafetensorError, OSError) as exc:
        raise BackendError(f"{path}: cannot read soft prompt ({exc}); write one with `overrefusal dro`") from None
    if matrix.dim() != 2 or matrix.shape[0] < 1:
        raise BackendError(f"{path}: soft prompt must be an (n_tokens x hidden_size) matrix, got "
                           f"{tuple(matrix.shape)}")
    return matrix, meta


def install_soft_prompt(model, tokenizer, matrix) -> list[int]:
    """Register `<soft_prompt_i>` tokens and make their input embeddings the rows of `matrix`.

    `matrix` is used as is (not copied), so a trainable Parameter stays trainable through the model. Calling this
    again on the same model swaps the matrix. Returns the placeholder token ids.
    """
    embeddings = model.get_input_embeddings()
    base = getattr(embeddings, "base_embedding", embeddings)
    hidden = base.weight.shape[1]
    if matrix.shape[1] != hidden:
        raise BackendError(f"soft prompt has hidden size {matrix.shape[1]} but the model's embeddings have {hidden}; "
                           f"it was trained for another model")
    tokens = placeholder_tokens(matrix.shape[0])
    tokenizer.add_tokens(tokens, special_tokens=True)
    ids = tokenizer.convert_tokens_to_ids(tokens)
    first = ids[0]
    if ids != list(range(first, first + len(ids))):
        raise BackendError("soft-prompt placeholder tokens did not get consecutive ids; the tokenizer already "
                           "holds some of them with other ids")
    model.set_input_embeddings(_soft_embedding(base, matrix, first))
    return ids


def _soft_embedding(base, matrix, first_id: int):
    import torch

    class SoftPromptEmbedding(torch.nn.Module):
        """Ordinary lookup below `first_id`; ids from `first_id` on are rows of the soft prompt."""

        def __init__(self):
            super().__init__()
            self.base_embedding = base
            self.matrix = matrix
            self.first_id = first_id

        @property
        def weight(self):  # some model code reads the embedding weight (dtype, device, tying checks)
            return self.base_embedding.weight

        def forward(self, input_ids):
            soft = (input_ids >= self.first_id) & (input_ids < self.first_id + self.matrix.shape[0])
            plain = self.base_embedding(torch.where(soft, torch.zeros_like(input_ids), input_ids))
            if not bool(soft.any()):
                return plain
            rows = self.matrix.to(plain.dtype)[(input_ids - self.first_id).clamp(0, self.matrix.shape[0] - 1)]
            # rows live in the weight's space; modules that scale lookups (Gemma's embed_scale) scale them too
            rows = rows * getattr(self.base_embedding, "embed_scale", 1.0)
            return torch.where(soft.unsqueeze(-1), rows, plain)

    return SoftPromptEmbedding()


def with_system(request: "ChatRequest", system: str) -> "ChatRequest":
    """The request with its system message content set to `system` (inserted first when there is none)."""
    messages = list(request.messages)
    if messages and messages[0][0] == "system":
        messages[0] = ("system", system)
    else:
        messages.insert(0, ("system", system))
    return replace(request, messages=tuple(messages))


class SoftPromptExtension:
    """The `HFExtension` for `soft_prompt=FILE`."""

    keeps_generation = True  # it only rewrites the prompt, so answers may be continued (verdict decoding)

    def __init__(self, path: Path):
        self.path = path
        self.tag = f"soft_prompt={file_digest(path)}"
        _, shape = read_header(path)  # fail at spec time, and know n without loading torch
        self.n_tokens = int(shape[0])

    def on_load(self, backend: "HFBackend") -> None:
        matrix, meta = load_soft_prompt(self.path)
        model, tokenizer = backend.model, backend.tokenizer  # already loaded: on_load runs at the end of loading
        try:
            install_soft_prompt(model, tokenizer, matrix.to(backend.device))
        except BackendError as exc:
            raise BackendError(f"{self.path}: {exc} (base {meta.get('base_model', '?')})") from None
        self._warn_other_base(backend, meta)

    def rewrite(self, request: "ChatRequest") -> "ChatRequest":
        return with_system(request, placeholder_text(self.n_tokens))

    def generate_batch(self, backend: "HFBackend", texts: Sequence[str],
                       sampling: "SamplingSettings") -> "list[Response] | None":
        return None

    def _warn_other_base(self, backend: "HFBackend", meta: dict[str, str]) -> None:
        expected = meta.get("base_fingerprint")
        root = Path(backend.path_or_id)
        if expected and root.is_dir() and fingerprint_dir(root, "") != expected:
            warnings.warn(f"{self.path} was trained on another model ({meta.get('base_model', '?')}); "
                          f"its refusal behaviour on {backend.path_or_id} is untested", stacklevel=2)
