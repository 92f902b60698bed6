"""The prompt queue: priorities, spacing and staleness on stream time."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from coach.coaching.prompts import (
    P_CUE,
    P_FALL,
    P_INFO,
    P_INTERVAL,
    P_LOOK_BACK,
    P_PROGRESS,
    Pending,
    PromptQueue,
    estimate_duration_s,
)


def _pend(due: float, kind: str, text: str, prio: int, key: str = "", stale: float = 4.0,
          require: str | None = None) -> Pending:
    return Pending(due, due + stale, kind, text, prio, key, require)


def _run(q: PromptQueue, until: float, step: float = 0.1, direction: str | None = None) -> list:
    out, t = [], 0.0
    while t <= until + 1e-9:
        p = q.pop(round(t, 6), direction)
        if p:
            out.append(p)
        t += step
    return out


def test_highest_priority_first() -> None:
    q = PromptQueue()
    q.push(_pend(0, "info", "progress", P_PROGRESS, stale=10))
    q.push(_pend(0, "interval", "One minute backward", P_INTERVAL))
    q.push(_pend(0, "safety", "Look over your shoulder", P_LOOK_BACK, stale=10))
    out = _run(q, 10)
    assert [p.text for p in out] == ["Look over your shoulder", "One minute backward", "progress"]


def test_never_closer_than_min_gap_and_no_overlap() -> None:
    q = PromptQueue()
    long = "Walking backward: look over your shoulder often, go at about half your forward pace."
    q.push(_pend(0, "info", long, P_INFO, stale=30))
    q.push(_pend(0.1, "interval", "Turn around in 10 seconds", P_INTERVAL, stale=30))
    out = _run(q, 20)
    assert len(out) == 2
    # a non-urgent prompt waits until the long one has been said
    assert out[1].t_s - out[0].t_s >= estimate_duration_s(long) + q.pause_s - 1e-9


def test_safety_and_cues_pre_empt_after_min_gap() -> None:
    q = PromptQueue()
    long = "Walking backward: look over your shoulder often, go at about half your forward pace."
    q.push(_pend(0, "info", long, P_INFO, stale=30))
    q.push(_pend(0.2, "cue", "Backward", P_CUE, stale=2.5))
    out = _run(q, 10)
    assert [p.text for p in out] == [long, "Backward"]
    assert 1.5 - 1e-9 <= out[1].t_s - out[0].t_s < 1.7      # cut in after exactly the gap
    # ... but a cue does not cut into a safety prompt
    q = PromptQueue()
    q.push(_pend(0, "safety", "Are you OK? Move, or stand up if you can.", P_FALL, stale=30))
    q.push(_pend(0.2, "cue", "Backward", P_CUE, stale=30))
    out = _run(q, 10)
    assert out[1].t_s - out[0].t_s >= estimate_duration_s(out[0].text)


def test_stale_prompts_are_dropped() -> None:
    q = PromptQueue()
    q.push(_pend(0, "safety", "Look over your shoulder", P_LOOK_BACK, stale=10))
    q.push(_pend(0, "cue", "Backward", P_CUE, stale=1.0))      # cannot be said by t=1
    q.push(_pend(0, "info", "later", P_INFO, stale=2.0))
    out = _run(q, 10)
    assert [p.text for p in out] == ["Look over your shoulder"]
    assert {d.text for d in q.dropped} == {"Backward", "later"}


def test_condition_and_key_replacement() -> None:
    q = PromptQueue()
    q.push(_pend(0, "cue", "Backward", P_CUE, key="cue", require="backward"))
    q.push(_pend(0, "cue", "Forward", P_CUE, key="cue", require="forward"))   # replaces
    assert [p.text for p in _run(q, 3, direction="forward")] == ["Forward"]
    q = PromptQueue()
    q.push(_pend(0, "safety", "Look over your shoulder", P_LOOK_BACK, require="backward"))
    assert _run(q, 3, direction="forward") == []             # the bout ended: not said


def test_min_priority_holds_back() -> None:
    q = PromptQueue()
    q.push(_pend(0, "interval", "One minute backward", P_INTERVAL))
    assert q.pop(0.0, None, min_priority=P_FALL) is None
    p = q.pop(0.1, None)
    assert p is not None and p.text == "One minute backward"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 60), st.sampled_from(["cue", "interval", "safety", "info"]),
                          st.integers(0, 100), st.floats(0.5, 20),
                          st.sampled_from(["Backward", "Slow down", "Turn around in 10 seconds",
                                           "Four minutes backward, 380 retro steps"])),
                min_size=1, max_size=40))
def test_spacing_holds_for_any_pushes(items: list) -> None:
    q = PromptQueue()
    items = sorted(items)
    out, i, t = [], 0, 0.0
    while t < 90:
        while i < len(items) and items[i][0] <= t:
            due, kind, prio, stale, text = items[i]
            q.push(_pend(due, kind, text, prio, stale=stale))
            i += 1
        p = q.pop(t)
        if p:
            out.append(p)
            assert p.t_s <= _due_plus_stale(items, p) + 1e-9
        t = round(t + 0.2, 6)
    for a, b in zip(out, out[1:]):
        assert b.t_s - a.t_s >= 1.5 - 1e-9


def _due_plus_stale(items: list, p) -> float:
    return max(due + stale for due, kind, prio, stale, text in items if text == p.text and kind == p.kind)
