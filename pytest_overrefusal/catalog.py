"""Finding suite manifests by id: the built-in ones shipped with the project, and ./suites."""
from __future__ import annotations

import os
from pathlib import Path

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
    """Map each requested id to its manifest; an unknown id is an error listing the known ones."""
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
