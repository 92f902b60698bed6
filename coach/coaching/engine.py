"""The coach: a deterministic engine on stream time, and the Observer that speaks for it.

    coach = Coach("classic", load_coach_config(None))
    for batch, state, events in stream:
        for prompt in coach.update(state, events, batch):   # at most one per live batch
            ...
    coach.finish(result)                                       # the session summary

Everything (rules, priorities, spacing, staleness) is decided here on stream time, so the
prompts of `coach analyze --coach` are exactly those the live coach speaks, at the same
stream times; the Speaker only plays what it is given.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from coach.coaching import phrases as say
from coach.coaching.config import CoachConfig, ProgramSpec
from coach.coaching.programs import Interval, Program, build_program
from coach.coaching.prompts import (
    P_CAP,
    P_COMPLIANCE,
    P_CUE,
    P_FALL,
    P_FIRST_RUN,
    P_INFO,
    P_INTERVAL,
    P_LOOK_BACK,
    P_PROGRESS,
    P_SLOW_DOWN,
    P_STUMBLE,
    P_SUMMARY,
    Pending,
    Prompt,
    PromptQueue,
)
from coach.coaching.safety import FallDetector, StumbleDetector
from coach.detect.types import Event, LiveState, Tallies
from coach.types import Direction

log = logging.getLogger(__name__)

WALKING = (Direction.FORWARD, Direction.BACKWARD)
MAX_STEP_S = 0.5           # batches longer than this are replayed in SUB_STEP_S steps
SUB_STEP_S = 0.2
BOUT_GRACE_S = 1.5         # a still/other pause shorter than this does not end a backward bout
DETECT_LAG_S = 1.5         # allowance for the detector's latency when timing a pause
REPEAT_CUE_AFTER_S = 1.0   # walking on in the same direction after a pause this long is cued again
SPOKEN_GAP_S = 3.0         # a sensor drop this long is spoken when the data comes back
ALERT_CONFIRM_S = 10.0     # wait this long for the alert path to confirm an alert went out


@dataclass(slots=True)
class Alert:
    """Something to publish (MQTT, by coach.outputs): a suspected fall with no movement after."""

    t_s: float
    kind: str            # "fall"
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"t_s": round(self.t_s, 3), "kind": self.kind, "text": self.text, **self.data}


class Coach:
    """Turns the detector's state, events and raw samples into spoken prompts."""

    def __init__(self, program: Program | ProgramSpec | str | None = None,
                 config: CoachConfig | None = None, *,
                 history: Iterable[dict[str, Any]] | None = None,
                 first_run: bool | None = None, today: dt.date | None = None) -> None:
        self.config = config or CoachConfig()
        history = list(history) if history is not None else None
        if isinstance(program, Program):
            self.program = program
        else:
            spec = program if isinstance(program, ProgramSpec) else self.config.program(program)
            self.program = build_program(spec, history, today)
        sp, sf = self.config.speech, self.config.safety
        self.queue = PromptQueue(sp.min_gap_s, sp.pause_s, sp.rate_wpm)
        self.first_run = (not history) if first_run is None else first_run
        self.prompts: list[Prompt] = []
        self.alerts: list[Alert] = []
        self.falls = 0
        self.stumbles = 0
        self.fall = FallDetector(sf)
        self.stumble = StumbleDetector(sf)
        self.t0: float | None = None
        self.now = 0.0
        self.prev_now = 0.0
        self._credited: tuple[int, float] | None = None   # (interval, run start) back-dated
        self.state = LiveState()
        self.direction = "still"
        self.dir_since = 0.0
        self.bout_start: float | None = None      # current backward bout (stream time)
        self.bout_paused: float | None = None     # when it paused (still/other), if it did
        self.last_walk = ""                       # last walking direction cued
        self.walk_ended = -1e9                    # when the wearer last stopped walking
        self.next_look_back = 0.0
        self.next_cap_s = 0.0
        self.cap_bout_said: float | None = None
        self.over_since: float | None = None
        self.next_slow_down = -1e9
        self.backward_s = 0.0
        self.over_limit_s = 0.0
        self.reported_min = 0
        self.complied: set[int] = set()
        self.down = False
        self.alert_path = False    # an alert goes somewhere (MQTT): say so only once it was sent
        self.sensor_lost = False   # the source said the sensor is gone (the coach said so)
        self._finished = False
        self.intervals_done: list[dict[str, Any]] = []   # one record per interval (updated)
        self.interval_updates: list[dict[str, Any]] = [] # records changed since last drained
        self._iv_index: int | None = None

    # ------------------------------------------------------------------ helpers

    @property
    def session_s(self) -> float:
        """Seconds since the coach's first sample."""
        return 0.0 if self.t0 is None else self.now - self.t0

    def _push(self, due: float, kind: str, text: str, priority: int, key: str = "",
              stale_s: float | None = None, require: str | None = None) -> None:
        stale = self.config.speech.stale_after_s if stale_s is None else stale_s
        self.queue.push(Pending(due, due + stale, kind, text, priority, key, require))

    def cadence_limit_spm(self) -> float:
        """The backward cadence above which the coach says "Slow down" (0: unknown yet)."""
        s = self.config.safety
        if s.max_cadence_spm > 0:
            return s.max_cadence_spm
        fwd = self.state.forward_cadence_spm
        return fwd * s.max_pace_ratio / max(s.backward_stride_ratio, 1e-6) if fwd > 0 else 0.0

    # ------------------------------------------------------------------ start

    def _start(self, t0: float) -> None:
        self.t0 = self.now = t0
        self.dir_since = t0
        sf, p = self.config.safety, self.program
        if sf.first_run_notice and (self.first_run or sf.history_of_falls):
            self._push(t0, "safety", say.FIRST_RUN, P_FIRST_RUN, "first_run", stale_s=30)
        text = say.intro(p.title, p.warmup_s, p.forward_s, p.backward_s, p.total_s,
                         "free" if not p.intervals else p.kind, p.backward_target_s, p.standing)
        if p.rest_advised:
            text += " " + say.REST
        self._push(t0, "info", text, P_INFO + 2, "intro", stale_s=60)
        self._push(t0, "info", say.TREADMILL if p.treadmill else say.BASICS, P_INFO + 1, "basics",
                   stale_s=90)
        warn = self.config.coach.warn_before_s
        prev: Interval | None = None
        for iv in p.intervals:
            t = t0 + iv.start_s
            if prev is not None and iv.direction != prev.direction:
                if warn > 0 and prev.duration_s >= warn + 5:
                    self._push(t - warn, "interval", say.turn_in(warn), P_INTERVAL, f"warn@{iv.start_s}",
                               stale_s=warn - 2)
                self._push(t, "interval", say.interval(iv.duration_s, iv.direction, iv.label), P_INTERVAL,
                           f"switch@{iv.start_s}", stale_s=6)
            prev = iv
        if p.intervals:
            self._push(t0 + p.total_s, "interval", say.PROGRAM_DONE, P_INTERVAL, "done", stale_s=10)

    # ------------------------------------------------------------------ update

    def update(self, state: LiveState, events: list[Event] | None = None,
               batch: Any = None) -> list[Prompt]:
        """Feed one batch's state, events and samples; return what is said during it.

        Live batches (up to MAX_STEP_S long) give at most one prompt. A longer batch (a file
        read in big chunks) is replayed in SUB_STEP_S steps, with the direction rebuilt from
        its events, so the prompts come out close to the live ones; for exactly the live
        prompts, feed live-sized batches.
        """
        events = list(events or [])
        if batch is None or len(batch) == 0:
            return self._step(state, events, None, None, float(state.t_s))
        t, acc = batch.t, batch.acc
        if t[-1] - t[0] <= MAX_STEP_S:
            return self._step(state, events, t, acc, float(t[-1]))
        edges = np.arange(t[0] + SUB_STEP_S, t[-1], SUB_STEP_S)
        cuts = sorted(set(int(i) for i in np.searchsorted(t, edges, side="right")) - {0, len(t)})
        bounds = [0, *cuts, len(t)]
        pending = sorted(events, key=lambda e: e.t_s)
        d, since = self.direction, self.dir_since
        out: list[Prompt] = []
        for a, b in zip(bounds, bounds[1:]):
            tc, last = float(t[b - 1]), b == len(t)
            now_ev = pending if last else [e for e in pending if e.t_s <= tc]
            pending = [] if last else [e for e in pending if e.t_s > tc]
            for e in now_ev:
                if e.type in ("direction_change", "state"):
                    d, since = str(e.data.get("direction", d)), float(e.data.get("since_s", e.t_s))
            # the batch's final state, where no event of this batch leads to it (a source
            # without state events): from a second into it. Where one does, that event sets
            # it, when it fired: taking the final state earlier cued a change before the
            # detector reported it
            if (state.since_s > since and tc >= state.since_s + 1.0
                    and not any(e.type in ("direction_change", "state") for e in pending)):
                d, since = state.direction, float(state.since_s)
            st = state if last else replace(state, t_s=tc, direction=d, since_s=since,
                                            tallies=self.state.tallies)
            out += self._step(st, now_ev, t[a:b], acc[a:b], tc)
        return out

    def _step(self, state: LiveState, events: list[Event], t: np.ndarray | None,
              acc: np.ndarray | None, now: float) -> list[Prompt]:
        if self.t0 is None:
            self._start(float(t[0]) if t is not None else now)
        self.prev_now, self.now, self.state = self.now, max(now, self.now), state
        now = self.now
        if t is not None and acc is not None and len(t):   # stumble/fall need the raw samples
            self._samples(t, acc)
        cued = ""
        for ev in events:
            if ev.type == "direction_change":
                cued = str(ev.data.get("direction", "other"))
                self._cue(cued, ev.t_s)
            elif ev.type == "gap":
                self._sensor_back(ev.t_s, float(ev.data.get("duration_s", 0.0)))
        self._track(state.direction, min(float(state.since_s), now), now, cued)
        self._rules(state)
        self._intervals(state)
        out: list[Prompt] = []
        p = self.queue.pop(now, self.direction, min_priority=P_STUMBLE if self.down else None)
        if p is not None:
            self.prompts.append(p)
            out.append(p)
        return out

    def _samples(self, t: np.ndarray, acc: np.ndarray) -> None:
        self.stumble.samples(t, acc)
        for ts, what in self.fall.feed(t, acc):
            if what == "fall":
                self.falls += 1
                self.down = True
                self._push(ts, "safety", say.FALL, P_FALL, "fall", stale_s=10)
            elif what == "moved":
                self.down = False
                self.queue.cancel("fall")
                self._push(ts, "safety", say.FALL_MOVED, P_STUMBLE, "fall_moved", stale_s=10)
            elif what == "alert":
                self.alerts.append(Alert(ts, "fall", "Possible fall: no movement after an impact",
                                         {"impact_s": round(self.fall.t_impact, 3),
                                          "down_s": round(self.fall.t_down, 3)}))
                if not self.alert_path:   # else alert_sent() speaks, once it went out
                    self._push(ts, "safety", say.FALL_NO_ALERT, P_FALL, "fall_alert", stale_s=20)
            elif what == "impact_only" and self.stumble.impact_without_fall(ts):
                self._stumbled(ts)

    def alert_sent(self, sent: bool) -> None:
        """The observer handed the last alert to the alert path (sent) or could not (not sent)."""
        self._push(self.now, "safety", say.FALL_ALERT_SENT if sent else say.FALL_NO_ALERT, P_FALL,
                   "fall_alert", stale_s=20)

    def _sensor_back(self, t: float, gap_s: float) -> None:
        """Data flows again after a sensor drop the walker was told of (or a long one)."""
        if self.sensor_lost or gap_s >= SPOKEN_GAP_S:
            self.sensor_lost = False
            self.queue.cancel("sensor")
            self._push(max(t, self.now), "safety", say.SENSOR_BACK, P_STUMBLE, "sensor", stale_s=10)

    def say_now(self, kind: str, text: str, priority: int, key: str = "") -> Prompt:
        """A prompt said at once, outside the stream (e.g. the sensor is gone: no batches come)."""
        p = Prompt(self.now, kind, text, priority, key)
        self.queue.last = p
        self.prompts.append(p)
        return p

    def _stumbled(self, t: float) -> None:
        self.stumbles += 1
        self._push(max(t, self.now), "safety", say.STUMBLE, P_STUMBLE, "stumble", stale_s=6)

    def _cue(self, d: str, t_event: float) -> None:
        """The detector's direction_change event: say the new direction, right away."""
        if d not in WALKING:
            return
        self.last_walk = d
        if not self.config.coach.cues:
            return
        last = self.queue.last
        if last and last.key == "cue" and last.text == say.cue(d) and t_event - last.t_s < 3.0:
            return
        self._push(t_event, "cue", say.cue(d), P_CUE, "cue", stale_s=2.5, require=d)

    def _track(self, d: str, since: float, now: float, cued: str = "") -> None:
        """Follow the detector's state: backward bouts (a pause under BOUT_GRACE_S continues one).

        The detector's events only mark changes of walking direction; walking on after a
        pause of REPEAT_CUE_AFTER_S or more (or a first walk, or a source without events)
        is cued from the state here.
        """
        if d != self.direction:
            prev, self.direction, self.dir_since = self.direction, d, since
            if prev in WALKING:
                self.walk_ended = since
            if d in WALKING and d != cued and (
                    d != self.last_walk or since - self.walk_ended >= REPEAT_CUE_AFTER_S):
                self._cue(d, now)
            if d == Direction.BACKWARD:
                if self.bout_start is not None and self.bout_paused is not None \
                        and since - self.bout_paused <= BOUT_GRACE_S:
                    self.bout_paused = None                       # the same bout goes on
                else:
                    self._end_bout(now)
                    every = self.config.safety.look_back_every_s
                    self.bout_start, self.bout_paused = since, None
                    self.next_look_back = max(since + every, now)
                    self.next_cap_s = since + self.config.safety.max_continuous_backward_s
                    self.over_since = None
            elif prev == Direction.BACKWARD:
                self.bout_paused = since
        if self.bout_start is not None and self.bout_paused is not None and \
                (d == Direction.FORWARD or now - self.bout_paused >= BOUT_GRACE_S + DETECT_LAG_S):
            self._end_bout(now)

    def _end_bout(self, now: float) -> None:
        """A backward bout is over: progress, once per new whole minute of backward time."""
        if self.bout_start is None:
            return
        ended = self.bout_paused if self.bout_paused is not None else now
        self.bout_start = self.bout_paused = None
        tal = self.state.tallies
        m = int((tal.retro_seconds + 0.5) // 60)
        if self.config.coach.progress and m > self.reported_min:
            self.reported_min = m
            self._push(max(now, ended + self.config.coach.progress_delay_s), "info",
                       say.progress(tal.retro_seconds, tal.retro_steps), P_PROGRESS, "progress",
                       stale_s=20)

    def _rules(self, state: LiveState) -> None:
        now, sf = self.now, self.config.safety
        dt_s = max(0.0, now - self.prev_now)
        # stumble
        ts = self.stumble.check(now)
        if ts is not None and (self.direction in WALKING or now - self.dir_since < 3.0):
            self._stumbled(ts)
        if self.down:
            return
        if self.direction == Direction.BACKWARD and self.bout_start is not None:
            self.backward_s += dt_s
            # look over your shoulder: at bout start + k * every
            if now >= self.next_look_back - 1e-9:
                every = sf.look_back_every_s
                self._push(self.next_look_back, "safety", say.LOOK_BACK, P_LOOK_BACK, "look_back",
                           stale_s=max(3.0, min(every / 2, 6.0)), require="backward")
                while self.next_look_back <= now + 1e-9:
                    self.next_look_back += every
            # caps
            if now >= self.next_cap_s:
                self._push(now, "safety", say.continuous_cap(sf.max_continuous_backward_s), P_CAP,
                           "cap", stale_s=10, require="backward")
                self.next_cap_s = now + sf.cap_repeat_s
            if state.tallies.retro_seconds >= sf.max_session_backward_s and \
                    self.cap_bout_said != self.bout_start:
                self.cap_bout_said = self.bout_start
                self._push(now, "safety", say.SESSION_CAP, P_CAP, "session_cap", stale_s=10,
                           require="backward")
            # slow down
            limit = self.cadence_limit_spm()
            if limit > 0 and state.cadence_spm > limit:
                self.over_limit_s += dt_s
                self.over_since = now if self.over_since is None else self.over_since
                if now - self.over_since >= sf.slow_down_hold_s and now >= self.next_slow_down:
                    self._push(now, "safety", say.SLOW_DOWN, P_SLOW_DOWN, "slow_down", stale_s=4,
                               require="backward")
                    self.next_slow_down = now + sf.slow_down_every_s
            else:
                self.over_since = None
        # compliance with the program
        st = self.session_s
        i = self.program.index_at(st)
        if i is not None and i not in self.complied:
            iv = self.program.intervals[i]
            grace = self.config.coach.compliance_grace_s
            if st >= iv.start_s + grace and st < iv.end_s - 5 and now - self.dir_since >= grace:
                if iv.direction == Direction.BACKWARD and self.direction == Direction.FORWARD:
                    self.complied.add(i)
                    self._push(now, "interval", say.STILL_FORWARD, P_COMPLIANCE, "comply", stale_s=8,
                               require="forward")
                elif iv.direction == Direction.FORWARD and self.direction == Direction.BACKWARD and i > 0:
                    self.complied.add(i)
                    self._push(now, "interval", say.STILL_BACKWARD, P_COMPLIANCE, "comply", stale_s=8,
                               require="backward")

    def _intervals(self, state: LiveState) -> None:
        """Keep a record per program interval: how much of it the wearer did, and how."""
        p, st = self.program, self.session_s
        dt_s = max(0.0, self.now - self.prev_now)
        i = p.index_at(st)
        if self._iv_index is not None and i != self._iv_index:
            rec = self.intervals_done[-1]
            rec["end_s"] = round(self.now, 3)
            rec["status"] = ("done" if rec["done_s"] >= 0.8 * rec["planned_s"] else
                             "partial" if rec["done_s"] >= 0.2 * rec["planned_s"] else "skipped")
            self.interval_updates.append(dict(rec))
        if i is not None and i != self._iv_index:
            iv = p.intervals[i]
            rec = {"index": i, "label": iv.label, "direction": iv.direction,
                   "planned_s": round(iv.duration_s, 3), "start_s": round((self.t0 or 0.0) + iv.start_s, 3),
                   "end_s": None, "done_s": 0.0, "steps": 0, "status": "running",
                   "_steps0": self._steps_of(iv.direction, state)}
            self.intervals_done.append(rec)
            self.interval_updates.append({k: v for k, v in rec.items() if not k.startswith("_")})
        self._iv_index = i
        if i is not None:
            rec = self.intervals_done[-1]
            if self.direction == rec["direction"]:
                if self._credited != (i, self.dir_since):
                    # the detector shows a direction 1-2 s after it began and dates it back:
                    # that time in the interval was walked its way too
                    self._credited = (i, self.dir_since)
                    dt_s += max(0.0, self.prev_now - max(self.dir_since, rec["start_s"]))
                rec["done_s"] = round(rec["done_s"] + dt_s, 3)
            rec["steps"] = self._steps_of(rec["direction"], state) - rec["_steps0"]

    @staticmethod
    def _steps_of(direction: str, state: LiveState) -> int:
        t = state.tallies
        return t.retro_steps if direction == Direction.BACKWARD else t.forward_steps

    def drain_interval_updates(self) -> list[dict[str, Any]]:
        """Interval records that changed since the last call (for the store and MQTT)."""
        out = [{k: v for k, v in r.items() if not k.startswith("_")} for r in self.interval_updates]
        self.interval_updates.clear()
        return out

    # ------------------------------------------------------------------ end

    def finish(self, result: Any = None) -> list[Prompt]:
        """End the session: the spoken summary (once), after the last prompt."""
        if self._finished:
            return []
        self._finished = True
        tal: Tallies = getattr(result, "tallies", None) or self.state.tallies
        if self._iv_index is not None and self.intervals_done:
            rec = self.intervals_done[-1]
            rec["end_s"] = round(self.now, 3)
            rec["status"] = "done" if rec["done_s"] >= 0.8 * rec["planned_s"] else "stopped"
            self.interval_updates.append(dict(rec))
            self._iv_index = None
        self.queue.pending.clear()
        text = say.summary(tal.retro_seconds, tal.retro_steps, tal.direction_changes, self.stumbles)
        t = max(self.now, self.queue.next_allowed_s(urgent=False))
        p = Prompt(t, "info", text, P_SUMMARY, "summary")
        self.queue.last = p
        self.prompts.append(p)
        return [p]

    def summary(self) -> dict[str, Any]:
        """This session as the progression needs it (the session store adds it to history)."""
        tal = self.state.tallies
        target = self.program.backward_target_s
        done = self.program.kind == "free" or self.session_s >= self.program.total_s - 1 or (
            target > 0 and tal.retro_seconds >= 0.9 * target)
        return {
            "date": dt.date.today().isoformat(),
            "program": self.program.name,
            "retro_seconds": round(tal.retro_seconds, 2),
            "retro_steps": tal.retro_steps,
            "backward_target_s": round(target, 1),
            "completed": bool(done),
            "stumbles": self.stumbles,
            "falls": self.falls,
            "cadence_held": self.over_limit_s <= 0.1 * max(self.backward_s, 1e-9),
            "prompts": len(self.prompts),
        }

    def prompts_json(self) -> list[dict[str, Any]]:
        """The `"prompts"` list of `coach analyze --coach`."""
        return [p.to_json() for p in self.prompts]


# ---------------------------------------------------------------------- live


class Speaker(Protocol):
    """Plays prompts; must not block (queue and return)."""

    async def say(self, prompt: Prompt) -> None: ...


AlertListener = Callable[[Alert], Awaitable[None] | None]


class CoachObserver:
    """A session Observer: runs the Coach on each batch and hands prompts to a Speaker.

    .prompts / .alerts / .prompts_json() hold everything said and raised so far.
    Sinks (the MQTT publisher, the live display: anything with publish_prompt(dict) and/or
    publish_alert(dict)) get each prompt and alert as JSON; add_alert_listener(cb) takes a
    plain (async or sync) callback for alerts.
    """

    def __init__(self, program: Program | ProgramSpec | str | None = None,
                 config: CoachConfig | None = None, speaker: Speaker | None = None, *,
                 history: Iterable[dict[str, Any]] | None = None,
                 first_run: bool | None = None, sinks: Iterable[Any] = ()) -> None:
        self.coach = Coach(program, config, history=history, first_run=first_run)
        self.speaker = speaker
        self.sinks: list[Any] = list(sinks)
        self._listeners: list[AlertListener] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        self.result: Any = None
        for sink in list(self.sinks):
            self.sinks.remove(sink)
            self.add_sink(sink)

    @property
    def prompts(self) -> list[Prompt]:
        return self.coach.prompts

    @property
    def alerts(self) -> list[Alert]:
        return self.coach.alerts

    def prompts_json(self) -> list[dict[str, Any]]:
        return self.coach.prompts_json()

    def add_alert_listener(self, cb: AlertListener) -> None:
        self._listeners.append(cb)

    def add_sink(self, sink: Any) -> None:
        """Send prompts, alerts and intervals to `sink`; a live display also gets the program panel.

        A sink with `is_alert_path` (MQTT) carries alerts to someone: with one, the walker is
        told an alert was sent once it was; without, what to do instead."""
        self.sinks.append(sink)
        if getattr(sink, "is_alert_path", False):
            self.coach.alert_path = True
        set_program = getattr(sink, "set_program", None)
        if set_program is not None:
            p = self.coach.program
            set_program(p.name, p.backward_target_s or None)
        if getattr(sink, "is_display", False) and hasattr(self.speaker, "text_elsewhere"):
            setattr(self.speaker, "text_elsewhere", True)   # noqa: B010 - the display shows each prompt already
        add_renderable = getattr(sink, "add_renderable", None)
        if add_renderable is not None:
            from coach.coaching.display import program_panel
            add_renderable(lambda: program_panel(self))

    async def _emit(self, prompts: list[Prompt], n_alerts: int) -> None:
        for p in prompts:
            if self.speaker is not None:
                await self.speaker.say(p)
            for sink in self.sinks:
                fn = getattr(sink, "publish_prompt", None)
                if fn is not None:
                    await _maybe_await(fn(p.to_json()))
        for a in self.coach.alerts[n_alerts:]:
            taken: list[Any] = []            # alert paths that took the alert
            for sink in self.sinks:
                fn = getattr(sink, "publish_alert", None)
                if fn is not None:
                    try:
                        await _maybe_await(fn(a.to_json()))
                    except Exception as e:  # noqa: BLE001 - the walker must still hear something
                        log.warning("alert not sent to %s: %s", type(sink).__name__, e)
                        continue
                    if getattr(sink, "is_alert_path", False):
                        taken.append(sink)
            for cb in self._listeners:
                await _maybe_await(cb(a))
            if self.coach.alert_path:
                checks = [c for c in (getattr(s, "alert_delivered", None) for s in taken) if c]
                if not checks:                 # nothing to wait for: sent when taken
                    self.coach.alert_sent(bool(taken))
                else:                          # say "sent" once the broker acknowledged it
                    task = asyncio.get_running_loop().create_task(self._confirm(checks))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        for rec in self.coach.drain_interval_updates():
            for sink in self.sinks:
                fn = getattr(sink, "publish_interval", None)
                if fn is not None:
                    await _maybe_await(fn(rec))

    async def _confirm(self, checks: list[Any]) -> None:
        sent = False
        for check in checks:
            try:
                sent = bool(await check(ALERT_CONFIRM_S)) or sent
            except Exception as e:  # noqa: BLE001 - not confirmed is not sent
                log.warning("alert delivery not confirmed: %s", e)
        self.coach.alert_sent(sent)

    def on_notice(self, text: str) -> None:
        """The source's word on the link ("sensor connection lost; reconnecting", "sensor back
        after 4.2 s...", "... ending"): a loss is said at once (no batches come while the
        sensor is away); the return is said when data flows again (the detector's gap event)."""
        m = text.lower()
        if "ending" in m:
            said = say.SENSOR_GONE
        elif "lost" in m or "reconnecting" in m or "no data" in m:
            if self.coach.sensor_lost:
                return
            self.coach.sensor_lost = True
            said = say.SENSOR_LOST
        else:
            return
        p = self.coach.say_now("safety", said, P_STUMBLE, "sensor")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._emit([p], len(self.coach.alerts)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def on_batch(self, batch: Any, state: LiveState, events: list[Event]) -> None:
        if not self._started:
            self._started = True
            start = getattr(self.speaker, "start", None)
            if start is not None:
                start()                      # a SpeechTask runs in this session's event loop
        n = len(self.coach.alerts)
        said = self.coach.update(state, events, batch)
        await self._emit(said, n)
        if said and self.speaker is not None:
            await asyncio.sleep(0)           # let the speech task pick it up

    async def on_end(self, result: Any) -> None:
        self.result = result
        if self._tasks:                      # an alert being confirmed, a notice being said
            await asyncio.wait(set(self._tasks), timeout=ALERT_CONFIRM_S)
        n = len(self.coach.alerts)
        await self._emit(self.coach.finish(result), n)
        for sink in self.sinks:              # the store keeps it for the next session's progression
            fn = getattr(sink, "publish_summary", None)
            if fn is not None:
                await _maybe_await(fn(self.coach.summary()))
        close = getattr(self.speaker, "close", None)
        if close is not None:
            await close()                    # says what is queued (the summary), then stops

    def json_extra(self) -> dict[str, Any]:
        """What `coach analyze --coach` adds to its JSON."""
        return {"prompts": self.prompts_json()}

    def summary(self) -> dict[str, Any]:
        """This session for the progression history (see Coach.summary)."""
        return self.coach.summary()


async def _maybe_await(r: Any) -> None:
    if r is not None and hasattr(r, "__await__"):
        await r


def prompts_for(steps: Iterable[tuple[Any, LiveState, list[Event]]],
                program: Program | ProgramSpec | str | None = None,
                config: CoachConfig | None = None, result: Any = None,
                **kw: Any) -> list[Prompt]:
    """Run the engine over (batch, state, events) triples; the prompts it would say."""
    coach = Coach(program, config, **kw)
    for batch, state, events in steps:
        coach.update(state, events, batch)
    coach.finish(result)
    return coach.prompts
