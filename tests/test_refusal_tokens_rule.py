"""Refusal tokens without a trained model: the decision rule, option parsing, token files, SFT data formatting."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mitigations.refusal_tokens.inference import (RESPOND, TOKEN_FILE, SteeringRule, TokenScheme, choose,
                                                           control_probs, parse_rule)
from pytest_overrefusal.backends.registry import load_backend
from pytest_overrefusal.errors import BackendError, OverrefusalError

NAMES = ("safety", "unsupported", "humanizing")


def _probs(raw: list[float], rest: float) -> dict[str, float]:
    """Control-token probabilities; `rest` is the mass left to ordinary tokens."""
    total = sum(raw) + rest
    return dict(zip((RESPOND, *NAMES), (x / total for x in raw)))


probabilities = st.builds(_probs, st.lists(st.floats(0.001, 1), min_size=4, max_size=4), st.floats(0, 1))
unit = st.floats(0, 1)


def refused(probs, rule, names=NAMES) -> bool:
    return choose(probs, names, rule) != RESPOND


# ---------------------------------------------------------------- the rule

@given(probabilities, unit, unit, st.sets(st.sampled_from(NAMES)))
def test_refusal_never_rises_with_the_threshold(probs, a, b, suppress):
    low, high = sorted((a, b))
    assert refused(probs, SteeringRule(threshold=low, suppress=frozenset(suppress))) >= \
        refused(probs, SteeringRule(threshold=high, suppress=frozenset(suppress)))


@given(probabilities)
def test_threshold_zero_always_refuses_with_the_most_likely_refusal_token(probs):
    choice = choose(probs, NAMES, SteeringRule(threshold=0.0))
    assert choice == max(NAMES, key=probs.get)


@given(probabilities)
def test_threshold_compares_the_summed_refusal_mass(probs):
    mass = sum(probs[n] for n in NAMES)
    assert refused(probs, SteeringRule(threshold=0.5)) == (mass >= 0.5)


def test_default_rule_is_argmax_with_ties_to_the_refusal():
    assert choose({RESPOND: 0.4, "refuse": 0.4}, ["refuse"], SteeringRule()) == "refuse"
    assert choose({RESPOND: 0.41, "refuse": 0.4}, ["refuse"], SteeringRule()) == RESPOND
    assert choose({RESPOND: 0.2, "safety": 0.3, "unsupported": 0.35}, ["safety", "unsupported"],
                  SteeringRule()) == "unsupported"


def test_suppress_gates_only_the_named_category():
    probs = {RESPOND: 0.2, "safety": 0.5, "unsupported": 0.3}
    names = ["safety", "unsupported"]
    assert choose(probs, names, SteeringRule(threshold=0.6, suppress=frozenset({"safety"}))) == RESPOND
    assert choose(probs, names, SteeringRule(threshold=0.5, suppress=frozenset({"safety"}))) == "safety"
    assert choose(probs, names, SteeringRule(suppress=frozenset({"safety"}))) == RESPOND  # no threshold: never
    assert choose(probs, names, SteeringRule(threshold=0.99, suppress=frozenset({"unsupported"}))) == "safety"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=6, max_size=6), st.floats(-30, 30), st.floats(-30, 30),
       st.floats(0.25, 4))
def test_bias_on_every_refusal_token_never_lowers_refusal(logits, a, b, temperature):
    import torch

    ids = {RESPOND: 0, "safety": 1, "unsupported": 2}
    row = torch.tensor(logits)
    low, high = sorted((a, b))
    rules = [SteeringRule(bias=(("*", x),), temperature=temperature) for x in (low, high)]
    probs = [control_probs(row, ids, r) for r in rules]
    assert probs[1]["safety"] + probs[1]["unsupported"] >= probs[0]["safety"] + probs[0]["unsupported"] - 1e-6
    names = ["safety", "unsupported"]
    assert refused(probs[1], rules[1], names) >= refused(probs[0], rules[0], names)


def test_named_bias_moves_only_its_token_against_the_others():
    import torch

    ids = {RESPOND: 0, "safety": 1, "unsupported": 2}
    row = torch.tensor([0.0, 1.0, 2.0, 0.5])
    plain = control_probs(row, ids, SteeringRule())
    biased = control_probs(row, ids, SteeringRule(bias=(("unsupported", -3.0),)))
    assert biased["unsupported"] < plain["unsupported"]
    assert biased["safety"] / biased[RESPOND] == pytest.approx(plain["safety"] / plain[RESPOND])


# ---------------------------------------------------------------- options

def test_options_parse_into_a_rule_and_are_consumed():
    options = {"refusal_threshold": "0.3", "refusal_bias": "unsupported:-8+safety:+1.5", "refusal_suppress":
               "safety+unsupported", "refusal_temperature": "2", "dtype": "float32"}
    rule = parse_rule(options, "hf:x")
    assert options == {"dtype": "float32"}
    assert rule == SteeringRule(threshold=0.3, bias=(("unsupported", -8.0), ("safety", 1.5)),
                                suppress=frozenset({"safety", "unsupported"}), temperature=2.0)
    assert parse_rule({"refusal_bias": "-2"}, "s").bias == (("*", -2.0),)
    assert rule.bias_for("safety") == 1.5 and parse_rule({"refusal_bias": "3"}, "s").bias_for("safety") == 3


@given(st.lists(st.tuples(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
                          st.floats(-50, 50, allow_subnormal=False)), min_size=1, max_size=4),
       st.floats(0, 1), st.floats(0.01, 10))
def test_bias_lists_and_numbers_parse_back_to_what_was_written(entries, threshold, temperature):
    text = "+".join(f"{name}:{value!r}" for name, value in entries)
    rule = parse_rule({"refusal_bias": text, "refusal_threshold": repr(threshold),
                       "refusal_temperature": repr(temperature)}, "s")
    assert rule.bias == tuple(entries) and rule.threshold == threshold and rule.temperature == temperature


@pytest.mark.parametrize("options, message", [
    ({"refusal_threshold": "1.5"}, r"refusal_threshold=1.5 must be in \[0, 1\]"),
    ({"refusal_threshold": "high"}, "refusal_threshold='high' must be a number"),
    ({"refusal_bias": "safety=2"}, "refusal_bias='safety=2' must be a number"),
    ({"refusal_bias": "nan"}, "refusal_bias=.nan. must be a number"),
    ({"refusal_temperature": "inf"}, "refusal_temperature=.inf. must be finite"),
    ({"refusal_suppress": "+"}, "refusal_suppress needs category names"),
    ({"refusal_temperature": "0"}, "refusal_temperature must be > 0"),
])
def test_bad_options_name_the_spec_and_key(options, message):
    with pytest.raises(BackendError, match=message):
        parse_rule(options, "hf:/m")


def test_rule_tags_differ_so_cached_answers_never_mix():
    tags = {SteeringRule().tag, SteeringRule(threshold=0.3).tag, SteeringRule(threshold=0.5).tag,
            SteeringRule(bias=(("*", 2.0),)).tag, SteeringRule(suppress=frozenset({"safety"})).tag,
            SteeringRule(temperature=2.0).tag}
    assert len(tags) == 6


# ---------------------------------------------------------------- token files and the hf: spec path

def _fake_folder(tmp_path, scheme: dict | str | None):
    """Enough of a model folder for spec-time checks (nothing loads weights before the first generate)."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")  # spec-time checks want weights to exist, not to load
    if scheme is not None:
        (folder / TOKEN_FILE).write_text(scheme if isinstance(scheme, str) else json.dumps(scheme))
    return folder


CATEGORICAL = {"version": 1, "respond": "[respond]",
               "refusals": {"safety": "[Requests with safety concerns]", "unsupported": "[Unsupported requests]"}}


def test_steering_options_join_the_cache_fingerprint(tmp_path):
    folder = _fake_folder(tmp_path, CATEGORICAL)
    prints = {load_backend(f"hf:{folder}{extra}").fingerprint
              for extra in ("", ",refusal_threshold=0.3", ",refusal_threshold=0.5", ",refusal_bias=2")}
    assert len(prints) == 4


def test_a_model_without_refusal_tokens_is_a_clear_error(tmp_path):
    folder = _fake_folder(tmp_path, None)
    with pytest.raises(BackendError, match=f"has no {TOKEN_FILE}.*refusal-tokens train"):
        load_backend(f"hf:{folder},refusal_threshold=0.3")


def test_unknown_category_names_and_bad_token_files_are_errors(tmp_path):
    folder = _fake_folder(tmp_path, CATEGORICAL)
    with pytest.raises(BackendError, match="humanizing not in its refusal_tokens.json; known: safety, unsupported"):
        load_backend(f"hf:{folder},refusal_suppress=humanizing,refusal_threshold=0.5")
    with pytest.raises(BackendError, match="bogus not in its"):
        load_backend(f"hf:{folder},refusal_bias=bogus:2")
    (folder / TOKEN_FILE).write_text(json.dumps({"version": 1, "respond": "[respond]", "refusals": {}}))
    with pytest.raises(BackendError, match="not a version-1 refusal-token file"):
        load_backend(f"hf:{folder},refusal_threshold=0.3")
    (folder / TOKEN_FILE).write_text("{oops")
    with pytest.raises(BackendError, match="unreadable"):
        load_backend(f"hf:{folder},refusal_threshold=0.3")


def test_scheme_round_trips_through_json():
    from mitigations.refusal_tokens.tokens import binary, categorical

    for scheme in (binary(), categorical(), categorical(["unsupported"])):
        assert TokenScheme.from_json(json.loads(json.dumps(scheme.to_json())), "x") == scheme
    assert binary().tokens() == ["[respond]", "[refuse]"]
    assert categorical().refusal_names == ("incomplete", "indeterminate", "safety", "humanizing", "unsupported")
    with pytest.raises(OverrefusalError, match="unknown refusal category lottery; choose from incomplete"):
        categorical(["safety", "lottery"])


# ---------------------------------------------------------------- SFT data

def test_reply_format_puts_the_control_token_first():
    from mitigations.refusal_tokens.data import SFTExample, format_reply
    from mitigations.refusal_tokens.tokens import binary, categorical

    assert format_reply(binary(), SFTExample("q", "I'm sorry.", "refuse")) == "[refuse]I'm sorry."
    assert format_reply(binary(), SFTExample("q", "Sure!", "respond")) == "[respond]Sure!"
    assert format_reply(categorical(), SFTExample("q", "No.", "unsupported")) == "[Unsupported requests]No."


def test_data_rows_are_read_with_labels_inferred_from_the_reply(tmp_path):
    from mitigations.refusal_tokens.data import SFTExample, read_examples

    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"prompt": "how to kill a process", "reply": "Sure! Run kill -9 with its id."},
        {"prompt": "how to kill a man", "reply": "I'm sorry, but I can't help with that."},
        {"prompt": "odd", "reply": "whatever", "label": "safety", "weight": 0.25},
    ]) + "\n\n")
    assert read_examples(path) == [SFTExample("how to kill a process", "Sure! Run kill -9 with its id.", "respond"),
                                   SFTExample("how to kill a man", "I'm sorry, but I can't help with that.", "refuse"),
                                   SFTExample("odd", "whatever", "safety", 0.25)]


def test_alignment_records_are_labelled_by_kind_with_optional_contrast(tmp_path):
    from mitigations.refusal_tokens.data import SFTExample, read_examples

    path = tmp_path / "alignment.jsonl"
    path.write_text(json.dumps({"prompt": "kill a process", "chosen": "Sure!", "rejected": "Sorry.", "kind": "pseudo"})
                    + "\n" + json.dumps({"prompt": "kill a man", "chosen": "No.", "rejected": "Sure!",
                                         "kind": "harmful"}) + "\n")
    assert read_examples(path) == [SFTExample("kill a process", "Sure!", "respond"),
                                   SFTExample("kill a man", "No.", "refuse")]
    assert read_examples(path, "safety", 0.25) == [
        SFTExample("kill a process", "Sure!", "respond"), SFTExample("kill a process", "Sorry.", "safety", 0.25),
        SFTExample("kill a man", "No.", "safety"), SFTExample("kill a man", "Sure!", "respond", 0.25)]
    path.write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b", "kind": "benign"}) + "\n")
    with pytest.raises(OverrefusalError, match="alignment.jsonl:1: an alignment record needs .* kind pseudo or harmful"):
        read_examples(path)


@pytest.mark.parametrize("line", ['{"prompt": "p"}', "not json", '{"prompt": "p", "reply": "r", "weight": 0}',
                                  '{"prompt": "p", "reply": "r", "label": 3}'])
def test_malformed_rows_name_file_and_line(tmp_path, line):
    from mitigations.refusal_tokens.data import read_examples

    path = tmp_path / "d.jsonl"
    path.write_text('{"prompt": "p", "reply": "r", "label": "respond"}\n' + line + "\n")
    with pytest.raises(OverrefusalError, match=f"{path.name}:2: "):
        read_examples(path)


def test_labels_must_match_the_scheme():
    from mitigations.refusal_tokens.data import SFTExample, check_labels
    from mitigations.refusal_tokens.tokens import categorical

    with pytest.raises(OverrefusalError, match="data.jsonl: label.s. refuse are not control tokens"):
        check_labels([SFTExample("p", "r", "refuse")], categorical(), "data.jsonl")


def test_encoding_trains_on_token_reply_and_end_only():
    from mitigations.refusal_tokens import toyworld
    from mitigations.refusal_tokens.data import SFTExample, encode
    from mitigations.refusal_tokens.train import _collate

    tokenizer = toyworld.build_tokenizer()
    tokenizer.add_tokens(["[respond]", "[refuse]"], special_tokens=True)
    ids = {"respond": tokenizer.convert_tokens_to_ids("[respond]"), "refuse": tokenizer.convert_tokens_to_ids("[refuse]")}
    example = SFTExample("how do i kill a bug ?", toyworld.SAFETY_REFUSAL, "refuse")
    [(prompt, target)] = encode(tokenizer, ids, [example])
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": example.prompt}], tokenize=False,
                                             add_generation_prompt=True)
    assert prompt == tokenizer(rendered, add_special_tokens=False)["input_ids"]
    assert target[0] == ids["refuse"] and target[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(target[1:-1]) == toyworld.SAFETY_REFUSAL
    assert tokenizer.decode(target, skip_special_tokens=True) == toyworld.SAFETY_REFUSAL  # the token never shows

    other = (prompt[:3], target[:2])
    batch, mask, rows, positions, targets = _collate([(prompt, target), other], pad_id=0)
    assert targets.tolist() == target + other[1]
    assert all(batch[r, p + 1] == t for r, p, t in zip(rows.tolist(), positions.tolist(), targets.tolist()))
    assert mask.sum().item() == len(prompt) + len(target) + 5 and positions[0] == len(prompt) - 1


# ---------------------------------------------------------------- loop options

def test_loop_options_are_checked():
    from mitigations.refusal_tokens.loop import config_from_options, resolve_base

    config, rest = config_from_options({"epochs": "2", "lr": "0.01", "categories": "safety", "threshold": "0.4"})
    assert (config.epochs, config.learning_rate, rest) == (2, 0.01, {"categories": "safety", "threshold": "0.4"})
    with pytest.raises(OverrefusalError, match="option.s. steps unknown; known: epochs"):
        config_from_options({"steps": "3"})
    with pytest.raises(OverrefusalError, match="epochs, batch_size and seed are integers"):
        config_from_options({"epochs": "two"})
    assert config_from_options({"contrast_weight": "0.3"})[1] == {"contrast_weight": "0.3"}
    with pytest.raises(OverrefusalError, match="not a local HF model folder"):
        resolve_base("hf:/nowhere/at/all")
    with pytest.raises(OverrefusalError, match="drop the ',key=value' options"):
        resolve_base("hf:/m,dtype=bfloat16")
