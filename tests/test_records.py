"""Typed report records read back what they write, key for key, and every suite kind implements the protocol."""
from __future__ import annotations

import json
from dataclasses import fields

from hypothesis import given
from hypothesis import strategies as st

from pytest_overrefusal.kinds import KINDS
from pytest_overrefusal.kinds.base import SuiteKind
from pytest_overrefusal.records import (CASE_FIELDS, PAIR_FIELDS, CaseRecord, ErrorRecord, GateRecord, PairRecord,
                                        PairSuiteRecord, SuiteRecord)

text = st.text(max_size=20)
number = st.floats(allow_nan=False, allow_infinity=False, width=32)
maybe = st.none() | number

cases = st.builds(CaseRecord, suite=text, case_id=text, category=text, prompt=text, refused=st.booleans(),
                  score=number, new_tokens=st.none() | st.integers(0, 4096))
gates = st.builds(GateRecord, max_refusal_rate=maybe, min_refusal_rate=maybe, value=maybe, passed=st.booleans())
suites = st.builds(SuiteRecord, id=text, n=st.integers(0, 999), rate=number, gate=gates, adjusted_rate=maybe,
                   categories=st.none() | st.dictionaries(text, st.fixed_dictionaries({"n": st.integers(0, 9)})),
                   baseline=st.none() | st.fixed_dictionaries({"comparable": st.booleans(), "reason": text}),
                   skipped_too_long=st.lists(text, max_size=3))
pairs = st.builds(PairRecord, suite=text, case_id=text, ln_ches=number, flagged=st.booleans(), logp_drop=maybe)
pair_suites = st.builds(PairSuiteRecord, id=text, n=st.integers(0, 99), reference=st.none() | text,
                        scores=st.none() | st.fixed_dictionaries({"computed": st.integers(0, 9)}))
errors = st.builds(ErrorRecord, id=text, error=text, model=text)


@given(st.one_of(cases, suites, pairs, pair_suites, errors))
def test_a_record_reads_back_what_it_writes_through_json(record):
    data = json.loads(json.dumps(record.to_dict()))
    assert type(record).from_dict(data) == record
    assert list(data) == [f.name for f in fields(record)]


def test_row_fields_are_the_report_columns_in_order():
    assert CASE_FIELDS[:3] == PAIR_FIELDS[:3] == ("suite", "case_id", "category")
    assert CASE_FIELDS[-3:] == ("new_tokens", "stopped", "label_settled")
    assert PAIR_FIELDS[-1] == "logp_drop"


def test_an_older_report_row_without_newer_fields_still_loads():
    old = {"suite": "s", "case_id": "1", "refused": True, "passed": False, "unknown": 1}
    case = CaseRecord.from_dict(old)
    assert (case.refused, case.stopped, case.label_settled) == (True, "eos", True)


def test_a_gate_record_words_its_gate_like_the_manifest_gate():
    assert GateRecord.from_dict({"max_refusal_rate": 0.1, "statistic": "wilson"}).describe() == \
        "95% Wilson bound <= 0.1"
    assert GateRecord(min_refusal_rate=0.9).meets(0.9) and not GateRecord(min_refusal_rate=0.9).meets(0.89)


def test_every_registered_kind_implements_the_protocol():
    wanted = [name for name in dir(SuiteKind) if not name.startswith("_")] + ["name", "suite_record", "row_record",
                                                                             "json_keys"]
    for name, kind in KINDS.items():
        assert kind.name == name
        missing = [m for m in wanted if not hasattr(kind, m)]
        assert not missing, f"{name}: {missing}"
