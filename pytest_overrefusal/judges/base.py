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


class ResponseJudge:
    """Base for judges that look at each response on its own: subclasses implement `judge_one`."""

    id: str = ""
    version: str = ""

    @property
    def tag(self) -> str:
        return f"{self.id}@{self.version}"

    def judge(self, prompts: Sequence[str], responses: Sequence[str]) -> list[Verdict]:
        if len(prompts) != len(responses):  # a caller bug, not user input
            raise ValueError(f"prompts and responses differ in length ({len(prompts)} vs {len(responses)})")
        return [self.judge_one(r if isinstance(r, str) else "") for r in responses]

    def judge_one(self, response: str) -> Verdict:
        raise NotImplementedError


_THINK = re.compile(r"<think>.*?(</think>|\Z)", re.DOTALL | re.IGNORECASE)


def strip_thinking(text: str) -> str:
    """Reasoning models' hidden thoughts are not the answer; judge only what follows them."""
    return _THINK.sub("", text).strip()


def judge_tag(judge: Judge) -> str:
    return f"{judge.id}@{judge.version}"
