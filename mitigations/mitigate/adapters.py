"""SFT and DPO (trl) as loop methods: `function(base_spec, train_data, out_dir, options) -> model spec`."""
from __future__ import annotations

from pathlib import Path

from pytest_overrefusal.key_values import boolean_value

from . import MitigateError


def model_dir_of(spec: str) -> Path:
    """The local HF folder behind a model spec that trl can train: toy, smollm2 or hf:DIR."""
    from pytest_overrefusal.api import parse_spec

    parsed = parse_spec(spec)
    if parsed.kind == "toy":
        from pytest_overrefusal.api import toy_model_dir
        return toy_model_dir()
    if parsed.kind == "smollm2":
        from pytest_overrefusal.api import smollm2_dir
        return Path(smollm2_dir())
    if parsed.kind == "hf" and Path(parsed.target).is_dir():
        return Path(parsed.target)
    raise MitigateError(f"model spec {spec!r}: training needs a local model (toy, smollm2 or hf:DIR with a "
                        f"saved model folder)")


def adapted_spec(base_spec: str, model_dir: Path) -> str:
    """`hf:DIR`, keeping the base spec's generation options (toy batches 64 by default)."""
    from pytest_overrefusal.api import parse_spec

    parsed = parse_spec(base_spec)
    options = {"batch_size": "64"} if parsed.kind == "toy" else dict(parsed.options)
    return ",".join([f"hf:{model_dir.resolve()}", *(f"{k}={v}" for k, v in options.items())])


_TRAIN_OPTIONS = {"epochs": float, "lr": float, "batch_size": int, "seed": int, "beta": float, "optimizer": str}


def train_kwargs(options: dict[str, str], allowed: set[str]) -> dict:
    kwargs: dict = {}
    for key, raw in options.items():
        if key == "lora":
            try:
                kwargs["lora"] = boolean_value(raw)
            except ValueError:
                raise MitigateError(f"option lora={raw!r} must be true or false") from None
        elif key in allowed:
            try:
                kwargs[key] = _TRAIN_OPTIONS[key](raw)
            except ValueError:
                raise MitigateError(f"option {key}={raw!r} must be a {_TRAIN_OPTIONS[key].__name__}") from None
        else:
            raise MitigateError(f"unknown option {key!r}; known: lora, {', '.join(sorted(allowed))}")
    return kwargs


def sft_for_loop(base_spec: str, train_data: Path, out_dir: Path, options: dict[str, str]) -> str:
    """SFT on the chosen answers of the alignment records (compliance for pseudo-malicious, refusal for harmful)."""
    from ..align import read_jsonl, sft_examples
    from ..train import train_sft

    kwargs = train_kwargs(options, {"epochs", "lr", "batch_size", "seed"})
    model_dir = train_sft(model_dir_of(base_spec), sft_examples(read_jsonl(train_data)), out_dir, **kwargs)
    return adapted_spec(base_spec, model_dir)


def dpo_for_loop(base_spec: str, train_data: Path, out_dir: Path, options: dict[str, str]) -> str:
    """DPO on (chosen, rejected) of the alignment records."""
    from ..align import dpo_pairs, read_jsonl
    from ..train import train_dpo

    kwargs = train_kwargs(options, {"epochs", "lr", "batch_size", "seed", "beta", "optimizer"})
    model_dir = train_dpo(model_dir_of(base_spec), dpo_pairs(read_jsonl(train_data)), out_dir, **kwargs)
    return adapted_spec(base_spec, model_dir)
