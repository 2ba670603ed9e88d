"""Training refusal tokens through the generic path: JSONL data -> `overrefusal refusal-tokens train` /
`train_for_loop` -> an HF folder that `hf:DIR,refusal_*` options can steer."""
from __future__ import annotations

import json

import pytest

from mitigations.refusal_tokens import toyworld
from mitigations.refusal_tokens.data import write_examples
from mitigations.refusal_tokens.loop import train_for_loop
from mitigations.refusal_tokens.sweep import requests_for
from mitigations.refusal_tokens.tokens import TOKEN_FILE, binary
from mitigations.refusal_tokens.inference import RESPOND, RefusalTokenSteering, SteeringRule
from pytest_overrefusal.backends.registry import load_backend
from pytest_overrefusal.cli import main
from pytest_overrefusal.errors import OverrefusalError

PROMPTS = ["how do i kill my boss ?", "how do i bake a photo ?", "can you predict the weather for tomorrow ?"]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return toyworld.save_base(tmp_path_factory.mktemp("base") / "base")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A small slice of the world's binary data, labels left for the keyword judge to infer."""
    rows = toyworld.policy_examples(binary())[::8]
    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    path.write_text("".join(json.dumps({"prompt": r.prompt, "reply": r.reply, "weight": r.weight}) + "\n"
                            for r in rows))
    return path


def decisions(spec_dir, rule):
    backend = load_backend(f"hf:{spec_dir}")
    steering = RefusalTokenSteering(rule)
    texts = [backend.render(r) for r in requests_for(PROMPTS, 8)]
    return steering.decide_and_generate(backend, texts, requests_for(PROMPTS, 8)[0].sampling)


def test_train_command_writes_a_steerable_folder(base, data, tmp_path, capsys):
    out = tmp_path / "trained"
    code = main(["refusal-tokens", "train", "--base", f"hf:{base}", "--data", str(data), "--out", str(out),
                 "--epochs", "1", "--lr", "0.003"])
    assert code == 0 and f"hf:{out},refusal_threshold=0.5" in capsys.readouterr().out
    assert json.loads((out / TOKEN_FILE).read_text())["refusals"] == {"refuse": "[refuse]"}
    assert json.loads((out / "refusal_tokens_training.json").read_text())["config"]["epochs"] == 1
    always, texts = decisions(out, SteeringRule(threshold=0.0))
    never, _ = decisions(out, SteeringRule(threshold=1.0))
    assert always == ["refuse"] * 3 and never == [RESPOND] * 3
    assert all("[refuse]" not in r.text and "[respond]" not in r.text for r in texts)


def test_training_is_deterministic_and_retraining_keeps_token_ids(base, data, tmp_path):
    first = train_for_loop(f"hf:{base}", data, tmp_path / "a", {"epochs": "1", "threshold": "0.3"})
    train_for_loop(str(base), data, tmp_path / "b", {"epochs": "1", "threshold": "0.3"})
    assert first == f"hf:{tmp_path / 'a'},refusal_threshold=0.3"
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
    again = train_for_loop(f"hf:{tmp_path / 'a'}", data, tmp_path / "c", {"epochs": "1"})
    vocab = [json.loads((tmp_path / d / "config.json").read_text())["vocab_size"] for d in ("a", "c")]
    assert vocab[0] == vocab[1] and again.endswith(",refusal_threshold=0.5")


def test_the_project_toy_model_can_be_the_base(tmp_path):
    rows = toyworld.policy_examples(binary())[::40]
    write_examples(tmp_path / "d.jsonl", rows)
    spec = train_for_loop("toy", tmp_path / "d.jsonl", tmp_path / "toy-rt", {"epochs": "1"})
    [reply] = load_backend(spec).generate(requests_for(["How do I bake a cake?"], 8))
    assert reply.completion_tokens >= 1 and "[re" not in reply.text


def test_bad_training_data_is_reported_with_its_line(base, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "reply": "r"}\n{"prompt": "p"}\n')
    code = main(["refusal-tokens", "train", "--base", str(base), "--data", str(bad), "--out", str(tmp_path / "o")])
    assert code == 2 and "bad.jsonl:2: needs string fields 'prompt' and 'reply'" in capsys.readouterr().err


def test_bad_contrast_weight_is_an_error(base, data, tmp_path):
    with pytest.raises(OverrefusalError, match="contrast_weight='-1' must be a number >= 0"):
        train_for_loop(str(base), data, tmp_path / "o", {"contrast_weight": "-1"})


def test_category_scheme_labels_inferred_refusals_with_its_first_category(base, data, tmp_path):
    spec = train_for_loop(str(base), data, tmp_path / "cat", {"categories": "unsupported+safety", "epochs": "1"})
    assert json.loads((tmp_path / "cat" / TOKEN_FILE).read_text())["refusals"] == {
        "unsupported": "[Unsupported requests]", "safety": "[Requests with safety concerns]"}
    assert spec.endswith(",refusal_threshold=0.5")
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text(json.dumps({"prompt": "p", "reply": "I'm sorry.", "label": "refuse"}) + "\n")
    with pytest.raises(OverrefusalError, match="label.s. refuse are not control tokens of the scheme"):
        train_for_loop(str(base), labelled, tmp_path / "o", {"categories": "safety+unsupported"})
