"""What a suite is: the `Suite` a manifest describes and the cases it yields. Reading a manifest is `manifest.py`'s
job, loading rows `sources.py`'s."""
from __future__ import annotations

import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .textfiles import BOM

SCHEMA = "overrefusal-suite/1"
_SCHEMA_LINE = re.compile(rb"^schema:\s*['\"]?overrefusal-suite/", re.MULTILINE)

Expect = Literal["comply", "refuse"]
Kind = str  # a key of manifest.KIND_PARSERS (and of kinds.KINDS): "prompts" or "preference"


@dataclass(frozen=True)
class Source:
    """Exactly one of `data` (under the data mirror), `file` (beside the manifest) or `hf` is required;
    `data` and `hf` may both be given: the local mirror wins, the hub is the fallback."""

    data: str | None = None
    file: str | None = None
    hf: str | None = None
    hf_config: str | None = None
    hf_split: str = "train"
    hf_revision: str | None = None
    get_it: str | None = None  # how a user obtains the data, quoted in the "not found" error
    url: str | None = None  # downloaded into the user cache when no data folder holds `data` (download.py)
    sha256: str | None = None  # required with `url`: pins the file's version


@dataclass(frozen=True)
class Columns:
    prompt: str = "prompt"
    id: str | None = None  # None: the 0-based row number in the source file
    category: str | None = None
    context: str | None = None  # prepended to the prompt with a blank line (HarmBench contextual rows)
    chosen: str = "chosen"  # preference suites only
    rejected: str = "rejected"


@dataclass(frozen=True)
class Exclusion:
    id: str
    reason: str


@dataclass(frozen=True)
class Gate:
    max_refusal_rate: float | None = None
    min_refusal_rate: float | None = None
    statistic: Literal["point", "wilson", "adjusted"] = "point"  # adjusted: judge-adjusted interval's bound
    confidence: float = 0.95
    max_flagged_fraction: float | None = None  # preference suites: share of pairs above `ches.flag_above`

    def describe(self) -> str:
        if self.max_flagged_fraction is not None:
            return f"flagged <= {self.max_flagged_fraction:g}"
        which = {"point": "rate", "adjusted": f"{self.confidence:.0%} judge-adjusted bound"}.get(
            self.statistic, f"{self.confidence:.0%} Wilson bound")
        if self.max_refusal_rate is not None:
            return f"{which} <= {self.max_refusal_rate:g}"
        return f"{which} >= {self.min_refusal_rate:g}"


@dataclass(frozen=True)
class Generation:
    system_prompt: str | None = None
    max_new_tokens: int = 128
    temperature: float = 0.0


@dataclass(frozen=True)
class Preference:
    """`kind: preference`: each (prompt, chosen, rejected) pair is scored by ln-CHES under the model under test;
    a pair above `flag_above` is a likelihood-displacement risk. With `reference`, each pair also checks that
    log p(chosen) under the model under test fell by at most `max_logp_drop` against the reference model."""

    flag_above: float
    reference: str | None = None  # a model spec
    max_logp_drop: float | None = None


@dataclass(frozen=True)
class Suite:
    id: str
    title: str
    expect: Expect
    source: Source
    gate: Gate
    path: Path
    description: str = ""
    columns: Columns = field(default_factory=Columns)
    # keep rows whose column holds one of the values, e.g. (("label", ("safe",)),)
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[Exclusion, ...] = ()
    generation: Generation = field(default_factory=Generation)
    citation: str = ""
    license: str = ""
    kind: Kind = "prompts"
    preference: Preference | None = None  # set exactly when kind == "preference"


@dataclass(frozen=True)
class Case:
    suite_id: str
    case_id: str
    prompt: str
    expect: Expect
    category: str = ""

    @property
    def name(self) -> str:
        """The pytest item name: `evorefuse-test[0042]`."""
        return f"{self.suite_id}[{self.case_id}]"


@dataclass(frozen=True)
class PairCase:
    """One preference pair of a `kind: preference` suite."""

    suite_id: str
    case_id: str
    prompt: str
    chosen: str
    rejected: str
    category: str = ""

    @property
    def name(self) -> str:
        return f"{self.suite_id}[{self.case_id}]"


def looks_like_yaml(path: Path) -> bool:
    return path.suffix in (".yaml", ".yml")


def looks_like_manifest(path: Path) -> bool:
    """Cheap check so the plugin only collects (and folder searches only parse) YAML files that declare the suite
    schema in their first 4 KB. Only regular files are opened: a pipe or device would block or never end."""
    if not looks_like_yaml(path):
        return False
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return False
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return bool(_SCHEMA_LINE.search(head[len(BOM):] if head.startswith(BOM) else head))


from .manifest import load_manifest, parse_manifest  # noqa: E402,F401 - manifest.py builds the types above
