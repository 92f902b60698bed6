"""The coach's panel in the live display."""
from __future__ import annotations

import re

from rich.console import Console

from coach.coaching.config import config_from_dict
from coach.coaching.display import program_panel
from coach.coaching.engine import Coach, CoachObserver
from coach.simulate.coaching import Seg, simulate


def _render(obj) -> str:
    con = Console(width=90, record=True, color_system=None)
    con.print(program_panel(obj))
    return con.export_text()


def test_panel_shows_timeline_current_and_next_interval() -> None:
    cfg = config_from_dict({"programs": {"classic": {"warmup_s": 30, "forward_s": 60, "backward_s": 30,
                                                     "total_s": 300}}})
    ob = CoachObserver("classic", cfg, first_run=False)
    for b, s, e in simulate([Seg("forward", 31), Seg("backward", 14)]):
        ob.coach.update(s, e, b)
    text = _render(ob)
    assert "Classic intervals" in text and "━" in text and "▲" in text
    assert "backward 1 (backward) 0:15 / 0:30" in text
    assert "Next" in text and "forward 1 (forward, 1:00) in 0:15" in text
    assert "Direction backward" in text
    assert "Retro" in text and "steps" in text and "min" in text
    # the goal to the tenth of a minute, as the count (a 40 s goal had read "0.7 min of 1")
    assert re.search(r"Retro\s+\d+ steps, \d+\.\d min of \d+\.\d\b", text), text


def test_panel_for_free_walk_and_before_start() -> None:
    text = _render(Coach("free"))
    assert "no intervals" in text and "Direction still" in text
    assert "starting" not in text
