"""The direction pipeline: samples in, direction, steps and tallies out, in real time.

resample (50 Hz) -> windows (2 s every 0.2 s) -> orientation-free features relative to the
warm-up reference -> classifier -> HMM filter with hysteresis -> segments, events, steps.

The same object serves live sensors (small batches) and `coach analyze` (large batches):
features never depend on the classifier's output and the filter runs window by window, so
the result does not depend on how the stream was batched.
"""
from __future__ import annotations

import logging
import statistics

import numpy as np

from coach.detect.model import CLASSES, DirectionModel
from coach.detect.types import AnalysisResult, Event, LiveState, Segment, Tallies
from coach.signal.features import HOP, LABEL_POS, WIN, Reference, WindowStream, raw_features
from coach.signal.resample import FS, GAP_S, Resampler
from coach.sources.base import SampleBatch

log = logging.getLogger(__name__)

HOP_S = HOP / FS
LAG_S = (1 - LABEL_POS) * WIN / FS     # a window's decision speaks for this long before its end
STAY = 0.96                            # HMM: probability to stay in a state from one hop to the next
SWITCH_P = 0.6                         # hysteresis: posterior needed to change the reported state
BACK_SWITCH_P = 0.75                   # ... to change to backward (a false "Backward" costs more)
CADENCE_MEDIAN = 5                     # windows whose median cadence the step count integrates
FB_DIRECT = 0.1                        # a reversal mostly passes through a stop or a turn:
                                       # forward<->backward directly is this much rarer
_MODEL_CACHE: dict[str, DirectionModel] = {}


def transition_matrix() -> np.ndarray:
    """HMM transitions per hop over CLASSES (forward, backward, still, other)."""
    k = len(CLASSES)
    T = np.full((k, k), (1 - STAY) / (k - 1))
    np.fill_diagonal(T, STAY)
    f, b, still, other = (CLASSES.index(c) for c in ("forward", "backward", "still", "other"))
    for i, j in ((f, b), (b, f)):
        moved = T[i, j] * (1 - FB_DIRECT)
        T[i, j] -= moved
        T[i, still] += moved / 2
        T[i, other] += moved / 2
    return T


def _default_model() -> DirectionModel:
    if "default" not in _MODEL_CACHE:
        _MODEL_CACHE["default"] = DirectionModel.load()
    return _MODEL_CACHE["default"]


class DirectionPipeline:
    """Streaming detector. feed() batches, read .state, call finish() for the analysis."""

    def __init__(self, source_name: str = "stream", model: DirectionModel | None = None,
                 placement: str | None = None, device_key: str | None = None) -> None:
        """device_key: remember the forward reference for this device and placement across
        sessions (live sensors); None for recordings, which stand on their own."""
        self.source_name = source_name
        self.placement = placement
        self.model = model or _default_model()
        self.resampler = Resampler()
        self.windows = WindowStream()
        self.reference = Reference()
        self.device_key = device_key
        self._told_verdict = False
        if device_key:
            from coach.detect.reference_store import load_reference

            self.reference.prior = load_reference(device_key)
        self.state = LiveState()
        k = len(CLASSES)
        self._trans = transition_matrix()
        self._prior = np.array(self.model.card.get("class_prior", [0.25] * k))
        self._alpha = np.full(k, 1.0 / k)
        self._cur = "still"
        self._cur_since = 0.0
        self._walk_dir: str | None = None      # last walking direction (forward/backward)
        self._run_new: dict[str, float] = {}   # first label time of the current streak per class
        self.segments: list[Segment] = []
        self.events: list[Event] = []
        self.steps: list[tuple[float, str]] = []
        self._step_phase = 0.5
        self._t_first: float | None = None
        self._t_last = 0.0
        self._n_raw = 0
        self._gap_n = 0                        # intervals longer than GAP_S (sensor drops)
        self._gap_s = 0.0
        self._cad_hist: list[float] = []

    # ------------------------------------------------------------------ streaming
    def feed(self, batch: SampleBatch) -> list[Event]:
        """Process one batch; return the events it caused (direction changes, steps, gaps)."""
        if len(batch) == 0:
            return []
        new: list[Event] = []
        if self._t_first is None:
            self._t_first = float(batch.t[0])
            self._t_last = self._t_first
        # intervals longer than a gap are not sampling: the rate leaves them out
        d = np.diff(batch.t, prepend=self._t_last)
        self._gap_n += int((d > GAP_S).sum())
        self._gap_s += float(d[d > GAP_S].sum())
        self._n_raw += len(batch)
        self._t_last = float(batch.t[-1])
        mag = np.linalg.norm(batch.acc, axis=1)
        self.state.jolt_g = float(np.max(np.abs(mag - 1.0)))
        for chunk in self.resampler.push(batch.t, batch.acc, gap=batch.gap_before):
            if chunk.gap_before:
                new += self._gap(float(chunk.t[0]) if len(chunk.t) else self._t_last, chunk.gap_before)
            if len(chunk.t) == 0:
                continue
            wins, tend = self.windows.push(chunk.t, chunk.acc)
            if len(wins):
                new += self._windows(wins, tend)
        self.state.t_s = self._t_last
        self._update_tallies()
        return new

    def _gap(self, t_resume: float, dur: float) -> list[Event]:
        """A sensor drop: nothing is known inside it, so it is still time with no steps."""
        t_gap0 = t_resume - dur
        self._close_segment(max(t_gap0, self._cur_since))
        self._cur, self._cur_since = "still", t_gap0
        self._close_segment(t_resume)
        self._open(t_resume, "still")
        self._run_new.clear()
        self.windows.reset()
        self._alpha = np.full(len(CLASSES), 1.0 / len(CLASSES))
        self._step_phase = 0.5
        ev = Event(t_resume, "gap", {"duration_s": dur, "direction": "still"})
        self.events.append(ev)
        log.info("sensor gap of %.1f s at %.1f s", dur, t_gap0)
        return [ev]

    def _windows(self, wins: np.ndarray, tend: np.ndarray) -> list[Event]:
        raw = raw_features(wins)
        rel = self.reference.relative(raw)
        X = np.hstack([raw.even, rel])
        proba = self.model.predict_proba(X)
        out: list[Event] = []
        for i in range(len(tend)):
            t_lab = float(tend[i]) - LAG_S
            out += self._filter_step(proba[i], t_lab, float(tend[i]))
            out += self._count_steps(raw, i, t_lab)
        self.state.calibrated = self.reference.ready
        if self.reference.verdict and not self._told_verdict:
            self._told_verdict = True
            self.state.mounting = self.reference.verdict
            log.info({"same": "sensor worn as last time: last session's forward reference reused",
                      "changed": "sensor worn differently from last time: learning forward afresh",
                      "new": "forward reference learnt from the warm-up"}[self.reference.verdict])
        if self.reference.ready:
            self.state.forward_cadence_spm = 60 * self.reference.step_hz
        return out

    def _filter_step(self, p: np.ndarray, t_lab: float, t_now: float) -> list[Event]:
        emis = p / np.maximum(self._prior, 1e-3)
        a = (self._trans.T @ self._alpha) * emis
        self._alpha = a / max(a.sum(), 1e-12)
        best = CLASSES[int(np.argmax(p))]
        # remember where the current streak of each raw winner began (for back-dating)
        for c in CLASSES:
            if c == best:
                self._run_new.setdefault(c, t_lab)
            else:
                self._run_new.pop(c, None)
        self.state.confidence = float(self._alpha.max())
        k = int(np.argmax(self._alpha))
        cand = CLASSES[k]
        if cand == self._cur or self._alpha[k] < (BACK_SWITCH_P if cand == "backward" else SWITCH_P):
            return []
        onset = min(self._run_new.get(cand, t_lab), t_lab)
        onset = max(onset, self._cur_since)
        self._close_segment(onset)
        self._open(onset, cand)
        # every change of the reported state (still and other too), for observers that get
        # long batches (a file): they rebuild the live state timeline from these
        out = [Event(t_now, "state", {"direction": cand, "since_s": onset})]
        if cand in ("forward", "backward") and cand != self._walk_dir:
            first = self._walk_dir is None
            self._walk_dir = cand
            if not first or cand == "backward":
                ev = Event(t_now, "direction_change", {"direction": cand, "since_s": onset})
                self.events.append(ev)
                self.state.tallies.direction_changes += 1
                out.append(ev)
        return out

    def _count_steps(self, raw, i: int, t_lab: float) -> list[Event]:
        """Steps by integrating cadence over periodic (gait) windows: robust to placement."""
        if not raw.gait[i]:
            self._step_phase = 0.5   # a new bout's first step comes half a period in
            return []
        self._cad_hist = (self._cad_hist + [float(raw.step_hz[i])])[-8:]
        self.state.cadence_spm = 60 * statistics.median(self._cad_hist)
        # a single window's cadence can be off by a harmonic: integrate the recent median
        f = statistics.median(self._cad_hist[-CADENCE_MEDIAN:])
        self._step_phase += f * HOP_S
        out = []
        while self._step_phase >= 1.0:
            self._step_phase -= 1.0
            d = self._cur if self._cur in ("forward", "backward") else "other"
            self.steps.append((t_lab, d))
            out.append(Event(t_lab, "step", {"direction": d}))
        return out

    # ------------------------------------------------------------------ segments
    def _open(self, t: float, direction: str) -> None:
        self._cur = direction
        self._cur_since = t
        self.state.direction = direction
        self.state.since_s = t

    def _close_segment(self, t_end: float) -> None:
        start = self._cur_since
        if self.segments and self.segments[-1].end_s > start:
            start = self.segments[-1].end_s
        if t_end > start:
            self.segments.append(Segment(start, t_end, self._cur))

    def _update_tallies(self) -> None:
        t = Tallies(direction_changes=self.state.tallies.direction_changes)
        segs = self.segments + [Segment(self._cur_since, max(self._t_last, self._cur_since), self._cur)]
        for s in segs:
            if s.direction == "backward":
                t.retro_seconds += s.end_s - s.start_s
            elif s.direction == "forward":
                t.forward_seconds += s.end_s - s.start_s
        # steps belong to the segment their time falls in (back-dating moves them)
        bounds = np.array([s.start_s for s in segs[1:]])
        if self.steps:
            st = np.array([x[0] for x in self.steps])
            idx = np.searchsorted(bounds, st, side="right")
            dirs = np.array([s.direction for s in segs])[idx]
            t.retro_steps = int((dirs == "backward").sum())
            t.forward_steps = int((dirs == "forward").sum())
            t.other_steps = len(st) - t.retro_steps - t.forward_steps
        self.state.tallies = t

    def finish(self) -> AnalysisResult:
        """Close the stream: the last segment runs to the end of the data."""
        end = self._t_last
        self._close_segment(max(end, self._cur_since))
        segs = [s for s in self.segments if s.end_s > s.start_s]
        # cover the recording from its first sample time (0 for a CSV) to its end
        t0 = min(0.0, self._t_first or 0.0)
        if segs:
            segs[0].start_s = t0
        else:
            segs = [Segment(t0, end, "still")]
        merged: list[Segment] = []
        for s in segs:
            if merged and merged[-1].direction == s.direction:
                merged[-1].end_s = s.end_s
            else:
                merged.append(Segment(s.start_s, s.end_s, s.direction))
        bounds = np.array([s.start_s for s in merged[1:]])
        for ts, _ in self.steps:
            merged[int(np.searchsorted(bounds, ts, side="right"))].steps += 1
        self.segments = merged
        self._cur_since = end
        if self.device_key and self.reference.ready:
            from coach.detect.reference_store import save_reference

            save_reference(self.device_key, self.reference)
        self._update_tallies()
        dur = end - t0
        span = end - (self._t_first or 0.0) - self._gap_s
        n_int = self._n_raw - 1 - self._gap_n
        rate = n_int / span if n_int > 0 and span > 0 else 0.0
        return AnalysisResult(self.source_name, dur, rate, merged, list(self.events),
                              self.state.tallies, list(self.steps))
