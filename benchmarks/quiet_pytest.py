"""Time an in-process pytest session with its output swallowed: the benchmarks' shared stopwatch."""
from __future__ import annotations

import os
import sys
import time


def timed_pytest(args: list[str]) -> float:
    """Seconds `pytest.main(args)` took; the terminal output would only add noise to the figures."""
    import pytest

    started = time.perf_counter()
    with open(os.devnull, "w") as sink:
        stdout, stderr = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = sink
        try:
            pytest.main(args)
        finally:
            sys.stdout, sys.stderr = stdout, stderr
    return time.perf_counter() - started
