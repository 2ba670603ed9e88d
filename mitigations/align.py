"""EvoRefuse-Align style alignment data: pseudo-malicious prompts answered, harmful prompts refused.

A record is `{"prompt", "chosen", "rejected", "kind"}`:
  * kind "pseudo":  a harmless prompt that looks dangerous; chosen = a compliant answer, rejected = a refusal;
  * kind "harmful": a harmful prompt kept in the mix (the replay) so the model does not learn blanket compliance;
    chosen = a refusal, rejected = a compliant answer.
SFT trains on (prompt, chosen); DPO on all three (methods.md section 5).

Prompts come from any pseudo-malicious / harmful suite, any JSONL with a "prompt" field (e.g. `overrefusal evolve`
output), or the built-in templated generators below (`synthetic-pseudo`, `synthetic-harmful`), whose objects and
templates are this module's own, disjoint from the starter suites that the loop evaluates on.
Answers come from fixed templates or from a helper model (any model spec, judged so only real answers are kept).
"""
from __future__ import annotations

import difflib
import json
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Literal, Sequence

from pytest_overrefusal.api import OverrefusalError, json_objects

from .align_grammar import (HARMFUL_ACTIONS, HARMFUL_GRAMMAR, PLAIN_GRAMMAR, PSEUDO_MALICIOUS_ACTIONS,
                            PSEUDO_MALICIOUS_GRAMMAR, SHARED_FRAMES, Grammar)

__all__ = ["AlignRecord", "AlignDataError", "COMPLIANT_ANSWER", "REFUSAL_ANSWER", "build_records",
           "write_jsonl", "read_jsonl", "load_prompts", "sft_examples", "dpo_pairs", "synthetic_pseudo_malicious",
           "synthetic_harmful", "near_duplicates", "answers_from_model", "SYNTHETIC_SOURCES"]

Kind = Literal["pseudo", "harmful"]
KINDS: tuple[str, ...] = ("pseudo", "harmful")
COMPLIANT_ANSWER = "Sure! Here is how to do it: plan first, go step by step, and check your work."
REFUSAL_ANSWER = "I'm sorry, but I can't help with that."


class AlignDataError(OverrefusalError):
    """Alignment data that cannot be read or built as asked."""


@dataclass(frozen=True)
class AlignRecord:
    prompt: str
    chosen: str
    rejected: str
    kind: Kind


# ---------------------------------------------------------------- building records

def build_records(pseudo_prompts: Sequence[str], harmful_prompts: Sequence[str], *, harmful_ratio: float = 1.0,
                  compliant: str | dict[str, str] = COMPLIANT_ANSWER, refusal: str = REFUSAL_ANSWER,
                  seed: int = 0) -> list[AlignRecord]:
    """Every pseudo-malicious prompt once, plus `round(harmful_ratio * len(pseudo_prompts))` harmful ones, shuffled.

    `compliant` is one answer for every prompt or a prompt -> answer mapping (e.g. from `answers_from_model`);
    pseudo prompts without an answer there are dropped. Harmful prompts are drawn without replacement and reused
    in a fresh order only when the ratio asks for more than there are."""
    if harmful_ratio < 0:
        raise AlignDataError(f"harmful_ratio must be >= 0, got {harmful_ratio}")
    rng = random.Random(seed)
    answer_for = (lambda p: compliant) if isinstance(compliant, str) else compliant.get
    records = [AlignRecord(p, answer, refusal, "pseudo") for p in pseudo_prompts if (answer := answer_for(p))]
    wanted = round(harmful_ratio * len(pseudo_prompts))
    if wanted and not harmful_prompts:
        raise AlignDataError(f"harmful_ratio={harmful_ratio} needs harmful prompts, but none were given")
    replay: list[str] = []
    while len(replay) < wanted:
        batch = list(harmful_prompts)
        rng.shuffle(batch)
        replay.extend(batch[:wanted - len(replay)])
    # A harmful record's rejected answer is any compliant one: the one the model must not give.
    reject_with = compliant if isinstance(compliant, str) else COMPLIANT_ANSWER
    records += [AlignRecord(p, refusal, reject_with, "harmful") for p in replay]
    rng.shuffle(records)
    return records


def sft_examples(records: Iterable[AlignRecord]) -> list[dict[str, str]]:
    """(prompt, completion = chosen) for `mitigations.train.train_sft`."""
    return [{"prompt": r.prompt, "completion": r.chosen} for r in records]


def dpo_pairs(records: Iterable[AlignRecord]) -> list[dict[str, str]]:
    """(prompt, chosen, rejected) for `mitigations.train.train_dpo`."""
    return [{"prompt": r.prompt, "chosen": r.chosen, "rejected": r.rejected} for r in records]


def answers_from_model(spec: str, prompts: Sequence[str], *, judge: str = "keyword",
                       max_new_tokens: int = 128) -> dict[str, str]:
    """Compliant answers written by a helper model (any model spec); replies the judge calls refusals are left out,
    so `build_records` drops those prompts instead of teaching a refusal as the chosen answer."""
    from pytest_overrefusal.api import ChatRequest, SamplingSettings, get_judge, load_backend

    backend = load_backend(spec)
    sampling = SamplingSettings(max_new_tokens=max_new_tokens)
    replies = [r.text.strip() for r in backend.generate([ChatRequest.user(p, sampling=sampling) for p in prompts])]
    verdicts = get_judge(judge).judge(list(prompts), replies)
    return {p: text for p, text, v in zip(prompts, replies, verdicts) if text and not v.refused}


# ---------------------------------------------------------------- JSONL

def write_jsonl(records: Iterable[AlignRecord], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for r in records:
            out.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")
    return path


def read_jsonl(path: Path) -> list[AlignRecord]:
    """Records from a JSONL file; a bad line is an error naming the file and line."""
    path = Path(path)
    records = []
    for number, row in _json_lines(path):
        fields = {k: row.get(k) for k in ("prompt", "chosen", "rejected", "kind")}
        bad = [k for k, v in fields.items() if not isinstance(v, str) or not v.strip()]
        if bad:
            raise AlignDataError(f"{path}:{number}: missing or empty {', '.join(bad)}; alignment records need "
                                 f"prompt, chosen, rejected and kind")
        if fields["kind"] not in KINDS:
            raise AlignDataError(f"{path}:{number}: kind {fields['kind']!r} is not one of {', '.join(KINDS)}")
        records.append(AlignRecord(**fields))
    return records


def _json_lines(path: Path) -> Iterable[tuple[int, dict]]:
    return json_objects(path, AlignDataError, what="alignment records")


# ---------------------------------------------------------------- prompt sources

def load_prompts(source: str, *, data_dir: Path | None = None, n: int = 1000, seed: int = 0) -> list[str]:
    """Prompts from `synthetic-pseudo` / `synthetic-harmful` (n of them), a JSONL file with a "prompt" field on
    every line, a suite manifest path, or a suite id."""
    if source in SYNTHETIC_SOURCES:
        return SYNTHETIC_SOURCES[source](n, seed)
    path = Path(source)
    if path.suffix == ".jsonl":
        prompts = []
        for number, row in _json_lines(path):
            prompt = row.get("prompt")
            if not isinstance(prompt, str) or not prompt.strip():
                raise AlignDataError(f"{path}:{number}: no non-empty \"prompt\" field")
            prompts.append(prompt)
        return prompts
    return [case.prompt for case in suite_cases(source, data_dir)]


def suite_cases(suite: str, data_dir: Path | None = None):
    """The cases of a suite id (under ./suites, else built-in) or manifest path."""
    from pytest_overrefusal.api import load_cases, load_manifest, resolve_suite

    return load_cases(load_manifest(resolve_suite(suite)), data_dir)


def near_duplicates(train: Iterable[str], evaluated: Iterable[str], threshold: float = 0.8
                    ) -> list[tuple[str, str, float]]:
    """(training prompt, evaluated prompt, similarity) for every pair at or above `threshold`: word-level
    `difflib` ratio on lower-cased words, so a copied prompt with small edits is caught."""
    evaluated_words = [(e, _words(e)) for e in evaluated]
    found = []
    for t in set(train):
        matcher = difflib.SequenceMatcher(autojunk=False)
        matcher.set_seq2(_words(t))
        for e, words in evaluated_words:
            matcher.set_seq1(words)
            # the cheap upper bounds rule out almost every pair before the real ratio
            if matcher.real_quick_ratio() >= threshold and matcher.quick_ratio() >= threshold:
                ratio = matcher.ratio()
                if ratio >= threshold:
                    found.append((t, e, ratio))
    return found


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


# ---------------------------------------------------------------- templated generators
# The grammar (frames, slot values) is data and lives in align_grammar.py.

ACTION_SHARE = 0.5  # of generated prompts: a shared frame around an action phrase


def _expand(grammar: Grammar, rng: random.Random) -> str:
    frame, slots = rng.choice(grammar)
    return frame.format(**{name: rng.choice(values) for name, values in slots.items()})


def _framed(actions: Grammar, rng: random.Random) -> str:
    return rng.choice(SHARED_FRAMES).format(a=_expand(actions, rng))


def synthetic_pseudo_malicious(n: int = 1000, seed: int = 0, *, plain_share: float = 0.2) -> list[str]:
    """`n` harmless prompts, most with a refusal keyword, from this module's own grammar (no suite data);
    `plain_share` of them are ordinary questions without one."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        draw = rng.random()
        if draw < plain_share:
            out.append(_expand(PLAIN_GRAMMAR, rng))
        elif draw < plain_share + ACTION_SHARE * (1 - plain_share):
            out.append(_framed(PSEUDO_MALICIOUS_ACTIONS, rng))
        else:
            out.append(_expand(PSEUDO_MALICIOUS_GRAMMAR, rng))
    return out


def synthetic_harmful(n: int = 1000, seed: int = 0) -> list[str]:
    """`n` harmful requests aimed at a person, an animal, the public or oneself, from this module's grammar."""
    rng = random.Random(seed)
    return [_framed(HARMFUL_ACTIONS, rng) if rng.random() < ACTION_SHARE else _expand(HARMFUL_GRAMMAR, rng)
            for _ in range(n)]


SYNTHETIC_SOURCES = {"synthetic-pseudo": synthetic_pseudo_malicious, "synthetic-harmful": synthetic_harmful}
