"""`coach report SESSION` and `coach report --week`: self-contained HTML pages to keep.

A session page: summary tiles (duration, retro minutes and steps, forward steps, cadence, heart
rate when the sensor streamed it), the picture (direction with a legend, cadence and heart
rate, intervals planned vs done, prompts; time in mm:ss) embedded as base64 PNG, a lap table
(the laps of the FIT/TCX export) and the prompts. A week page: retro minutes per day against
the week's target (cumulative), with the sessions. One file each: no side files, opens alone.
"""
from __future__ import annotations

import base64
import html
import io
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from coach.outputs.export import _cadence_series, heart_rate_series, laps_of
from coach.outputs.store import parse_iso

COLORS = {"backward": "#2a9d8f", "forward": "#e76f51", "still": "#bbbbbb", "other": "#8d99ae"}
LEVEL = {"backward": 2, "forward": 1, "still": 0, "other": 0.5}
ALERT_COLOR, PROMPT_COLOR = "#d62828", "#457b9d"


def mmss(seconds: float) -> str:
    """Seconds as m:ss (h:mm:ss from an hour)."""
    s = int(round(max(0.0, float(seconds))))
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def _mmss_axis(ax: Any) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10, steps=[1, 1.5, 2, 3, 5, 6, 10]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: mmss(v)))


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _pyplot() -> Any:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def render_png(s: dict[str, Any], path: Path | None = None) -> bytes:
    """The session picture as PNG bytes (also written to `path` when given)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    plt = _pyplot()

    dur = max(float(s["duration_s"]), 1.0)
    fig, axes = plt.subplots(4, 1, figsize=(10, 8.5), sharex=True,
                             gridspec_kw={"height_ratios": [1.2, 1.2, 1.0, 0.8]})
    ax = axes[0]
    for seg in s["segments"]:
        ax.axvspan(seg["start_s"], seg["end_s"], color=COLORS.get(seg["direction"], "#999"), alpha=0.35,
                   lw=0)
        ax.hlines(LEVEL.get(seg["direction"], 0), seg["start_s"], seg["end_s"],
                  color=COLORS.get(seg["direction"], "#999"), lw=4)
    ax.set_yticks([0, 0.5, 1, 2], ["still", "other", "forward", "backward"])
    ax.set_ylim(-0.5, 2.5)
    ax.set_title(f"Session {s['id']} - {_local(s['started_at'])} - "
                 f"{s['retro_steps']} retro steps, {s['retro_seconds'] / 60:.1f} retro min")
    ax.set_ylabel("direction")
    ax.legend(handles=[Patch(color=COLORS[d], alpha=0.6, label=d) for d in ("backward", "forward", "still", "other")],
              loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)

    cad = _cadence_series(s)
    hr = heart_rate_series(s)
    ax = axes[1]
    handles = []
    if cad:
        (ln,) = ax.plot([c[0] for c in cad], [c[1] for c in cad], color="#264653", label="cadence (steps/min)")
        handles.append(ln)
    ax.set_ylabel("cadence\n(steps/min)")
    ax.set_ylim(bottom=0)
    if hr:
        ax2 = ax.twinx()
        (ln,) = ax2.plot([h[0] for h in hr], [h[1] for h in hr], color="#c1121f", lw=1.2,
                         label="heart rate (bpm)")
        ax2.set_ylabel("heart rate\n(bpm)", color="#c1121f")
        handles.append(ln)
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0 if not hr else 1.08, 1.0),
                  fontsize=8, frameon=False)

    ax = axes[2]
    ivs = s.get("intervals") or []
    if ivs:
        for iv in ivs:
            start = iv.get("start_s") or 0.0
            ax.barh(1, iv.get("planned_s") or 0.0, left=start, height=0.35, color="#dddddd",
                    edgecolor="#888")
            ax.barh(0, iv.get("done_s") or 0.0, left=start, height=0.35,
                    color=COLORS.get(str(iv.get("direction")), "#8d99ae"))
        ax.set_yticks([0, 1], ["done", "planned"])
        ax.set_ylim(-0.5, 1.5)
    else:
        ax.text(0.5, 0.5, "no coached intervals", transform=ax.transAxes, ha="center", va="center",
                color="#888")
        ax.set_yticks([])
    ax.set_ylabel("intervals")

    ax = axes[3]
    prompts = s.get("prompts") or []
    for p in prompts:
        ax.axvline(p["t_s"], color=ALERT_COLOR if _is_alert(p) else PROMPT_COLOR, lw=1.5)
    ax.set_yticks([])
    ax.set_ylabel(f"prompts\n({len(prompts)})")
    ax.legend(handles=[Line2D([], [], color=PROMPT_COLOR, label="prompt"),
                       Line2D([], [], color=ALERT_COLOR, label="alert")],
              loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_xlabel("time (m:ss)")
    ax.set_xlim(0, dur)
    _mmss_axis(ax)
    fig.tight_layout()
    data = _png(fig)
    if path is not None:
        Path(path).write_bytes(data)
    return data


def _is_alert(p: dict[str, Any]) -> bool:
    kind = str(p.get("kind") or "")
    return kind.startswith("safety:") or kind in ("fall", "alert")


def _local(iso_text: str) -> str:
    return parse_iso(iso_text).astimezone().strftime("%Y-%m-%d %H:%M")


STYLE = """body{font-family:system-ui,sans-serif;max-width:1000px;margin:1.5em auto;padding:0 1em;color:#222}
h1{font-size:1.5em;margin-bottom:.2em}.sub{color:#666;margin-top:0}
.tiles{display:flex;flex-wrap:wrap;gap:.6em;margin:1em 0}
.tile{flex:1 1 120px;border:1px solid #ddd;border-radius:8px;padding:.5em .8em;background:#fafafa}
.tile b{display:block;font-size:1.4em}.tile span{color:#666;font-size:.85em}
.tile.retro{border-color:#2a9d8f;background:#eef8f6}
table{border-collapse:collapse;margin:.5em 0}th,td{padding:.25em .8em;text-align:left;border-bottom:1px solid #ddd}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.dot{display:inline-block;width:.8em;height:.8em;border-radius:50%;margin-right:.4em;vertical-align:middle}
img{max-width:100%}"""


def _tiles(tiles: list[tuple[str, str, str]]) -> str:
    return '<div class="tiles">' + "".join(
        f'<div class="tile {cls}"><b>{html.escape(v)}</b><span>{html.escape(k)}</span></div>'
        for k, v, cls in tiles) + "</div>"


def session_tiles(s: dict[str, Any]) -> list[tuple[str, str, str]]:
    dur = float(s["duration_s"])
    steps = s["retro_steps"] + s["forward_steps"]
    walking_s = float(s["retro_seconds"]) + float(s["forward_seconds"])
    tiles = [("duration", mmss(dur), ""),
             ("retro minutes", f"{s['retro_seconds'] / 60:.1f}", "retro"),
             ("retro steps", str(s["retro_steps"]), "retro"),
             ("forward steps", str(s["forward_steps"]), ""),
             ("cadence while walking, steps/min", f"{steps * 60 / walking_s:.0f}" if walking_s > 0 else "-", "")]
    hr = [h[1] for h in heart_rate_series(s)]
    if hr:
        tiles.append(("heart rate avg / max, bpm", f"{round(sum(hr) / len(hr))} / {max(hr)}", ""))
    return tiles


def _subtitle(s: dict[str, Any]) -> str:
    """What the session was: its program, or for a session without one, its kind (an analysed
    recording is not a "free walk"; history and export say "analysis" too)."""
    if s.get("program"):
        return str(s["program"])
    kind = str(s.get("kind") or "walk")
    return "free walk" if kind == "walk" else kind


def render_html(s: dict[str, Any], png: bytes) -> str:
    """The session page, one self-contained file (the picture embedded as base64)."""
    e = html.escape
    rows = [("Started", _local(s["started_at"])),
            ("Direction changes", str(s["direction_changes"])),
            ("Program", s["program"] or "-"),
            ("Completion", "-" if s["completion"] is None else f"{s['completion'] * 100:.0f} %"),
            ("Device / placement", f"{s['device'] or '-'} / {s['placement'] or '-'}"),
            ("Source", s["source"] or "-"), ("Status", s["status"])]
    details = "\n".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
    laps = laps_of(s, use_intervals=False)   # every direction bout (the intervals have their table)
    lap_rows = "\n".join(
        f"<tr><td class=n>{i + 1}</td><td><span class=dot style=\"background:{COLORS.get(lp.label, '#8d99ae')}\">"
        f"</span>{e(lp.label)}</td><td class=n>{mmss(lp.start_s)}</td><td class=n>{mmss(lp.duration_s)}</td>"
        f"<td class=n>{lp.steps}</td><td class=n>{lp.avg_cadence:.0f}</td>"
        f"<td class=n>{'-' if lp.avg_hr is None else lp.avg_hr}</td></tr>" for i, lp in enumerate(laps))
    ivs = "\n".join(
        f"<tr><td class=n>{iv['idx'] + 1}</td><td>{e(str(iv.get('direction') or ''))}</td>"
        f"<td class=n>{mmss(iv.get('planned_s') or 0)}</td><td class=n>{mmss(iv.get('done_s') or 0)}</td>"
        f"<td>{e(str(iv.get('status') or ''))}</td></tr>" for iv in s.get("intervals") or [])
    prompts = "\n".join(f"<li><b>{mmss(p['t_s'])}</b> [{e(str(p.get('kind') or ''))}] "
                        f"{e(str(p.get('text') or ''))}</li>" for p in s.get("prompts") or [])
    img = base64.b64encode(png).decode("ascii")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Retro-coach session {s['id']}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{STYLE}</style></head><body>
<h1>Session {s['id']}</h1>
<p class="sub">{e(_local(s['started_at']))} &middot; {e(_subtitle(s))}</p>
{_tiles(session_tiles(s))}
<p><img src="data:image/png;base64,{img}" alt="direction, cadence, intervals and prompts over time"></p>
<h2>Laps</h2>
<table><tr><th>#</th><th>direction</th><th>start</th><th>time</th><th>steps</th><th>steps/min</th><th>bpm</th></tr>
{lap_rows}</table>
<p class="sub">A lap's steps are all the steps in its time, short pauses and turns merged into it
included; the retro and forward steps above count walking only.</p>
<h2>Intervals</h2>
{f'<table><tr><th>#</th><th>direction</th><th>planned</th><th>done</th><th>status</th></tr>{ivs}</table>' if ivs else '<p>No coached intervals.</p>'}
<h2>Prompts</h2>
{f'<ul>{prompts}</ul>' if prompts else '<p>No prompts.</p>'}
<h2>Details</h2>
<table>{details}</table>
</body></html>
"""


def write_report(s: dict[str, Any], out_dir: str | Path) -> Path:
    """Write session-<id>.html (self-contained) into out_dir; return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    page = out / f"session-{s['id']}.html"
    page.write_text(render_html(s, render_png(s)), encoding="utf-8")
    return page


# -- the week ------------------------------------------------------------------------------------
def week_summary(sessions: list[dict[str, Any]], day: date, goal_s: float | None) -> dict[str, Any]:
    """Retro minutes per day (local time) of the ISO week holding `day`, against the goal (the
    one stored with the week's sessions, else `goal_s`)."""
    monday = day - timedelta(days=day.weekday())
    days = [monday + timedelta(days=i) for i in range(7)]
    per_day = {d: 0.0 for d in days}
    in_week = []
    stored_goal = None      # a goal stored with the week's sessions wins over the default
    for s in sessions:
        d = parse_iso(s["started_at"]).astimezone().date()
        if d in per_day:
            per_day[d] += float(s["retro_seconds"])
            in_week.append(s)
            stored_goal = s.get("weekly_goal_s") or stored_goal
    goal_s = stored_goal or goal_s
    y, w, _ = monday.isocalendar()
    total = sum(per_day.values())
    return {"week": f"{y}-W{w:02d}", "week_start": monday.isoformat(),
            "days": [{"date": d.isoformat(), "retro_minutes": round(per_day[d] / 60, 2)} for d in days],
            "retro_minutes": round(total / 60, 2), "retro_seconds": round(total, 1),
            "goal_minutes": round(goal_s / 60, 1) if goal_s else None,
            "progress": round(total / goal_s, 3) if goal_s else None,
            "sessions": [{"session_id": s["id"], "started_at": s["started_at"],
                          "retro_minutes": round(s["retro_seconds"] / 60, 2),
                          "retro_seconds": round(s["retro_seconds"], 1),
                          "retro_steps": s["retro_steps"], "program": s["program"]} for s in in_week]}


def render_week_png(w: dict[str, Any]) -> bytes:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(11, 4.5))
    labels = [datetime.fromisoformat(d["date"]).strftime("%a\n%d %b") for d in w["days"]]
    mins = [d["retro_minutes"] for d in w["days"]]
    x = list(range(7))
    ax.bar(x, mins, color=COLORS["backward"], width=0.6)
    for i, m in enumerate(mins):
        if m > 0:
            ax.text(i, m, f"{m:.1f}", ha="center", va="bottom", fontsize=9)
    cum, run = [], 0.0
    today = date.today().isoformat()
    for d, m in zip(w["days"], mins):
        if d["date"] > today:       # the days still to come: no line yet
            break
        run += m
        cum.append(run)
    ax.plot(x[:len(cum)], cum, color="#264653", marker="o", lw=1.5)
    handles = [Patch(color=COLORS["backward"], label="retro minutes that day"),
               Line2D([], [], color="#264653", marker="o", label="retro minutes so far this week")]
    goal = w["goal_minutes"]
    if goal:
        ax.axhline(goal, color="#e76f51", ls="--", lw=1.5)
        ax.plot(x, [goal * (i + 1) / 7 for i in x], color="#e76f51", ls=":", lw=1)
        handles += [Line2D([], [], color="#e76f51", ls="--", label=f"week target ({goal:.0f} min)"),
                    Line2D([], [], color="#e76f51", ls=":", label="on pace for the target")]
    ax.set_xticks(x, labels)
    ax.set_ylabel("retro minutes")
    ax.set_ylim(0, max([goal or 0, *cum, 1.0]) * 1.15)
    ax.set_title(f"Week {w['week']}: {w['retro_seconds'] / 60:.1f} retro min"
                 + (f" of {goal:.0f} ({w['progress'] * 100:.0f}%)" if goal else ""))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    return _png(fig)


def render_week_html(w: dict[str, Any], png: bytes) -> str:
    e = html.escape
    goal = w["goal_minutes"]
    active = sum(1 for d in w["days"] if d["retro_minutes"] > 0)
    # shown from seconds: minutes rounded to 0.01 and then to 0.1 made 1.953 min "1.9"
    tiles = [("retro minutes this week", f"{w['retro_seconds'] / 60:.1f}", "retro"),
             ("week target, min", f"{goal:.0f}" if goal else "-", ""),
             ("of the target", f"{w['progress'] * 100:.0f} %" if goal else "-", "retro"),
             ("sessions", str(len(w["sessions"])), ""), ("days walked", str(active), "")]
    rows = "\n".join(f"<tr><td>{e(_local(s['started_at']))}</td><td class=n>{s['session_id']}</td>"
                     f"<td class=n>{s['retro_seconds'] / 60:.1f}</td><td class=n>{s['retro_steps']}</td>"
                     f"<td>{e(s['program'] or '-')}</td></tr>" for s in w["sessions"])
    img = base64.b64encode(png).decode("ascii")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Retro-coach week {e(w['week'])}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{STYLE}</style></head><body>
<h1>Week {e(w['week'])}</h1>
<p class="sub">from {e(w['week_start'])}</p>
{_tiles(tiles)}
<p><img src="data:image/png;base64,{img}" alt="retro minutes per day against the week's target"></p>
<h2>Sessions</h2>
{f'<table><tr><th>started</th><th>#</th><th>retro min</th><th>retro steps</th><th>program</th></tr>{rows}</table>' if rows else '<p>No sessions this week.</p>'}
</body></html>
"""


def write_week_report(w: dict[str, Any], out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    page = out / f"week-{w['week']}.html"
    page.write_text(render_week_html(w, render_week_png(w)), encoding="utf-8")
    return page
