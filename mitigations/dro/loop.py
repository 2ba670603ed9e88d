"""DRO as a method of `overrefusal mitigate`: train data in, `hf:BASE,soft_prompt=FILE` out."""
from __future__ import annotations

from pathlib import Path

from pytest_overrefusal.api import OverrefusalError

from .anchors import DEFAULT_SAFETY_PROMPT, LabelSampling
from .soft_prompt import DROTraining
from .subspace import ProbeTraining

#: option -> (settings object, field); everything else in `options` is an error.
_NUMERIC = {
    "samples": ("sampling", "samples"), "keep": ("sampling", "keep"),
    "max_new_tokens_harmless": ("sampling", "max_new_tokens_harmless"),
    "max_new_tokens_harmful": ("sampling", "max_new_tokens_harmful"),
    "probe_lr": ("probe", "lr"), "probe_folds": ("probe", "folds"),
    "epochs": ("training", "epochs"), "lr": ("training", "lr"), "batch_size": ("training", "batch_size"),
    "weight_harmfulness": ("training", "weight_harmfulness"),
    "weight_offsubspace": ("training", "weight_offsubspace"), "seed": ("training", "seed"),
}
KNOWN_OPTIONS = ("harmful", "safety_prompt", "settings", "judge", "components", *_NUMERIC)


def train_for_loop(base_spec: str, train_data: Path, out_dir: Path, options: dict[str, str]) -> str:
    """Train a soft prompt on `train_data` and return the spec that evaluates it.

    `train_data` rows flagged harmful (`kind: harmful` as `overrefusal mitigate` writes them, `harmful: true`,
    `label: harmful`, ...) are harmful anchors, the rest
    harmless; `options["harmful"]` (a file) adds harmful ones. Other options: safety_prompt, settings (anchor
    system prompts joined by "|", `none` for no system prompt), judge, components and the numeric knobs of
    `overrefusal dro` with underscores (samples, keep, epochs, lr, ...).
    """
    from .cli import train_to_file
    from .queries import read_queries, split_by_harm

    unknown = sorted(set(options) - set(KNOWN_OPTIONS))
    if unknown:
        raise OverrefusalError(f"dro: unknown option(s) {', '.join(unknown)}; known: {', '.join(KNOWN_OPTIONS)}")
    harmful, harmless = split_by_harm(Path(train_data))
    if "harmful" in options:
        harmful += read_queries(Path(options["harmful"]))
    if not harmful or not harmless:
        raise OverrefusalError(f"dro: {train_data} gave {len(harmful)} harmful and {len(harmless)} harmless "
                               f"queries; DRO needs both (flag harmful rows or pass harmful=FILE)")
    overrides: dict[str, dict[str, float | int]] = {"sampling": {}, "probe": {}, "training": {}}
    for key, (group, name) in _NUMERIC.items():
        if key in options:
            overrides[group][name] = _number(options[key], key, integer=name not in _FLOATS)
    samples = overrides["sampling"].get("samples")
    if samples is not None and "keep" not in options:  # as `overrefusal dro`: keep at most what was sampled
        overrides["sampling"]["keep"] = min(LabelSampling.keep, samples)
    if "seed" in options:  # one seed for the whole run, as in `overrefusal dro --seed`
        overrides["sampling"]["seed"] = overrides["probe"]["seed"] = overrides["training"]["seed"]
    settings = {"sampling": LabelSampling(**overrides["sampling"]), "probe": ProbeTraining(**overrides["probe"]),
                "training": DROTraining(**overrides["training"])}
    out = Path(out_dir) / "dro_soft_prompt.safetensors"
    summary = train_to_file(base_spec, harmful, harmless, out, options.get("safety_prompt", DEFAULT_SAFETY_PROMPT),
                            judge=options.get("judge", "keyword"), components=_components(options),
                            settings=_settings(options),
                            **settings)
    return summary["spec"]


_FLOATS = {"lr", "weight_harmfulness", "weight_offsubspace"}


def _number(raw: str, key: str, integer: bool) -> float | int:
    try:
        return int(raw) if integer else float(raw)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise OverrefusalError(f"dro: option {key}={raw!r} must be {kind}") from None


def _components(options: dict[str, str]) -> int:
    raw = options.get("components", "4")
    if not raw.isdigit() or int(raw) < 1:
        raise OverrefusalError(f"dro: option components={raw!r} must be a positive integer")
    return int(raw)


def _settings(options: dict[str, str]) -> dict[str, str | None] | None:
    if "settings" not in options:
        return None
    from .cli import parse_settings

    texts = [t for t in options["settings"].split("|") if t.strip()]
    return parse_settings([f"setting{i}={text}" for i, text in enumerate(texts)])
