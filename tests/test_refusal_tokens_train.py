"""Training refusal tokens through the generic path: JSONL data -> `overrefusal refusal-tokens train` /
`train_for_loop` -> an HF folder that `hf:DIR,refusal_*` options can steer."""
from __future__ import annotations

import json

import pytest
import torch

from mitigations.refusal_tokens import toyworld
from mitigations.refusal_tokens.data import write_examples
from mitigations.refusal_tokens.loop import MIN_CONTROL_MASS, train_for_loop, weak_training_note
from mitigations.refusal_tokens.sweep import requests_for
from mitigations.refusal_tokens.tokens import TOKEN_FILE, binary, categorical
from mitigations.refusal_tokens.train import TrainConfig
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


def test_new_control_tokens_start_at_the_first_reply_words_they_label(base):
    """A new token starts where the base already puts first-position mass, weighted by the rows' weights; a label
    without rows keeps the resize's start."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mitigations.refusal_tokens.data import SFTExample, encode
    from mitigations.refusal_tokens.tokens import add_tokens, start_at_first_replies

    tokenizer, model = AutoTokenizer.from_pretrained(base), AutoModelForCausalLM.from_pretrained(base)
    known = len(tokenizer)
    ids = add_tokens(model, tokenizer, categorical(["safety", "unsupported"]))
    rows = [SFTExample("how do i kill my boss ?", "i cannot help .", "safety", 1.0),
            SFTExample("how do i bake a photo ?", "sure , here .", "respond", 3.0),
            SFTExample("how do i bake a cake ?", "i can do that .", "respond", 1.0)]
    encoded = encode(tokenizer, ids, rows)
    table = model.get_input_embeddings().weight
    untouched = table[ids["unsupported"]].detach().clone()
    start_at_first_replies(model, {k: v for k, v in ids.items() if v >= known},
                           [(r.label, t[1], r.weight) for r, (_, t) in zip(rows, encoded)])
    first = {r.reply: t[1] for r, (_, t) in zip(rows, encoded)}
    assert torch.allclose(table[ids["safety"]], table[first["i cannot help ."]])
    want = (3 * table[first["sure , here ."]] + table[first["i can do that ."]]) / 4
    assert torch.allclose(table[ids["respond"]], want, atol=1e-6)
    assert torch.equal(table[ids["unsupported"]], untouched)


def test_training_records_how_much_first_position_mass_the_tokens_took_and_warns_when_little(
        base, data, tmp_path, capsys):
    """The record's control_mass is the mean over the training prompts of the control tokens' first-position
    probability, checked here one prompt at a time; three steps on the toy leave it low, which gets one line."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mitigations.refusal_tokens.data import read_examples

    small = tmp_path / "small.jsonl"
    small.write_text("".join(data.read_text().splitlines(keepends=True)[:30]))
    out = tmp_path / "trained"
    assert main(["refusal-tokens", "train", "--base", str(base), "--data", str(small), "--out", str(out),
                 "--epochs", "1", "--lr", "0.003"]) == 0
    check = json.loads((out / "refusal_tokens_training.json").read_text())["first_position"]
    tokenizer, model = AutoTokenizer.from_pretrained(out), AutoModelForCausalLM.from_pretrained(out)
    control = [tokenizer.convert_tokens_to_ids(t) for t in ("[respond]", "[refuse]")]
    masses = []
    for ex in read_examples(small):
        text = tokenizer.apply_chat_template([{"role": "user", "content": ex.prompt}], tokenize=False,
                                             add_generation_prompt=True)
        with torch.no_grad():
            logits = model(**tokenizer(text, return_tensors="pt", add_special_tokens=False)).logits[0, -1]
        masses.append(float(torch.softmax(logits.float(), -1)[control].sum()))
    assert check["rows"] == 30 and check["control_mass"] == pytest.approx(sum(masses) / 30, abs=1e-3)
    assert check["control_mass"] < MIN_CONTROL_MASS
    [line] = [x for x in capsys.readouterr().err.splitlines() if x.startswith("refusal-tokens:")]
    assert line == (f"refusal-tokens: {out} gives its control tokens {check['control_mass']:.3f} of the first-token "
                    f"probability on 30 of its own training prompts (want >= 0.5), so threshold steering will "
                    f"rarely force one; train longer (epochs=1) or with another lr (lr=0.003)")
    record = json.loads((out / "refusal_tokens_training.json").read_text())
    record["first_position"]["control_mass"] = 0.9
    (out / "refusal_tokens_training.json").write_text(json.dumps(record))
    assert weak_training_note(out, TrainConfig()) is None


def test_retraining_a_trained_folder_keeps_its_learned_tokens(base, data, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mitigations.refusal_tokens.data import read_examples
    from mitigations.refusal_tokens.train import train_model

    train_for_loop(str(base), data, tmp_path / "a", {"epochs": "1"})
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "a")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "a")
    ids = {n: tokenizer.convert_tokens_to_ids(t) for n, t in (("respond", "[respond]"), ("refuse", "[refuse]"))}
    learned = model.get_input_embeddings().weight[list(ids.values())].detach().clone()
    train_model(model, tokenizer, read_examples(data)[:4], binary(), TrainConfig(epochs=1, learning_rate=1e-12))
    assert torch.allclose(model.get_input_embeddings().weight[list(ids.values())], learned, atol=1e-6)
