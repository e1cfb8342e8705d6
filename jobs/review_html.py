"""The review as one HTML file a manager opens: the funnel as a chart, conversion by
channel and grade, each rule's lift, the signals, and any person's stage history on
demand. Everything is inside the file (no script, style or font from elsewhere), so it
opens offline and can be mailed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

from mqlsync.connector.model import iso
from mqlsync.connector.review import Journey

#: people whose history the file carries (the rest: `mqlsync explain`)
MAX_HISTORIES = 50_000

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:70em;color:#1d2433;
padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #dde2ea}
.sub{color:#5b6577}table{border-collapse:collapse;margin:.5em 0}td,th{padding:.25em .8em;text-align:right}
th{background:#f1f4f8}td:first-child,th:first-child{text-align:left}tr:nth-child(even) td{background:#fafbfc}
.signal{padding:.5em .8em;margin:.4em 0;border-left:4px solid #9aa5b5;background:#f6f8fa}
.raised{border-color:#c0392b;background:#fdf0ee}.clear{border-color:#2e8b57}.nodata{border-color:#9aa5b5}
.bar{fill:#3b6fb6}.label{font-size:13px;fill:#1d2433}#found{white-space:pre-wrap;font-family:ui-monospace,monospace}
"""

SCRIPT = """
const people = JSON.parse(document.getElementById('people').textContent);
function show() {
  const id = document.getElementById('who').value.trim();
  const p = people[id];
  const out = document.getElementById('found');
  if (!p) { out.textContent = id ? 'not in this report: ' + id : ''; return; }
  let text = id + (p.channel ? '  channel ' + p.channel : '') + (p.grade ? '  grade ' + p.grade : '') +
    (p.score !== null ? '  score at MQL ' + p.score : '') + '\\n';
  for (const s of p.steps) text += s[0] + '  ' + s[1] + ' -> ' + s[2] + ': ' + s[3] + '\\n';
  if (p.outcome) text += 'deal: ' + p.outcome + '\\n';
  out.textContent = text;
}
document.getElementById('who').addEventListener('input', show);
// report.html#who=ID opens with that person's history shown (a link from a mail or a ticket)
if (location.hash.startsWith('#who=')) {
  document.getElementById('who').value = decodeURIComponent(location.hash.slice(5));
  show();
}
"""


def _pct(rate: float | None) -> str:
    return "" if rate is None else f"{rate * 100:.1f}%"


def _num(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], caption: str = "") -> str:
    cap = f"<caption class=sub>{escape(caption)}</caption>" if caption else ""
    return ("<table>" + cap + "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows) + "</table>")


def funnel_chart(found: dict[str, Any]) -> str:
    """The funnel as horizontal bars, one per step, its width the share of MQLs."""
    f = found["funnel"]
    steps = found["steps"]
    width, row = 560, 34
    top = max(f["reached"]["mql"], 1)
    bars = []
    for i, step in enumerate(steps):
        n = f["reached"][step]
        w = max(2, round(width * n / top))
        y = i * row
        bars.append(f'<text class=label x=0 y="{y + 21}">{escape(step)}</text>'
                    f'<rect class=bar x=110 y="{y + 6}" width="{w}" height="{row - 12}" rx=3>'
                    f'<title>{escape(step)}: {n:,}</title></rect>'
                    f'<text class=label x="{118 + w}" y="{y + 21}">{n:,} ({_pct(f["rate_from_mql"][step])})</text>')
    height = row * len(steps)
    return (f'<svg id=funnel role=img aria-label="funnel" width="{width + 260}" height="{height}" '
            f'viewBox="0 0 {width + 260} {height}">' + "".join(bars) + "</svg>")


def _histories(journeys: Sequence[Journey]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for j in journeys[:MAX_HISTORIES]:
        outcome = None
        if j.outcome is not None:
            state = "open" if j.outcome.won is None else ("won" if j.outcome.won else "lost")
            outcome = f"{state} {iso(j.outcome.closed_at) or ''}".strip()
        out[j.person] = {"channel": j.channel, "grade": j.grade,
                         "score": None if j.score is None else round(j.score, 1),
                         "steps": [[iso(t.at), t.from_stage.value, t.to_stage.value, t.reason] for t in j.steps],
                         "outcome": outcome}
    return out


def render(found: dict[str, Any], journeys: Sequence[Journey] = ()) -> str:
    f = found["funnel"]
    parts = [f"<h1>Is the MQL definition working? {escape(found['name'])}</h1>",
             f"<p class=sub>MQLs of {escape(found['since'][:10])} to {escape(found['until'][:10])}: "
             f"<b id=mqls>{f['mqls']:,}</b> of {found['people']:,} people; a conversion counts within "
             f"{found['horizon_days']:g} days of qualifying.</p>",
             "<h2>Signals</h2>"]
    for s in found["signals"]:
        parts.append(f"<div class='signal {s['status'].replace(' ', '')}'><b>{escape(s['name'])}</b> "
                     f"({escape(s['status'])}): {escape(s['text'])}</div>")
    parts += ["<h2>Funnel</h2>", funnel_chart(found)]
    parts.append(_table(["step", "reached", "from MQL", "median days in stage"],
                        [[s, f"{f['reached'][s]:,}", _pct(f["rate_from_mql"][s]),
                          _num(f["median_days_in_stage"].get(s))] for s in found["steps"]]))
    verdicts = "sal" in found["steps"] or f["rejected"]
    reasons = ", ".join(f"{k} {n:,}" for k, n in f["rejection_reasons"].items())
    parts.append("<p>" + (f"Rejected by sales: {f['rejected']:,} ({_pct(f['rejection_rate']) or '-'}"
                          + (f": {escape(reasons)}" if reasons else "") + "). " if verdicts else "") +
                 f"Median days from MQL to a won deal: <b id=days-to-won>{_num(f['median_days_to_won']) or '-'}</b>. "
                 f"Won amount: {f['won_amount']:,.0f}."
                 + (f" Out of order (a deal won before the first qualification): {len(found['out_of_order']):,}."
                    if found["out_of_order"] else "") + "</p>")
    parts.append("<h2>Period over period</h2>")
    parts.append(_table(["period", "MQLs", *[f"to {s}" for s in found["steps"][1:]], "median days to won"],
                        [[f"{p['since'][:10]} to {p['until'][:10]}", f"{p['mqls']:,}",
                          *[_pct(p["rate_from_mql"][s]) for s in found["steps"][1:]], _num(p["median_days_to_won"])]
                         for p in found["periods"]], "each step as a share of the period's MQLs"))
    sql = "sql" in found["steps"]
    for dimension in ("channel", "grade", "score band", "model version", "month"):
        groups = found["breakdowns"].get(dimension, {})
        if len(groups) < 2:
            continue
        parts.append(f"<h2>Conversion by {escape(dimension)}</h2>")
        parts.append(_table([dimension, "MQLs", *(["SQL rate"] if sql else []), "won", "won rate",
                             "median days to won"],
                            [[k, f"{g['mqls']:,}", *([_pct(g["rate_from_mql"]["sql"])] if sql else []),
                              f"{g['reached']['won']:,}", _pct(g["rate_from_mql"]["won"]),
                              _num(g["median_days_to_won"])] for k, g in groups.items()]))
    rules = found["lift"]["rules"]
    if rules:
        parts.append("<h2>Rules by lift</h2>")
        parts.append(_table(["rule", "MQLs", f"reached {found['lift']['step']}", "rate", "lift"],
                            [[r["rule"], f"{r['mqls']:,}", f"{r['reached']:,}", _pct(r["rate"]),
                              _num(r["lift"], 2)] for r in rules],
                            f"the share of the MQLs a rule fired for that reached {found['lift']['step']}, "
                            "over the share of all MQLs"))
    if journeys:
        carried = min(len(journeys), MAX_HISTORIES)
        parts.append("<h2>A person's history</h2>"
                     f"<p class=sub>Type an id ({carried:,} people in this file"
                     + ("" if carried == len(journeys) else "; the rest: mqlsync explain --mapping") + ").</p>"
                     "<input id=who size=40 placeholder=id><div id=found></div>")
        data = json.dumps(_histories(journeys), ensure_ascii=False, separators=(",", ":"))
        parts.append("<script type=application/json id=people>" + data.replace("</", "<\\/") + "</script>")
        parts.append(f"<script>{SCRIPT}</script>")
    return ("<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content='width=device-width'>"
            f"<title>mqlsync review: {escape(found['name'])}</title><style>{STYLE}</style><body>"
            + "".join(parts) + "</body></html>\n")
