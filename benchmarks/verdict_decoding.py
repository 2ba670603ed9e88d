"""`--overrefusal-decoding full` against `verdict` on the README's main job, side by side in one run.

    OMP_NUM_THREADS=1 OVERREFUSAL_DATA=../shared/data python benchmarks/verdict_decoding.py \
        [--model smollm2] [--limit 64] [--max-new-tokens 48] [--suite ID ...]

Each mode runs as a fresh `overrefusal run` process without the response cache (the main job's suites by
default, the same cases for both), writes a JSON report, and the reports are compared: generated tokens
(`new_tokens` per case), wall time, why each answer stopped, and whether every case's `refused` flag agrees.
Targets (issue 14): verdict <= 0.5x the tokens and <= 0.6x the wall time of full, identical refused flags.
The flag check is exact in fp32 (`--model smollm2,dtype=float32`). In bf16 (the main job's dtype) the verdict
decoder's batch shapes differ from `generate()`'s, bf16 kernels round differently for them, and greedy answers
drift apart as they would for another `batch_size`; the agreement printed then includes that noise.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

BIN = Path(sys.executable).parent
DEMO_SUITES = ("starter-pseudo-malicious", "starter-harmful", "evorefuse-test", "xstest-safe", "xstest-unsafe")


def run_mode(mode: str, args, out: Path) -> tuple[float, dict]:
    report = out / f"{mode}.json"
    cmd = [str(BIN / "overrefusal"), "run", "--model", args.model, "--limit", str(args.limit),
           "--max-new-tokens", str(args.max_new_tokens), "--no-cache", "--report", str(report),
           "--decoding", mode, "-q", "-p", "no:cacheprovider"]
    for suite in args.suite or DEMO_SUITES:
        cmd += ["--suite", suite]
    cpu_before = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=out)
    took = time.perf_counter() - started
    if not report.is_file():
        sys.exit(f"{mode}: no report (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return took, _children_cpu() - cpu_before, json.loads(report.read_text())


def _children_cpu() -> float:
    """CPU seconds of finished child processes: on a shared machine steadier than wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cases_of(report: dict) -> dict[tuple[str, str], dict]:
    return {(c["suite"], c["case_id"]): c for c in report["cases"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--limit", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--suite", action="append")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        timings, cpu, reports = {}, {}, {}
        for mode in ("full", "verdict"):
            timings[mode], cpu[mode], reports[mode] = run_mode(mode, args, out)
    full, verdict = cases_of(reports["full"]), cases_of(reports["verdict"])
    if full.keys() != verdict.keys():
        sys.exit(f"the runs answered different cases: {len(full)} vs {len(verdict)}")
    tokens = {m: sum(c["new_tokens"] for c in cases_of(reports[m]).values()) for m in reports}
    agree = sum(full[k]["refused"] == verdict[k]["refused"] for k in full)
    same_text = sum(full[k]["response"].startswith(verdict[k]["response"]) for k in full)
    print(f"model {args.model}, {len(full)} cases ({', '.join(sorted({s for s, _ in full}))}), "
          f"max_new_tokens {args.max_new_tokens}, decoding recorded as "
          f"{reports['verdict']['settings'].get('decoding')!r}")
    for mode in ("full", "verdict"):
        stopped = Counter(c["stopped"] for c in cases_of(reports[mode]).values())
        print(f"  {mode:8s} wall {timings[mode]:7.1f} s  cpu {cpu[mode]:7.1f} s  tokens {tokens[mode]:6d}  "
              f"stopped {dict(stopped)}")
    print(f"  ratios verdict/full: tokens {tokens['verdict'] / max(tokens['full'], 1):.3f} (target <= 0.5), "
          f"wall {timings['verdict'] / timings['full']:.3f} (target <= 0.6), cpu {cpu['verdict'] / cpu['full']:.3f}")
    print(f"  refused flags agree on {agree}/{len(full)} cases (target: all); verdict text is a prefix of the "
          f"full text on {same_text}/{len(full)}")
    by_suite = Counter(s for (s, _), c in verdict.items() if c["stopped"] == "verdict")
    print(f"  stopped on the verdict, per suite: {dict(by_suite) or 'none'}")


if __name__ == "__main__":
    main()
