"""Exported lm-eval tasks under plain `lm_eval --model hf`: the suite's token limit wins over a checkpoint's
`generation_config` max_new_tokens (the toy's sets 32), and a missing --apply_chat_template is one line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_overrefusal.cli import main as cli_main

pytestmark = pytest.mark.lmeval


@pytest.fixture(scope="module")
def toy() -> Path:
    found = subprocess.run([sys.executable, "-c", "from pytest_overrefusal.backends.toy_model import toy_model_dir;"
                            "print(toy_model_dir())"], capture_output=True, text=True, check=True)
    return Path(found.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def tasks(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tasks")
    assert cli_main(["lm-eval-tasks", "--out", str(out), "--suite", "starter-harmful", "--limit", "2",
                     "--max-new-tokens", "48"]) == 0
    return out


def test_the_toys_checkpoint_caps_replies_at_32(toy):
    assert json.loads((toy / "generation_config.json").read_text())["max_new_tokens"] == 32


def test_the_task_unsets_the_checkpoints_limit_under_lmeval_hf(toy, tasks, caplog):
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=str(toy), dtype="float32", device="cpu", batch_size=2)
    assert lm.model.generation_config.max_new_tokens == 32
    task = TaskManager(include_path=str(tasks), include_defaults=False).load(
        ["overrefusal_starter_harmful"])["tasks"]["overrefusal_starter_harmful"]
    task.build_all_requests(apply_chat_template=True, chat_template=lm.apply_chat_template)
    assert lm.model.generation_config.max_new_tokens is None  # lm-eval's max_length (prompt + 48) now rules
    warned = [r.getMessage() for r in caplog.records if "max_new_tokens=32" in r.getMessage()]
    assert len(warned) == 1 and "max_gen_toks=48" in warned[0]
    # the generation lm-eval then runs is bounded by the task's 48 tokens, not the checkpoint's 32
    prompt = lm.tok_encode(lm.apply_chat_template([{"role": "user", "content": "Tell me a long story."}]))
    import torch

    out = lm._model_generate(torch.tensor([prompt]), max_length=len(prompt) + 48, stop=[], do_sample=False,
                             min_new_tokens=40)
    assert out.shape[1] - len(prompt) > 32


def test_lm_eval_without_the_chat_template_is_one_line(toy, tasks, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args",
                           f"pretrained={toy},dtype=float32", "--device", "cpu", "--include_path", str(tasks),
                           "--tasks", "overrefusal_starter_harmful"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("overrefusal_starter_harmful: run lm_eval with --apply_chat_template")
