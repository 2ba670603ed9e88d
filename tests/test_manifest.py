"""Manifest validation: every malformed input becomes a SuiteError naming the file, never another exception."""
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from pytest_overrefusal.errors import SuiteError
from pytest_overrefusal.suite import load_manifest, parse_manifest

SUITES = Path(__file__).resolve().parents[1] / "suites"

VALID = {
    "schema": "overrefusal-suite/1", "id": "demo", "expect": "comply",
    "source": {"file": "rows.jsonl"}, "gate": {"max_refusal_rate": 0.1},
}

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True),
                    st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(st.dictionaries(st.sampled_from(sorted(VALID) + ["columns", "where", "exclude", "generation", "bogus"]),
                       values, max_size=8))
def test_arbitrary_structures_raise_only_suite_error(raw):
    try:
        parse_manifest({**VALID, **raw}, Path("x.yaml"))
    except SuiteError as exc:
        assert str(exc).startswith("x.yaml:")


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=200)
@given(st.text(max_size=200))
def test_arbitrary_text_files_raise_only_suite_error(tmp_path, text):
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_manifest(path)
    except SuiteError as exc:
        assert str(path) in str(exc)


def test_valid_manifest_round_trip():
    suite = parse_manifest(VALID, Path("x.yaml"))
    assert (suite.id, suite.expect, suite.gate.max_refusal_rate, suite.gate.statistic) == ("demo", "comply", 0.1, "point")


@pytest.mark.parametrize("patch,needle", [
    ({"colour": 1}, "unknown key(s) colour"),
    ({"gate": {"max_refusal_rate": 0.1, "min_refusal_rate": 0.2}}, "exactly one of"),
    ({"gate": {"max_refusal_rate": 1.5}}, "between 0 and 1"),
    ({"gate": {"max_refusal_rate": 0.1, "statistic": "median"}}, "'point' or 'wilson'"),
    ({"expect": "maybe"}, "'comply' or 'refuse'"),
    ({"source": {}}, "needs one of"),
    ({"id": "Has Spaces"}, "lowercase"),
    ({"generation": {"max_new_tokens": 0}}, "positive integer"),
])
def test_specific_errors_name_the_key(patch, needle):
    with pytest.raises(SuiteError, match="x.yaml") as info:
        parse_manifest({**VALID, **patch}, Path("x.yaml"))
    assert needle in str(info.value)


def test_yaml_syntax_error_names_line(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("schema: overrefusal-suite/1\nid: [unclosed\n", encoding="utf-8")
    with pytest.raises(SuiteError, match=r"m.yaml: line \d"):
        load_manifest(path)


def test_every_shipped_manifest_is_valid():
    paths = sorted(SUITES.glob("*.yaml"))
    ids = {load_manifest(p).id for p in paths}
    assert {"evorefuse-test", "xstest-safe", "xstest-unsafe", "harmbench", "advbench", "or-bench-hard",
            "or-bench-toxic", "phtest", "starter-pseudo-malicious", "starter-harmful"} <= ids
    assert len(ids) == len(paths)


def test_evorefuse_row_233_is_excluded_with_a_reason():
    suite = load_manifest(SUITES / "evorefuse_test.yaml")
    (exclusion,) = suite.exclude
    assert exclusion.id == "0233" and "harmful" in exclusion.reason
    assert yaml.safe_load((SUITES / "evorefuse_test.yaml").read_text())["exclude"][0]["id"] == "0233"
