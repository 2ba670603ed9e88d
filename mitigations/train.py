"""SFT and DPO through trl on a local HF model folder; the result is again a plain HF model folder.

Both trainers get conversational data (`[{"role": ..., "content": ...}]`), so trl renders every example with the
model's own chat template: the adapted model is trained on exactly the text `hf:DIR` will show it. LoRA adapters
(peft, all linear layers) are merged before saving, so the output never needs peft to load.

Defaults are small-model settings (methods.md section 5 lists LLaMA-Factory's 8B numbers: LoRA, lr 2e-5 SFT /
1e-5 DPO, 5 epochs, cosine, warm-up 3%): a ~1M-135M parameter model on one CPU thread needs a larger learning rate
and fewer, smaller batches to move in seconds. Callers pass their own values for anything bigger.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

from pytest_overrefusal.api import OverrefusalError, one_torch_thread

__all__ = ["TrainingError", "train_sft", "train_dpo", "LORA_RANK"]

LORA_RANK = 8
WARMUP_SHARE = 0.03  # methods.md section 5
# trl's tokenisation keeps prompt and reply within this many tokens; long enough for every suite prompt we ship.
MAX_LENGTH = 512
_OPTIMIZERS = {"adamw": "adamw_torch", "sgd": "sgd", "adafactor": "adafactor", "rmsprop": "rmsprop"}


class TrainingError(OverrefusalError):
    """Training data or settings a user gave cannot be trained on."""


def train_sft(model_dir: str | Path, examples: Sequence[Mapping], out_dir: Path, *, lora: bool = False,
              epochs: float = 3.0, lr: float = 5e-4, batch_size: int = 16, seed: int = 0) -> Path:
    """Supervised fine-tuning on (prompt, completion) pairs, loss on the completion only. Returns `out_dir`."""
    rows = [{"prompt": _user(ex, "prompt"), "completion": _assistant(ex, "completion")}
            for ex in _checked(examples, ("prompt", "completion"))]
    from trl import SFTConfig, SFTTrainer

    with one_torch_thread(), tempfile.TemporaryDirectory(prefix="overrefusal-sft-") as scratch:
        model, tokenizer = _load(model_dir)
        config = SFTConfig(completion_only_loss=True, max_length=MAX_LENGTH,
                           **_common_args(scratch, epochs, lr, batch_size, seed, "adamw"))
        trainer = SFTTrainer(model=model, args=config, train_dataset=_dataset(rows), processing_class=tokenizer,
                             peft_config=_lora_config() if lora else None)
        trainer.train()
        return _save(trainer.model, tokenizer, model_dir, Path(out_dir))


def train_dpo(model_dir: str | Path, pairs: Sequence[Mapping], out_dir: Path, *, beta: float = 0.1,
              lora: bool = False, epochs: float = 3.0, lr: float = 1e-4, batch_size: int = 8, seed: int = 0,
              optimizer: str = "adamw") -> Path:
    """DPO (sigmoid loss) on (prompt, chosen, rejected) with the frozen starting model as reference."""
    if optimizer not in _OPTIMIZERS:
        raise TrainingError(f"optimizer={optimizer!r} is not one of {', '.join(_OPTIMIZERS)}")
    rows = [{"prompt": _user(p, "prompt"), "chosen": _assistant(p, "chosen"), "rejected": _assistant(p, "rejected")}
            for p in _checked(pairs, ("prompt", "chosen", "rejected"))]
    from trl import DPOConfig, DPOTrainer

    with one_torch_thread(), tempfile.TemporaryDirectory(prefix="overrefusal-dpo-") as scratch:
        model, tokenizer = _load(model_dir)
        config = DPOConfig(beta=beta, loss_type=["sigmoid"], max_length=MAX_LENGTH,
                           **_common_args(scratch, epochs, lr, batch_size, seed, optimizer))
        # With LoRA, trl uses the base weights (adapters off) as the reference instead of a second copy.
        trainer = DPOTrainer(model=model, ref_model=None, args=config, train_dataset=_dataset(rows),
                             processing_class=tokenizer, peft_config=_lora_config() if lora else None)
        trainer.train()
        return _save(trainer.model, tokenizer, model_dir, Path(out_dir))


# ---------------------------------------------------------------- data

def _checked(rows: Sequence[Mapping], keys: tuple[str, ...]) -> list[Mapping]:
    rows = list(rows)
    if not rows:
        raise TrainingError(f"no training examples: need at least one row with {', '.join(keys)}")
    for i, row in enumerate(rows):
        missing = [k for k in keys if not isinstance(row.get(k), str) or not row.get(k).strip()]
        if missing:
            raise TrainingError(f"training example {i}: missing or empty {', '.join(missing)} "
                                f"(every row needs non-empty strings for {', '.join(keys)})")
    return rows


def _user(row: Mapping, key: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": row[key]}]


def _assistant(row: Mapping, key: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": row[key]}]


def _dataset(rows: list[dict]):
    from datasets import Dataset

    return Dataset.from_list(rows)


# ---------------------------------------------------------------- model and trainer settings

def _load(model_dir: str | Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(model_dir)
    if not (path / "config.json").is_file():
        raise TrainingError(f"{path}: not a local HF model folder (no config.json); pass a saved model directory")
    tokenizer = AutoTokenizer.from_pretrained(path)
    if not tokenizer.chat_template:
        raise TrainingError(f"{path}: the tokenizer has no chat template; conversational training needs one")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype="float32")
    return model, tokenizer


def _common_args(scratch: str, epochs: float, lr: float, batch_size: int, seed: int, optimizer: str) -> dict:
    if epochs <= 0 or lr <= 0 or batch_size < 1:
        raise TrainingError(f"epochs ({epochs}), lr ({lr}) and batch_size ({batch_size}) must be positive")
    return dict(output_dir=scratch, num_train_epochs=epochs, learning_rate=lr, per_device_train_batch_size=batch_size,
                gradient_accumulation_steps=1, lr_scheduler_type="cosine", warmup_steps=WARMUP_SHARE,
                optim=_OPTIMIZERS[optimizer], seed=seed, data_seed=seed, use_cpu=True, bf16=False, fp16=False,
                save_strategy="no", report_to=[], logging_strategy="no", disable_tqdm=True,
                dataloader_num_workers=0,
                # trl turns activation checkpointing on by default: memory a small model does not need, for ~2x time
                activation_checkpointing=False)


def _lora_config():
    from peft import LoraConfig

    return LoraConfig(r=LORA_RANK, lora_alpha=2 * LORA_RANK, lora_dropout=0.0, target_modules="all-linear",
                      task_type="CAUSAL_LM")


def _save(model, tokenizer, model_dir: str | Path, out_dir: Path) -> Path:
    """Merge LoRA if present, then save weights, tokenizer (with its chat template) and generation config."""
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    # Keep the base model's decoding defaults (greedy, eos/pad), which the Trainer may not carry over.
    generation = Path(model_dir) / "generation_config.json"
    if generation.is_file():
        shutil.copyfile(generation, out_dir / "generation_config.json")
    return out_dir
