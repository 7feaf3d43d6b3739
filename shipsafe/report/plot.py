"""The rollout on one time axis, drawn with matplotlib (imported here only): the canary weight
as read back on top, then one panel per check - its readings (failed ones red, no data as x),
its thresholds, a judge's confidence bounds - with the steps, approvals, the tripped breaker
and the moment traffic was restored as vertical markers across every panel.

Artists carry ids (`gid`) in the SVG: `series-weight`, `series-<check>`, `threshold-<check>`,
`marker-breaker` (or `marker-failed` for a step's analysis), `marker-restored`, ... so a
test (or a reader) can find them."""

from __future__ import annotations

import io
import re
from datetime import timedelta, tzinfo
from typing import Any

from shipsafe.report.data import ReportData

_MARKER_STYLE = {
    "step": ("#9aa0a6", ":", 0.8),
    "approval": ("#1a73e8", "-", 1.2),
    "breaker": ("#d93025", "-", 1.6),
    "failed": ("#d93025", "-", 1.6),
    "rollback": ("#f29900", "--", 1.0),
    "restored": ("#188038", "--", 1.6),
    "promoted": ("#188038", "-", 1.6),
}


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "check"


def figure(data: ReportData, zone: tzinfo) -> Any:
    import matplotlib

    matplotlib.rcParams["svg.hashsalt"] = data.record.id  # same rollout, same SVG ids
    matplotlib.rcParams["svg.fonttype"] = "path"  # no font to fetch: glyphs are paths
    from matplotlib import dates as mdates
    from matplotlib.figure import Figure

    checks = list(data.checks.values())
    rows = 1 + len(checks)
    fig = Figure(figsize=(11, 1.3 + 1.9 * rows), layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    start = data.record.created_at
    # the weight: a step line of what the router read back, to the end of the rollout
    times = [t for t, _ in data.weight] + [data.end + timedelta(seconds=3600)]
    weights = [w for _, w in data.weight] + [data.weight[-1][1]]
    ax = axes[0]
    (line,) = ax.step(times, weights, where="post", color="#1a73e8", lw=2)
    line.set_gid("series-weight")
    ax.set_ylim(-5, 105)
    ax.set_ylabel("canary %\n(read back)")
    ax.grid(alpha=0.25)
    for ax, check in zip(axes[1:], checks, strict=True):
        _check_panel(ax, check)
    for ax in axes:
        for m in data.markers:
            color, style, width = _MARKER_STYLE.get(m.kind, ("#5f6368", ":", 0.8))
            ax.axvline(m.time, color=color, ls=style, lw=width, gid=f"marker-{m.kind}")
    # the end of the rollout plus a little: what traffic did after the last change shows
    span = max((data.end - start).total_seconds(), 1.0)
    right = data.end + timedelta(seconds=span * 0.04)
    top = axes[0]
    labelled = [m for m in data.markers if m.kind in ("breaker", "failed", "restored",
                                                        "approval", "promoted")]
    for i, m in enumerate(labelled):  # staggered, so markers close in time stay readable
        late = (m.time - start).total_seconds() > span / 2
        top.annotate(
            f" {m.label} " , (mdates.date2num(m.time), 0.9 - 0.13 * (i % 5)),
            xycoords=("data", "axes fraction"), fontsize=8, color=_MARKER_STYLE[m.kind][0],
            ha="right" if late else "left", va="top",
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
        )
    locator = mdates.AutoDateLocator(tz=zone)
    axes[-1].xaxis.set_major_locator(locator)
    if span >= 20:
        axes[-1].xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S", tz=zone))
    else:  # a rollout over within seconds: tenths of a second tell the ticks apart
        axes[-1].xaxis.set_major_formatter(
            lambda x, pos=None: mdates.num2date(x, tz=zone).strftime("%H:%M:%S.%f")[:-5]
        )
    axes[-1].set_xlim(start, right)
    r = data.record
    fig.suptitle(
        f"{r.service} {r.version} → {r.environment}: {r.phase.value.replace('_', ' ')}"
        f"   ({r.id})", fontsize=11, x=0.01, ha="left",
    )
    return fig


def _check_panel(ax: Any, check: Any) -> None:
    readings = check.readings
    ok = [(r.time, r.value) for r in readings if r.value is not None]
    if ok:
        (line,) = ax.plot([t for t, _ in ok], [v for _, v in ok], color="#5f6368", lw=1,
                          marker="o", ms=3)
        line.set_gid(f"series-{slug(check.name)}")
    bad = [(r.time, r.value) for r in readings if r.value is not None and r.phase == "failed"]
    if bad:
        ax.scatter([t for t, _ in bad], [v for _, v in bad], color="#d93025", s=22, zorder=3,
                   gid=f"failed-{slug(check.name)}")
    missing = [r.time for r in readings if r.value is None]
    if missing:
        ax.scatter(missing, [0.0] * len(missing), marker="x", color="#f29900", s=24,
                   gid=f"nodata-{slug(check.name)}", transform=ax.get_xaxis_transform())
    bounds = [(r.time, r.interval) for r in readings if r.interval is not None]
    if bounds:
        ax.fill_between(
            [t for t, _ in bounds], [b[0] for _, b in bounds], [b[1] for _, b in bounds],
            color="#1a73e8", alpha=0.15, step="post", gid=f"bounds-{slug(check.name)}",
            label=f"{check.effect} bounds",
        )
    for op, value in check.thresholds:
        ax.axhline(value, color="#d93025", ls="--", lw=1, gid=f"threshold-{slug(check.name)}",
                   label=f"result {op} {value:g}")
    values = [v for _, v in ok] + [v for _, v in check.thresholds]
    if values and min(values) >= 0:
        ax.set_ylim(bottom=0)  # from zero: a rate of 0.52 against 0.05 looks like one
    ax.set_ylabel(check.name)
    ax.grid(alpha=0.25)
    if check.thresholds or bounds:
        ax.legend(loc="best", fontsize=7, frameon=False)


def svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]  # inline: no XML declaration or doctype


def png(fig: Any, path: str) -> None:
    fig.savefig(path, format="png", dpi=110)

