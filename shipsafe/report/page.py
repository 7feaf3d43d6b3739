"""The report as one self-contained HTML file: inline CSS, the plot as inline SVG, the series
as a JSON data block (never executed), no script, no link, no request leaving the file."""

from __future__ import annotations

import json
from html import escape

from shipsafe.render.stamps import Stamps
from shipsafe.report.data import ReportData, to_json

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#202124}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 8px}
.outcome-succeeded{color:#188038}.outcome-rolled_back,.outcome-aborted{color:#b06000}
.outcome-rollback_failed{color:#d93025}
table{border-collapse:collapse;margin:4px 0}td,th{padding:3px 10px;border-bottom:1px solid
#e8eaed;text-align:left;vertical-align:top}th{font-weight:600}code{font-size:12px}
.plot svg{max-width:100%;height:auto}.muted{color:#5f6368}
"""


def html(data: ReportData, figure_svg: str, stamps: Stamps) -> str:
    r = data.record
    cause = r.runtime.rollback_message
    rows: list[str] = []
    add = rows.append
    add("<!DOCTYPE html>")
    add('<html lang="en"><head><meta charset="utf-8">')
    add(f"<title>{escape(r.id)}: {escape(r.phase.value)}</title>")
    add(f"<style>{CSS}</style></head><body>")
    add(f'<h1 class="outcome-{escape(r.phase.value)}" id="outcome">{escape(r.service)} '
        f"{escape(r.version)} → {escape(r.environment)}: {escape(_words(r.phase.value))}</h1>")
    if cause and r.phase.value != "succeeded":
        add(f'<p id="cause"><strong>Cause:</strong> {escape(cause)}</p>')
    add("<table>")
    for label, value in (
        ("rollout", r.id),
        ("started", f"{stamps(r.created_at)} by {r.actor.label()}"),
        ("ended", stamps(r.finished_at) if r.finished_at else "(not yet)"),
        ("plan digest", f"sha256:{r.plan_digest}"),
        ("policy digest", f"sha256:{r.policy_digest}" if r.policy_digest else "-"),
    ):
        add(f"<tr><th>{label}</th><td><code>{escape(value)}</code></td></tr>")
    add("</table>")
    add('<h2>Timeline</h2><div class="plot" id="plot">')
    add(figure_svg)
    add("</div>")
    add(_checks(data))
    add(_steps_and_approvals(data, stamps))
    add(_snapshot(data, stamps))
    add(_audit(data))
    add(_events(data, stamps))
    payload = json.dumps(to_json(data)).replace("</", "<\\/")
    add(f'<script type="application/json" id="shipsafe-data">{payload}</script>')
    add('<p class="muted">shipsafe report - every time is '
        f"{'UTC' if stamps.utc else 'local time with its offset'}.</p>")
    add("</body></html>")
    return "\n".join(rows) + "\n"


def _words(phase: str) -> str:
    from shipsafe.records import Phase
    from shipsafe.render.ci_reports import outcome_words

    return outcome_words(Phase(phase))


def _checks(data: ReportData) -> str:
    if not data.checks:
        return "<h2>Checks</h2><p>No measurements were taken.</p>"
    out = ["<h2>Checks</h2><table><tr><th>check</th><th>measured</th><th>failed</th>"
           "<th>no data / errors</th><th>last</th><th>condition</th></tr>"]
    for c in data.checks.values():
        failed = sum(r.phase == "failed" for r in c.readings)
        missing = sum(r.value is None for r in c.readings)
        last = c.readings[-1].value if c.readings else None
        name = escape(c.name) + (" ⚡" if c.tripped else "")
        out.append(
            f"<tr><td>{name}</td><td>{len(c.readings)}</td><td>{failed}</td><td>{missing}"
            f"</td><td>{'no data' if last is None else f'{last:.4g}'}</td>"
            f"<td><code>{escape(c.condition)}</code></td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def _steps_and_approvals(data: ReportData, stamps: Stamps) -> str:
    from shipsafe.records import EventType

    out = ["<h2>Steps</h2><table>"]
    for e in data.events:
        if e.type in (EventType.STEP_STARTED, EventType.APPROVAL_ACCEPTED,
                      EventType.APPROVAL_REFUSED, EventType.BREAKER_TRIPPED,
                      EventType.ROLLBACK_FINISHED, EventType.ROLLOUT_FINISHED):
            out.append(f"<tr><td>{escape(stamps(e.time))}</td><td>{escape(e.message)}</td></tr>")
    out.append("</table>")
    if data.approvals:
        out.append("<h2>Approvals</h2><table><tr><th>gate</th><th>by</th><th>when</th>"
                   "<th>signed by</th></tr>")
        for a in data.approvals:
            out.append(
                f"<tr><td>{escape(a.gate)}</td><td>{escape(a.actor.label())}</td>"
                f"<td>{escape(stamps(a.approved_at))}</td><td>{escape(a.signer or '-')}</td></tr>"
            )
        out.append("</table>")
    return "".join(out)


def _snapshot(data: ReportData, stamps: Stamps) -> str:
    s = data.snapshot
    if s is None:
        return "<h2>Snapshot</h2><p>None was taken (the rollout stopped before).</p>"
    verified = stamps(s.verified_at) if s.verified_at else "NOT verified"
    state = json.dumps(s.state, sort_keys=True)
    rows = [
        ("router", s.router),
        ("state", state),
        ("checksum", s.checksum),
        ("taken", stamps(s.taken_at)),
        ("verified", verified),
    ]
    rows += [(f"data: {d.get('provider', '?')}", json.dumps(d, sort_keys=True)) for d in s.data]
    body = "".join(
        f"<tr><th>{escape(k)}</th><td><code>{escape(v)}</code></td></tr>" for k, v in rows
    )
    return f'<h2>Snapshot</h2><table id="snapshot">{body}</table>'


def _audit(data: ReportData) -> str:
    a = data.audit
    if a is None or a.count == 0:
        where = escape(a.location) if a else "the audit log"
        return f"<h2>Audit</h2><p>No record of this rollout in {where}.</p>"
    return (
        f'<h2>Audit</h2><p id="audit">{a.count} records in <code>{escape(a.location)}</code>, '
        f"seq {a.first_seq} (<code>{escape(a.first_hash[:16])}</code>) to seq {a.last_seq} "
        f"(<code>{escape(a.last_hash[:16])}</code>); <code>shipsafe audit verify</code> checks "
        "the chain.</p>"
    )


def _events(data: ReportData, stamps: Stamps) -> str:
    from shipsafe.records import EventType

    rows = [
        f"<tr><td>{escape(stamps(e.time))}</td><td>{escape(e.type.value)}</td>"
        f"<td>{escape(e.message)}</td></tr>"
        for e in data.events
        if e.type != EventType.MEASUREMENT
    ]
    return "<h2>Events</h2><table>" + "".join(rows) + "</table>"

