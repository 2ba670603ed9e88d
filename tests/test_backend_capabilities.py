"""Backend capabilities are declared and read in one place (backends/base.py), and the hf: extension hook finds
mitigations' options through entry points, so the plugin names none of them."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_overrefusal.backends import hf_extensions
from pytest_overrefusal.backends.base import CAPABILITIES, has_capability, require
from pytest_overrefusal.errors import BackendError, JudgeError

ROOT = Path(__file__).resolve().parents[1]


class Plain:
    name = "plain"

    def generate(self, requests):
        return []


class Scorer(Plain):
    """A `python:` object written before `capabilities` existed: read by its methods."""

    def logprobs(self, requests, continuations):
        return [0.0] * len(requests)


class Declared(Plain):
    capabilities = frozenset({"logprobs", "continue"})

    def continue_generation(self, requests, partials, max_new_tokens, stop_when=None):
        return []


class Refusing(Declared):
    def can_continue(self):
        return False


def test_a_declared_capability_is_read_from_the_attribute():
    assert has_capability(Declared(), "logprobs") and has_capability(Declared(), "continue")
    assert not has_capability(Declared(), "stream")


def test_an_undeclared_backend_is_read_by_its_methods():
    assert has_capability(Scorer(), "logprobs")
    assert not has_capability(Plain(), "logprobs") and not has_capability(Plain(), "hidden_states")


def test_continuing_must_be_declared_served_and_allowed():
    class Undeclared(Plain):
        def continue_generation(self, *args):
            return []

    assert not has_capability(Undeclared(), "continue")
    assert not has_capability(Refusing(), "continue")


def test_declared_capabilities_are_the_whole_truth_and_undeclared_objects_are_read_by_their_methods():
    backend = Declared()
    assert not has_capability(backend, "stop_when")
    backend.capabilities = backend.capabilities | {"stop_when"}
    assert has_capability(backend, "stop_when")

    class Streams:
        def generate(self, requests):
            return []

        def generate_stream(self, requests):
            return iter(())

    assert has_capability(Streams(), "stream")  # no declaration: its method says it
    Streams.capabilities = frozenset()
    assert not has_capability(Streams(), "stream")  # declared without it: the method alone does not opt in


def test_an_unknown_capability_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown capability 'telepathy'"):
        has_capability(Plain(), "telepathy")


@pytest.mark.parametrize("capability", sorted(CAPABILITIES))
def test_require_fails_with_one_line_naming_feature_model_and_capability(capability):
    with pytest.raises(BackendError) as info:
        require(Plain(), capability, "feature X")
    message = str(info.value)
    assert "\n" not in message and message.startswith("feature X: model plain has no ")
    assert CAPABILITIES[capability][0] in message


def test_require_raises_the_feature_areas_own_error_type_and_masks_secrets():
    backend = Plain()
    backend.name = "openai:https://user:s3cr3t-key@host/v1"
    with pytest.raises(JudgeError) as info:
        require(backend, "logprobs", "judge 'logprob'", JudgeError)
    assert "s3cr3t-key" not in str(info.value)
    require(Scorer(), "logprobs", "judge 'logprob'", JudgeError)  # no error


def test_mitigations_options_come_from_entry_points():
    known = hf_extensions.known_options().split(", ")
    assert {"soft_prompt", "refusal_threshold", "refusal_bias", "refusal_suppress", "refusal_temperature"} <= set(known)


def test_the_plugin_imports_no_mitigation_module():
    """cli.py aside (its subcommands run mitigations), no import and no "module:function" string names them."""
    naming = re.compile(r"(?:from|import)\s+mitigations\b|[\"']mitigations\.")
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "pytest_overrefusal").rglob("*.py")
                 if p.name != "cli.py" and naming.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_an_extension_that_cannot_load_is_one_line_naming_the_option(monkeypatch):
    monkeypatch.setitem(hf_extensions._registered, "fancy", "no_such_package.inference:from_options")
    with pytest.raises(BackendError) as info:
        hf_extensions.pop_extensions({"fancy": "1"}, "hf:/m,fancy=1")
    message = str(info.value)
    assert "\n" not in message and message.startswith("hf option fancy= comes from no_such_package.inference")
    assert "pytest-overrefusal[mitigations]" in message


def test_a_registered_factory_pops_its_keys_and_rewriters_come_first(monkeypatch):
    class Ext:
        def __init__(self, tag, keeps):
            self.tag, self.keeps_generation = tag, keeps

    def steer(options, spec):
        options.pop("a_steer"), options.pop("b_steer", None)
        return Ext("steer", False)

    monkeypatch.setitem(hf_extensions._registered, "a_steer", steer)
    monkeypatch.setitem(hf_extensions._registered, "b_steer", steer)
    monkeypatch.setitem(hf_extensions._registered, "z_rewrite",
                        lambda options, spec: (options.pop("z_rewrite"), Ext("rewrite", True))[1])
    options = {"a_steer": "1", "b_steer": "2", "z_rewrite": "3", "other": "4"}
    extensions = hf_extensions.pop_extensions(options, "spec")
    assert [e.tag for e in extensions] == ["rewrite", "steer"] and options == {"other": "4"}
