"""The refusal-token step of `overrefusal mitigate`: train control tokens into a base model, return the steered spec."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from pytest_overrefusal.api import OverrefusalError

from .data import read_examples
from .tokens import CATEGORIES, binary, categorical
from .train import TRAINING_FILE, TrainConfig, train_folder

OPTIONS = {
    "epochs": "training epochs (default 3)",
    "lr": "AdamW learning rate, linearly decayed to 0 (default 1e-3)",
    "batch_size": "rows per step (default 32)",
    "seed": "seed for initialisation and row order (default 0)",
    "categories": f"'+'-joined refusal categories for one token each ({'+'.join(CATEGORIES)}); default: one [refuse]",
    "threshold": "refusal_threshold of the returned spec (default 0.5)",
    "contrast_weight": "weight of each alignment record's rejected reply under the opposite token (default 0: unused)",
}


def resolve_base(base_spec: str) -> Path:
    """The local HF folder behind `toy`, `hf:DIR` or `DIR`; options in the spec are not allowed (they would be lost)."""
    if base_spec.strip() == "toy":
        from pytest_overrefusal.api import toy_model_dir

        return toy_model_dir()
    target = base_spec[3:] if base_spec.startswith("hf:") else base_spec
    if "," in target:
        raise OverrefusalError(f"base model {base_spec!r}: refusal-token training takes a plain model folder; drop "
                               f"the ',key=value' options")
    if not (Path(target) / "config.json").is_file():
        raise OverrefusalError(f"base model {base_spec!r}: {target} is not a local HF model folder (no config.json); "
                               f"give `toy`, `hf:DIR` or DIR")
    return Path(target)


def config_from_options(options: dict[str, str]) -> tuple[TrainConfig, dict[str, str]]:
    """(training config, the rest); unknown keys and bad numbers are errors naming the key."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise OverrefusalError(f"refusal-tokens option(s) {', '.join(unknown)} unknown; known: "
                               + "; ".join(f"{k}: {v}" for k, v in OPTIONS.items()))
    defaults = TrainConfig()
    try:
        config = TrainConfig(epochs=int(options.get("epochs", defaults.epochs)),
                             learning_rate=float(options.get("lr", defaults.learning_rate)),
                             batch_size=int(options.get("batch_size", defaults.batch_size)),
                             seed=int(options.get("seed", defaults.seed)))
    except ValueError as exc:
        raise OverrefusalError(f"refusal-tokens options: {exc}; epochs, batch_size and seed are integers, lr a "
                               f"number") from None
    if config.epochs < 1 or config.batch_size < 1 or not config.learning_rate > 0:
        raise OverrefusalError("refusal-tokens options: epochs and batch_size must be >= 1 and lr > 0")
    return config, {k: v for k, v in options.items() if k in ("categories", "threshold", "contrast_weight")}


def train_for_loop(base_spec: str, train_data: Path, out_dir: Path, options: dict[str, str]) -> str:
    """Train `base_spec` on `train_data` (JSONL SFT rows or `mitigations.align` records, see `data`) and return the
    spec that runs the result with threshold steering, e.g. `hf:OUT,refusal_threshold=0.5`."""
    config, rest = config_from_options(dict(options))
    threshold = rest.get("threshold", "0.5")
    try:
        if not 0.0 <= float(threshold) <= 1.0:
            raise ValueError
    except ValueError:
        raise OverrefusalError(f"refusal-tokens option threshold={threshold!r} must be a number in [0, 1]") from None
    try:
        contrast = float(rest.get("contrast_weight", "0"))
        if not 0.0 <= contrast < float("inf"):
            raise ValueError
    except ValueError:
        raise OverrefusalError(f"refusal-tokens option contrast_weight={rest['contrast_weight']!r} must be a "
                               f"number >= 0") from None
    scheme = categorical(rest["categories"].split("+")) if rest.get("categories") else binary()
    # unlabelled refusals (judged, or harmful alignment records) take the first refusal token of the scheme
    examples = read_examples(Path(train_data), scheme.refusal_names[0], contrast)
    out = train_folder(resolve_base(base_spec), examples, scheme, Path(out_dir), config, where=str(train_data))
    note = weak_training_note(out, config)
    if note:
        print(note, file=sys.stderr)
    return f"hf:{out},refusal_threshold={threshold}"


MIN_CONTROL_MASS = 0.5  # below it a threshold of 0.5 can never force a refusal token


def weak_training_note(out: Path, config: TrainConfig) -> str | None:
    """One line when the trained folder's own training prompts give its control tokens little first-position
    probability: the threshold rule then answers almost everything with `[respond]`, whatever the data said."""
    check = json.loads((Path(out) / TRAINING_FILE).read_text(encoding="utf-8")).get("first_position") or {}
    mass = check.get("control_mass")
    if mass is None or mass >= MIN_CONTROL_MASS:
        return None
    return (f"refusal-tokens: {out} gives its control tokens {mass:.3f} of the first-token probability on "
            f"{check.get('rows', '?')} of its own training prompts (want >= {MIN_CONTROL_MASS}), so threshold steering "
            f"will rarely force one; train longer (epochs={config.epochs}) or with another lr "
            f"(lr={config.learning_rate:g})")
