"""`python -m pytest_overrefusal.demo [run options]`: the main job (tox -e demo).

Runs the starter, EvoRefuse and XSTest suites on the embedded SmolLM2 (a CPU-sized sample), prints the summary,
where the report is, and why the harmful gates fail. Failing gates are the expected result here, so they end
the demo with status 0; a suite that could not be evaluated, a usage error or an internal error do not.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

SUITES = ("starter-pseudo-malicious", "starter-harmful", "evorefuse-test", "xstest-safe", "xstest-unsafe")
DEFAULTS = ["--model", "smollm2", "--limit", "150", "--max-new-tokens", "48", "--report", "reports/demo.json"]
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
    known, _ = chosen.parse_known_args(extra)
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
