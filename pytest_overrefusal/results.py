"""Reading reports back: `load(path)` gives the per-case table as a pandas DataFrame."""
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
