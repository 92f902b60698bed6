"""`coach report SESSION`: a picture of one stored session (PNG) and a small HTML page.

Panels: direction over time, cadence, intervals planned vs done, prompts given.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from coach.outputs.export import _cadence_series

COLORS = {"backward": "#2a9d8f", "forward": "#e76f51", "still": "#bbbbbb", "other": "#8d99ae"}
LEVEL = {"backward": 2, "forward": 1, "still": 0, "other": 0.5}


def render_png(s: dict[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dur = max(float(s["duration_s"]), 1.0)
    fig, axes = plt.subplots(4, 1, figsize=(10, 8.5), sharex=True,
                             gridspec_kw={"height_ratios": [1.2, 1.2, 1.0, 0.8]})
    ax = axes[0]
    for seg in s["segments"]:
        ax.axvspan(seg["start_s"], seg["end_s"], color=COLORS.get(seg["direction"], "#999"), alpha=0.35,
                   lw=0)
        ax.hlines(LEVEL.get(seg["direction"], 0), seg["start_s"], seg["end_s"],
                  color=COLORS.get(seg["direction"], "#999"), lw=4)
    ax.set_yticks([0, 1, 2], ["still", "forward", "backward"])
    ax.set_ylim(-0.5, 2.5)
    ax.set_title(f"Session {s['id']} - {s['started_at'][:16].replace('T', ' ')} UTC - "
                 f"{s['retro_steps']} retro steps, {s['retro_seconds'] / 60:.1f} retro min")
    ax.set_ylabel("direction")

    cad = _cadence_series(s)
    ax = axes[1]
    if cad:
        ax.plot([c[0] for c in cad], [c[1] for c in cad], color="#264653")
    ax.set_ylabel("cadence\n(steps/min)")
    ax.set_ylim(bottom=0)

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
    else:
        ax.text(0.5, 0.5, "no coached intervals", transform=ax.transAxes, ha="center", va="center",
                color="#888")
        ax.set_yticks([])
    ax.set_ylabel("intervals")

    ax = axes[3]
    prompts = s.get("prompts") or []
    for p in prompts:
        alert = str(p.get("kind") or "").startswith(("safety", "alert"))
        ax.axvline(p["t_s"], color="#d62828" if alert else "#457b9d", lw=1.5)
    ax.set_yticks([])
    ax.set_ylabel(f"prompts\n({len(prompts)})")
    ax.set_xlabel("time (s)")
    ax.set_xlim(0, dur)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def render_html(s: dict[str, Any], png_name: str) -> str:
    e = html.escape
    rows = [("Started (UTC)", s["started_at"][:19].replace("T", " ")),
            ("Duration", f"{s['duration_s'] / 60:.1f} min"),
            ("Retro", f"{s['retro_steps']} steps, {s['retro_seconds'] / 60:.1f} min"),
            ("Forward", f"{s['forward_steps']} steps, {s['forward_seconds'] / 60:.1f} min"),
            ("Direction changes", str(s["direction_changes"])),
            ("Program", s["program"] or "-"),
            ("Completion", "-" if s["completion"] is None else f"{s['completion'] * 100:.0f} %"),
            ("Device / placement", f"{s['device'] or '-'} / {s['placement'] or '-'}"),
            ("Status", s["status"])]
    summary = "\n".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
    ivs = "\n".join(
        f"<tr><td>{iv['idx']}</td><td>{e(str(iv.get('direction') or ''))}</td>"
        f"<td>{iv.get('planned_s') or 0:.0f} s</td><td>{iv.get('done_s') or 0:.0f} s</td>"
        f"<td>{e(str(iv.get('status') or ''))}</td></tr>" for iv in s.get("intervals") or [])
    prompts = "\n".join(f"<li><b>{p['t_s']:.0f} s</b> [{e(str(p.get('kind') or ''))}] "
                        f"{e(str(p.get('text') or ''))}</li>" for p in s.get("prompts") or [])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Retro-coach session {s['id']}</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}th,td{{padding:.2em .8em;text-align:left;border-bottom:1px solid #ddd}}
img{{max-width:100%}}</style></head><body>
<h1>Session {s['id']}</h1>
<table>{summary}</table>
<p><img src="{e(png_name)}" alt="direction, cadence, intervals and prompts over time"></p>
<h2>Intervals</h2>
{f'<table><tr><th>#</th><th>direction</th><th>planned</th><th>done</th><th>status</th></tr>{ivs}</table>' if ivs else '<p>No coached intervals.</p>'}
<h2>Prompts</h2>
{f'<ul>{prompts}</ul>' if prompts else '<p>No prompts.</p>'}
</body></html>
"""


def write_report(s: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write session-<id>.png and session-<id>.html into out_dir; return both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = out / f"session-{s['id']}.png"
    page = out / f"session-{s['id']}.html"
    render_png(s, png)
    page.write_text(render_html(s, png.name), encoding="utf-8")
    return png, page
