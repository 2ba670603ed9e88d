"""Checks at configure time, before any model loads or any answer is generated: every file and folder the run
will write (report, baseline, response cache) is usable. A problem here is one line and exit status 4; found
only after an hour of generation it used to be a traceback and a lost report."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from .errors import OverrefusalError
from .output_guard import check_distinct, check_not_foreign
from .report.files import REPORT_FORMATS
from .report.terminal import one_line
from .paths import user_cache_dir
from .settings import Settings, _default_cache_source
from .backends.registry import shown

BUILT_MODELS = ("toy", "smollm2")
CACHE_FILES = ("responses.sqlite", "responses.sqlite-wal", "responses.sqlite-shm", "responses.lock",
               "responses.open-lock")


def check_outputs(settings: Settings) -> None:
    for other in ("save_baseline", "baseline"):  # saving over the baseline read is an update, and allowed
        check_distinct({f"--overrefusal-{other.replace('_', '-')}": getattr(settings, other),
                        "--overrefusal-report": settings.report})
    if settings.report is not None:
        check_report_path(settings.report)
    if settings.save_baseline is not None:
        check_file_path(settings.save_baseline, "--overrefusal-save-baseline")
    if settings.cache_dir is not None:
        check_cache_dir(settings.cache_dir, settings.cache_source)
    if settings.model.partition(",")[0] in BUILT_MODELS:  # built on first use under the user cache folder
        home = user_cache_dir()
        if home.exists() and not home.is_dir():
            raise OverrefusalError(f"{_default_cache_source()} {_p(home)}: is a file, not a folder; the {shown(settings.model)} "
                                   f"model is built there, point it at a folder")
        _check_folder_creatable(home, _default_cache_source(), f"the folder the {shown(settings.model)} model is built in")


def check_report_path(path: Path) -> None:
    option = "--overrefusal-report"
    suffix = path.suffix.lower()
    if path.is_dir():
        raise OverrefusalError(f"{option} {_p(path)}: is a folder; give a file name ending in "
                               f"{', '.join(REPORT_FORMATS)}, e.g. {_p(path / 'report.json')}")
    if suffix not in REPORT_FORMATS:
        raise OverrefusalError(f"{option} {_p(path)}: unknown format {suffix or '(no extension)'!r}; the format "
                               f"follows the extension: use {', '.join(REPORT_FORMATS)}")
    if suffix == ".parquet":
        missing = [m for m in ("pandas", "pyarrow") if importlib.util.find_spec(m) is None]
        if missing:
            raise OverrefusalError(f"{option} {_p(path)}: a .parquet report needs {' and '.join(missing)} "
                                   f"(pip install {' '.join(missing)}), or use .json or .csv")
    check_file_path(path, option)


def check_file_path(path: Path, option: str) -> None:
    """`path` can be written: not a folder, not read-only, its folder exists or can be created."""
    if path.is_dir():
        raise OverrefusalError(f"{option} {_p(path)}: is a folder; give a file path")
    if path.exists() and not path.is_file():
        raise OverrefusalError(f"{option} {_p(path)}: is not a regular file (a device, pipe or socket); give a file "
                               f"path")
    if path.is_symlink() and not path.exists():
        raise OverrefusalError(f"{option} {_p(path)}: is a symlink to nothing; remove it or give another path")
    if path.exists() and not os.access(path, os.W_OK):
        raise OverrefusalError(f"{option} {_p(path)}: the file is read-only; make it writable or give another path")
    _check_folder_creatable(path.parent, option, "its folder", shown=path)
    check_not_foreign(path, option)


def check_cache_dir(folder: Path, source: str) -> None:
    """The response cache folder exists or can be created, and it and the cache files in it can be written."""
    if folder.exists() and not folder.is_dir():
        raise OverrefusalError(f"{source} {_p(folder)}: is a file, not a folder; point it at a folder (or run with "
                               f"--overrefusal-no-cache)")
    if folder.is_symlink() and not folder.exists():
        raise OverrefusalError(f"{source} {_p(folder)}: is a symlink to nothing; remove it or point it at a folder")
    _check_folder_creatable(folder, source, "the response cache folder")
    for name in CACHE_FILES:
        path = folder / name
        if path.is_dir() or (path.exists() and not os.access(path, os.W_OK)):
            what = "is a folder" if path.is_dir() else "is read-only"
            raise OverrefusalError(f"{_p(path)}: {what}, so the response cache cannot be written; make it a writable "
                                   f"file (chmod u+w) or move it away, or use --overrefusal-cache DIR or "
                                   f"--overrefusal-no-cache")


def _check_folder_creatable(folder: Path, option: str, what: str, shown: Path | None = None) -> None:
    """`folder` exists or can be made; messages name `shown` (the path the user gave) when it is not `folder`."""
    given = shown or folder
    existing = folder
    while not existing.exists() and existing != existing.parent:
        if existing.is_symlink():
            raise OverrefusalError(f"{option} {_p(given)}: {what} cannot be created, {_p(existing)} is a symlink to "
                                   f"nothing; remove it or give another path")
        existing = existing.parent
    if not existing.is_dir():
        raise OverrefusalError(f"{option} {_p(given)}: {what} cannot be created, {_p(existing)} is a file; "
                               f"give a path under a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OverrefusalError(f"{option} {_p(given)}: {what} cannot be written ({_p(existing)} is read-only for this "
                               f"user); give a writable path")


def _p(path) -> str:
    """A path as a message shows it: one line, escaped, capped."""
    return one_line(str(path), 200)
