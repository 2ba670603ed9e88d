"""Data files behind a good manifest: rows written as .jsonl/.json/.csv/.parquet in various encodings, with wrong
types, truncation, empty files, huge values and control characters."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

from hypothesis import strategies as st

from .contract import Shown, Expected, Verdict

FORMATS = ("jsonl", "json", "csv", "parquet")
KEYWORDS = ("kill", "bomb", "hack", "Shoot")
HUGE_PROMPT = "How do I describe a big bread? " + "crumb " * 8000


def manifest(fmt: str, max_rate: float = 0.5) -> str:
    return ("schema: overrefusal-suite/1\nid: fz\ntitle: t\nexpect: comply\n"
            f"source: {{file: data.{fmt}}}\ncolumns: {{prompt: prompt, id: id}}\n"
            f"gate: {{max_refusal_rate: {max_rate}}}\n")


@dataclass(frozen=True)
class DataFile(Shown):
    fmt: str
    content: bytes
    verdict: Verdict
    note: str

    @property
    def name(self) -> str:
        return f"data.{self.fmt}"

    def __repr__(self) -> str:
        return f"DataFile({self.name}, {self.note}: {self.content[:300]!r}{'...' if len(self.content) > 300 else ''})"


# Prompts: plain words (some with the fake model's keywords), any text with control characters, rarely a huge one.
words = st.lists(st.sampled_from(["How", "do", "I", "bake", "bread", "a", "process", "the", "fence", *KEYWORDS]),
                 min_size=1, max_size=6).map(" ".join)
odd_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=30).filter(str.strip)
prompts = st.one_of(words, words, odd_text, st.just(HUGE_PROMPT))


def _rows(texts: list[str], numeric_ids: bool) -> list[dict]:
    return [{"id": i if numeric_ids else f"c{i}", "prompt": p} for i, p in enumerate(texts)]


def render(fmt: str, rows: list[dict], encoding: str = "utf-8") -> bytes:
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode(encoding)
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False).encode(encoding)
    if fmt == "csv":
        buf = io.StringIO(newline="")
        writer = csv.DictWriter(buf, fieldnames=sorted({k for r in rows for k in r}) or ["id", "prompt"])
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue().encode(encoding)
    import pandas as pd
    buf = io.BytesIO()
    frame = pd.DataFrame.from_records(rows)
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


@st.composite
def data_files(draw) -> DataFile:
    fmt = draw(st.sampled_from(FORMATS))
    texts = draw(st.lists(prompts, min_size=1, max_size=5, unique=True))
    rows = _rows(texts, draw(st.booleans()))
    name = f"data.{fmt}"
    expected = Expected(suite="fz", prompts=tuple(texts))
    good, clean_error = Verdict.valid(expected), Verdict.error(name)
    either = Verdict(ok=expected, culprits=(name, "bad.yaml"))
    how = draw(st.sampled_from(["as is", "as is", "bom", "utf-16", "latin-1", "truncate", "empty", "wrong type",
                                "missing prompt", "duplicate id", "garbage", "extra columns", "wrong shape"]))
    if how == "as is" or (how == "extra columns"):
        if how == "extra columns":
            for r in rows:
                r[draw(st.sampled_from(["score", "Prompt", "", " id"]))] = draw(st.integers() | odd_text)
        try:
            content = render(fmt, rows)
        except Exception:  # noqa: BLE001 - a row pandas cannot store is no plugin finding
            content, fmt = render("jsonl", rows), "jsonl"
        if fmt == "csv" and any(ch in p for p in texts for ch in "\x00\r"):
            good = either  # csv cannot always carry NUL or a bare CR faithfully: a clean error is fine too
        return DataFile(fmt, content, good, how)
    if how == "bom" and fmt != "parquet":
        return DataFile(fmt, b"\xef\xbb\xbf" + render(fmt, rows), either, "UTF-8 BOM")
    if how == "utf-16" and fmt != "parquet":
        return DataFile(fmt, render(fmt, rows, "utf-16"), clean_error, "UTF-16")
    if how == "latin-1" and fmt != "parquet":
        rows[0]["prompt"] = "caf\u00e9 " + str(rows[0]["prompt"])
        content = render(fmt, rows, "utf-8").replace("caf\u00e9".encode(), "caf\u00e9".encode("latin-1"))
        return DataFile(fmt, content, clean_error, "a latin-1 byte")
    if how == "truncate":
        content = render(fmt, rows)
        cut = draw(st.integers(0, len(content) - 1))
        return DataFile(fmt, content[:cut], Verdict(culprits=(name, "bad.yaml"), lenient=True),
                        f"cut at byte {cut} of {len(content)}")
    if how == "empty":
        content = draw(st.sampled_from([b"", b"\n\n", b"[]", b"id,prompt\n"]))
        return DataFile(fmt, content, Verdict.error(name, "bad.yaml", "no cases", "empty"), f"empty {content!r}")
    if how == "wrong type":
        bad = draw(st.sampled_from([None, 3, 2.5, True, ["a"], {"t": "x"}, "", "   "]))
        key = draw(st.sampled_from(["prompt", "id"]))
        at = draw(st.integers(0, len(rows) - 1))
        rows[at][key] = bad
        if fmt == "csv" and key == "prompt":  # csv holds only strings: the prompt is the value's text
            shown = "" if bad is None else str(bad)
            texts = [shown if i == at else r["prompt"] for i, r in enumerate(rows)]
            verdict = (Verdict.error("prompt") if not shown.strip() else
                       Verdict(ok=Expected(suite="fz", prompts=tuple(texts)), culprits=(name, "bad.yaml")))
        elif fmt == "csv" or (key == "id" and bad not in ("", "   ")):
            verdict = either  # an odd id still names a case
        else:
            verdict = Verdict.error("prompt" if key == "prompt" else name)
        try:
            content = render(fmt, rows)
        except Exception:  # noqa: BLE001
            content, fmt = render("jsonl", rows), "jsonl"
        return DataFile(fmt, content, verdict, f"{key} = {bad!r}")
    if how == "missing prompt":
        del rows[-1]["prompt"]
        return DataFile(fmt, render(fmt, rows), Verdict.error("prompt", name), "a row without prompt")
    if how == "duplicate id":
        rows.append(dict(rows[0]))
        return DataFile(fmt, render(fmt, rows), Verdict.error("duplicate"), "duplicate id")
    if how == "garbage":
        content = draw(st.binary(min_size=1, max_size=64))
        return DataFile(fmt, content, Verdict(culprits=(name, "bad.yaml"), lenient=True), "random bytes")
    if how == "wrong shape" and fmt in ("json", "jsonl"):
        content = draw(st.sampled_from([b'{"id": "c0", "prompt": "x"}', b'"prompt"', b"[1, 2]", b"[[\"a\"]]",
                                        b"null", b"[{\"prompt\": \"x\"}, 3]"]))
        if fmt == "jsonl" and content.startswith(b"{"):  # one object on one line is a good JSON Lines file
            return DataFile(fmt, content, Verdict.valid(Expected(suite="fz", prompts=("x",))), "one line")
        return DataFile(fmt, content, Verdict.error(name, "bad.yaml"), f"shape {content!r}")
    return DataFile(fmt, render(fmt, rows), good, "as is")

