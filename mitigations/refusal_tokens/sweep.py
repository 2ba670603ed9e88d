"""Refusal-rate curves of a refusal-token model: sweep the threshold and the logit bias, judge the generated text.

Every point forces the first token by a `SteeringRule` and lets the model write the rest; the refusal rate comes from
a judge reading that text (methods.md 3.2: the model may refuse in words after `[respond]`). The share of prompts
that got a refusal token is reported beside it, so a gap between the two is visible.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from pytest_overrefusal.api import ChatRequest, OverrefusalError, SamplingSettings
from .inference import ALL_REFUSALS, RESPOND, RefusalTokenSteering, SteeringRule

Groups = Mapping[str, Sequence[ChatRequest]]


@dataclass(frozen=True)
class GroupRate:
    n: int
    refused_text: int  # judged on the generated text
    refused_token: int  # given a refusal control token

    @property
    def rate(self) -> float:
        return self.refused_text / self.n

    @property
    def token_rate(self) -> float:
        return self.refused_token / self.n


@dataclass(frozen=True)
class SweepPoint:
    knob: str  # "threshold", "bias" (every refusal token) or "bias:<name>"
    value: float
    groups: dict[str, GroupRate]

    def to_json(self) -> dict:
        return {"knob": self.knob, "value": self.value,
                "groups": {g: {"n": r.n, "refusal_rate": r.rate, "token_rate": r.token_rate}
                           for g, r in self.groups.items()}}


def requests_for(prompts: Sequence[str], max_new_tokens: int = 32) -> list[ChatRequest]:
    sampling = SamplingSettings(max_new_tokens=max_new_tokens)
    return [ChatRequest.user(p, sampling=sampling) for p in prompts]


def steer(backend, groups: Groups, rule: SteeringRule, judge) -> dict[str, GroupRate]:
    """Refusal counts per group for one rule; `backend` is a loaded `hf:` backend of a refusal-token model."""
    steering = RefusalTokenSteering(rule)
    steering.on_load(backend)
    out: dict[str, GroupRate] = {}
    for name, requests in groups.items():
        if not requests:
            raise OverrefusalError(f"group {name!r} has no prompts")
        choices: list[str] = []
        texts: list[str] = []
        for start in range(0, len(requests), backend.batch_size):
            chunk = requests[start:start + backend.batch_size]
            by_sampling: dict[SamplingSettings, list[ChatRequest]] = {}
            for r in chunk:
                by_sampling.setdefault(r.sampling, []).append(r)
            for sampling, members in by_sampling.items():
                chosen, responses = steering.decide_and_generate(backend, [backend.render(r) for r in members],
                                                                 sampling)
                choices += chosen
                texts += [r.text for r in responses]
        prompts = [r.messages[-1][1] for r in requests]
        verdicts = judge.judge(prompts, texts)
        out[name] = GroupRate(n=len(requests), refused_text=sum(v.refused for v in verdicts),
                              refused_token=sum(c != RESPOND for c in choices))
    return out


def sweep(backend, groups: Groups, judge, thresholds: Sequence[float] = (), biases: Sequence[float] = (),
          bias_token: str = ALL_REFUSALS, base: SteeringRule = SteeringRule()) -> list[SweepPoint]:
    """One point per threshold (no bias) and per bias (argmax rule, or `base`'s threshold if it has one)."""
    from dataclasses import replace

    points = [SweepPoint("threshold", t, steer(backend, groups, replace(base, threshold=t), judge))
              for t in thresholds]
    knob = "bias" if bias_token == ALL_REFUSALS else f"bias:{bias_token}"
    points += [SweepPoint(knob, b, steer(backend, groups, replace(base, bias=((bias_token, b),)), judge))
               for b in biases]
    return points


def format_curve(points: Sequence[SweepPoint], judge_tag: str) -> str:
    """A plain-text table per knob: one row per value, one column per group, cells `text rate (token rate)`."""
    if not points:
        return "no sweep points"
    groups = list(points[0].groups)
    lines = [f"refusal rate judged on the generated text by {judge_tag}; in brackets: share given a refusal token"]
    for knob in dict.fromkeys(p.knob for p in points):
        header = [knob, *groups]
        rows = [[f"{p.value:g}", *(f"{p.groups[g].rate:.2f} ({p.groups[g].token_rate:.2f})" for g in groups)]
                for p in points if p.knob == knob]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines.append("")
        lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    return "\n".join(lines)


def suite_groups(suites: Sequence[str], data_dir: Path | None, limit: int | None, by_category: bool,
                 max_new_tokens: int | None) -> dict[str, list[ChatRequest]]:
    """Requests per suite (or per suite/category), built exactly as the pytest plugin builds them."""
    from pytest_overrefusal.api import build_request, load_cases, load_manifest, resolve_suites

    groups: dict[str, list[ChatRequest]] = {}
    for ident, path in resolve_suites(list(suites)).items():
        suite = load_manifest(path)
        for case in load_cases(suite, data_dir, limit):
            key = f"{suite.id}/{case.category or '-'}" if by_category else suite.id
            groups.setdefault(key, []).append(build_request(case, suite, max_new_tokens))
    return groups
