"""Reading reports back: `load(path)` gives the per-case table as a pandas DataFrame, `load_pairs(path)` the
preference pairs of a JSON report."""
from __future__ import annotations

import json
from pathlib import Path

from .errors import OverrefusalError


def load(path: str | Path):
    """Cases of a .json, .csv or .parquet report (one row per case, the report's case fields as columns)."""
    import pandas as pd

    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            return pd.DataFrame.from_records(json.loads(path.read_text(encoding="utf-8"))["cases"])
        if suffix == ".csv":
            return pd.read_csv(path, keep_default_na=False, dtype={"case_id": str})
        if suffix == ".parquet":
            return pd.read_parquet(path)
    except (OSError, ValueError, KeyError) as exc:
        raise OverrefusalError(f"{path}: not a readable pytest-overrefusal report ({exc})") from None
    raise OverrefusalError(f"{path}: unknown report format {suffix!r}; use .json, .csv or .parquet")


def load_pairs(path: str | Path):
    """Preference pairs of a .json report (one row per pair: texts, CHES, ln-CHES, flagged, log p(chosen))."""
    import pandas as pd

    path = Path(path)
    if path.suffix.lower() != ".json":
        raise OverrefusalError(f"{path}: preference pairs are kept in .json and .html reports; load a .json one")
    try:
        return pd.DataFrame.from_records(json.loads(path.read_text(encoding="utf-8")).get("pairs", []),
                                         columns=PAIR_FIELDS)
    except (OSError, ValueError, AttributeError) as exc:
        raise OverrefusalError(f"{path}: not a readable pytest-overrefusal report ({exc})") from None


PAIR_FIELDS = ("suite", "case_id", "category", "prompt", "chosen", "rejected", "ches", "ln_ches", "flagged",
               "logp_chosen", "logp_chosen_reference", "logp_drop")
