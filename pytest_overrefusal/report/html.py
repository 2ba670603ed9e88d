"""A self-contained HTML report: rate charts with interval whiskers, baseline deltas, a filterable case table.

Every piece of model or prompt text goes through `html.escape`; the page's only script is the static filter
below, which reads cell text and toggles row visibility, so no report content is ever executed.
"""
from __future__ import annotations

import html
from typing import Sequence

from ..records import GateRecord, SuiteRecord
from .terminal import adjusted_text, describe_comparison, judge_error_line

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f3f3f3}.pass{color:#1b5e20;font-weight:600}.fail{color:#b71c1c;font-weight:600}
td.text{white-space:pre-wrap;max-width:520px;font-family:ui-monospace,monospace;font-size:12px}
td.id,span.id{white-space:nowrap}
#filters{margin:8px 0}#filters input,#filters select{margin-right:8px;padding:3px}
"""

_FILTER_JS = """
(function(){
  var q=document.getElementById('q'),s=document.getElementById('suite'),v=document.getElementById('verdict');
  function apply(){
    var text=q.value.toLowerCase(),suite=s.value,verdict=v.value,shown=0;
    document.querySelectorAll('#cases tbody tr').forEach(function(row){
      var ok=(!suite||row.dataset.suite===suite)&&(!verdict||row.dataset.outcome===verdict)
             &&(!text||row.textContent.toLowerCase().indexOf(text)>=0);
      row.style.display=ok?'':'none'; if(ok){shown++;}
    });
    document.getElementById('shown').textContent=shown;
  }
  [q,s,v].forEach(function(el){el.addEventListener('input',apply);el.addEventListener('change',apply);});
  apply();
})();
"""


def e(value) -> str:
    return html.escape(str(value), quote=True)


def rate_chart(rows: Sequence[tuple[str, float, float, float, float | None, bool]], title: str,
               gate: tuple[float, str] | None = None) -> str:
    """Horizontal bars: (label, rate, ci_low, ci_high, threshold or None, passed) -> inline SVG.

    A row's threshold is a dashed line across its band, labelled; `gate` = (threshold, label) is one labelled
    dashed line across the whole chart (a suite's categories share their suite's gate)."""
    left, width, bar, gap = 230, 440, 18, 10
    top = 20 if gate is None else 34  # room for the gate's label above the bars
    height = top + 10 + len(rows) * (bar + gap)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{e(title)}" width="{left + width + 60}" '
             f'height="{height}" class="chart">']
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = left + tick * width
        parts.append(f'<line x1="{x:.1f}" y1="12" x2="{x:.1f}" y2="{height - 4}" stroke="#e0e0e0"/>'
                     f'<text x="{x:.1f}" y="10" font-size="10" text-anchor="middle">{tick:g}</text>')
    if gate is not None:
        x = left + gate[0] * width
        parts.append(f'<line class="gate" x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 4}" '
                     f'stroke="{_GATE_COLOUR}" stroke-width="2" stroke-dasharray="6,3"/>'
                     f'<text class="gate-label" x="{x:.1f}" y="{top - 9}" font-size="11" text-anchor="middle" '
                     f'fill="{_GATE_COLOUR}">{e(gate[1])}</text>')
    for i, (label, rate, lo, hi, threshold, passed) in enumerate(rows):
        y = top + i * (bar + gap)
        colour = "#2e7d32" if passed else "#c62828"
        parts.append(f'<text x="{left - 8}" y="{y + bar - 5}" font-size="12" text-anchor="end">{e(label)}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{max(rate * width, 1.5):.1f}" height="{bar}" fill="{colour}">'
                     f'<title>{e(label)}: {rate:.3f} [{lo:.3f}, {hi:.3f}]</title></rect>')
        mid = y + bar / 2
        parts.append(f'<line x1="{left + lo * width:.1f}" y1="{mid}" x2="{left + hi * width:.1f}" y2="{mid}" '
                     f'stroke="#111" stroke-width="2"/>')
        for end in (lo, hi):
            parts.append(f'<line x1="{left + end * width:.1f}" y1="{y + 3}" x2="{left + end * width:.1f}" '
                         f'y2="{y + bar - 3}" stroke="#111" stroke-width="2"/>')
        if threshold is not None:  # across the row's whole band, and named: not mistaken for a whisker
            x = left + threshold * width
            parts.append(f'<line class="gate" x1="{x:.1f}" y1="{y - gap / 2:.1f}" x2="{x:.1f}" '
                         f'y2="{y + bar + gap / 2:.1f}" stroke="{_GATE_COLOUR}" stroke-width="2" '
                         f'stroke-dasharray="6,3"/><text class="gate-label" x="{x + 4:.1f}" y="{y - 1}" '
                         f'font-size="9" fill="{_GATE_COLOUR}">gate {threshold:g}</text>')
        parts.append(f'<text x="{left + width + 8}" y="{y + bar - 5}" font-size="11">{rate:.3f}</text>')
    parts.append("</svg>")
    return "".join(parts)


_GATE_COLOUR = "#1565c0"


def _gate_label(gate: GateRecord) -> str:
    if gate.max_refusal_rate is not None:
        return f"gate: rate <= {gate.max_refusal_rate:g}"
    return f"gate: rate >= {gate.min_refusal_rate:g}"


def meets_gate(rate: float, gate: dict) -> bool:
    """Whether a (category's) point rate is on the passing side of its suite's threshold (a report's gate)."""
    return GateRecord.from_dict(gate).meets(rate)


def render_html(records, *, model: str, judge: str, created: str) -> str:
    """The page for an `aggregate.Records`: each suite kind's overview, then each kind's detail tables."""
    from ..kinds import KINDS

    out = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Over-refusal report: {e(model)}"
           f"</title><style>{_CSS}</style></head><body>",
           f"<h1>Over-refusal report</h1><p>model <b>{e(model)}</b> &middot; judge <b>{e(judge)}</b> &middot; "
           f"{e(created)}</p>"]
    out += [kind.html_overview(records.of(name)) for name, kind in KINDS.items()]
    out += [kind.html_details(records.of(name)) for name, kind in KINDS.items()]
    out.append(f"<script>{_FILTER_JS}</script></body></html>")
    return "\n".join(part for part in out if part)


def prompt_overview(suites: Sequence[SuiteRecord]) -> str:
    """Prompt suites: the rate chart, the suite table, the judge's error, a chart per suite's categories."""
    suite_rows = [(s.id, s.rate, s.ci_low, s.ci_high, s.gate.threshold, s.passed) for s in suites]
    out = ["<h2>Refusal rate per suite</h2>",
           "<p>Bars: refusal rate; whiskers: Wilson interval; dashed blue line: the gate's threshold. "
           "Green passes its gate, red fails; a category is green when its own rate is on the passing side of its "
           "suite's threshold.</p>",
           rate_chart(suite_rows, "refusal rate per suite"),
           _suite_table(suites)]
    judge_line = judge_error_line(suites)  # the judge's measured error, beside the rates it can move
    if judge_line:
        out.append(f"<p id='judge-error'>{e(judge_line)}</p>")
    for s in suites:
        cats = [(c, v["rate"], v["ci_low"], v["ci_high"], None, s.gate.meets(v["rate"]))
                for c, v in (s.categories or {}).items()]
        gate = s.gate.threshold
        out += [f"<h2>{e(s.id)} by category</h2>",
                rate_chart(cats, f"{s.id} refusal rate by category",
                           None if gate is None else (gate, _gate_label(s.gate)))]
    return "\n".join(out)


def _suite_table(suites: Sequence[SuiteRecord]) -> str:
    with_baseline = any(s.baseline is not None for s in suites)
    head = "".join(f"<th>{h}</th>" for h in ("suite", "expect", "n", "refusals", "rate", "95% CI",
                                               "judge-adjusted", "gate",
                                               *(["vs baseline"] if with_baseline else []), "result", "truncated"))
    rows = []
    for s in suites:
        ok = s.passed
        cells = [f"<span class='id'>{e(s.id)}</span>", e(s.expect), s.n, s.refusals, f"{s.rate:.3f}",
                 f"[{s.ci_low:.3f}, {s.ci_high:.3f}]", e(adjusted_text(s)), e(s.gate.describe())]
        if with_baseline:
            compared = s.baseline
            cells.append(e(describe_comparison(compared)) if compared else "n/a")
        cells += [f"<span class='{'pass' if ok else 'fail'}'>{'PASS' if ok else 'FAIL'}</span>", s.truncated]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table id='suites'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def case_table(suites: Sequence[SuiteRecord], cases: Sequence) -> str:
    """Every prompt case, filterable by text, suite and match."""
    options = "".join(f"<option value='{e(s.id)}'>{e(s.id)}</option>" for s in suites)
    filters = ("<div id='filters'><input id='q' type='search' placeholder='filter text'>"
               f"<select id='suite'><option value=''>all suites</option>{options}</select>"
               "<select id='verdict'><option value=''>all cases</option><option value='mismatch'>mismatches</option>"
               "<option value='match'>matches</option></select> <span id='shown'></span> shown</div>")
    head = "".join(f"<th>{h}</th>" for h in ("suite", "case", "category", "expect", "verdict", "prompt",
                                               "response", "judge reason"))
    rows = []
    for c in cases:
        outcome = "match" if c.passed else "mismatch"
        verdict = e(c.label) + (" (truncated)" if c.truncated else "")
        ids = f"<td class='id'>{e(c.suite)}</td><td class='id'>{e(c.case_id)}</td>"  # never wrapped
        cells = [e(c.category), e(c.expect), f"<span class='{'pass' if c.passed else 'fail'}'>{verdict}</span>"]
        text_cells = f"<td class='text'>{e(c.prompt)}</td><td class='text'>{e(c.response)}</td>"
        rows.append(f"<tr data-suite='{e(c.suite)}' data-outcome='{outcome}'>" + ids
                    + "".join(f"<td>{x}</td>" for x in cells) + text_cells
                    + f"<td>{e(c.judge)}: {e(c.reason)}</td></tr>")
    return (f"<h2>Cases</h2>{filters}<table id='cases'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def pair_section(pair_suites: Sequence, pairs: Sequence) -> str:
    """Preference-pair suites: the flagged share per suite, then the flagged pairs with their texts."""
    head = "".join(f"<th>{h}</th>" for h in ("suite", "n", "flagged", "fraction", "flag", "gate", "result",
                                               "mean ln-CHES", "log p(chosen) drops"))
    rows = []
    for g in pair_suites:
        drops = "-" if g.reference is None else f"{g.over_drop} &gt; {g.max_logp_drop:g} vs {e(g.reference)}"
        cells = [e(g.id), g.n, g.flagged, f"{g.fraction:.3f}", f"ln-CHES &gt; {g.flag_above:g}", e(g.gate),
                 f"<span class='{'pass' if g.passed else 'fail'}'>{'PASS' if g.passed else 'FAIL'}</span>",
                 f"{g.mean_ln_ches:.3f}", drops]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    flagged = [p for p in pairs if p.flagged]
    pair_head = "".join(f"<th>{h}</th>" for h in ("suite", "pair", "ln-CHES", "prompt", "chosen", "rejected"))
    pair_rows = [f"<tr><td>{e(p.suite)}</td><td>{e(p.case_id)}</td><td>{p.ln_ches:.3f}</td>"
                 + "".join(f"<td class='text'>{e(t)}</td>" for t in (p.prompt, p.chosen, p.rejected)) + "</tr>"
                 for p in flagged]
    return ("<h2>Preference pairs (likelihood displacement)</h2><p>A pair is flagged when its ln-CHES is above the "
            "suite's threshold: preference training on it risks lowering the chosen reply's likelihood too.</p>"
            f"<table id='pair-suites'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f"<h3>Flagged pairs ({len(flagged)})</h3><table id='pairs'><thead><tr>{pair_head}</tr></thead>"
            f"<tbody>{''.join(pair_rows)}</tbody></table>")
