"""Option values (`--overrefusal-*`) and model specs, valid and broken, some carrying the fake secret where a
credential would sit (URL userinfo, `api_key=`, a query parameter)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

from hypothesis import strategies as st

from .contract import Shown, SECRET

HUGE = "HUGE" + "x" * 5000


@dataclass(frozen=True)
class Option(Shown):
    """One `--overrefusal-NAME VALUE` (VALUE may hold `{dir}`: the example's folder). `valid`: True (the run must
    be correct), False (a clean error naming the option or value), None (either). `files`: name -> bytes to write
    first (a baseline to read, a file standing where a folder should be)."""

    name: str
    value: str
    valid: bool | None
    limit: int | None = None
    files: tuple[tuple[str, bytes], ...] = ()

    def __repr__(self) -> str:
        value = self.value if len(self.value) < 100 else self.value[:60] + f"...({len(self.value)} chars)"
        files = {n: b[:60] for n, b in self.files}
        return f"--overrefusal-{self.name} {value!r} valid={self.valid} files={files}"


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@st.composite
def positive_ints(draw, name: str) -> Option:
    value = draw(st.one_of(st.integers(-3, 12).map(str), st.integers(10**6, 10**25).map(str),
                           st.sampled_from(["", " 3", "3.0", "1e3", "abc", "\u0663", "+2", "0x10", "nan", "-0",
                                            "2 ", "3_0", "0", HUGE, "1" * 500])))
    strict = value.isascii() and value.isdigit() and int(value) >= 1
    odd = value.strip() != value or value.startswith("+") or "_" in value or not value.isascii() or value == ""
    valid = True if strict else (None if odd else False)
    return Option(name, value, valid, limit=_int(value) if name == "limit" and valid is not False else None)


def _int(text: str) -> int | None:
    """What Python reads (' 3', '+2', '3_0', Arabic-Indic digits): if the plugin accepts an odd form, it must
    mean this number."""
    try:
        return int(text) if int(text) >= 1 else None
    except ValueError:
        return None


@st.composite
def fractions(draw, name: str) -> Option:
    value = draw(st.one_of(st.floats(-1, 2, allow_nan=False).map(repr),
                           st.sampled_from(["nan", "inf", "-inf", "1e-400", "0", "1", "0.5 ", "half", "", "1e309",
                                            HUGE])))
    number = _number(value)
    valid = number is not None and not math.isnan(number) and 0 <= number <= 1
    return Option(name, value, None if value in ("", "0.5 ") else valid)


JUDGES = ["keyword", "xstest-strmatch", "evorefuse-prr", "ensemble"]


@st.composite
def judges(draw) -> Option:
    value = draw(st.one_of(
        st.sampled_from(JUDGES).map(lambda j: (j, True)),
        st.from_regex(r"[a-z][a-z0-9_-]{0,12}", fullmatch=True).filter(lambda j: j not in JUDGES + ["llm", "logprob",
                                                                                                   "embedding"])
        .map(lambda j: (j, False)),
        st.sampled_from([f"llm:openai:m@http://u:{SECRET}@127.0.0.1:9/v1", f"llm:openai:m@http://127.0.0.1:9/v1,"
                         f"api_key={SECRET}", "llm:python:nope:x", "llm:", "ensemble:keyword+nope", "ensemble:",
                         "logprob", "ensemble:keyword+keyword", HUGE, "keyword\n"]).map(lambda j: (j, None)),
    ))
    return Option("judge", value[0], value[1])


BASELINES = [b"", b"{", b"[]", b'{"schema": "pytest-overrefusal/baseline-1"}',
             b'{"schema": "pytest-overrefusal/baseline-1", "suites": {"fz": "x"}}',
             b'{"schema": "pytest-overrefusal/baseline-1", "suites": {"fz": {"cases": []}}}',
             b'{"schema": "pytest-overrefusal/baseline-1", "suites": {"fz": {"cases": {"c0": 1}}}}',
             b'{"schema": "pytest-overrefusal/baseline-1", "suites": {"fz": {"generation": 3, "cases": {}}}}',
             b"\xff\xfe{}", b'{"schema": "pytest-overrefusal/baseline-2", "suites": {}}']


@st.composite
def paths(draw) -> Option:
    """Report, baseline, cache and data paths: good places, a folder, a path under a file, missing parents."""
    name = draw(st.sampled_from(["report", "save-baseline", "baseline", "cache", "data"]))
    blocker = (("input.file", b"a file, not a folder"),)
    if name == "baseline":
        how = draw(st.sampled_from(["missing", "folder", "content", "random json"]))
        if how == "missing":
            return Option(name, "{dir}/nope.json", False)
        if how == "folder":
            return Option(name, "{dir}", False)
        body = draw(st.sampled_from(BASELINES)) if how == "content" else json.dumps(
            {"schema": "pytest-overrefusal/baseline-1", "suites": {"fz": draw(st.dictionaries(
                st.sampled_from(["cases", "generation", "x"]), st.none() | st.integers() | st.text(max_size=4) |
                st.dictionaries(st.sampled_from(["c0", "c1", "refused"]), st.booleans() | st.none(), max_size=2),
                max_size=3))}}).encode()
        return Option(name, "{dir}/input.base.json", None if how == "random json" else False,
                      files=(("input.base.json", body),))
    if name == "cache":
        value = draw(st.sampled_from(["{dir}/c", "{dir}/input.file", "{dir}/input.file/c", "{dir}/new/deep/c"]))
        return Option(name, value, None if "input.file" not in value else False, files=blocker)
    if name == "data":
        value = draw(st.sampled_from(["{dir}/nothing", "{dir}/input.file", "{dir}"]))
        return Option(name, value, None, files=blocker)
    ext = draw(st.sampled_from([".json", ".csv", ".html", ".parquet", ".JSON", ".txt", "", ".json/"]))
    where = draw(st.sampled_from(["{dir}/out", "{dir}/input.file/out", "{dir}/new/out", "{dir}/input.file"]))
    value = where + (ext if where != "{dir}/input.file" else "")
    if name == "save-baseline":
        valid = None if "new/" in value or ext != ".json" else "input.file" not in value
    elif "input.file" in value:
        valid = False
    elif ext in (".json", ".csv", ".html", ".parquet") and "new/" not in value:
        valid = True
    else:
        valid = None if ext in (".JSON",) or "new/" in value else False
    return Option(name, value, valid, files=blocker)


options = st.one_of(positive_ints("limit"), positive_ints("max-new-tokens"), fractions("alpha"),
                    fractions("tolerance"), judges(), paths())


# -- model specs ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spec(Shown):
    text: str  # may hold `{url}`, the loopback server
    valid: bool | None
    culprit: str = "model spec"

    def __repr__(self) -> str:
        return f"Spec({self.text[:200]!r}, valid={self.valid})"


_NUMBERS = st.sampled_from(["0", "-1", "1", "2", "0.5", "nan", "inf", "-inf", "1e400", "", "x", "10" * 20, "1e-9"])
_OPTION_NAMES = st.sampled_from(["concurrency", "timeout", "max_retries", "retry_budget", "backoff", "max_backoff"])


@st.composite
def specs(draw) -> Spec:
    how = draw(st.sampled_from(["python", "openai", "openai number", "secret", "garbage", "kind"]))
    if how == "python":
        text, valid = draw(st.sampled_from([
            ("python:fakes:model", True), ("python:fakes:nothing", False), ("python:nope_mod:x", False),
            ("python:fakes", False), ("python:os:getcwd", False), ("python:fakes:REFUSAL", False),
            ("python:fakes:model,x=1", False), ("python:", False), ("python:fakes:model,", None),
            ("python:fakes:make,words=kill+bomb+attack+poison+steal+hack+shoot+stab+explode+kidnap", True),
            ("python:fakes:make,colour=red", False), (" python:fakes:model ", None)]))
        return Spec(text, valid)
    if how == "openai":
        text, valid = draw(st.sampled_from([
            ("openai:m@{url}", True), ("openai:m@{url}/", True), ("openai:m", False), ("openai:@{url}", None),
            ("openai:m@ftp://127.0.0.1/v1", False), ("openai:m@http://", False), ("openai:m@http://[::1/v1", False),
            ("openai:m@{url},temperature=1", False), ("openai:m@{url},api_key_env=1BAD", False),
            ("openai:m@{url},api_key_env=NO_SUCH_VAR_FZ", None), ("openai:a@b@{url}", True),
            ("openai:m@http://127.0.0.1:99999/v1", False), ("openai:m@http://127.0.0.1:9/v1,max_retries=0", False),
            ("openai:m@{url},concurrency", False)]))
        return Spec(text + ("" if "," in text else ",max_retries=0,timeout=2"), valid)
    if how == "openai number":
        key, value = draw(_OPTION_NAMES), draw(_NUMBERS)
        number = _number(value)
        ok = number is not None and math.isfinite(number)
        ok = ok and {"concurrency": number >= 1 and number == int(number) and number < 100,
                     "max_retries": number >= 0 and number == int(number) and number < 100,
                     "timeout": 0.5 <= number <= 100, "retry_budget": 0.5 <= number <= 100,
                     "backoff": 0 <= number <= 0.1, "max_backoff": 0 <= number <= 0.1}[key] if ok else False
        low_ok = number is not None and math.isfinite(number) and number >= 0
        return Spec(f"openai:m@{{url}},{key}={value}", True if ok else None if low_ok else False, key)
    if how == "secret":
        text = draw(st.sampled_from([
            f"openai:m@http://u:{SECRET}@127.0.0.1:9/v1", f"openai:m@http://{SECRET}@127.0.0.1:9/v1",
            f"openai:m@{{url}},api_key={SECRET}", f"openai:m@{{url}}?api_key={SECRET}",
            f"openai:m@http://u:{SECRET}@127.0.0.1:9/v1,temperature=1", f"openai:m@http://u:{SECRET}@[::1/v1",
            f"openai:m@http://u:{SECRET}@127.0.0.1:9/v1,concurrency", f"hf:/m@http://u:{SECRET}@h/v1,oops",
            f"foo:m@http://u:{SECRET}@h/v1", f"openai:m@https://u:{SECRET}@127.0.0.1:9/v1,timeout=x",
            f"lmeval:local-chat-completions:base_url=http://u:{SECRET}@127.0.0.1:9/v1,oops"]))
        return Spec(text, False if "?api_key" not in text else None)
    if how == "garbage":
        text = draw(st.text(st.sampled_from("ab:,=@/ \t\n\x00é"), min_size=1, max_size=20))  # "": the default
        return Spec(text, None)
    kind = draw(st.from_regex(r"[a-z]{1,8}", fullmatch=True).filter(
        lambda k: k not in ("hf", "python", "toy", "smollm2", "openai", "vllm", "lmeval")))
    return Spec(f"{kind}:{draw(st.sampled_from(['x', HUGE, '']))}", False, kind)
