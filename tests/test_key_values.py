"""`key=value` lists are parsed one way: model spec options and `mitigate --option` share it."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_overrefusal.key_values import boolean_value, parse_key_values


class Bad(Exception):
    pass


keys = st.text(min_size=1).filter(lambda k: "=" not in k and k.strip() == k and k)
values = st.text().filter(lambda v: v.strip() == v)


@given(st.dictionaries(keys, values))
def test_written_pairs_read_back(pairs):
    items = [f" {k} = {v} " for k, v in pairs.items()]
    assert parse_key_values(items, Bad) == pairs


@given(st.text().filter(lambda t: "=" not in t or not t.partition("=")[0].strip()))
def test_an_item_without_a_key_is_the_callers_error(item):
    with pytest.raises(Bad) as raised:
        parse_key_values(["ok=1", item], Bad)
    assert raised.value.args == (item,)


def test_both_callers_use_it():
    from mitigations.loop import MitigateError, _options
    from pytest_overrefusal.backends.registry import parse_spec
    from pytest_overrefusal.errors import BackendError

    assert parse_spec("hf:/m, dtype = bfloat16").options == _options(["dtype=bfloat16"]) == {"dtype": "bfloat16"}
    with pytest.raises(BackendError, match="option 'x' must look like key=value"):
        parse_spec("hf:/m,x")
    with pytest.raises(MitigateError, match="--option 'x' must look like key=value"):
        _options(["x"])


@given(st.text(max_size=8))
def test_boolean_value_reads_the_six_words_in_any_case_and_rejects_everything_else(raw):
    word = raw.strip().lower()
    if word in ("1", "true", "yes", "0", "false", "no"):
        assert boolean_value(raw) is (word in ("1", "true", "yes"))
    else:
        with pytest.raises(ValueError, match="must be true or false"):
            boolean_value(raw)
    assert boolean_value(" YES ") is True and boolean_value("False") is False


def test_mitigate_training_options_read_lora_with_it():
    from mitigations.mitigate import MitigateError
    from mitigations.mitigate.adapters import train_kwargs

    assert train_kwargs({"lora": "Yes", "epochs": "2"}, {"epochs"}) == {"lora": True, "epochs": 2.0}
    with pytest.raises(MitigateError, match=r"option lora='maybe' must be true or false"):
        train_kwargs({"lora": "maybe"}, set())
