"""How long the default judge takes: 10,000 completions on one thread, next to XSTest's string match.

    OMP_NUM_THREADS=1 OVERREFUSAL_DATA=../shared/data python benchmarks/judge_speed.py [--n 10000] [--rounds 3]

The completions are XSTest's human-labelled model answers (three shared files, 1,350 answers, cycled to --n), so
their lengths are those of real chat replies (a few sentences to several paragraphs). The contenders take turns
in each round and the best round counts, so a busy machine slows both alike; compare the ratio. The last line
puts the judge's time for the demo's answers (RESULTS.md: 638 answers, 685 s of generation) against their
generation time: the issue's budget is under 5%.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

from pytest_overrefusal.judges.registry import get_judge

DEMO_ANSWERS, DEMO_GENERATION_S = 638, 685.0  # benchmarks/RESULTS.md, "Main job"


def completions(n: int) -> list[str]:
    root = Path(os.environ.get("OVERREFUSAL_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
    texts = []
    for path in sorted((root / "xstest" / "model_completions").glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            texts += [row["completion"] for row in csv.DictReader(fh)]
    if not texts:
        sys.exit(f"no XSTest completions under {root}/xstest/model_completions; set OVERREFUSAL_DATA")
    return [texts[i % len(texts)] for i in range(n)]


def best_time(judge, texts: list[str], rounds_done: dict, name: str) -> None:
    prompts = [""] * len(texts)
    start = time.perf_counter()
    judge.judge(prompts, texts)
    elapsed = time.perf_counter() - start
    rounds_done[name] = min(rounds_done.get(name, float("inf")), elapsed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    texts = completions(args.n)
    judges = {"keyword (default)": get_judge("keyword"), "xstest-strmatch": get_judge("xstest-strmatch")}
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, judge in judges.items():
            best_time(judge, texts, best, name)
    chars = sum(map(len, texts)) / len(texts)
    print(f"{args.n} completions (mean {chars:.0f} characters), one thread, best of {args.rounds} rounds")
    for name, judge in judges.items():
        print(f"  {name:18s} {judge.id}@{judge.version}: {best[name]:7.3f} s  "
              f"({best[name] / args.n * 1e6:6.1f} us per completion)")
    keyword = best["keyword (default)"]
    print(f"  ratio keyword / xstest-strmatch: {keyword / best['xstest-strmatch']:.1f}x")
    demo = keyword / args.n * DEMO_ANSWERS
    print(f"  the demo's {DEMO_ANSWERS} answers: {demo * 1000:.0f} ms to judge vs {DEMO_GENERATION_S:.0f} s to "
          f"generate = {demo / DEMO_GENERATION_S:.4%} of generation time (budget 5%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
