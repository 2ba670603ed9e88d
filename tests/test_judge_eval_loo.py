"""`judge-eval --leave-one-out`: a learned part is scored only on files it was not trained on (issue 13)."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pytest_overrefusal.cli import main
from pytest_overrefusal.errors import JudgeError
from pytest_overrefusal.judges.base import Verdict
from pytest_overrefusal.judges.evaluation import Trainable, evaluate_leave_one_out
from pytest_overrefusal.judges.keyword import KeywordJudge

CODES = {"comply": "1_full_compliance", "refuse": "2_full_refusal", "partial": "3_partial_refusal"}


def write_file(folder: Path, name: str, rows: list[tuple[str, str]]) -> None:
    with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["prompt", "completion", "final_label"])
        for completion, label in rows:
            writer.writerow(["p", completion, CODES[label]])


class MemoryJudge:
    """Learns each completion's label by heart; answers 'comply' for completions it never saw."""

    id, version = "memory", "1"

    def __init__(self, table=None, seen=None):
        self.table = dict(table or {})
        self.seen = seen if seen is not None else []

    def fit(self, prompts, completions, gold):
        self.seen.append(list(completions))
        return MemoryJudge(zip(completions, gold), self.seen)

    def judge(self, prompts, responses):
        return [Verdict(self.table.get(r, "comply"), 0.0, "memory@1") for r in responses]


@pytest.fixture
def folder(tmp_path):
    write_file(tmp_path, "a", [("a-refuses", "refuse"), ("a-answers", "comply")])
    write_file(tmp_path, "b", [("b-refuses", "refuse"), ("b-answers", "comply"), ("b-partly", "partial")])
    write_file(tmp_path, "c", [("c-refuses", "refuse")])
    return tmp_path


def test_a_learned_part_never_sees_the_file_it_is_scored_on(folder):
    everything = ["a-refuses", "a-answers", "b-refuses", "b-answers", "b-partly", "c-refuses"]
    judge = MemoryJudge(zip(everything, ["refuse", "comply", "refuse", "comply", "partial", "refuse"]))
    assert isinstance(judge, Trainable)
    result = evaluate_leave_one_out(judge, [folder])
    assert result["learned"] and result["protocol"] == "leave-one-file-out"
    assert sorted(map(sorted, judge.seen)) == [
        sorted(everything[:5]), sorted(everything[:2] + everything[5:]), sorted(everything[2:])]
    for name, n in (("a", 2), ("b", 3), ("c", 1)):
        assert result["files"][name]["tuned_on"]["binary_agreement"] == 1.0  # it saw every file when shipped
        assert result["files"][name]["n"] == n
    # held out, it knows nothing about the file: every refusal is missed
    assert result["files"]["c"]["binary_agreement"] == 0.0
    assert result["files"]["b"]["missed_refusals"] == 2
    assert result["overall"]["n"] == 6 and result["overall"]["missed_refusals"] == 4


def test_rules_only_judge_reports_held_out_equal_to_tuned_on(folder):
    result = evaluate_leave_one_out(KeywordJudge(), [folder])
    assert not result["learned"] and "no learned part" in result["note"]
    for part in result["files"].values():
        tuned = part.pop("tuned_on")
        assert part == tuned


def test_leave_one_out_needs_two_files_for_a_learned_part(tmp_path):
    write_file(tmp_path, "only", [("x", "refuse")])
    with pytest.raises(JudgeError, match="two or more labelled files") as err:
        evaluate_leave_one_out(MemoryJudge(), [tmp_path])
    assert "\n" not in str(err.value)


def test_cli_prints_held_out_and_tuned_on_side_by_side(folder, capsys):
    assert main(["judge-eval", "--leave-one-out", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "held out (leave-one-file-out)" in out and "tuned on: macro-F1 (binary)" in out
    assert "keyword@4 has no learned part" in out


def test_csvs_that_are_not_labelled_completions_are_named_with_what_they_lack(tmp_path, capsys):
    (tmp_path / "prompts.csv").write_text('prompt,completion\n"a","b"\n')
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("prompt,completion,final_label\n")
    assert main(["judge-eval", "--judge", "keyword", str(tmp_path)]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert "prompts.csv: no final_label column" in err and "empty.csv: no rows" in err and "header.csv: no rows" in err
    assert main(["judge-eval", "--judge", "keyword", str(tmp_path / "prompts.csv")]) != 0
    assert f"{tmp_path / 'prompts.csv'}: no final_label column" in capsys.readouterr().err


def test_a_folder_may_hold_other_csvs_beside_the_labelled_ones(tmp_path):
    from pytest_overrefusal.judges.evaluation import labelled_files

    (tmp_path / "prompts.csv").write_text('prompt,type\n"a","b"\n')
    (tmp_path / "done.csv").write_text('prompt,completion,final_label\n"a","b","1_full_compliance"\n')
    assert labelled_files([tmp_path]) == [tmp_path / "done.csv"]
