"""Tables for the terminal, built from typed suite records (`records.SuiteRecord`, the JSON report's `suites`)."""
from __future__ import annotations

import unicodedata
from typing import Sequence

from ..records import GateRecord, SuiteRecord

HEADERS = ("suite", "n", "refusals", "rate", "95% CI", "judge-adjusted", "gate", "result", "judge", "model")
CATEGORY_HEADERS = ("category", "n", "refusals", "rate", "95% CI")


def gate_text(gate: dict) -> str:
    """A report's gate (a dict) in `Gate.describe`'s words; the mitigation table reads reports through this."""
    return GateRecord.from_dict(gate).describe()


def summary_table(suites: Sequence[SuiteRecord], judge: str,
                  model: str) -> tuple[list[tuple[str, ...]], tuple[str, ...]]:
    """Rows and headers; with a baseline, a `vs baseline` column (mismatch-rate change, McNemar p)."""
    with_baseline = any(s.baseline is not None for s in suites)
    rows = []
    for s in suites:
        cells = [s.id, str(s.n), str(s.refusals), f"{s.rate:.3f}", f"[{s.ci_low:.3f}, {s.ci_high:.3f}]",
                 adjusted_text(s), s.gate.describe()]
        if with_baseline:
            compared = s.baseline
            ok = compared is not None and compared["comparable"]
            cells.append(f"{compared['delta']:+.3f} (p={compared['p_value']:.2g})" if ok else "n/a")
        rows.append((*cells, "PASS" if s.passed else "FAIL", judge, model))
    headers = HEADERS if not with_baseline else (*HEADERS[:7], "vs baseline", *HEADERS[7:])
    return rows, headers


def adjusted_text(suite: SuiteRecord) -> str:
    """The judge-adjusted rate and interval; "-" when the judge has no usable card (or an older report)."""
    if suite.adjusted_rate is None:
        return "-"
    return f"{suite.adjusted_rate:.3f} [{suite.adjusted_ci_low:.3f}, {suite.adjusted_ci_high:.3f}]"


def judge_error_line(suites: Sequence[SuiteRecord]) -> str | None:
    """One line: how far the judge's measured errors can move a rate, or why rates are not adjusted."""
    carded = [s for s in suites if s.judge_card]
    if not carded:
        notes = [s.adjusted_note for s in suites if s.adjusted_note]
        return f"{notes[0]}; the rates above are the judge's verdicts as they are" if notes else None
    card = carded[0].judge_card
    most = max(1.0 - card["sensitivity"], 1.0 - card["specificity"])
    moved = max(carded, key=lambda s: abs(s.adjusted_rate - s.rate))
    return (f"judge {card['judge']} (card: sens {card['sensitivity']:.3f}, spec {card['specificity']:.3f} on "
            f"{card['source']['n']} XSTest answers) can move rates by up to {100 * most:.1f} points; here at most "
            f"{100 * abs(moved.adjusted_rate - moved.rate):.1f} ({moved.id}: {moved.rate:.3f} -> "
            f"{moved.adjusted_rate:.3f}); judge-adjusted rates and intervals are in the table and the report")


def describe_comparison(compared: dict) -> str:
    if not compared["comparable"]:
        return compared["reason"]
    head = (f"vs baseline: {compared['worse']} case(s) worse, {compared['better']} better over "
            f"{compared['paired']} paired; exact McNemar p={compared['p_value']:.4g}; "
            f"mismatch rate {compared['delta']:+.3f}")
    return head + ("; REGRESSION: " + "; ".join(compared["reasons"]) if compared["reasons"] else "")


def category_rows(suite: SuiteRecord) -> list[tuple[str, ...]]:
    return [(cat, str(v["n"]), str(v["refusals"]), f"{v['rate']:.3f}", f"[{v['ci_low']:.3f}, {v['ci_high']:.3f}]")
            for cat, v in (suite.categories or {}).items()]


def format_table(rows: list[tuple[str, ...]], headers: tuple[str, ...] = HEADERS) -> list[str]:
    """Left-aligned columns, a dashed rule under the headers."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return [line(headers), line(tuple("-" * w for w in widths)), *(line(r) for r in rows)]


def problem_lines(records, output_errors: dict[str, str]) -> list[tuple[str, bool]]:
    """(line, is_error) for what the summary must say besides the table: suites that could not be evaluated,
    cases skipped for not fitting the model's context, report or baseline files that could not be written."""
    by_error: dict[str, list[str]] = {}
    for e in records.ordered_errors():  # one failure that stopped several suites is one line
        by_error.setdefault(e.error, []).append(e.id)
    lines = [(f"suite{'s' if len(ids) > 1 else ''} {', '.join(ids)} not evaluated: {terminal_text(error, 600, 1)}",
              True) for error, ids in by_error.items()]
    skipped = records.skipped_too_long()
    if skipped:
        each = ", ".join(f"{sid}: {n}" for sid, n in skipped.items())
        lines.append((f"{sum(skipped.values())} case(s) skipped: their prompt does not fit the model's context "
                      f"({each}); the rates above leave them out, the report lists them", False))
    lines += [(terminal_text(why, 600, 1), True) for why in output_errors.values()]
    return lines


# -- model and data text on the terminal ------------------------------------------------------------------------
TERMINAL_CHARS = 2000
TERMINAL_LINES = 40
_ESCAPED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}  # controls, format (bidi, zero-width), surrogates, separators


def terminal_text(text: str, limit: int = TERMINAL_CHARS, max_lines: int = TERMINAL_LINES) -> str:
    """Model answers and data-file prompts as the terminal may show them: escape sequences, CR, NUL and other
    invisible characters written escaped (`\\x1b`, `\\r`, `\\u202e`), long texts cut with a note. Reports keep the
    exact text; this is only for the screen."""
    text = str(text)
    cut = len(text) if len(text) <= limit else limit
    newline = -1
    for _ in range(max_lines):
        newline = text.find("\n", newline + 1, cut)
        if newline < 0:
            break
    if newline >= 0:  # more lines than max_lines before the cut
        cut = newline
    shown = "".join(_visible(ch) for ch in text[:cut])
    if cut < len(text):
        shown += f"... ({len(text) - cut} more characters; the report keeps the full text)"
    return shown


def one_line(text: str, limit: int = 200) -> str:
    """A message part from outside (an exception's text): one line, escaped, capped."""
    flat = " ".join(str(text).split())
    return terminal_text(flat[:limit] + ("..." if len(flat) > limit else ""), limit=limit + 3, max_lines=1)


def _visible(ch: str) -> str:
    if ch in "\n\t" or unicodedata.category(ch) not in _ESCAPED_CATEGORIES:
        return ch
    return ch.encode("unicode_escape", "backslashreplace").decode("ascii")
