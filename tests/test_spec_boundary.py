"""Model specs at the boundary: a path that is not a model folder says so, and no message ever shows a credential
(URL userinfo, key-like option values, query-string tokens), is more than one line, or echoes an untrusted value
uncapped."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from pytest_overrefusal.backends.registry import load_backend, parse_spec, redact
from pytest_overrefusal.backends.toy_model import toy_model_dir
from pytest_overrefusal.errors import BackendError


def spec_error(spec: str) -> str:
    with pytest.raises(BackendError) as info:
        load_backend(spec)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    return message


# -- hf: on something that is not a model folder -----------------------------------------------------------------
def _model_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(toy_model_dir(), copy)
    return copy


def _empty(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a model")
    return folder


def _no_config(tmp_path):
    copy = _model_copy(tmp_path)
    (copy / "config.json").unlink()
    return copy


def _bad_json_config(tmp_path):
    copy = _model_copy(tmp_path)
    (copy / "config.json").write_text("{not json")
    return copy


def _list_config(tmp_path):
    copy = _model_copy(tmp_path)
    (copy / "config.json").write_text("[1, 2]")
    return copy


def _config_is_a_folder(tmp_path):  # unreadable as a file (chmod does not stop root, this does)
    copy = _model_copy(tmp_path)
    (copy / "config.json").unlink()
    (copy / "config.json").mkdir()
    return copy


def _no_weights(tmp_path):
    copy = _model_copy(tmp_path)
    for weights in [*copy.glob("*.safetensors"), *copy.glob("*.bin")]:
        weights.unlink()
    return copy


def _a_file(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"\0" * 16)
    return path


def _missing(tmp_path):
    return tmp_path / "no" / "such" / "model"


@pytest.mark.parametrize("make, needle", [
    (_empty, "not a model folder: it has no config.json"),
    (_no_config, "not a model folder: it has no config.json"),
    (_bad_json_config, "config.json is not a JSON object"),
    (_list_config, "config.json is not a JSON object"),
    (_config_is_a_folder, "config.json cannot be read (Is a directory)"),
    (_no_weights, "no weights"),
    (_a_file, "is a file, not a model folder"),
    (_missing, "no such folder"),
])
def test_hf_on_what_is_not_a_model_folder_says_what_it_is(tmp_path, make, needle):
    path = make(tmp_path)
    message = spec_error(f"hf:{path}")
    assert needle in message and str(path) in message
    assert "chat template" not in message and "chat_template" not in message


def test_hf_on_a_config_without_read_permission_says_so(tmp_path, monkeypatch):
    copy = _model_copy(tmp_path)
    real = Path.read_text

    def denied(self, *args, **kwargs):  # root ignores chmod, so the refusal is simulated
        if self.name == "config.json":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)
    monkeypatch.setattr(Path, "read_text", denied)
    message = spec_error(f"hf:{copy}")
    assert "config.json cannot be read (Permission denied)" in message and str(copy) in message


def test_hf_on_a_system_folder_is_not_blamed_on_the_chat_template():
    message = spec_error("hf:/etc")
    assert "/etc is not a model folder" in message and "chat_template" not in message


def test_hf_relative_missing_path_is_a_missing_path_not_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "no such folder" in spec_error("hf:./nope")
    assert "no such folder" in spec_error("hf:../nope/deeper")


def test_a_model_folder_still_loads_and_the_template_check_still_applies(tmp_path):
    copy = _model_copy(tmp_path)
    assert load_backend(f"hf:{copy}").context_length
    (copy / "chat_template.jinja").unlink(missing_ok=True)
    (copy / "chat_template.json").unlink(missing_ok=True)
    config = json.loads((copy / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (copy / "tokenizer_config.json").write_text(json.dumps(config))
    assert "chat_template=none" in spec_error(f"hf:{copy}")


# -- credentials never reach a message ----------------------------------------------------------------------------
SECRET = "SECRETx9Q"


@pytest.mark.parametrize("spec", [
    f"openai:m@http://u:{SECRET}@127.0.0.1:9/v1,oops",  # the probe's row: credentials plus another error
    f"openai:m@http://u:{SECRET}@127.0.0.1:9/v1",
    f"openai:m@http://{SECRET}@127.0.0.1:9/v1,concurrency=x",
    f"openai:m@http://u:{SECRET}@127.0.0.1:9/v1,colour=red",
    f"openai:m@http://u:pa,{SECRET}@127.0.0.1:9/v1",  # a comma inside the password splits the spec
    f"openai:m@http://u:{SECRET}/x@127.0.0.1:9/v1",  # a slash inside the password
    f"openai:m@http://127.0.0.1:9/v1?api_key={SECRET}",
    f"openai:m@http://127.0.0.1:9/v1?a=1&token={SECRET},oops",
    f"openai:m@http://127.0.0.1:9/v1,api_key={SECRET}",
    f"openai:m@http://127.0.0.1:9/v1,api_key={SECRET},colour=red",
    f"openai:m@http://[::1:9/v1?key={SECRET}",  # an unclosed IPv6 bracket
    f"openai:m@ftp://u:{SECRET}@h/v1",
    f"hf:/no/model,api_key={SECRET}",
    f"hf:/no/model,token={SECRET},colour=red",
    f"gpt9:http://u:{SECRET}@h/v1",
    f"python:json:nothing,api_key={SECRET}",
    f"openai:m@http://u:{SECRET}@127.0.0.1:9/v1,{'x' * 300}",
])
def test_credentials_are_masked_in_every_spec_error(spec):
    message = spec_error(spec)
    assert SECRET not in message and "SECRET" not in message


def test_redact_masks_userinfo_key_values_and_query_tokens_and_keeps_the_rest():
    text = f"openai:m@https://me:{SECRET}@api.example.com/v1?x=1&api_key={SECRET},api_key={SECRET},concurrency=2"
    masked = redact(text)
    assert SECRET not in masked
    assert masked.startswith("openai:m@https://***@api.example.com/v1?") and masked.endswith(",concurrency=2")
    assert redact("hf:/models/x,batch_size=4") == "hf:/models/x,batch_size=4"
    assert redact("openai:org/m@1@http://127.0.0.1:9/v1") == "openai:org/m@1@http://127.0.0.1:9/v1"


def test_spec_errors_cap_long_values():
    message = spec_error("hf:/m,colour=" + "r" * 5000)
    assert len(message) < 600


_password = st.text(alphabet=st.sampled_from("abcXYZ019-._~!$&'()*+;=%:@/,?#"), max_size=12)
_shape = st.sampled_from([
    "openai:m@http://u:{p}@127.0.0.1:9/v1{tail}",
    "openai:m@https://{p}@h.example/v1{tail}",
    "openai:m@http://127.0.0.1:9/v1?token={p}{tail}",
    "openai:m@http://127.0.0.1:9/v1{tail},api_key={p}",
    "hf:/no/model{tail},password={p}",
    "nope:x@http://u:{p}@h{tail}",
])
_tail = st.sampled_from(["", ",oops", ",concurrency=0", ",colour=red", ",timeout=x", ",=", ",api_key_env=1x"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=_shape, before=_password, after=_password, tail=_tail)
def test_no_spec_error_shows_a_secret(shape, before, after, tail):
    secret = f"{before}SECRET{after}"
    spec = shape.format(p=secret, tail=tail)
    try:
        load_backend(spec)
    except BackendError as exc:
        message = str(exc)
        assert "SECRET" not in message, (spec, message)
        assert "\n" not in message and len(message) < 800
    # a spec that loads (the secret landed somewhere harmless) must not carry it in its name either
    else:  # pragma: no cover - only if a shape ever becomes valid
        pytest.fail(f"{spec!r} loaded")


def test_parse_spec_keeps_real_values_for_the_factories():
    spec = parse_spec("python:mod:make,api_key=abc,words=a+b")
    assert spec.options == {"api_key": "abc", "words": "a+b"}


@pytest.mark.parametrize("spec", [
    f"openai:m@http://u:{SECRET}@127.0.0.1:9/v1,oops",  # the probe's row: it printed the secret 9 times
    f"openai:m@http://127.0.0.1:9/v1?token={SECRET},concurrency=0",
    f"hf:/no/model,api_key={SECRET}",
])
def test_a_run_with_a_credential_in_the_spec_never_prints_it(pytester, tmp_path, spec):
    rows = [{"id": f"r{i}", "prompt": f"How do I bake bread number {i}?"} for i in range(4)]
    pytester.makefile(".jsonl", rows="\n".join(json.dumps(r) for r in rows))
    pytester.makefile(".yaml", s="schema: overrefusal-suite/1\nid: s\ntitle: t\nexpect: comply\n"
                                 "source: {file: rows.jsonl}\ncolumns: {prompt: prompt, id: id}\n"
                                 "gate: {max_refusal_rate: 0.5}\n")
    result = pytester.runpytest("--overrefusal-model", spec, "--overrefusal-cache", str(tmp_path / "c"),
                                "--overrefusal-report", str(tmp_path / "r.json"), "-rA", "-v")
    out = "\n".join(result.outlines + result.errlines)
    assert result.ret != 0 and "***" in out
    assert SECRET not in out, out
    written = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert SECRET.encode() not in written


# -- a model folder whose content is broken: one line at load or first use, never a traceback --------------------
def _edit_config(**changes):
    def damage(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        config.update(changes)
        (folder / "config.json").write_text(json.dumps(config))
    return damage


def _garbage_weights(folder):
    for f in folder.glob("*.safetensors"):
        f.write_bytes(b"garbage" * 10)


def _truncated_weights(folder):
    for f in folder.glob("*.safetensors"):
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def _weights_are_a_folder(folder):
    for f in folder.glob("*.safetensors"):
        f.unlink()
        f.mkdir()


def _broken_template(folder):
    (folder / "chat_template.jinja").write_text("{% if %}")


def _refusing_template(folder):  # like templates that reject a system message
    (folder / "chat_template.jinja").write_text("{{ raise_exception('System role not supported') }}")


@pytest.mark.parametrize("damage, needle", [
    (_garbage_weights, "cannot load model"),
    (_truncated_weights, "cannot load model"),
    (_weights_are_a_folder, "no weights"),
    (_edit_config(hidden_size=4096), "do not match"),
    (_edit_config(num_hidden_layers="two"), "cannot load model"),
    (_edit_config(model_type="nope"), "cannot load model"),
    (_broken_template, "chat template"),
    (_refusing_template, "System role not supported"),
])
def test_a_broken_model_folder_is_one_line_naming_it(tmp_path, damage, needle):
    from pytest_overrefusal.backends.base import ChatRequest

    copy = _model_copy(tmp_path)
    damage(copy)
    with pytest.raises(BackendError) as info:
        load_backend(f"hf:{copy}").generate([ChatRequest.user("hi", system="sys")])
    message = str(info.value)
    assert needle in message and str(copy) in message and "\n" not in message


@pytest.mark.parametrize("spec, needle", [
    ("hf:/" + "a" * 5000, "cannot use this path (File name too long)"),
    ("hf:" + "a/" * 3000, "cannot use this path (File name too long)"),
    ("hf:~no_such_user_xyz/model", "no such folder"),
    ("hf:/tmp/a\nb", "no such folder"),
    ("openai:m@http://h:99999/v1", "0 to 65535"),
    ("toy,batch_size=" + "9" * 5000, "must be an integer"),
])
def test_odd_paths_and_values_are_one_capped_line(spec, needle):
    message = spec_error(spec)
    assert needle in message and len(message) < 800


_text = st.text(alphabet=st.sampled_from("ab/:@.,=?&#%~ \\'\"[]-_0123456789\n\t"), max_size=30)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["hf", "openai", "toy", "vllm", "lmeval", "gpt9", "", "HF", " hf"]),
       target=_text, options=st.lists(st.tuples(st.sampled_from(
           ["batch_size", "dtype", "concurrency", "timeout", "api_key_env", "chat_template", "device", "x", ""]),
           _text), max_size=3))
def test_any_spec_loads_or_fails_with_one_backend_error_line(kind, target, options):
    spec = ",".join([f"{kind}:{target}" if target else kind, *(f"{k}={v}" for k, v in options)])
    try:
        load_backend(spec)
    except BackendError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message and len(message) <= 1003


def test_a_judge_whose_model_spec_holds_a_credential_does_not_show_it():
    from pytest_overrefusal.errors import JudgeError
    from pytest_overrefusal.judges.registry import get_judge

    judge = get_judge(f"llm:openai:m@http://u:{SECRET}@127.0.0.1:9/v1")
    with pytest.raises(JudgeError) as info:
        judge.backend
    assert SECRET not in str(info.value) and "***" in str(info.value)


def test_a_run_on_a_folder_that_is_not_a_model_names_it(pytester, tmp_path):
    pytester.makefile(".jsonl", rows=json.dumps({"id": "r0", "prompt": "How do I bake bread?"}))
    pytester.makefile(".yaml", s="schema: overrefusal-suite/1\nid: s\ntitle: t\nexpect: comply\n"
                                 "source: {file: rows.jsonl}\ncolumns: {prompt: prompt, id: id}\n"
                                 "gate: {max_refusal_rate: 0.5}\n")
    result = pytester.runpytest("--overrefusal-model", "hf:/etc", "--overrefusal-cache", str(tmp_path / "c"))
    out = "\n".join(result.outlines + result.errlines)
    assert result.ret != 0 and "hf:/etc is not a model folder: it has no config.json" in out
    assert "chat template" not in out and "Traceback" not in out


def test_any_overrefusal_error_from_a_factory_is_masked_and_keeps_its_type(tmp_path):
    from pytest_overrefusal.errors import OverrefusalError

    missing = tmp_path / "prompt.safetensors"
    with pytest.raises(OverrefusalError) as info:
        load_backend(f"toy,soft_prompt={missing},api_key={SECRET}")
    assert SECRET not in str(info.value)


def test_a_backend_that_loads_with_a_credential_does_not_carry_it_in_its_name():
    backend = load_backend(f"lmeval:local-chat-completions,model=m,"
                           f"base_url=http://u:{SECRET}@127.0.0.1:9/v1/chat/completions,token={SECRET}")
    assert SECRET not in backend.name and backend.name.startswith("lmeval:local-chat-completions,model=m,")


def test_redact_leaves_a_question_mark_that_ends_a_sentence_alone():
    text = "cannot connect to 127.0.0.1:9; is the server running at http://127.0.0.1:9/v1?"
    assert redact(text) == text
    assert redact("at http://h/v1?key=abc now") == "at http://h/v1?*** now"


def test_a_class_named_in_a_python_spec_is_instantiated_with_the_options(tmp_path, monkeypatch):
    (tmp_path / "classmodels.py").write_text(
        "from pytest_overrefusal.backends.base import Response\n"
        "class Model:\n"
        "    def __init__(self, reply='Sure.'):\n"
        "        self.reply = reply\n"
        "    def generate(self, requests):\n"
        "        return [Response(self.reply) for _ in requests]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    plain, chosen = load_backend("python:classmodels:Model"), load_backend("python:classmodels:Model,reply=No.")
    assert not isinstance(plain, type) and (plain.reply, chosen.reply) == ("Sure.", "No.")
    from pytest_overrefusal.backends.base import ChatRequest
    assert chosen.generate([ChatRequest.user("hi")])[0].text == "No."


@pytest.mark.parametrize("declared", ['"streaming"', '{"stream", "telepathy"}'])
def test_a_python_object_declaring_unknown_capabilities_is_one_line(tmp_path, monkeypatch, declared):
    from pytest_overrefusal.errors import BackendError

    (tmp_path / "capmodels.py").write_text(
        "class Model:\n"
        f"    capabilities = {declared}\n"
        "    def generate(self, requests):\n"
        "        return []\n"
        "model = Model()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(BackendError) as info:
        load_backend("python:capmodels:model")
    message = str(info.value)
    assert "\n" not in message and "not understood" in message and "logprobs" in message
    assert ("telepathy" in message) or ("streaming" in message)
