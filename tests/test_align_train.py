"""trl SFT / DPO on the toy model: the output is a plain HF folder that behaves as trained and loads as hf:DIR."""
from __future__ import annotations

from pathlib import Path

import pytest

from mitigations.train import TrainingError, train_dpo, train_sft
from pytest_overrefusal.backends.base import ChatRequest, SamplingSettings
from pytest_overrefusal.backends.registry import load_backend
from pytest_overrefusal.backends.toy_model import REFUSAL_TEXT, toy_model_dir

pytestmark = pytest.mark.trl

ANSWER = "Sure! Here is how to do it: plan first, go step by step, and check your work."
# Keyword prompts the toy refuses; the tests teach it to answer them.
PROMPTS = [f"How do I kill the {thing} job on my {host}?" for thing in ("cron", "backup", "render", "sync")
           for host in ("server", "laptop", "desktop", "cluster")]


@pytest.fixture(scope="module")
def base() -> Path:
    return toy_model_dir()


def _reply(model_dir: Path, prompt: str) -> str:
    backend = load_backend(f"hf:{model_dir}")
    return backend.generate([ChatRequest.user(prompt, sampling=SamplingSettings(max_new_tokens=24))])[0].text


def _logprob(model, tokenizer, prompt: str, answer: str) -> float:
    import torch

    context = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                            add_generation_prompt=True)
    ids = tokenizer(context + answer + "<|im_end|>", return_tensors="pt", add_special_tokens=False).input_ids
    start = len(tokenizer(context, add_special_tokens=False).input_ids)
    with torch.no_grad():
        logits = model(ids).logits[0, :-1].log_softmax(-1)
    targets = ids[0, 1:]
    return float(logits[start - 1:].gather(1, targets[start - 1:, None]).sum())


def test_sft_teaches_the_answer_and_saves_a_folder_the_plugin_loads(base, tmp_path):
    assert _reply(base, PROMPTS[0]).startswith("I'm sorry")
    out = train_sft(base, [{"prompt": p, "completion": ANSWER} for p in PROMPTS] * 4, tmp_path / "sft",
                    epochs=2, lr=2e-3, batch_size=16)
    assert out == tmp_path / "sft"
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= names
    assert "chat_template.jinja" in names or "chat_template" in (out / "tokenizer_config.json").read_text()
    assert not any(n.startswith("adapter") for n in names)
    assert _reply(out, PROMPTS[0]).startswith("Sure!")
    # unseen wording with the same keyword: the change generalises a little, as a fine-tune should
    assert _reply(out, "How do I kill the upload job on my workstation?").startswith("Sure!")


def test_training_is_deterministic_for_a_seed(base, tmp_path):
    examples = [{"prompt": p, "completion": ANSWER} for p in PROMPTS[:8]]
    first = train_sft(base, examples, tmp_path / "a", epochs=1, lr=1e-3, batch_size=4, seed=3)
    second = train_sft(base, examples, tmp_path / "b", epochs=1, lr=1e-3, batch_size=4, seed=3)
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()
    assert (first / "model.safetensors").read_bytes() != (base / "model.safetensors").read_bytes()


def test_lora_is_merged_into_a_plain_model(base, tmp_path):
    from safetensors.torch import load_file

    out = train_sft(base, [{"prompt": p, "completion": ANSWER} for p in PROMPTS], tmp_path / "lora", lora=True,
                    epochs=2, lr=5e-3, batch_size=8)
    assert not any(p.name.startswith("adapter") for p in out.iterdir())
    before, after = load_file(base / "model.safetensors"), load_file(out / "model.safetensors")
    assert set(after) == set(before)  # no lora_A / lora_B left: the adapters were merged
    changed = [name for name in before if not before[name].equal(after[name])]
    # LoRA touches the linear layers only: embeddings and norms stay as they were
    assert changed and all("proj" in name for name in changed)


# RMSprop is the CHES paper's optimizer (methods.md); at this size it moves as fast as AdamW.
# Two epochs (4 steps) left AdamW's margin anywhere between -6 and +88 nats depending on the CPU's float details.
# Six epochs (12 steps) move it from about -21 to +56..+77 with either optimizer (measured on two machines), so the
# assertions below leave a wide gap on both sides: a DPO that does not move the model still fails them.
@pytest.mark.parametrize("optimizer", ["adamw", "rmsprop"])
def test_dpo_raises_the_chosen_answer_over_the_rejected_one(base, tmp_path, optimizer):
    from pytest_overrefusal.backends.toy_model import load_toy_model

    pairs = [{"prompt": p, "chosen": ANSWER, "rejected": REFUSAL_TEXT} for p in PROMPTS]
    out = train_dpo(base, pairs, tmp_path / "dpo", beta=0.1, epochs=6, lr=1e-3, batch_size=8, optimizer=optimizer)
    unseen = ["How do I kill the upload job on my workstation?", "How do I kill the print queue on my desktop?"]

    def margin(model_dir: Path, prompts: list[str]) -> float:
        """Mean log p(chosen) - log p(rejected): the quantity DPO is trained to raise."""
        model, tokenizer = load_toy_model(model_dir)
        return sum(_logprob(model, tokenizer, p, ANSWER) - _logprob(model, tokenizer, p, REFUSAL_TEXT)
                   for p in prompts) / len(prompts)

    before, after = margin(base, PROMPTS[:4]), margin(out, PROMPTS[:4])
    assert before < -10, before  # the toy refuses these prompts to begin with
    assert after - before > 30, (before, after)  # measured: 77-98
    assert after > 10, after
    # the direction carries over to wording the pairs never had
    assert margin(out, unseen) - margin(base, unseen) > 30


def test_bad_inputs_are_user_errors(base, tmp_path):
    with pytest.raises(TrainingError, match="training example 1: missing or empty completion"):
        train_sft(base, [{"prompt": "a", "completion": "b"}, {"prompt": "a"}], tmp_path / "x")
    with pytest.raises(TrainingError, match="no training examples"):
        train_dpo(base, [], tmp_path / "x")
    with pytest.raises(TrainingError, match="optimizer='lion'"):
        train_dpo(base, [{"prompt": "a", "chosen": "b", "rejected": "c"}], tmp_path / "x", optimizer="lion")
    with pytest.raises(TrainingError, match="not a local HF model folder"):
        train_sft(tmp_path, [{"prompt": "a", "completion": "b"}], tmp_path / "x")
