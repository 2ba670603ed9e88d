"""`overrefusal mitigate` on a keyword-refusing model that has pretrained word representations.

    OMP_NUM_THREADS=1 python benchmarks/mitigate_keyword_smollm2.py --out runs/kw-smollm2 [--keyword-model DIR]

The toy cannot pass issue 5's end-to-end gates: it reads most starter-suite words as character pieces of its own
1,024-token vocabulary (benchmarks/RESULTS.md). This script asks whether the loop itself can, given a base that knows
English. Stage 1 turns SmolLM2-135M-Instruct into an over-refuser the way the toy was made: SFT on the toy's own
keyword corpus (refuse whenever one of its ten keywords appears, answer otherwise), 800 examples, one epoch, lr 1e-4.
Stage 2 is the unchanged loop with the toy e2e test's data recipe (synthetic-pseudo + synthetic-harmful, disjoint
from the starter suites, overlap-checked), scaled down for CPU: 240 prompts per generator, harmful ratio 1.5,
one epoch at lr 1e-4. Both evaluations are the plugin's own runs. About 45 minutes on one CPU thread (stage 1 ~23,
stage 2 training ~16, two evaluations); pass `--keyword-model` to reuse a stage-1 model.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

KEYWORD_EXAMPLES = 800
KEYWORD_LR = 1e-4


def build_keyword_smollm2(out_dir: Path, seed: int = 0) -> Path:
    """SmolLM2 taught the toy's rule: refuse every prompt with a keyword, whatever it means."""
    from mitigations.train import train_sft
    from pytest_overrefusal.backends.smollm2 import smollm2_dir
    from pytest_overrefusal.backends.toy_model import build_corpus

    corpus = build_corpus(seed=seed, size=KEYWORD_EXAMPLES)
    examples = [{"prompt": e.prompt, "completion": e.reply} for e in corpus]
    return train_sft(smollm2_dir(), examples, out_dir, epochs=1, lr=KEYWORD_LR, batch_size=16, seed=seed)


def main() -> int:
    from pytest_overrefusal.cli import main as overrefusal

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--keyword-model", type=Path, help="a stage-1 model folder to reuse")
    parser.add_argument("--data", help="benchmark data folder (default: $OVERREFUSAL_DATA)")
    args = parser.parse_args()
    began = time.perf_counter()
    base = args.keyword_model
    if base is None:
        base = build_keyword_smollm2(args.out / "keyword-smollm2")
        print(f"stage 1: keyword-refusing SmolLM2 in {time.perf_counter() - began:.0f} s -> {base}", flush=True)
    loop_began = time.perf_counter()
    status = overrefusal(["mitigate", "--method", "sft", "--model", f"hf:{base}", "--fix", "starter-pseudo-malicious",
                          "--keep", "starter-harmful", "--n-train", "240", "--harmful-ratio", "1.5",
                          "--option", "epochs=1", "--option", f"lr={KEYWORD_LR:g}", "--out", str(args.out / "loop"),
                          *(["--data", args.data] if args.data else [])])
    print(f"stage 2: the loop in {time.perf_counter() - loop_began:.0f} s, exit status {status}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
