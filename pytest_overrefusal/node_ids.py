"""Node ids that can be pasted back into pytest, wherever the manifest lives.

pytest names a file by its path relative to the rootdir, and a file outside it gets an empty path part
(`::starter-harmful[hm-001]`), which pytest cannot select again. Here:
- a manifest under the rootdir keeps pytest's own id (`suites/x.yaml::...`);
- a built-in manifest outside it is `overrefusal-suites/<file>` (a virtual folder, the same on every machine);
- any other manifest outside it is its path relative to the rootdir (`../data/x.yaml::...`).
`resolve_args` maps the virtual folder back, and makes ids with two name parts (`x.yaml::suite::gate`), which
pytest cannot match itself, select their item: the argument becomes the file, and `keep_selected` drops the rest.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from .catalog import builtin_suites_dir
from .suite import looks_like_manifest

VIRTUAL = "overrefusal-suites"
_WANTED = pytest.StashKey["dict[Path, set[str]]"]()  # manifest -> item names asked for; "" means all


def file_nodeid(path: Path, rootpath: Path):
    """The node id for the manifest at `path`, or None where pytest's own one round-trips."""
    try:
        path.relative_to(rootpath)
        return None
    except ValueError:
        pass
    builtin = builtin_suites_dir().resolve()
    resolved = path.resolve()
    if builtin in resolved.parents:
        text = f"{VIRTUAL}/{resolved.relative_to(builtin).as_posix()}"
    else:
        text = Path(os.path.relpath(path, rootpath)).as_posix()
    try:
        from _pytest.nodeid import NodeId  # pytest >= 9 keeps node ids structured
    except ImportError:
        return text
    return NodeId(path=text)


def virtual_path(strpath: str, invocation_dir: Path) -> Path | None:
    """The built-in manifest a `overrefusal-suites/...` path names (unless such a folder really exists here)."""
    head, _, rest = strpath.replace("\\", "/").partition("/")
    if head != VIRTUAL or not rest or (invocation_dir / strpath).exists():
        return None
    return builtin_suites_dir() / rest


def resolve_args(config) -> None:
    """Rewrite `config.args` in place (before collection) so every id this plugin prints selects its item."""
    wanted: dict[Path, set[str]] = {}
    invocation = Path(config.invocation_params.dir)
    for index, arg in enumerate(config.args):
        base, bracket, params = arg.partition("[")
        strpath, sep, names = base.partition("::")
        path = virtual_path(strpath, invocation)
        if path is None:  # ids are rootdir-relative: accept them from any folder, as pytest's own paths
            path = next((p for p in (invocation / strpath, Path(config.rootpath) / strpath) if p.is_file()), None)
            if not (sep and path is not None and looks_like_manifest(path)):
                continue
        elif not path.is_file():
            continue  # pytest says "file or directory not found" with the path as given
        config.args[index] = str(path)
        wanted.setdefault(path.resolve(), set()).add(f"{names}{bracket}{params}" if sep else "")
    config.stash[_WANTED] = wanted


def keep_selected(config, items: list) -> None:
    """Drop the items of a rewritten manifest argument that its id did not name (reported as deselected)."""
    wanted = config.stash.get(_WANTED, {})
    if not wanted or not any("" not in names for names in wanted.values()):
        return
    keep, drop = [], []
    for item in items:
        names = wanted.get(Path(item.path).resolve())
        (keep if names is None or "" in names or _named(item.name, names) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _named(name: str, asked: set[str]) -> bool:
    # pytest's rule: an id without [params] selects every parametrization of that name
    return name in asked or name.split("[")[0] in asked
