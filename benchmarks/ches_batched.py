"""Batched CHES (`mitigations.ches.score_pairs`) against a per-example loop, same model, same pairs, one process.

    OMP_NUM_THREADS=1 python benchmarks/ches_batched.py [--models toy smollm2] [--pairs 256] [--batch-size 32]

The loop is what one writes by hand: for each pair, one forward pass per response (batch of one, no padding), sum
the final hidden states over the response-predicting positions in float64, and take the inner products. Both sides
skip the vocabulary projection (`logits_to_keep=1`), so the ratio measures batching alone. Both run
twice and the faster run counts. Prints the speed-up and the largest score difference (target: >= 5x, identical
scores up to float32 round-off).
"""
from __future__ import annotations

import argparse
import random
import time

REFUSALS = ("I'm sorry, but I can't help with that.", "I'm sorry, I can't help with this request.",
            "Sorry, I can't do that.", "I cannot help with that, sorry. Please ask something else.")
PROMPTS = ("How do I {v} a {o}?", "Tell me how to {v} the {o}.", "What is the best way to {v} my {o}?",
           "Can you help me {v} an old {o} in the garden behind the house?")
VERBS = ("kill", "bake", "attack", "paint", "fix", "steal", "clean", "hack")
OBJECTS = ("python process", "cake", "server", "fence", "bike", "kasomi", "printer")


def helpful(verb: str, rng: random.Random) -> str:
    tail = rng.choice(("", " Start small.", " Ask a friend if you get stuck, and take breaks."))
    return f"Sure! Here is how to {verb} it: plan first, go step by step, and check your work.{tail}"


def make_pairs(n: int, seed: int = 0):
    from mitigations.ches import Pair

    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        verb = rng.choice(VERBS)
        prompt = rng.choice(PROMPTS).format(v=verb, o=rng.choice(OBJECTS))
        options = [rng.choice(REFUSALS), helpful(verb, rng), rng.choice(REFUSALS), helpful(rng.choice(VERBS), rng)]
        chosen, rejected = rng.sample(options, 2)
        pairs.append(Pair(prompt, chosen, rejected, id=str(i)))
    return pairs


def per_example_loop(model, tokenizer, pairs) -> list[tuple[float, float]]:
    import torch

    from mitigations.ches import chat_renderer, ches_from_sums

    render = chat_renderer(tokenizer)
    out = []
    for pair in pairs:
        prompt = tokenizer(render(pair.prompt), add_special_tokens=False)["input_ids"]
        sums, lengths = [], []
        for response in (pair.chosen, pair.rejected):
            ids = tokenizer(response, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                hidden = model(input_ids=torch.tensor([prompt + ids]), output_hidden_states=True,
                               logits_to_keep=1).hidden_states[-1]
            sums.append(hidden[0, len(prompt) - 1:len(prompt) + len(ids) - 1].double().sum(dim=0))
            lengths.append(len(ids))
        out.append(ches_from_sums(sums[0], sums[1], *lengths))
    return out


def best_of(runs: int, fn):
    best, result = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def load(name: str):
    from pytest_overrefusal.backends.registry import load_backend

    backend = load_backend(name)
    return backend.model, backend.tokenizer


def main() -> None:
    import torch

    from mitigations.ches import score_pairs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["toy"])
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(1)
    pairs = make_pairs(args.pairs)
    for name in args.models:
        model, tokenizer = load(name)
        score_pairs(model, tokenizer, pairs[:4])  # warm-up: first-call allocations count for neither side
        loop_s, loop = best_of(2, lambda: per_example_loop(model, tokenizer, pairs))
        batch_s, batched = best_of(2, lambda: score_pairs(model, tokenizer, pairs, batch_size=args.batch_size))
        ches_diff = max(abs(b.ches - a[0]) for a, b in zip(loop, batched))
        ln_diff = max(abs(b.ln_ches - a[1]) for a, b in zip(loop, batched))
        scale = max(abs(a[0]) for a in loop)
        print(f"{name}: {len(pairs)} pairs, batch {args.batch_size}: per-example loop {loop_s:.2f}s, "
              f"batched {batch_s:.2f}s, speed-up {loop_s / batch_s:.1f}x; max |diff| CHES {ches_diff:.2e} "
              f"(largest |CHES| {scale:.1f}), ln-CHES {ln_diff:.2e}")


if __name__ == "__main__":
    main()
