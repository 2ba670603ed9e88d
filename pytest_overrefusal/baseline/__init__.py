"""Paired regression gates: per-case verdicts saved from one run (`storage`), compared case by case in a later
one (`compare`)."""
from .compare import Comparison, compare, generation_settings, incompatibility
from .storage import SCHEMA, Baseline, load_baseline, save_baseline

__all__ = ["SCHEMA", "Baseline", "Comparison", "compare", "generation_settings", "incompatibility", "load_baseline",
           "save_baseline"]
