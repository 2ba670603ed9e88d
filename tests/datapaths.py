"""Where the shared benchmark data is: OVERREFUSAL_DATA, else ../shared/data beside the checkout."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


def data_root() -> Path:
    root = Path(os.environ.get("OVERREFUSAL_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
    if not root.is_dir():
        pytest.fail(f"benchmark data not found at {root}; set OVERREFUSAL_DATA to the shared data folder")
    return root
