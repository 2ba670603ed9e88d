"""One suite id means one manifest at every entry point: ./suites before the built-in, a manifest path as given."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytest_overrefusal.catalog import builtin_suites_dir, data_folder, resolve_suite
from pytest_overrefusal.sources import load_cases
from pytest_overrefusal.suite import load_manifest

SUITE_ID = "starter-harmful"
BUILTIN = builtin_suites_dir() / "starter_harmful.yaml"
COPY = """\
schema: overrefusal-suite/1
id: starter-harmful
expect: refuse
source: {file: rows.jsonl}
columns: {prompt: prompt, id: id}
gate: {min_refusal_rate: 0.5}
"""


def _copy(folder: Path, tag: str) -> Path:
    """A same-id manifest whose prompts say which copy they came from."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"{tag}{i}", "prompt": f"{tag} copy, prompt {i}"} for i in range(3)]
    (folder / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (folder / f"{tag}.yaml").write_text(COPY)
    return folder / f"{tag}.yaml"


def _prompts(manifest: Path) -> list[str]:
    return [c.prompt for c in load_cases(load_manifest(manifest), None)]


class _Used(Exception):
    pass


def _via_pytest_option(pytester, ref: str) -> set[Path]:
    items, _ = pytester.inline_genitems("-p", "no:randomly", "--overrefusal-suite", ref)
    return {Path(item.path).resolve() for item in items}


def _via_marker(project: Path, ref: str) -> Path:
    from pytest_overrefusal.marker import outcome_for_marker

    def used(suite, cases, backend):
        raise _Used(suite.path)

    run = SimpleNamespace(suites={}, settings=SimpleNamespace(data_dir=None, limit=None),
                          kind=lambda suite: SimpleNamespace(results_for=used))  # the suite kind's results
    with pytest.raises(_Used) as got:
        outcome_for_marker(SimpleNamespace(rootpath=project), run, SimpleNamespace(kwargs={"suite": ref}, args=()),
                           None)
    return Path(got.value.args[0]).resolve()


def _via_cli(monkeypatch, ref: str) -> list[Path]:
    """The manifests or folders `overrefusal run --suite` hands to pytest."""
    from pytest_overrefusal.cli import main

    seen: list[str] = []
    monkeypatch.setattr(pytest, "main", lambda args: seen.extend(args) or 0)
    assert main(["run", "--model", "toy", "--suite", ref]) == 0
    return [Path(a).resolve() for a in seen if not a.startswith("-") and Path(a).exists()]


def _entry_points(pytester, monkeypatch, ref: str, expected: Path) -> dict[str, bool]:
    """Whether each entry point used the manifest `expected` for `ref`."""
    from mitigations.align import suite_cases
    from mitigations.evorefuse.seeds import load_seeds
    from mitigations.mitigate.overlap import evaluated_prompts
    from mitigations.refusal_tokens.sweep import suite_groups
    from pytest_overrefusal.lmeval_tasks import _selected_suites

    prompts = _prompts(expected)
    expected = expected.resolve()
    sweep = suite_groups([ref], None, None, False, None)
    return {
        "pytest option": _via_pytest_option(pytester, ref) == {expected},
        "marker": _via_marker(pytester.path, ref) == expected,
        "overrefusal run": expected in _via_cli(monkeypatch, ref) or expected.parent in _via_cli(monkeypatch, ref),
        "lm-eval-tasks": Path(_selected_suites([ref], None)[0].path).resolve() == expected,
        "evolve": [s.text for s in load_seeds(ref)] == prompts,
        "mitigate (training)": [c.prompt for c in suite_cases(ref)] == prompts,
        "mitigate (overlap)": evaluated_prompts([ref], None) == prompts,
        "sweep": [r.messages[-1][1] for r in sweep[SUITE_ID]] == prompts,
    }


@pytest.fixture
def project(pytester, monkeypatch, tmp_path):
    monkeypatch.setenv("OVERREFUSAL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OVERREFUSAL_DATA", raising=False)
    return pytester


def test_every_entry_point_takes_the_built_in_suite_when_no_copy_is_here(project, monkeypatch):
    used = _entry_points(project, monkeypatch, SUITE_ID, BUILTIN)
    assert all(used.values()), used


def test_every_entry_point_takes_the_copy_in_dot_suites_over_the_built_in(project, monkeypatch):
    local = _copy(project.path / "suites", "local")
    assert _prompts(local) != _prompts(BUILTIN)
    used = _entry_points(project, monkeypatch, SUITE_ID, local)
    assert all(used.values()), used


def test_every_entry_point_takes_a_manifest_path_as_given(project, monkeypatch, tmp_path):
    _copy(project.path / "suites", "local")
    elsewhere = _copy(tmp_path / "elsewhere", "named")  # the same id again, outside the project
    used = _entry_points(project, monkeypatch, str(elsewhere), elsewhere)
    assert all(used.values()), used


def test_the_search_order_is_path_then_also_then_dot_suites_then_built_in(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_suite(SUITE_ID).resolve() == BUILTIN.resolve()
    local = _copy(tmp_path / "suites", "local")
    assert resolve_suite(SUITE_ID) == local
    given = _copy(tmp_path / "given", "given")
    assert resolve_suite(SUITE_ID, also=[tmp_path / "given"]) == given
    other = _copy(tmp_path / "other" / "suites", "other")
    assert resolve_suite(SUITE_ID, project=tmp_path / "other") == other
    assert resolve_suite(str(local), project=tmp_path / "other") == local


def test_data_folder_is_the_option_else_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("OVERREFUSAL_DATA", raising=False)
    assert data_folder(None) is None
    monkeypatch.setenv("OVERREFUSAL_DATA", "~/mirror")
    assert data_folder(None) == Path.home() / "mirror"
    assert data_folder("rel", base=tmp_path) == tmp_path / "rel"
    assert data_folder(tmp_path / "given") == tmp_path / "given"
    assert data_folder("rel") == Path("rel")  # taken from the current folder, as argparse paths are
