"""Refusal-token steering for `hf:` models trained with control tokens (methods.md section 3.2).

Options (any one switches steering on):
  refusal_threshold=T     force a refusal token iff its probability (all refusal tokens summed) >= T, else
                          `[respond]`; T in [0, 1], lower T means more refusals. Without it: the most probable
                          control token, ties going to the refusal.
  refusal_bias=B          add B to every refusal token's logit at the first generated position (B > 0: more
                          refusals); `refusal_bias=unsupported:-8+safety:1` biases single category tokens.
  refusal_suppress=A+B    per-category control: when the most probable control token is one of these categories,
                          emit it only if its probability >= refusal_threshold (never, without a threshold), else
                          `[respond]`; other tokens keep the argmax.
  refusal_temperature=T   divide the first-position logits by T before the softmax (default 1).

The prompt runs once: its first-position logits decide the control token, then generation continues from the
prompt's cache with that token forced. The reply text never contains the control token, so judges see only text:
a model can write a refusal right after `[respond]`, and that must count as a refusal (methods.md 3.2 caveat).

The model folder names its tokens in `refusal_tokens.json` (written by `mitigations.refusal_tokens`). Registered
as an hf extension under each refusal_* key (entry point group `pytest_overrefusal.hf_extensions` in pyproject.toml).
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from pytest_overrefusal.api import BackendError, ChatRequest, Response, SamplingSettings

if TYPE_CHECKING:
    from pytest_overrefusal.api import HFBackend

TOKEN_FILE = "refusal_tokens.json"
FILE_VERSION = 1
RESPOND = "respond"
ALL_REFUSALS = "*"  # bias key meaning every refusal token
OPTION_KEYS = ("refusal_threshold", "refusal_bias", "refusal_suppress", "refusal_temperature")

_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_BIAS_ENTRY = re.compile(rf"({_NAME}):({_NUMBER})")
_BIAS_LIST = re.compile(rf"{_NAME}:{_NUMBER}(?:\+{_NAME}:{_NUMBER})*")


# ---------------------------------------------------------------- which tokens a model has

@dataclass(frozen=True)
class TokenScheme:
    """Control tokens of a model: `[respond]` and the refusal tokens, each under a short name ("refuse",
    "safety", ...) used in options and training data."""

    refusals: tuple[tuple[str, str], ...]
    respond: str = "[respond]"

    @property
    def refusal_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.refusals)

    @property
    def names(self) -> tuple[str, ...]:
        """Every control-token name, `respond` first."""
        return (RESPOND, *self.refusal_names)

    def token(self, name: str) -> str:
        if name == RESPOND:
            return self.respond
        for known, token in self.refusals:
            if known == name:
                return token
        raise BackendError(f"{name!r} is not a control token of this model; it has {', '.join(self.names)}")

    def tokens(self) -> list[str]:
        return [self.token(n) for n in self.names]

    def to_json(self) -> dict:
        return {"version": FILE_VERSION, "respond": self.respond, "refusals": dict(self.refusals)}

    @classmethod
    def from_json(cls, doc: object, where: str) -> "TokenScheme":
        refusals = doc.get("refusals") if isinstance(doc, dict) else None
        if not (isinstance(doc, dict) and doc.get("version") == FILE_VERSION and isinstance(doc.get("respond"), str)
                and isinstance(refusals, dict) and refusals and RESPOND not in refusals
                and all(isinstance(k, str) and isinstance(v, str) for k, v in refusals.items())):
            raise BackendError(f"{where}: not a version-{FILE_VERSION} refusal-token file (needs 'version', "
                               f"'respond' and a non-empty 'refusals' map of name -> token); retrain with "
                               f"`overrefusal refusal-tokens train`")
        return cls(refusals=tuple(refusals.items()), respond=doc["respond"])


def read_scheme(model_dir: Path | str) -> TokenScheme:
    """The scheme a model folder was trained with; an error naming the folder when it has none."""
    path = Path(model_dir) / TOKEN_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackendError(f"hf:{model_dir} has no {TOKEN_FILE}, so it was not trained with refusal tokens; train "
                           f"one with `overrefusal refusal-tokens train` or drop the refusal_* options") from None
    except (OSError, ValueError) as exc:
        raise BackendError(f"{path}: unreadable ({exc}); retrain or fix the file") from None
    return TokenScheme.from_json(doc, str(path))


def token_ids(tokenizer, scheme: TokenScheme, where: str) -> dict[str, int]:
    """name -> id; an error if the tokenizer does not hold a control token as one piece."""
    ids: dict[str, int] = {}
    for name in scheme.names:
        token = scheme.token(name)
        encoded = tokenizer.encode(token, add_special_tokens=False)
        if len(encoded) != 1 or encoded[0] == tokenizer.unk_token_id:
            raise BackendError(f"{where}: control token {token!r} is not a single token of its tokenizer; "
                               f"the folder does not match its {TOKEN_FILE}")
        ids[name] = encoded[0]
    return ids


# ---------------------------------------------------------------- the decision rule

@dataclass(frozen=True)
class SteeringRule:
    threshold: float | None = None
    bias: tuple[tuple[str, float], ...] = ()  # (refusal name or "*", logit offset)
    suppress: frozenset[str] = frozenset()
    temperature: float = 1.0

    @property
    def tag(self) -> str:
        bias = "+".join(f"{k}:{v:g}" for k, v in self.bias)
        return (f"refusal_tokens(threshold={self.threshold},bias={bias},suppress={'+'.join(sorted(self.suppress))},"
                f"temperature={self.temperature:g})")

    def bias_for(self, name: str) -> float:
        return sum(v for k, v in self.bias if k in (name, ALL_REFUSALS))

    def check_names(self, scheme: TokenScheme, where: str) -> None:
        named = {k for k, _ in self.bias if k != ALL_REFUSALS} | set(self.suppress)
        unknown = sorted(named - set(scheme.refusal_names))
        if unknown:
            raise BackendError(f"{where}: refusal token name(s) {', '.join(unknown)} not in its {TOKEN_FILE}; "
                               f"known: {', '.join(scheme.refusal_names)}")


def choose(probs: Mapping[str, float], refusal_names: Sequence[str], rule: SteeringRule) -> str:
    """The control token to force, from first-position probabilities (bias and temperature already applied)."""
    top = max(refusal_names, key=lambda n: probs[n])  # ties: the first listed
    if rule.suppress:
        best = top if probs[top] >= probs[RESPOND] else RESPOND
        if best in rule.suppress:
            return best if rule.threshold is not None and probs[best] >= rule.threshold else RESPOND
        return best
    if rule.threshold is None:
        return top if probs[top] >= probs[RESPOND] else RESPOND
    refusal_mass = sum(probs[n] for n in refusal_names)
    return top if refusal_mass >= rule.threshold else RESPOND


def control_probs(logits, ids: Mapping[str, int], rule: SteeringRule) -> dict[str, float]:
    """Softmax over the whole vocabulary of (logits + bias) / temperature, read at the control tokens."""
    import torch

    row = logits.detach().float().clone()
    for name, token_id in ids.items():
        if name != RESPOND:
            row[token_id] += rule.bias_for(name)
    probs = torch.softmax(row / rule.temperature, dim=-1)
    return {name: float(probs[token_id]) for name, token_id in ids.items()}


# ---------------------------------------------------------------- options

def parse_rule(options: dict[str, str], spec: object) -> SteeringRule:
    """Pop the refusal_* keys from `options` into a rule; malformed values name the spec and the key."""
    raw = {k: options.pop(k) for k in OPTION_KEYS if k in options}
    threshold = None
    if "refusal_threshold" in raw:
        threshold = _number(raw["refusal_threshold"], "refusal_threshold", spec)
        if not 0.0 <= threshold <= 1.0:
            raise BackendError(f"model spec {spec}: refusal_threshold={raw['refusal_threshold']} must be in [0, 1]")
    temperature = _number(raw.get("refusal_temperature", "1"), "refusal_temperature", spec)
    if not temperature > 0:
        raise BackendError(f"model spec {spec}: refusal_temperature must be > 0, got {temperature:g}")
    suppress = frozenset(s for s in raw.get("refusal_suppress", "").split("+") if s)
    if "refusal_suppress" in raw and not suppress:
        raise BackendError(f"model spec {spec}: refusal_suppress needs category names joined by '+'")
    return SteeringRule(threshold=threshold, bias=_bias(raw.get("refusal_bias"), spec), suppress=suppress,
                        temperature=temperature)


def _number(text: str, key: str, spec: object) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BackendError(f"model spec {spec}: {key}={text!r} must be a number") from None
    if not math.isfinite(value):
        raise BackendError(f"model spec {spec}: {key}={text!r} must be finite")
    return value


def _bias(text: str | None, spec: object) -> tuple[tuple[str, float], ...]:
    if text is None:
        return ()
    if re.fullmatch(_NUMBER, text):
        return ((ALL_REFUSALS, _number(text, "refusal_bias", spec)),)
    if not _BIAS_LIST.fullmatch(text):
        raise BackendError(f"model spec {spec}: refusal_bias={text!r} must be a number (every refusal token) or "
                           f"name:number entries joined by '+', e.g. refusal_bias=unsupported:-8+safety:1")
    return tuple((name, _number(value, "refusal_bias", spec)) for name, value in _BIAS_ENTRY.findall(text))


# ---------------------------------------------------------------- the hf extension

class RefusalTokenSteering:
    """`HFExtension` that decides the first token by a `SteeringRule`, then lets the model write the rest."""

    keeps_generation = False  # it replaces generation: a continued answer would skip the decision

    def __init__(self, rule: SteeringRule, model_dir: str | None = None):
        self.rule = rule
        self.tag = rule.tag
        self.scheme: TokenScheme | None = None
        self.ids: dict[str, int] = {}
        if model_dir is not None and Path(model_dir).is_dir():  # fail at spec time, not at the first generate
            self._set_scheme(read_scheme(model_dir), f"hf:{model_dir}")

    def _set_scheme(self, scheme: TokenScheme, where: str) -> None:
        self.rule.check_names(scheme, where)
        self.scheme = scheme

    def on_load(self, backend: "HFBackend") -> None:
        where = f"hf:{backend.path_or_id}"
        if self.scheme is None:
            self._set_scheme(read_scheme(backend.path_or_id), where)
        self.ids = token_ids(backend.tokenizer, self.scheme, where)

    def rewrite(self, request: ChatRequest) -> ChatRequest:
        return request

    def generate_batch(self, backend: "HFBackend", texts: Sequence[str],
                       sampling: SamplingSettings) -> list[Response]:
        return self.decide_and_generate(backend, texts, sampling)[1]

    def decide_and_generate(self, backend: "HFBackend", texts: Sequence[str],
                            sampling: SamplingSettings) -> tuple[list[str], list[Response]]:
        """(chosen control-token names, responses without the control token) for one batch of rendered prompts."""
        import torch

        if not self.ids:
            self.on_load(backend)
        tokenizer, model = backend.tokenizer, backend.model
        enc = tokenizer(list(texts), return_tensors="pt", padding=True, add_special_tokens=False).to(backend.device)
        with torch.no_grad():
            first = model.generate(**enc, generation_config=_config(backend, 1, None, output_logits=True,
                                                                    return_dict_in_generate=True))
        refusal_names = self.scheme.refusal_names
        chosen = [choose(control_probs(row, self.ids, self.rule), refusal_names, self.rule)
                  for row in first.logits[0]]
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        rest_limit = sampling.max_new_tokens - 1
        if rest_limit < 1:  # the control token used the whole budget
            return chosen, [Response("", "length", int(n), 1) for n in prompt_lens]
        forced = torch.tensor([[self.ids[c]] for c in chosen], device=enc["input_ids"].device)
        ids = torch.cat([enc["input_ids"], forced], dim=1)
        mask = torch.cat([enc["attention_mask"], torch.ones_like(forced)], dim=1)
        # The cache holds the prompt only, so generate() runs just the forced token and what follows. Its name
        # changed from past_key_values to cache in transformers 5.2x; a model that returns none recomputes the prompt.
        cache = next(({key: first[key]} for key in ("cache", "past_key_values") if key in first), {})
        if sampling.temperature > 0:
            torch.manual_seed(sampling.seed)
        with torch.no_grad():
            generated = model.generate(input_ids=ids, attention_mask=mask, **cache,
                                       generation_config=_config(backend, rest_limit, sampling))
        responses = []
        for row, plen in zip(generated[:, ids.shape[1]:], prompt_lens):
            resp = backend.response_from_tokens(row.tolist(), int(plen), rest_limit)
            responses.append(dataclasses.replace(resp, completion_tokens=resp.completion_tokens + 1))
        return chosen, responses


def _config(backend: "HFBackend", max_new_tokens: int, sampling: SamplingSettings | None, **extra):
    """Generation settings as `HFBackend` uses them; `sampling=None` means greedy."""
    from transformers import GenerationConfig

    sample = sampling is not None and sampling.temperature > 0
    return GenerationConfig(max_new_tokens=max_new_tokens, do_sample=sample,
                            temperature=sampling.temperature if sample else None,
                            top_p=sampling.top_p if sample else None,
                            pad_token_id=backend.tokenizer.pad_token_id, eos_token_id=list(backend.stop_ids), **extra)


def from_options(options: dict[str, str], spec) -> RefusalTokenSteering:
    """The hf extension factory registered for every refusal_* key: pops them all."""
    return RefusalTokenSteering(parse_rule(options, spec), getattr(spec, "target", None))
