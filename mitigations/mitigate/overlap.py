"""Training on the very prompts the loop evaluates would make the after-table meaningless."""
from __future__ import annotations

from pathlib import Path

from ..align import AlignRecord
from . import MitigateError

OVERLAP_THRESHOLD = 0.8  # word-level similarity at which a training prompt counts as an evaluated one


def evaluated_prompts(suites: list[str], data_dir: Path | None, limit: int | None = None) -> list[str]:
    """The prompts a plugin run on `suites` sees: every case, or the plugin's own `limit`-case sample."""
    from pytest_overrefusal.api import load_cases, load_manifest, resolve_suites

    if not suites:
        return []
    manifests = resolve_suites(suites)
    return [case.prompt for s in suites for case in load_cases(load_manifest(manifests[s]), data_dir, limit or None)]


def check_overlap(records: list[AlignRecord], evaluated: list[str], *, allow: bool = False,
                  generated: set[str] = frozenset()) -> list[AlignRecord]:
    """The records minus generated prompts that land near an evaluated one.

    A prompt a built-in generator wrote by chance close to an evaluated one is dropped, with a note; one the user
    gave is an error, since dropping the user's data silently would change the experiment."""
    if allow:
        return records
    from ..align import near_duplicates

    clashes = near_duplicates([r.prompt for r in records], evaluated, OVERLAP_THRESHOLD)
    dropped = {train for train, _, _ in clashes if train in generated}
    if dropped:
        records = [r for r in records if r.prompt not in dropped]
        clashes = [c for c in clashes if c[0] not in dropped]
        print(f"dropped {len(dropped)} generated training prompt(s) that nearly equal evaluated ones "
              f"(similarity >= {OVERLAP_THRESHOLD}), e.g. {sorted(dropped)[0]!r}")
    if clashes:
        train, evaluated_prompt, ratio = max(clashes, key=lambda c: c[2])
        count = len({c[0] for c in clashes})
        raise MitigateError(f"{count} training prompt(s) (nearly) equal evaluated ones, e.g. {_cap(train)!r} "
                            f"~ {_cap(evaluated_prompt)!r} (similarity {ratio:.2f}); train on other data (evolved "
                            f"prompts, another suite, synthetic-pseudo) or pass --allow-overlap")
    return records


def _cap(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[:width] + "..."
