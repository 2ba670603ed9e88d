"""The built wheel, installed into a fresh environment and used from a folder outside the checkout, as a new user
would: it carries the mitigations README and every file a built-in manifest reads, and runs a built-in suite."""
from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pytest_overrefusal.catalog import builtin_suites_dir, manifests_in
from pytest_overrefusal.suite import load_manifest

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the sources, so the checkout's build/ folder is left alone."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for folder in ("pytest_overrefusal", "suites", "mitigations"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(src)], check=True, capture_output=True, text=True)
    return next(out.glob("pytest_overrefusal-*.whl"))


@pytest.fixture(scope="module")
def env(wheel, tmp_path_factory) -> Path:
    """A fresh venv holding only the wheel; its dependencies come from this environment's site-packages as a
    plain path (no .pth processing there, so this checkout's editable install stays invisible)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True, text=True)
    # only after the install: with this environment visible, a newer pip sees the editable install of the same
    # version and skips the wheel as "already installed"
    Path(purelib, "deps-from-test-env.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return venv


def test_wheel_carries_the_mitigations_readme_and_every_suites_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "mitigations/README.md" in names
    for path in manifests_in(builtin_suites_dir()):
        suite = load_manifest(path)
        assert f"pytest_overrefusal/_suites/{path.name}" in names
        if suite.source.file:
            assert f"pytest_overrefusal/_suites/{suite.source.file}" in names, suite.id
    assert "pytest_overrefusal/judges/card_data/keyword.json" in names


def test_installed_wheel_runs_a_builtin_suite_from_an_unrelated_folder(env, tmp_path):
    work = tmp_path / "elsewhere"
    work.mkdir()
    run_env = {k: v for k, v in os.environ.items() if k not in ("OVERREFUSAL_DATA", "PYTHONPATH")}
    run_env.update(PYTHONPATH=str(HERE), OVERREFUSAL_HOME=str(tmp_path / "home"))  # fakes.py only
    python = str(env / "bin" / "python")
    where = subprocess.run([python, "-c", "import pytest_overrefusal, mitigations; print(pytest_overrefusal.__file__);"
                            "print(mitigations.__file__)"], capture_output=True, text=True, env=run_env, cwd=work)
    assert where.returncode == 0 and all(line.startswith(str(env)) for line in where.stdout.split()), where

    done = subprocess.run([python, "-m", "pytest", "-p", "no:cacheprovider", "--overrefusal-suite", "starter-harmful",
                           "--overrefusal-model", "python:fakes:model", "-q"],
                          capture_output=True, text=True, env=run_env, cwd=work, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "61 passed, 4 tolerated" in done.stdout
    assert "overrefusal-suites/starter_harmful.yaml::starter-harmful[hm-023]" in done.stdout  # pasteable ids

    cli = subprocess.run([str(env / "bin" / "overrefusal"), "run", "--suite", "starter-harmful", "--model",
                          "python:fakes:model"], capture_output=True, text=True, env=run_env, cwd=work, timeout=300)
    assert cli.returncode == 0, cli.stdout[-3000:] + cli.stderr[-2000:]
    assert "PytestAssertRewriteWarning" not in cli.stdout + cli.stderr and "warning" not in cli.stdout.lower()
