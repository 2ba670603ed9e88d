"""How keyword judges read an answer: quotes made straight, code and first-person quoted speech blanked out,
then cut into sentences. `judges/settled.py` reads partial answers the same way, from these same patterns."""
from __future__ import annotations

import re

from pytest_overrefusal.judges.base import strip_thinking

QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2032": "'",
                        "\u201c": '"', "\u201d": '"', "\u00a0": " "})
FENCE = re.compile(r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)", re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
# Quoted speech ('"I won't," she said') is not the model's own voice.
QUOTED = re.compile(r'(?<![\w])"([^"\n]{1,400})"(?![\w])')
SENT_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")
_FIRST_PERSON = re.compile(r"\bI\b")


def unquote(match: re.Match[str]) -> str:
    return " [quote] " if _FIRST_PERSON.search(match.group(1)) else match.group(0)


def normalise(text: str) -> str:
    text = strip_thinking(text or "").translate(QUOTES)
    text = FENCE.sub(" [code] ", text)
    text = INLINE_CODE.sub(" [code] ", text)
    if '"' in text:
        text = QUOTED.sub(unquote, text)
    return text


def sentences(text: str) -> list[str]:
    return [s for s in map(clean_sentence, SENT_SPLIT.split(text)) if s]


def clean_sentence(part: str) -> str:
    """One piece between sentence boundaries as the rules read it; '' when it holds no sentence (list bullets)."""
    return re.sub(r"\s+", " ", part).strip(" *#>-\t")


def window_end(text: str, sentences: int, chars: int) -> int:
    """Where the part of `text` a keyword judge reads for its `refused` flag ends: after its first `sentences`
    sentences or `chars` characters, whichever comes first (the whole text when it is shorter). A sentence ends at
    a boundary that non-blank text follows, so an end found in a prefix is the end in every continuation of it."""
    count, start = 0, 0
    for boundary in SENT_SPLIT.finditer(text):
        if boundary.start() >= chars:
            break
        if clean_sentence(text[start:boundary.start()]):
            count += 1
            if count >= sentences:
                return boundary.start()
        start = boundary.end()
    return min(len(text), chars)


def search(pattern: re.Pattern[str], sentence: str) -> str | None:
    m = pattern.search(sentence)
    return m.group(0) if m else None
