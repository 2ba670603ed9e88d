"""The plugin's public API for code built on it (`mitigations/`, third-party extensions): import from here only.

Everything else in `pytest_overrefusal` is internal and may move. Each name below is re-exported from the module
that owns it; nothing here imports torch or transformers (the owners load them when called).
"""
from __future__ import annotations

from .backends.base import (CAPABILITIES, Backend, ChatRequest, Response, SamplingSettings, has_capability,
                            require)
from .backends.hf import HFBackend
from .backends.hf_extensions import HFExtension, register_extension
from .backends.hf_folder import fingerprint_dir
from .backends.registry import load_backend, parse_spec, shown
from .backends.smollm2 import smollm2_dir
from .backends.toy_model import one_torch_thread, toy_model_dir
from .catalog import builtin_suites_dir, data_folder, manifests_in, resolve_suite, resolve_suites
from .ches import (ChesError, ChesScore, Pair, RenderPrompt, chat_renderer, ches_from_sums, response_state_sums,
                   score_pairs, score_with_backend)
from .engine import build_request
from .errors import BackendError, OverrefusalError, SuiteError
from .judges.registry import get_judge
from .jsonl import json_objects
from .key_values import boolean_value, parse_key_values
from .paths import build_once, user_cache_dir
from .report.terminal import gate_text
from .sources import load_cases, read_table
from .suite import load_manifest, looks_like_manifest

__all__ = [
    # errors: every failure a user can cause, one line each
    "OverrefusalError", "BackendError", "SuiteError", "ChesError",
    # models under test
    "Backend", "ChatRequest", "Response", "SamplingSettings", "load_backend", "parse_spec", "shown",
    "CAPABILITIES", "has_capability", "require", "HFBackend", "HFExtension", "register_extension", "fingerprint_dir",
    "toy_model_dir", "smollm2_dir", "one_torch_thread",
    # suites and data
    "data_folder", "resolve_suite", "resolve_suites", "builtin_suites_dir", "manifests_in", "load_manifest",
    "looks_like_manifest", "load_cases", "read_table", "json_objects", "build_request",
    # verdicts and reports
    "get_judge", "gate_text",
    # CHES scoring (hidden states of chosen vs rejected answers)
    "ChesScore", "Pair", "RenderPrompt", "chat_renderer", "ches_from_sums", "response_state_sums", "score_pairs",
    "score_with_backend",
    # small helpers
    "build_once", "user_cache_dir", "parse_key_values", "boolean_value",
]
