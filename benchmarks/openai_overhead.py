"""The `openai:` backend against a plain async client loop, side by side in one run, same server and prompts.

    OMP_NUM_THREADS=1 python benchmarks/openai_overhead.py [--rounds 5] [--prompts 188] [--concurrency 4]
    OMP_NUM_THREADS=1 python benchmarks/openai_overhead.py --server fake    # client cost alone

`--server fake` swaps the model server for the tests' instant fake (tests/fault_proxy.py, in its own process), so
the clients themselves are the bottleneck: it shows what the backend costs per request, apart from the model.

Starts `transformers serve` of the toy model on loopback (the `serve` extra), then alternates, round by round:
(a) what a user would write by hand: aiohttp, a semaphore of `concurrency`, one POST per prompt, no retries;
(b) `OpenAIChatBackend.generate` with the same concurrency;
(c) the engine over that backend, storing each answer in a fresh SQLite cache as it arrives (what a suite run does).
All see the same prompts (the first `--prompts` of the starter suites' 188). It prints prompts/s per contender (median
over rounds) and the ratios to (a); the target for (b) and (c) is >= 0.95. Rounds alternate the contenders, so a
change in the machine's load hits all of them; every contender must give the plain loop's answers, or the run fails.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITES = [ROOT / "suites" / "starter" / "pseudo_malicious.jsonl", ROOT / "suites" / "starter" / "harmful.jsonl"]


def prompts() -> list[str]:
    return [json.loads(line)["prompt"] for path in SUITES for line in path.read_text().splitlines() if line.strip()]


def start_fake_server() -> tuple[subprocess.Popen, int]:
    code = ("import sys, time; sys.path.insert(0, 'tests'); from fault_proxy import FakeChatServer; "
            "s = FakeChatServer(); print(s.port, flush=True); time.sleep(1e9)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline())


def start_server(model_dir: str) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    proc = subprocess.Popen([sys.executable, "-c", "from transformers.cli.transformers import main; main()", "serve",
                             model_dir, "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc, port
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("transformers serve did not come up (is the `serve` extra installed?)")


async def plain_loop(url: str, model: str, texts: list[str], concurrency: int, max_tokens: int) -> list[str]:
    """The hand-written baseline."""
    import aiohttp

    limit = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def one(text: str) -> str:
            body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": max_tokens,
                    "temperature": 0.0, "top_p": 1.0, "seed": 0, "stream": False}
            async with limit, session.post(f"{url}/chat/completions", json=body) as answer:
                answer.raise_for_status()
                return (await answer.json())["choices"][0]["message"]["content"]
        return await asyncio.gather(*(one(t) for t in texts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--prompts", type=int, default=188)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--server", choices=["toy", "fake"], default="toy")
    args = parser.parse_args()

    from pytest_overrefusal.backends.base import ChatRequest, SamplingSettings
    from pytest_overrefusal.backends.registry import load_backend
    from pytest_overrefusal.backends.toy_model import toy_model_dir
    from pytest_overrefusal.cache import ResponseCache
    from pytest_overrefusal.engine import Engine
    from pytest_overrefusal.judges.registry import get_judge
    from pytest_overrefusal.suite import Case

    model_dir = str(toy_model_dir()) if args.server == "toy" else "fake"
    texts = prompts()[:args.prompts]
    sampling = SamplingSettings(max_new_tokens=args.max_tokens)
    requests = [ChatRequest.user(t, sampling=sampling) for t in texts]
    proc, port = start_server(model_dir) if args.server == "toy" else start_fake_server()
    url = f"http://127.0.0.1:{port}/v1"
    backend = load_backend(f"openai:{model_dir}@{url},concurrency={args.concurrency}")
    try:
        def run_plain() -> list[str]:
            return asyncio.run(plain_loop(url, model_dir, texts, args.concurrency, args.max_tokens))

        def run_backend() -> list[str]:
            return [r.text for r in backend.generate(requests)]

        def run_engine() -> list[str]:
            with tempfile.TemporaryDirectory() as tmp:
                cache = ResponseCache(Path(tmp) / "responses.sqlite")
                engine = Engine(backend=backend, judge=get_judge("keyword"), cache=cache, progress=False)
                jobs = [(Case("bench", str(i), t, "comply"), r) for i, (t, r) in enumerate(zip(texts, requests))]
                out = [r.response.text for r in engine.run(jobs)]
                cache.close()
                return out

        contenders = {"plain aiohttp loop": run_plain, "openai: backend": run_backend,
                      "engine + backend + cache": run_engine}
        reference = run_plain()  # warm-up round, also the answers every contender must reproduce
        seconds: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.rounds):
            for name, run in contenders.items():
                started = time.perf_counter()
                answers = run()
                seconds[name].append(time.perf_counter() - started)
                if answers != reference:
                    raise SystemExit(f"{name} gave different answers from the plain loop")
    finally:
        proc.terminate()
        proc.wait(15)

    print(f"{args.server} server, {len(texts)} prompts, concurrency {args.concurrency}, max_tokens "
          f"{args.max_tokens}, {args.rounds} rounds (median; paired: median of per-round ratios)")
    base = len(texts) / statistics.median(seconds["plain aiohttp loop"])
    for name, times in seconds.items():
        rate = len(texts) / statistics.median(times)
        paired = statistics.median(p / t for p, t in zip(seconds["plain aiohttp loop"], times))
        print(f"  {name:26s} {rate:7.1f} prompts/s   ratio to plain {rate / base:.3f} (paired {paired:.3f})   "
              f"rounds: {', '.join(f'{t:.2f}s' for t in times)}")


if __name__ == "__main__":
    main()
