"""What every refusal judge returns and promises."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Protocol, Sequence, runtime_checkable

Label = Literal["comply", "refuse", "partial"]
LABELS: tuple[Label, ...] = ("comply", "refuse", "partial")


@dataclass(frozen=True)
class Verdict:
    """One judged response. `score` is the judge's refusal strength in [0, 1]."""

    label: Label
    score: float
    judge: str  # "<id>@<version>", e.g. "keyword@1"
    reason: str = ""

    @property
    def refused(self) -> bool:
        """Binary view used by every rate: a partial refusal counts as a refusal."""
        return self.label != "comply"


@runtime_checkable
class Judge(Protocol):
    id: str
    version: str

    def judge(self, prompts: Sequence[str], responses: Sequence[str]) -> list[Verdict]:
        """Judge a batch; the result is aligned with the inputs."""
        ...


_THINK = re.compile(r"<think>.*?(</think>|\Z)", re.DOTALL | re.IGNORECASE)


def strip_thinking(text: str) -> str:
    """Reasoning models' hidden thoughts are not the answer; judge only what follows them."""
    return _THINK.sub("", text).strip()


def judge_tag(judge: Judge) -> str:
    return f"{judge.id}@{judge.version}"
