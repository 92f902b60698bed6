"""Programs as timelines of forward/backward intervals, and the week-to-week progression.

A Program is fixed once the session starts: a list of Intervals on session time (seconds
since the coach's first update). The progression is a pure function over past session
summaries (the session store lives in coach.outputs); it only sizes the next session.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from coach.coaching import phrases as say
from coach.coaching.config import ProgramSpec
from coach.types import Direction


@dataclass(frozen=True, slots=True)
class Interval:
    start_s: float
    end_s: float
    direction: str       # "forward" | "backward"
    label: str = ""      # "warm-up", "backward 1", "cool-down" ...

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(slots=True)
class Program:
    """A session plan. kind "free" has no intervals (cues and safety only)."""

    name: str
    title: str
    kind: str
    intervals: list[Interval] = field(default_factory=list)
    treadmill: bool = False
    backward_target_s: float = 0.0
    note: str = ""        # e.g. the progression's reason for this level
    standing: str = ""    # where the walker stands in the progression, said in the intro
    rest_advised: bool = False
    warmup_s: float = 0.0
    forward_s: float = 0.0
    backward_s: float = 0.0

    @property
    def total_s(self) -> float:
        return self.intervals[-1].end_s if self.intervals else 0.0

    def index_at(self, t: float) -> int | None:
        """Index of the interval running at session time t (None before/after/free)."""
        for i, iv in enumerate(self.intervals):
            if iv.start_s <= t < iv.end_s:
                return i
        return None

    def current(self, t: float) -> Interval | None:
        i = self.index_at(t)
        return None if i is None else self.intervals[i]

    def next(self, t: float) -> Interval | None:
        """The first interval starting after t."""
        for iv in self.intervals:
            if iv.start_s > t:
                return iv
        return None

    def switches(self) -> list[tuple[float, Interval]]:
        """(time, interval) at each start where the direction changes (and the first after warm-up)."""
        out: list[tuple[float, Interval]] = []
        prev: Interval | None = None
        for iv in self.intervals:
            if prev is not None and iv.direction != prev.direction:
                out.append((iv.start_s, iv))
            prev = iv
        return out


def interval_program(name: str, title: str, warmup_s: float, forward_s: float, backward_s: float,
                     total_s: float, treadmill: bool = False, kind: str = "intervals") -> Program:
    """Warm up forward, then backward/forward cycles (backward first) filling about total_s.

    The last forward interval is the cool-down and takes up any time left over.
    """
    ivs: list[Interval] = []
    t = 0.0
    if warmup_s > 0:
        ivs.append(Interval(0.0, warmup_s, "forward", "warm-up"))
        t = warmup_s
    n = 0
    while n == 0 or t + backward_s + forward_s <= total_s + 1e-6:
        n += 1
        ivs.append(Interval(t, t + backward_s, "backward", f"backward {n}"))
        ivs.append(Interval(t + backward_s, t + backward_s + forward_s, "forward", f"forward {n}"))
        t += backward_s + forward_s
    last = ivs[-1]
    ivs[-1] = Interval(last.start_s, max(last.end_s, total_s), "forward", "cool-down")
    return Program(name, title or name, kind, ivs, treadmill,
                   backward_target_s=sum(iv.duration_s for iv in ivs if iv.direction == Direction.BACKWARD),
                   warmup_s=warmup_s, forward_s=forward_s, backward_s=backward_s)


def demo_program(minutes: float = 6.0) -> Program:
    """`coach demo`'s session: a short classic interval (30 s warm-up, then 40 s backward and
    60 s forward). The coach speaks it and the simulated walker walks it: one timeline."""
    return interval_program("demo", "Demo intervals", warmup_s=30.0, forward_s=60.0,
                            backward_s=40.0, total_s=max(60.0, minutes * 60.0))


# ---------------------------------------------------------------- progression


@dataclass(frozen=True, slots=True)
class ProgressionPlan:
    """What the next session should be."""

    level: int
    backward_min: float        # backward minutes for the next session
    bout_s: float              # length of each backward bout
    advanced: bool             # the last sessions earned a step up
    rest_advised: bool         # enough sessions this week / none yesterday
    reason: str
    levels: int = 1            # how many levels there are
    change: str = "start"      # start | up | same | back: what the last session did to the level


def _comfortable(s: dict[str, Any]) -> bool:
    return bool(s.get("completed")) and int(s.get("stumbles", 0) or 0) == 0 \
        and bool(s.get("cadence_held", True)) and int(s.get("falls", 0) or 0) == 0


def _date(s: dict[str, Any]) -> dt.date | None:
    d = s.get("date")
    if isinstance(d, dt.datetime):
        return d.date()
    if isinstance(d, dt.date):
        return d
    if isinstance(d, str) and d:
        try:
            return dt.date.fromisoformat(d[:10])
        except ValueError:
            return None
    return None


def plan_progression(history: Iterable[dict[str, Any]], spec: ProgramSpec,
                     today: dt.date | None = None) -> ProgressionPlan:
    """Size the next session from past session summaries (a pure function).

    history: dicts with date (ISO str or date), retro_seconds, completed, stumbles,
    cadence_held (and optionally falls, and coached: False for a walk without the coach,
    which counts only for rest days and breaks). Levels start at spec.start_backward_min and step
    by spec.step_backward_min up to spec.max_backward_min; a level advances only after
    spec.advance_after consecutive comfortable sessions (completed as planned, no stumbles
    or falls, cadence held) that reached its backward time; a fall, two uncomfortable
    sessions in a row, or a break of more than spec.long_break_days (between sessions, or
    since the last one) steps back one level.
    """
    sessions = sorted((dict(s) for s in history), key=lambda s: (_date(s) or dt.date.min))
    top = max(0, math.ceil((spec.max_backward_min - spec.start_backward_min) / max(spec.step_backward_min, 1e-9)))
    level, streak, bad, advanced = 0, 0, 0, False
    reason = "first session" if not sessions else "holding this level"
    change = "start" if not sessions else "same"
    brk = dt.timedelta(days=spec.long_break_days)
    prev: dt.date | None = None
    for s in sessions:
        d, before = _date(s), level
        if prev is not None and d is not None and spec.long_break_days > 0 and d - prev > brk:
            level, streak, bad = max(0, level - 1), 0, 0
        prev = d or prev
        if s.get("coached") is False:    # walked without the coach: it counts for rest and breaks
            change = "back" if level < before else change
            continue
        target_s = 60.0 * min(spec.max_backward_min, spec.start_backward_min + level * spec.step_backward_min)
        advanced = False
        if int(s.get("falls", 0) or 0) > 0:
            level, streak, bad = max(0, level - 1), 0, 0
            reason, change = "a fall last time: stepping back a level", "back"
            continue
        if _comfortable(s) and float(s.get("retro_seconds", 0.0) or 0.0) >= 0.9 * target_s:
            streak, bad = streak + 1, 0
            reason = f"{streak} comfortable session(s) at this level"
            if streak >= spec.advance_after and level < top:
                level, streak, advanced = level + 1, 0, True
                reason = f"{spec.advance_after} comfortable sessions: one step up"
        else:
            streak, bad = 0, bad + 1
            reason = "last session was not comfortable: holding this level"
            if bad >= 2 and level > 0:
                level, bad = level - 1, 0
                reason = "two uncomfortable sessions: stepping back a level"
        change = "up" if level > before else "back" if level < before else "same"
    today = today or dt.date.today()
    if prev is not None and spec.long_break_days > 0 and today - prev > brk and level > 0:
        level, change = level - 1, "back"
        reason = f"more than {spec.long_break_days} days since the last session: stepping back a level"
    backward_min = min(spec.max_backward_min, spec.start_backward_min + level * spec.step_backward_min)
    bout_s = float(min(spec.max_bout_s, max(60.0, 60.0 * round(backward_min / 5.0))))
    rest = False
    dates = [d for d in (_date(s) for s in sessions) if d is not None]
    if dates:
        if today in dates:
            rest, reason = True, reason + "; you already walked today, rest before the next session"
        elif sum(1 for d in dates if today - dt.timedelta(days=6) <= d <= today) >= spec.sessions_per_week:
            rest, reason = True, reason + f"; {spec.sessions_per_week} sessions this week already, rest a day"
    return ProgressionPlan(level, backward_min, bout_s, advanced, rest, reason, top + 1, change)


def build_program(spec: ProgramSpec, history: Iterable[dict[str, Any]] | None = None,
                  today: dt.date | None = None) -> Program:
    """The session timeline for a program spec (progression sized from `history`)."""
    if spec.kind == "free":
        return Program(spec.name, spec.title or "Free walk", "free", [], spec.treadmill)
    if spec.kind == "progression":
        plan = plan_progression(history or [], spec, today)
        total_b = plan.backward_min * 60.0
        n = max(1, round(total_b / plan.bout_s), math.ceil(total_b / max(spec.max_bout_s, 1.0) - 1e-9))
        bout = plan.backward_min * 60.0 / n
        total = spec.warmup_s + n * (bout + spec.recovery_forward_s)
        prog = interval_program(spec.name, spec.title or "Progression", spec.warmup_s,
                                spec.recovery_forward_s, bout, total, spec.treadmill, kind="progression")
        prog.note, prog.rest_advised = plan.reason, plan.rest_advised
        prog.standing = say.standing(plan.level, plan.levels, plan.change)
        return prog
    return interval_program(spec.name, spec.title, spec.warmup_s, spec.forward_s, spec.backward_s,
                            spec.total_s, spec.treadmill)
