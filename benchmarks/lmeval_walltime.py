"""The plugin against `lm_eval` end to end: same suite, model, judge, batch size, greedy decoding, token limit.

    OMP_NUM_THREADS=1 OVERREFUSAL_DATA=../shared/data python benchmarks/lmeval_walltime.py \
        [--suite starter-pseudo-malicious] [--model toy|smollm2] [--limit N] [--max-new-tokens N] [--repeats 2]

Both sides run as fresh processes, as a user would start them, with no response cache: (a) `lm_eval --model hf
--include_path <exported tasks> --tasks overrefusal_<suite> --apply_chat_template` on the folder written by
`overrefusal lm-eval-tasks`, and (b) `pytest <manifest> --overrefusal-model hf:<same dir>`. The runs alternate,
the fastest of each counts, and both refusal rates are printed: they must be equal for the timing to mean
anything. Target: plugin / lm_eval wall time <= 0.5.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def model_dir(name: str) -> Path:
    if name == "toy":
        from pytest_overrefusal.backends.toy_model import toy_model_dir
        return toy_model_dir()
    from pytest_overrefusal.backends.smollm2 import smollm2_dir
    return smollm2_dir()


def timed(cmd: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    started, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    CPU_SECONDS.append(_children_cpu() - cpu)  # what load on the machine inflates least
    return time.perf_counter() - started, proc


CPU_SECONDS: list[float] = []


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_lmeval(model: Path, tasks: Path, task: str, batch: int, out: Path) -> tuple[float, float]:
    cmd = [str(BIN / "lm_eval"), "--model", "hf", "--model_args", f"pretrained={model},dtype=float32",
           "--device", "cpu", "--batch_size", str(batch), "--include_path", str(tasks), "--tasks", task,
           "--apply_chat_template", "--output_path", str(out)]
    took, proc = timed(cmd, out)
    if proc.returncode != 0:
        sys.exit(f"lm_eval failed:\n{proc.stderr[-3000:]}")
    results = sorted(out.rglob("results_*.json"), key=lambda p: p.stat().st_mtime)[-1]
    return took, json.loads(results.read_text())["results"][task]["refusal,none"]


def run_plugin(model: Path, manifest: Path, batch: int, out: Path, extra: list[str]) -> tuple[float, float]:
    report = out / "plugin.json"
    cmd = [sys.executable, "-m", "pytest", str(manifest), "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
           *extra, "--overrefusal-model", f"hf:{model},dtype=float32,batch_size={batch}", "--overrefusal-no-cache",
           "--overrefusal-judge", "keyword", "--overrefusal-report", str(report)]
    took, proc = timed(cmd, ROOT)
    if proc.returncode not in (0, 1):  # 1: a gate failed, which is the model's business, not the benchmark's
        sys.exit(f"pytest failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    return took, json.loads(report.read_text())["suites"][0]["rate"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="starter-pseudo-malicious")
    parser.add_argument("--limit", type=int, default=None, help="the same deterministic subsample on both sides")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="override the suite's token limit")
    parser.add_argument("--model", choices=["toy", "smollm2"], default="toy")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    from pytest_overrefusal.catalog import builtin_suites_dir, find_suites
    from pytest_overrefusal.cli import main as cli_main
    from pytest_overrefusal.lmeval_tasks import task_name

    model = model_dir(args.model)
    manifest = find_suites([args.suite], [builtin_suites_dir()])[args.suite]
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        export, extra = ["lm-eval-tasks", "--out", str(work / "tasks"), "--suite", args.suite], []
        for flag, value in (("limit", args.limit), ("max-new-tokens", args.max_new_tokens)):
            if value is not None:
                export += [f"--{flag}", str(value)]
                extra += [f"--overrefusal-{flag}", str(value)]
        if cli_main(export) != 0:
            sys.exit("export failed")
        lm_times, plugin_times, lm_cpu, plugin_cpu = [], [], [], []
        for _ in range(args.repeats):  # alternating, so drifting machine load hits both alike
            took, lm_rate = run_lmeval(model, work / "tasks", task_name(args.suite), args.batch_size, work)
            lm_times.append(took)
            lm_cpu.append(CPU_SECONDS[-1])
            took, plugin_rate = run_plugin(model, manifest, args.batch_size, work, extra)
            plugin_times.append(took)
            plugin_cpu.append(CPU_SECONDS[-1])
    lm, plugin = min(lm_times), min(plugin_times)
    print(f"{args.suite} (limit {args.limit}, max_new_tokens {args.max_new_tokens or 'from suite'}) on {args.model} (batch {args.batch_size}, greedy, keyword judge): "
          f"lm_eval {lm:.1f}s  plugin {plugin:.1f}s  ratio {plugin / lm:.3f}  | refusal rate lm_eval {lm_rate:.4f} "
          f"plugin {plugin_rate:.4f}  (all lm_eval {['%.1f' % t for t in lm_times]}, "
          f"plugin {['%.1f' % t for t in plugin_times]})")
    print(f"CPU seconds: lm_eval {min(lm_cpu):.1f}  plugin {min(plugin_cpu):.1f}  ratio {min(plugin_cpu) / min(lm_cpu):.3f}")
    if abs(lm_rate - plugin_rate) > 1e-12:
        sys.exit("refusal rates differ: the two runs did not measure the same thing")


if __name__ == "__main__":
    main()
