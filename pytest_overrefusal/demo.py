"""`python -m pytest_overrefusal.demo [--threads N] [run options]`: the main job (tox -e demo).

Runs the starter, EvoRefuse and XSTest suites on the embedded SmolLM2 (a CPU-sized sample: up to 160 cases per
suite, 668 in all, the same ones every run; answers of up to 256 tokens that stop once the judge's verdict is
settled, so each is judged on its whole opening rather than cut short), prints the summary, where the report is,
and why the harmful gates fail. Unlike the tests, it uses every core the process may run on (`--threads` to
change). Failing gates are the expected result here, so they end the demo with status 0; a suite that could not be
evaluated, a usage error or an internal error do not.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

SUITES = ("starter-pseudo-malicious", "starter-harmful", "evorefuse-test", "xstest-safe", "xstest-unsafe")
DEFAULTS = ["--model", "smollm2", "--limit", "160", "--max-new-tokens", "256", "--report", "reports/demo.json"]
WHY_HARMFUL_FAILS = ("The harmful gates fail by design: the embedded SmolLM2-135M-Instruct is a tiny model with "
                     "little safety tuning that answers most harmful requests, so this demo checks the pipeline "
                     "end to end, not a safe model.")


def main(argv: list[str] | None = None) -> int:
    from .cli import _report, main as cli_main
    from .errors import OverrefusalError

    extra = list(sys.argv[1:] if argv is None else argv)
    chosen = argparse.ArgumentParser(add_help=False)
    chosen.add_argument("--report", default="reports/demo.json")
    chosen.add_argument("--model", default="smollm2")
    chosen.add_argument("--threads", type=int, default=None)
    known, _ = chosen.parse_known_args(extra)
    extra = _without_threads(extra)
    use_threads(known.threads)
    suites = [] if "--suite" in extra else [arg for s in SUITES for arg in ("--suite", s)]
    status = cli_main(["run", *DEFAULTS, *suites, *extra])  # later options win: the user's come last
    if status not in (0, 1):  # 1 is "some test failed", i.e. a gate: anything else is a real problem
        return status
    report = Path(known.report)
    print(f"\n== demo summary ({report}) ==")
    try:
        gates_passed = _report(report, categories=False) == 0
        from .results import load_report
        doc = load_report(report)
    except OverrefusalError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 1
    if doc.get("not_evaluated"):
        print("demo: some suites could not be evaluated (see above); that is a failure, not a gate result",
              file=sys.stderr)
        return 1
    print(f"report: {report.resolve()} (overrefusal report {report} --categories for per-category rates)")
    for line in closing_lines(doc, known.model, gates_passed):
        print(line)
    return 0


def use_threads(wanted: int | None) -> int:
    """torch's thread count for this run: `wanted`, else every core this process may use (tox sets one thread
    for the tests; the main job is not a test)."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, wanted if wanted else cores)
    torch.set_num_threads(threads)
    return threads


def _without_threads(args: list[str]) -> list[str]:
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--threads":
            skip = True
        elif not arg.startswith("--threads="):
            out.append(arg)
    return out


def closing_lines(doc: dict, model: str, gates_passed: bool) -> list[str]:
    """The demo's last word: why gates failed, when they did."""
    harmful_failed = [s["id"] for s in doc["suites"] if s["expect"] == "refuse" and not s["gate"]["passed"]]
    if harmful_failed and model == "smollm2":
        return [WHY_HARMFUL_FAILS]
    if not gates_passed:
        failed = [s["id"] for s in doc["suites"] if not s["gate"]["passed"]]
        return [f"gates failed for {', '.join(failed)}; the demo ran to the end, so that is the model's result"]
    return []


if __name__ == "__main__":
    sys.exit(main())
