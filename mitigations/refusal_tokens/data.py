"""SFT data for refusal tokens: every assistant reply is preceded by its control token (methods.md 3.1).

Data files are JSONL, one of two shapes per line:
  * SFT rows: `prompt`, `reply`, optionally `label` (`respond`, or a refusal-token name of the scheme: `refuse`, or a
    category such as `safety`) and `weight` (default 1: the row's share of the loss). Without `label` the keyword
    judge reads the reply: a refusal gets `refusal_label`, anything else `respond`.
  * alignment records of `mitigations.align` (`prompt`, `chosen`, `rejected`, `kind` = pseudo | harmful): the chosen
    reply is learnt, labelled by the kind (pseudo: `respond`, harmful: `refusal_label`). With `contrast_weight` > 0
    the rejected reply is learnt too, at that weight and under the opposite token, so the model sees both replies
    for one prompt and learns to follow the token it is given (without that, forcing a token may not change the text:
    benchmarks/RESULTS.md, refusal tokens on the keyword toy model).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from pytest_overrefusal.api import OverrefusalError, json_objects

from .tokens import REFUSE, RESPOND, TokenScheme


@dataclass(frozen=True)
class SFTExample:
    prompt: str
    reply: str
    label: str  # "respond" or a refusal-token name
    weight: float = 1.0  # share of the loss; a policy that refuses a prompt 30% of the time gives 0.3 / 0.7 rows


def format_reply(scheme: TokenScheme, example: SFTExample) -> str:
    """The assistant text the model learns: control token, then the reply (no space: the token is its own piece)."""
    return scheme.token(example.label) + example.reply


def read_examples(path: Path, refusal_label: str = REFUSE, contrast_weight: float = 0.0) -> list[SFTExample]:
    """Rows of a JSONL file (either shape above); a malformed row is an error naming the file and line."""
    path = Path(path)
    pending: list[tuple[str, str, str | None, float]] = []  # (prompt, reply, label or None to infer, weight)
    for number, row in json_objects(path, what="training data", fields=" with prompt and reply"):
        pending += _row_examples(row, f"{path}:{number}", refusal_label, contrast_weight)
    if not pending:
        raise OverrefusalError(f"{path}: no training rows")
    inferred = iter(_judge_labels([reply for _, reply, label, _ in pending if label is None], refusal_label))
    return [SFTExample(prompt, reply, label if label is not None else next(inferred), weight)
            for prompt, reply, label, weight in pending]


def _row_examples(row: object, where: str, refusal_label: str,
                  contrast_weight: float) -> list[tuple[str, str, str | None, float]]:
    if isinstance(row, dict) and {"chosen", "rejected", "kind"} <= set(row):
        if not (all(isinstance(row.get(k), str) for k in ("prompt", "chosen", "rejected"))
                and row["kind"] in ("pseudo", "harmful")):
            raise OverrefusalError(f"{where}: an alignment record needs string prompt, chosen and rejected and "
                                   f"kind pseudo or harmful")
        chosen, other = (RESPOND, refusal_label) if row["kind"] == "pseudo" else (refusal_label, RESPOND)
        out = [(row["prompt"], row["chosen"], chosen, 1.0)]
        if contrast_weight > 0:
            out.append((row["prompt"], row["rejected"], other, contrast_weight))
        return out
    if not (isinstance(row, dict) and isinstance(row.get("prompt"), str) and isinstance(row.get("reply"), str)
            and isinstance(row.get("label", ""), str) and _is_weight(row.get("weight", 1.0))):
        raise OverrefusalError(f"{where}: needs string fields 'prompt' and 'reply' (optionally 'label', and "
                               f"'weight' > 0), or an alignment record (prompt, chosen, rejected, kind)")
    return [(row["prompt"], row["reply"], row.get("label") or None, float(row.get("weight", 1.0)))]


def _is_weight(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < float("inf")


def _judge_labels(replies: Sequence[str], refusal_label: str) -> list[str]:
    if not replies:
        return []
    from pytest_overrefusal.api import get_judge

    verdicts = get_judge("keyword").judge([""] * len(replies), list(replies))
    return [refusal_label if v.refused else RESPOND for v in verdicts]


def write_examples(path: Path, examples: Iterable[SFTExample]) -> None:
    with Path(path).open("w", encoding="utf-8") as fh:
        for ex in examples:
            row = {"prompt": ex.prompt, "reply": ex.reply, "label": ex.label}
            fh.write(json.dumps(row if ex.weight == 1.0 else {**row, "weight": ex.weight}) + "\n")


def check_labels(examples: Sequence[SFTExample], scheme: TokenScheme, where: str) -> None:
    known = set(scheme.names)
    bad = sorted({ex.label for ex in examples} - known)
    if bad:
        raise OverrefusalError(f"{where}: label(s) {', '.join(bad)} are not control tokens of the scheme "
                               f"({', '.join(scheme.names)}); relabel the rows or pick the matching scheme")


def encode(tokenizer, ids: Mapping[str, int],
           examples: Sequence[SFTExample]) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, target ids) per example. The prompt is the chat template with the generation prompt, exactly what
    inference sees; the target is control token + reply + end-of-turn, all of which carry loss."""
    end = tokenizer.eos_token_id
    if end is None:
        raise OverrefusalError("the tokenizer has no eos token; the model could not learn where a reply stops")
    out = []
    for ex in examples:
        text = tokenizer.apply_chat_template([{"role": "user", "content": ex.prompt}], tokenize=False,
                                             add_generation_prompt=True)
        prompt = tokenizer(text, add_special_tokens=False)["input_ids"]
        reply = tokenizer(ex.reply, add_special_tokens=False)["input_ids"]
        out.append((prompt, [ids[ex.label], *reply, end]))
    return out
