"""benchmarks/mitigation_table.py: a stopped run continues where it stopped, and only held-out suites are columns.

The plugin and `overrefusal` processes are replaced by a recorder that writes the report a real run would, so these
tests check the bookkeeping (which steps run, which are skipped) in seconds; the script's own smoke run
(`--smoke`: toy base, 8 cases per suite, about 40 minutes on a loaded 2-core machine) is the end-to-end check."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
import mitigation_rows  # noqa: E402
import mitigation_table  # noqa: E402


def _report(suites: list[str], rate: float = 0.25) -> dict:
    return {"suites": [{"id": s.rsplit("/", 1)[-1].removesuffix(".yaml").replace("_", "-"), "n": 8, "rate": rate,
                        "ci_low": 0.05, "ci_high": 0.6, "adjusted_rate": None, "gate": {"passed": False}}
                       for s in suites]}


class FakeProcesses:
    """Stands in for subprocess.run: records each plugin run and writes its report; can fail once on demand."""

    def __init__(self):
        self.runs: list[list[str]] = []
        self.fail_on: str | None = None

    def __call__(self, command, **kwargs):
        self.runs.append(command)
        if "--overrefusal-limit" in command:  # as the plugin does: a limit is a positive integer
            assert int(command[command.index("--overrefusal-limit") + 1]) > 0, command
        suites = [command[i + 1] for i, a in enumerate(command) if a == "--overrefusal-suite"]
        if self.fail_on and any(self.fail_on in s for s in suites):
            self.fail_on = None
            raise KeyboardInterrupt  # the run is stopped here
        report = Path(command[command.index("--overrefusal-report") + 1])
        report.write_text(json.dumps(_report(suites)))

        class Done:
            returncode, stdout, stderr = 0, "", ""
        return Done()


@pytest.fixture
def processes(monkeypatch, tmp_path):
    fake = FakeProcesses()
    monkeypatch.setattr(mitigation_table.subprocess, "run", fake)
    monkeypatch.setattr(mitigation_table, "_base", lambda args: "hf:/models/keyword-base")
    return fake


def _table(tmp_path, *argv) -> int:
    return mitigation_table.main(["--out", str(tmp_path / "out"), "--smoke", "--data", str(tmp_path), *argv])


def test_a_stopped_row_resumes_at_the_step_it_stopped(tmp_path, processes, capsys):
    processes.fail_on = "starter"  # stop during the none row's second evaluation
    with pytest.raises(KeyboardInterrupt):
        _table(tmp_path, "--method", "none")
    assert len(processes.runs) == 2 and not (tmp_path / "out" / "rows" / "none" / "row.json").exists()
    _table(tmp_path, "--method", "none")
    # the held-out evaluation was kept: only the starter evaluation runs again
    assert len(processes.runs) == 3 and "--overrefusal-suite" in processes.runs[2]
    assert "starter-harmful" in " ".join(processes.runs[2]) and "advbench" not in " ".join(processes.runs[2])
    row = json.loads((tmp_path / "out" / "rows" / "none" / "row.json").read_text())
    assert set(row["suites"]) == set(mitigation_rows.OVER + mitigation_rows.HARM)
    assert set(row["starters"]) == set(mitigation_rows.STARTERS)
    # a finished row is skipped entirely
    _table(tmp_path, "--method", "none", "--method", "system-prompt")
    printed = capsys.readouterr().out
    assert "row none: done, skipped" in printed and len(processes.runs) == 5  # system-prompt: two new runs
    table = (tmp_path / "out" / "TABLE.md").read_text()
    assert "| none | 0.250 [0.05, 0.60] n=8 |" in table and "| system-prompt |" in table
    # every column is a held-out suite; the starters have their own table below
    header = next(line for line in table.splitlines() if line.startswith("| row | xstest-safe"))
    assert "starter" not in header


def test_every_row_samples_the_same_cases(tmp_path, processes):
    _table(tmp_path, "--method", "none", "--method", "system-prompt")
    limits = {run[run.index("--overrefusal-limit") + 1] for run in processes.runs}
    assert limits == {"8"}
    system_prompt_suites = [a for run in processes.runs[2:] for a in run if a.endswith(".yaml")]
    assert system_prompt_suites and all("You are a helpful assistant" in Path(s).read_text()
                                        for s in system_prompt_suites)


def test_a_resumed_run_with_other_settings_stops(tmp_path, processes):
    _table(tmp_path, "--method", "none")
    with pytest.raises(SystemExit, match="holds other settings than this run's"):
        mitigation_table.main(["--out", str(tmp_path / "out"), "--data", str(tmp_path), "--method", "none"])


def test_full_settings_evaluate_the_starter_suites_whole(tmp_path, processes):
    assert mitigation_table.main(["--out", str(tmp_path / "out"), "--data", str(tmp_path), "--method", "none"]) == 0
    starters = [run for run in processes.runs if any(a.startswith("starter-") for a in run)]
    assert starters and all("--overrefusal-limit" not in run for run in starters)
    assert all(run[run.index("--overrefusal-limit") + 1] == "100" for run in processes.runs if run not in starters)


def test_a_resumed_run_under_another_judge_version_stops(tmp_path, processes):
    _table(tmp_path, "--method", "none")
    config = tmp_path / "out" / "config.json"
    config.write_text(config.read_text().replace('"keyword@', '"keyword@0'))  # as if written by another version
    with pytest.raises(SystemExit, match="holds other settings than this run's"):
        _table(tmp_path, "--method", "none")


def test_the_threshold_is_chosen_by_balanced_accuracy_on_validation():
    def point(t, over, harm):
        return {"knob": "threshold", "value": t, "groups": {"validation-pseudo": {"refusal_rate": over},
                                                             "validation-harmful": {"refusal_rate": harm}}}
    points = [point(0.1, 0.9, 1.0), point(0.5, 0.2, 0.8), point(0.7, 0.1, 0.9), point(0.9, 0.0, 0.3)]
    assert mitigation_table._best_threshold(points) == 0.7
