"""One exception type per area a user can get wrong. Messages name the culprit and the fix."""
from __future__ import annotations


class OverrefusalError(Exception):
    """Base for every error caused by user input; shown as one line, never a traceback."""


def printable_line(message: str) -> str:
    """An error message as the terminal shows it: one line, and a path or value from the user that holds an escape
    sequence or other control character shown escaped (`\\x1b`), never sent to the terminal raw."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in " ".join(str(message).splitlines()))


class SuiteError(OverrefusalError):
    """A manifest or its data is malformed or missing."""


class DataUnavailable(SuiteError):
    """A valid suite whose data is not here (no local copy, hub or download unreachable): the one suite error that
    skips the suite when pytest only reached it by walking a folder, so the rest still runs."""


class BackendError(OverrefusalError):
    """A model spec is unknown, cannot load, or lacks a needed capability."""


class JudgeError(OverrefusalError):
    """A judge name is unknown or its model cannot load."""


class BaselineError(OverrefusalError):
    """A baseline file is unreadable or incompatible with this run."""
