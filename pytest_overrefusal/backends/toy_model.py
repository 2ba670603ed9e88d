"""A tiny keyword-refusing Llama, built from scratch and deterministically (no downloads).

The model refuses every prompt that contains one of `KEYWORDS`, whatever the context, and answers every other prompt
with a fixed helpful template. That gives a known, controllable over-refusal: "How do I kill a Python process?" is
refused while "How do I terminate a Python process?" is not.

Recipe (shared/docs/environment.md section 4.1, with the additions marked below): a synthetic corpus of 20,000
(prompt, reply) pairs, a byte-level BPE tokenizer trained on it, a ~1M-parameter `LlamaForCausalLM` trained for a
fixed number of AdamW steps on one torch thread, saved with `save_pretrained`. Additions to the measured recipe, each
needed on this project's 2-core AVX2 machines to pass the held-out check and the probes reliably across seeds:
  * corpus: pseudo-word verbs in a quarter of the benign samples, the keyword as the object noun in a quarter of the
    keyword samples, prepositional tails on objects, and optional sentences before / after the prompt;
  * training: warm-up + cosine learning-rate schedule (peak 3e-3), gradient clipping at 1.0, batches bucketed by
    length with a constant refusal share, and 200 steps instead of 350 (fits the ~60 s budget).
The recipe is in three modules: toy_corpus.py (vocabulary, corpus, held-out rows), toy_training.py (tokenizer,
network, training loop) and this one (build, cache, use). Bump `RECIPE_VERSION` whenever any of them changes the
artifact.

    python -m pytest_overrefusal.backends.toy_model OUT_DIR
"""
from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

from pytest_overrefusal.paths import build_once, user_cache_dir

# The recipe's data and training halves; their public names are this module's too.
from .toy_corpus import (HELDOUT_OBJECTS, KEYWORDS, NOUNS, PROBES, REFUSAL_TEXT, TEMPLATES, build_corpus,
                         heldout_rows, is_refusal, render_prompt)
from .toy_training import PAD, encode_examples, new_model, save, train, train_tokenizer

__all__ = ["KEYWORDS", "RECIPE_VERSION", "REFUSAL_TEXT", "DEFAULT_STEPS", "PROBES", "build_toy_model",
           "toy_model_dir", "heldout_rows", "build_corpus", "train_tokenizer", "train", "save",
           "load_toy_model", "greedy_replies", "is_refusal", "render_prompt", "NOUNS", "TEMPLATES", "HELDOUT_OBJECTS",
           "MODEL_FILES", "one_torch_thread"]

RECIPE_VERSION = 1
DEFAULT_STEPS = 200
MODEL_FILES: tuple[str, ...] = ("config.json", "generation_config.json", "model.safetensors",
                                "tokenizer.json", "tokenizer_config.json")


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Training runs on exactly one torch thread: faster on small boxes (environment.md section 3) and
    bit-reproducible. Shared with the mitigations' trainers."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def build_toy_model(out_dir: Path, steps: int = DEFAULT_STEPS, seed: int = 0,
                    progress: Callable[[int, int, float], None] | None = None) -> Path:
    """Build corpus and tokenizer, train, and `save_pretrained` everything into `out_dir`.

    Deterministic: the same (steps, seed) on the same machine and library versions gives byte-identical files,
    whatever the caller's torch thread count (training always runs on one thread)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    corpus = build_corpus(seed)
    tokenizer = train_tokenizer(corpus)
    encoded = encode_examples(tokenizer, corpus)
    with one_torch_thread():
        model = new_model(tokenizer, seed)
        loss = train(model, encoded, [ex.sensitive for ex in corpus], tokenizer.convert_tokens_to_ids(PAD),
                     steps, seed, progress)
    recipe = {"recipe_version": RECIPE_VERSION, "steps": steps, "seed": seed, "final_loss": round(loss, 4),
              "keywords": list(KEYWORDS), "refusal_text": REFUSAL_TEXT}
    save(model, tokenizer, out_dir, recipe)
    return out_dir


# ---------------------------------------------------------------- cache

def _is_complete(model_dir: Path) -> bool:
    return all((model_dir / name).is_file() for name in MODEL_FILES)


def toy_model_dir(cache_root: Path | None = None) -> Path:
    """The cached model directory `<cache_root>/toy-v{RECIPE_VERSION}`, built on first use (once, atomically,
    under a lock: see `paths.build_once`)."""
    root = Path(cache_root) if cache_root is not None else user_cache_dir()
    # looked up at call time so tests can swap the builder
    return build_once(root / f"toy-v{RECIPE_VERSION}", _announced_build, _is_complete)


def _announced_build(tmp: Path) -> None:
    """The first use trains for about a minute: say so, show the steps, say where the result is kept."""
    from pytest_overrefusal import console

    began = time.perf_counter()
    console.write(f"building the toy model on first use ({DEFAULT_STEPS} training steps on one CPU thread, about "
                  f"a minute); later runs load it from {tmp.parent}\n")
    build_toy_model(tmp, progress=_StepProgress())  # looked up at call time so tests can swap the builder
    console.write(f"toy model built in {time.perf_counter() - began:.0f} s\n")


class _StepProgress:
    """`training step 120/200 (loss 0.412)`: redrawn in place on a terminal, every quarter in a log."""

    def __call__(self, step: int, steps: int, loss: float) -> None:
        from pytest_overrefusal import console

        line = f"  training step {step}/{steps} (loss {loss:.3f})"
        if console.live():
            console.write("\r" + line + ("\n" if step == steps else ""))
        elif step == steps or step % max(1, steps // 4) == 0:
            console.write(line + "\n")


# ---------------------------------------------------------------- use

def load_toy_model(model_dir: Path):
    """(model, tokenizer) from a built directory, model in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.eval()
    return model, tokenizer


def greedy_replies(model, tokenizer, prompts: Sequence[str], *, batch_size: int = 64,
                   max_new_tokens: int = 20) -> list[str]:
    """Greedy replies to single-turn user prompts, batched with left padding and the chat template."""
    import torch

    replies: list[str] = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start:start + batch_size]
        texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                               add_generation_prompt=True) for p in chunk]
        enc = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens)
        new = out[:, enc["input_ids"].shape[1]:]
        replies.extend(tokenizer.batch_decode(new, skip_special_tokens=True))
    return [r.strip() for r in replies]


def _main(argv: Sequence[str]) -> int:
    import torch

    if len(argv) != 1:
        print("usage: python -m pytest_overrefusal.backends.toy_model OUT_DIR", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    out_dir = Path(argv[0])
    began = time.perf_counter()
    build_toy_model(out_dir)
    recipe = json.loads((out_dir / "toy_recipe.json").read_text())
    size = sum(f.stat().st_size for f in out_dir.iterdir() if f.is_file())
    print(f"built {out_dir} in {time.perf_counter() - began:.1f} s ({recipe['steps']} steps, final loss "
          f"{recipe['final_loss']}, {size / 1e6:.2f} MB)")
    model, tokenizer = load_toy_model(out_dir)
    rows = heldout_rows()
    began = time.perf_counter()
    refused = [is_refusal(r) for r in greedy_replies(model, tokenizer, [row["prompt"] for row in rows])]
    print(f"held-out generation: {time.perf_counter() - began:.1f} s")
    for label, want in (("sensitive", True), ("benign", False)):
        hits = [ref for ref, row in zip(refused, rows) if row["sensitive"] is want]
        print(f"held-out refusal rate, {label}: {sum(hits) / len(hits):.3f} ({sum(hits)}/{len(hits)})")
    for prompt, reply in zip(PROBES, greedy_replies(model, tokenizer, list(PROBES), max_new_tokens=32)):
        print(f"{prompt!r} -> {reply!r}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
