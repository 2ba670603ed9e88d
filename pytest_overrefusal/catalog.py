"""Where suites and their data are: a suite id or manifest path -> its manifest, and the benchmark data folder.

Every entry point (pytest option and marker, `overrefusal run`, `lm-eval-tasks`, `evolve`, `mitigate`, `sweep`)
asks `resolve_suites` and `data_folder`, so one id means one file and one data folder everywhere."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from .errors import SuiteError
from .suite import load_manifest, looks_like_manifest
from .textfiles import cap


def builtin_suites_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "_suites", here.parent / "suites"):  # installed wheel, then a checkout
        if candidate.is_dir():
            return candidate
    return here.parent / "suites"


_SKIP_DIRS = {"node_modules", "site-packages", "__pycache__", "build", "dist"}


def manifests_in(folder: Path) -> list[Path]:
    """Manifests under `folder` (or `folder` itself), skipping hidden folders and environments."""
    if folder.is_file():
        return [folder] if looks_like_manifest(folder) else []
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS]
        found += [Path(root) / f for f in files if looks_like_manifest(Path(root) / f)]
    return sorted(found)


def find_suites(ids: list[str] | tuple[str, ...], search: list[Path]) -> dict[str, Path]:
    """The walk behind `resolve_suites` (call that: it holds the one search order): each id -> its manifest."""
    known: dict[str, Path] = {}
    broken: list[str] = []
    for folder in search:
        for path in manifests_in(folder):
            try:
                known.setdefault(load_manifest(path).id, path)
            except SuiteError as exc:  # reported when collected; named below if an id is then missing
                broken.append(str(exc))
    missing = [i for i in ids if i not in known and not Path(i).is_file()]
    if missing:
        unreadable = f"; {len(broken)} manifest(s) could not be read, e.g. {cap(broken[0], 200)}" if broken else ""
        raise SuiteError(f"unknown suite id(s) {cap(', '.join(missing), 200)}; known: {', '.join(sorted(known))} "
                         f"(or give a manifest path){unreadable}")
    return {i: (Path(i) if Path(i).is_file() else known[i]) for i in ids}


def resolve_suite(id_or_path: str, *, project: Path | None = None, also: Sequence[Path] = ()) -> Path:
    """The manifest of one suite id or manifest path; see `resolve_suites` for the search order."""
    return resolve_suites([id_or_path], project=project, also=also)[id_or_path]


def resolve_suites(ids: Sequence[str], *, project: Path | None = None, also: Sequence[Path] = ()) -> dict[str, Path]:
    """Each suite id or manifest path -> its manifest. The one search order, first match wins:

    1. a path to an existing file: that manifest, whatever its id;
    2. `also`: where this run was told to look (pytest's path arguments, or with none the folder pytest starts in);
    3. `<project>/suites` (project: pytest's rootdir under pytest, else the current folder);
    4. the suites shipped with the package.

    The user's own copy wins over the built-in one because copying a built-in manifest into ./suites is how a
    project changes its gate or columns (an installed package's own files are not for editing), and a copy that
    silently lost to the original would make the edit do nothing. An unknown id is an error listing the known ones."""
    folders = [*also, Path.cwd() / "suites" if project is None else Path(project) / "suites", builtin_suites_dir()]
    return find_suites(list(ids), folders)


def data_folder(given: str | Path | None = None, base: Path | None = None) -> Path | None:
    """The benchmark data folder: `given` (an option), else $OVERREFUSAL_DATA, else None; `~` expanded, and a
    relative path taken from `base` (pytest's invocation folder) when one is given, else from the current folder."""
    value = given or os.environ.get("OVERREFUSAL_DATA")
    if not value:
        return None
    folder = Path(os.path.expanduser(str(value)))
    return folder if folder.is_absolute() or base is None else Path(base) / folder
