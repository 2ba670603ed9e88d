"""Progress lines that reach the user's terminal: downloads, the toy model's first build.

pytest captures stderr during collection and setup; the plugin registers pytest's capture-suspending context
here, so these lines show up as they happen instead of only in a failure's captured output."""
from __future__ import annotations

import contextlib
import sys
from typing import Callable, ContextManager

_console: Callable[[], ContextManager] = contextlib.nullcontext


def use_console(factory: Callable[[], ContextManager]) -> None:
    """Write progress inside `factory()` (the plugin passes pytest's `global_and_fixture_disabled`)."""
    global _console
    _console = factory


def console() -> ContextManager:
    return _console()


def live() -> bool:
    """A terminal redraws a line in place (`\\r`); a CI log gets whole lines only."""
    return sys.stderr.isatty()


def write(text: str) -> None:
    with _console():
        sys.stderr.write(text)
        sys.stderr.flush()
