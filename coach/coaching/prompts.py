"""Prompts and the deterministic prompt queue (stream time, not wall time).

The queue decides what is said and when, so `coach analyze --coach` reports exactly what
the live coach says: the highest-priority due prompt goes first; a prompt is dropped when
it goes stale (past its expiry; one whose condition does not hold waits); two prompts are never
closer than min_gap_s; a safety prompt may cut off the tail of a less important utterance
after min_gap_s, and so may a direction cue (except a fall check); anything else waits until
the previous one has finished (by its estimated speaking time).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from coach.types import PROMPT_KINDS, Prompt

KINDS = PROMPT_KINDS

# Priorities: higher goes first. Safety pre-empts everything.
P_FALL = 100
P_STUMBLE = 95
P_FIRST_RUN = 90
P_LOOK_BACK = 85
P_CAP = 80
P_SLOW_DOWN = 75
P_CUE = 60
P_INTERVAL = 50
P_COMPLIANCE = 45
P_SUMMARY = 30
P_PROGRESS = 20
P_INFO = 10


@dataclass(slots=True)
class Pending:
    """A prompt waiting in the queue."""

    due_s: float
    expires_s: float
    kind: str
    text: str
    priority: int
    key: str = ""
    require_direction: str | None = None   # held while the wearer's direction differs
    seq: int = 0


_NUM = re.compile(r"\d+")


def may_cut(new_kind: str, new_priority: int, last: Prompt | None) -> bool:
    """May a prompt cut off the end of `last` (once min_gap_s has passed)?

    A safety prompt cuts anything less important; a direction cue (one word, and late is
    useless) cuts anything but a fall check. Everything else waits for the end.
    """
    if last is None:
        return True
    if new_kind == "safety":
        return new_priority > last.priority
    if new_kind == "cue":
        return last.priority < P_FALL
    return False


def estimate_duration_s(text: str, rate_wpm: int = 165) -> float:
    """Roughly how long espeak-ng takes to say `text` (numbers count as spoken words)."""
    n = len(_NUM.sub(lambda m: "x" * (6 * len(m.group())), text))
    return (0.3 + 0.066 * n) * 165.0 / max(rate_wpm, 60)


@dataclass
class PromptQueue:
    """Priority queue with spacing and staleness, stepped on stream time."""

    min_gap_s: float = 1.5
    pause_s: float = 0.3
    rate_wpm: int = 165
    pending: list[Pending] = field(default_factory=list)
    last: Prompt | None = None
    dropped: list[Pending] = field(default_factory=list)
    _seq: int = 0

    def push(self, p: Pending) -> None:
        """Queue p; a pending prompt with the same non-empty key is replaced."""
        if p.key:
            self.pending = [q for q in self.pending if q.key != p.key]
        self._seq += 1
        p.seq = self._seq
        self.pending.append(p)

    def cancel(self, key: str) -> None:
        self.pending = [q for q in self.pending if q.key != key]

    def has(self, key: str) -> bool:
        return any(q.key == key for q in self.pending)

    def next_allowed_s(self, urgent: bool) -> float:
        """Earliest stream time the next (urgent or not) prompt may start."""
        if self.last is None:
            return float("-inf")
        gap = self.min_gap_s
        if not urgent:
            gap = max(gap, estimate_duration_s(self.last.text, self.rate_wpm) + self.pause_s)
        return self.last.t_s + gap

    def pop(self, now: float, direction: str | None = None,
            min_priority: int | None = None) -> Prompt | None:
        """The prompt to say at `now`, or None (nothing due, or too soon after the last).

        direction: the wearer's current direction (prompts requiring another wait, and are
        dropped if it does not come back before they expire);
        min_priority: hold back anything below it (e.g. while the wearer may have fallen).
        """
        keep: list[Pending] = []
        for q in self.pending:
            (self.dropped if now > q.expires_s else keep).append(q)
        self.pending = keep
        due = [q for q in self.pending if q.due_s <= now
               and (min_priority is None or q.priority >= min_priority)
               and (q.require_direction is None or direction is None or direction == q.require_direction)]
        if not due:
            return None
        best = max(due, key=lambda q: (q.priority, -q.due_s, -q.seq))
        if now < self.next_allowed_s(may_cut(best.kind, best.priority, self.last)) - 1e-9:
            return None
        self.pending.remove(best)
        self.last = Prompt(now, best.kind, best.text, best.priority, best.key)
        return self.last
