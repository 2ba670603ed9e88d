"""The terminal summary at the end of a run, from the records test reports carried (serial and xdist alike):
each suite kind's own section, then the over-refusal summary: the kinds' lines, suites skipped or not evaluated,
files not written, baseline comparisons, and where the report went."""
from __future__ import annotations

from .terminal import (CATEGORY_HEADERS, category_rows, describe_comparison, format_table, judge_error_line,
                       problem_lines, summary_table)

_RED, _YELLOW = {"red": True}, {"yellow": True}


def write_summary(tr, run, writer, verbose: bool) -> None:
    from ..kinds import KINDS

    records = writer.records
    for name, kind in KINDS.items():
        kind.terminal_section(tr, records.of(name))
    lines = [line for kind in KINDS.values() for line in kind.summary_lines(records, verbose)]
    problems = problem_lines(records, writer.errors)
    report = run.settings.report
    if not lines and not run.skipped_suites and not problems:
        if records.any_suite() and report is not None:
            tr.write_line(f"report written to {report}")
        return
    tr.section("over-refusal summary")
    lines += [(f"suite skipped: {why}", _YELLOW) for why in run.skipped_suites.values()]
    lines += [(line, _RED if is_error else _YELLOW) for line, is_error in problems]
    for s in records.of("prompts").ordered_suites():
        if s.baseline is not None:
            lines.append((f"{s.id} {describe_comparison(s.baseline)}",
                          {"red": not s.baseline["comparable"] or s.baseline["regressed"]}))
    if report is not None and (records.any_suite() or records.errors) and "report" not in writer.errors:
        lines.append((f"report written to {report}", {}))
    if run.settings.save_baseline is not None and records.of("prompts").suites and "baseline" not in writer.errors:
        lines.append((f"baseline saved to {run.settings.save_baseline}", {}))
    for line, markup in lines:
        tr.write_line(line, **markup)


def prompt_lines(records, verbose: bool) -> list[tuple[str, dict]]:
    """Prompt suites: the rate table, the judge's error, categories (-v), response totals, truncation, and the
    mismatches tolerated within passing gates."""
    mine = records.of("prompts")
    suites = mine.ordered_suites()
    if not suites:
        return []
    out = [(line, {}) for line in format_table(*summary_table(suites, records.judge, records.model))]
    judge_line = judge_error_line(suites)  # how far the judge's own errors can move these rates
    if judge_line:
        out.append((judge_line, {}))
    if verbose:
        for s in suites:
            out.append((f"\n{s.id} by category:", {}))
            out += [("  " + line, {}) for line in format_table(category_rows(s), CATEGORY_HEADERS)]
    t = records.totals()
    out.append((f"responses: {t['requested']} requested, {t['cached']} from cache, {t['generated']} generated "
                f"in {t['generate_seconds']:.1f}s"
                + (f" (model loaded in {t['load_seconds']:.1f}s)" if t["load_seconds"] >= 0.05 else "")
                + f"; judged in {t['judge_seconds']:.2f}s", {}))
    if t["uncached_reason"]:
        out.append((f"cache not used: {t['uncached_reason']}", {}))
    if t["unparsed_judge_answers"]:
        out.append((f"{t['unparsed_judge_answers']} judge answer(s) named no label; their verdicts fell back "
                    f"to the keyword judge and say so in their reason", _RED))
    truncated = sum(s.truncated for s in suites)
    if truncated:
        out.append((f"{truncated} response(s) hit the token limit; raise --overrefusal-max-new-tokens "
                    f"if verdicts look wrong", _YELLOW))
    if mine.tolerated:
        out.append((f"{len(mine.tolerated)} mismatching case(s) tolerated within passing gates "
                    f"(rerun them with --lf to see each prompt and response):", _YELLOW))
        out += [(f"  {nodeid}: {case.label}: {case.prompt[:70]!r}", {})
                for nodeid, case in mine.ordered_tolerated()[:20]]
        if len(mine.tolerated) > 20:
            out.append((f"  ... and {len(mine.tolerated) - 20} more (see the report file)", {}))
    return out


def pair_section(tr, mine) -> None:
    """Preference suites: their own section, before the over-refusal summary."""
    if not mine.suites:
        return
    tr.section("preference pairs (likelihood displacement)")
    rows = [(g.id, str(g.n), str(g.flagged), f"{g.fraction:.3f}", f"ln-CHES > {g.flag_above:g}", g.gate,
             "PASS" if g.passed else "FAIL", f"{g.mean_ln_ches:.3f}",
             "-" if g.reference is None else f"{g.over_drop} > {g.max_logp_drop:g} vs {g.reference}",
             g.model) for g in mine.ordered_suites()]
    for line in format_table(rows, ("suite", "n", "flagged", "fraction", "flag", "gate", "result", "mean ln-CHES",
                                    "log p(chosen) drops", "model")):
        tr.write_line(line)
    counted = [g.scores for g in mine.suites.values() if g.scores]
    if counted:
        tr.write_line(f"pair scores: {sum(c['computed'] for c in counted)} computed, "
                      f"{sum(c['cached'] for c in counted)} from cache")
    if mine.tolerated:
        tr.write_line(f"{len(mine.tolerated)} flagged pair(s) tolerated within passing gates:", yellow=True)
        for nodeid, _ in mine.ordered_tolerated()[:20]:
            tr.write_line(f"  {nodeid}")
