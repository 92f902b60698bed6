"""The coach's part of the live display: program timeline, current and next interval, tallies."""
from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from coach.coaching.engine import Coach

COLOURS = {"forward": "green", "backward": "magenta", "still": "grey50", "other": "yellow"}


def _mmss(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 60}:{s % 60:02d}"


def timeline_text(coach: Coach, width: int = 48) -> Text:
    """One line: forward '━' in green, backward '━' in magenta, '▲' marks now."""
    p = coach.program
    text = Text()
    if not p.intervals or p.total_s <= 0:
        return text
    now = coach.session_s
    mark = min(width - 1, int(now / p.total_s * width)) if now < p.total_s else None
    for i in range(width):
        iv = p.current((i + 0.5) / width * p.total_s) or p.intervals[-1]
        char = "▲" if i == mark else "━"
        style = COLOURS.get(iv.direction, "white") + (" bold reverse" if i == mark else "")
        text.append(char, style=style)
    return text


def program_panel(observer: Any, width: int = 48) -> Panel:
    """A rich Panel for a CoachObserver (or a Coach): where the wearer is in the program."""
    coach: Coach = getattr(observer, "coach", observer)
    p, now = coach.program, coach.session_s
    st = coach.state
    rows = Table.grid(padding=(0, 1))
    rows.add_column(style="bold")
    rows.add_column()
    cur, nxt = p.current(now), p.next(now)
    if p.kind == "free" or not p.intervals:
        rows.add_row("Program", f"{p.title}: no intervals")
    elif cur is not None:
        rows.add_row("Now", Text(f"{cur.label} ({cur.direction}) {_mmss(now - cur.start_s)} / "
                                 f"{_mmss(cur.duration_s)}", style=COLOURS.get(cur.direction, "")))
        if nxt is not None:
            rows.add_row("Next", Text(f"{nxt.label} ({nxt.direction}, {_mmss(nxt.duration_s)}) in "
                                      f"{_mmss(nxt.start_s - now)}", style=COLOURS.get(nxt.direction, "")))
        else:
            rows.add_row("Next", "end of program")
    else:
        rows.add_row("Now", "program complete" if now >= p.total_s else "starting")
    rows.add_row("Direction", Text(coach.direction, style=COLOURS.get(coach.direction, "")))
    rows.add_row("Retro", f"{st.tallies.retro_steps} steps, {st.tallies.retro_seconds / 60:.1f} min"
                          # (to the tenth, as the count: a 40 s goal had read "0.7 min of 1")
                          + (f" of {p.backward_target_s / 60:.1f}" if p.backward_target_s else ""))
    if coach.prompts:
        last = coach.prompts[-1]
        rows.add_row("Said", Text(f"{last.text}", style="red" if last.kind == "safety" else ""))
    if coach.alerts:
        rows.add_row("ALERT", Text(coach.alerts[-1].text, style="bold red"))
    parts: list[Any] = []
    if p.intervals:
        parts.append(timeline_text(coach, width))
        parts.append(Text(f"{_mmss(now)} / {_mmss(p.total_s)}", style="dim"))
    parts.append(rows)
    return Panel(Group(*parts), title=f"Coach: {p.title}" + (" (treadmill)" if p.treadmill else ""),
                 border_style="cyan")
