"""Suite kinds by the manifest's `kind:`; the protocol is `base.SuiteKind`. Order is report order."""
from __future__ import annotations

from .pairs import PairSuites
from .prompts import PromptSuites

KINDS = {"prompts": PromptSuites, "preference": PairSuites}
