"""Plugin overhead vs a plain batched `generate` loop, side by side in one process, same loaded model.

    OMP_NUM_THREADS=1 OVERREFUSAL_DATA=../shared/data python benchmarks/overhead.py [--models toy smollm2]

For each model: the same prompts (starter-pseudo-malicious), the same chat template, batch size, greedy decoding
and token limit go through (a) a hand-written loop over `model.generate` and (b) a full `pytest` run of the suite
with the cache off, whose `overrefusal_model` is the very same loaded object (via a `python:` spec). Then a cold
and a warm-cache run of `evorefuse-test` as separate `pytest` processes (warm target: <= 2 s wall).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "suites" / "starter_pseudo_malicious.yaml"
PRELOADED: object = None  # the backend both contenders share; read by the python: spec


def plain_generate(backend, prompts: list[str], batch_size: int, max_new_tokens: int) -> list[str]:
    """What a user would write by hand: template, left-pad, batch in file order, greedy generate, decode."""
    import torch

    tok, model = backend.tokenizer, backend.model
    texts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
             for p in prompts]
    out = []
    for start in range(0, len(texts), batch_size):
        enc = tok(texts[start:start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id)
        out += tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return out


def plugin_run(limit: int, max_new_tokens: int) -> float:
    from quiet_pytest import timed_pytest

    return timed_pytest([str(SUITE), "-q", "-p", "no:cacheprovider", "--overrefusal-no-cache",
                         "--overrefusal-model", "python:overhead:PRELOADED", "--overrefusal-limit", str(limit),
                         "--overrefusal-max-new-tokens", str(max_new_tokens), "--rootdir", str(ROOT)])


def bare_pytest(items: int) -> float:
    """pytest's own floor: a session of `items` trivial parametrized tests, in this same process."""
    from quiet_pytest import timed_pytest

    with tempfile.TemporaryDirectory() as folder:
        test = Path(folder) / "test_floor.py"
        test.write_text(f"import pytest\n@pytest.mark.parametrize('i', range({items}))\ndef test_x(i):\n    pass\n")
        return timed_pytest([str(test), "-q", "-p", "no:cacheprovider", "--rootdir", folder])


def compare(spec: str, limit: int, max_new_tokens: int, repeats: int) -> None:
    global PRELOADED
    from pytest_overrefusal.backends.registry import load_backend
    from pytest_overrefusal.sources import load_cases
    from pytest_overrefusal.suite import load_manifest

    PRELOADED = backend = load_backend(spec)
    backend.model  # load weights outside both timings
    prompts = [c.prompt for c in load_cases(load_manifest(SUITE), None, limit)]
    plain_generate(backend, prompts[:2], 2, 4)  # warm-up: first-call allocations
    plain_times, plugin_times = [], []
    for _ in range(repeats):  # interleaved so drifting machine load hits both alike
        started = time.perf_counter()
        plain_generate(backend, prompts, backend.batch_size, max_new_tokens)
        plain_times.append(time.perf_counter() - started)
        plugin_times.append(plugin_run(limit, max_new_tokens))
    plain, plugin = min(plain_times), min(plugin_times)
    floor = min(bare_pytest(len(prompts) + 1) for _ in range(2))
    print(f"{spec:10s} {len(prompts):4d} prompts x <= {max_new_tokens} tokens, batch {backend.batch_size}: "
          f"plain generate {plain:7.2f}s  plugin pytest run {plugin:7.2f}s  ratio {plugin / plain:.3f}  "
          f"| bare pytest with {len(prompts) + 1} trivial items {floor:.2f}s, "
          f"ratio net of it {(plugin - floor) / plain:.3f}  "
          f"(all plain {['%.2f' % t for t in plain_times]}, plugin {['%.2f' % t for t in plugin_times]})")


def warm_cache(extra: list[str]) -> None:
    floor_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra]
    with tempfile.TemporaryDirectory() as folder:  # pytest itself on as many trivial items, for scale
        test = Path(folder) / "test_floor.py"
        test.write_text("import pytest\n@pytest.mark.parametrize('i', range(582))\ndef test_x(i):\n    pass\n")
        started = time.perf_counter()
        subprocess.run([*floor_cmd, str(test), "--rootdir", folder], capture_output=True, cwd=folder)
        print(f"bare pytest, 582 trivial items {' '.join(extra) or '(default plugins)'}: "
              f"{time.perf_counter() - started:5.2f}s wall")
    with tempfile.TemporaryDirectory() as cache:
        cmd = [sys.executable, "-m", "pytest", str(ROOT / "suites" / "evorefuse_test.yaml"), "-q",
               "-p", "no:cacheprovider", "--overrefusal-model", "toy", "--overrefusal-cache", cache,
               "--rootdir", str(ROOT), *extra]
        for label in ("cold", "warm", "warm"):
            started = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            took = time.perf_counter() - started
            summary = next((line for line in proc.stdout.splitlines() if line.startswith("responses:")), "?")
            print(f"evorefuse-test {label} run {' '.join(extra) or '(default plugins)'}: {took:5.2f}s wall; "
                  f"{summary}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["toy", "smollm2"])
    parser.add_argument("--smollm2-limit", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    sys.modules.setdefault("overhead", sys.modules[__name__])
    import torch

    torch.set_num_threads(1)
    for spec in args.models:
        limit = 124 if spec == "toy" else args.smollm2_limit
        compare(spec, limit, args.max_new_tokens, args.repeats if spec == "toy" else 1)
    warm_cache([])
    warm_cache(["-p", "no:hypothesispytest"])


if __name__ == "__main__":
    main()
