"""Stumble and fall detection on raw accelerometer samples (g, sensor axes, gravity included).

Fall: an impact (|acc| above fall_impact_g), then, within fall_window_s, lying still for
fall_still_s (about 1 g, per-axis spread under fall_still_std_g) with gravity turned by at least
fall_tilt_deg from its direction before the impact. After "Are you OK?", movement clears
it; no movement for fall_alert_after_s raises the alert.

Stumble: during steady walking (the last six foot contacts evenly spaced), a sudden, brief
jolt (| |acc| - 1 g | above max(stumble_jolt_g, 2.5 x the wearer's usual peaks)) together
with a broken step rhythm (a contact interval far off the recent median), or a jolt above
stumble_jolt_alone_g (and 3 x the usual) on its own, or an impact not followed by a fall.
(At 1.8 x and 2.5 x, the 48 plain walks of the Oxford phone recordings, 128 minutes,
heard "Stumble?" 5 times: heel strikes in a pocket, bag or pouch on a hard floor; at 2.5 x
and 3 x, never: benchmarks/false_stumbles.py.)
Jolts while standing, starting or turning, and long saturated readings, do not count.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from coach.coaching.config import SafetySettings

JOLT_OVER_USUAL = 2.5      # a jolt stands this far above the wearer's usual peaks
ALONE_OVER_USUAL = 3.0     # ... and this far to count without a broken rhythm


@dataclass(slots=True)
class FallDetector:
    cfg: SafetySettings
    state: str = "normal"          # normal | impact | down
    t_impact: float = 0.0
    impact_peak_g: float = 0.0
    g_before: np.ndarray | None = None
    t_down: float = 0.0
    g_down: np.ndarray | None = None
    alerted: bool = False
    _t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    _a: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))

    def feed(self, t: np.ndarray, acc: np.ndarray) -> list[tuple[float, str]]:
        """Add samples; return (t_s, what) for "impact", "fall", "impact_only", "moved", "alert"."""
        out: list[tuple[float, str]] = []
        if len(t) == 0:
            return out
        self._t = np.concatenate([self._t, t])
        self._a = np.concatenate([self._a, acc])
        keep = self._t >= self._t[-1] - 12.0
        self._t, self._a = self._t[keep], self._a[keep]
        now = float(self._t[-1])
        mag = np.linalg.norm(self._a, axis=1)
        c = self.cfg
        if self.state == "normal":
            new = (self._t >= float(t[0])) & (mag > c.fall_impact_g)
            if new.any():
                i = int(np.argmax(new))
                self.t_impact = float(self._t[i])
                self.impact_peak_g = float(mag[i])
                pre = (self._t >= self.t_impact - 2.0) & (self._t <= self.t_impact - 0.3)
                self.g_before = _unit(self._a[pre].mean(axis=0)) if pre.sum() >= 3 else None
                self.state = "impact"
                out.append((self.t_impact, "impact"))
        if self.state == "impact" and now >= self.t_impact + 1.0:
            near = (self._t >= self.t_impact - 1.0) & (self._t <= self.t_impact + 1.0)
            if (mag[near] > c.fall_impact_g).mean() * 2.0 > 0.5:    # saturated or glitching
                self.state = "normal"
                return out
        if self.state == "impact":
            w = (self._t >= now - c.fall_still_s) & (self._t > self.t_impact + 0.3)
            span = float(self._t[w][-1] - self._t[w][0]) if w.sum() >= 2 else 0.0
            if span >= 0.9 * c.fall_still_s and self._is_still(self._a[w]):
                g_now = _unit(self._a[w].mean(axis=0))
                if self.g_before is None or _angle_deg(self.g_before, g_now) >= c.fall_tilt_deg:
                    self.state, self.t_down, self.g_down, self.alerted = "down", now, g_now, False
                    out.append((now, "fall"))
                    return out
            if now - self.t_impact > c.fall_window_s + c.fall_still_s:
                self.state = "normal"
                out.append((self.t_impact, "impact_only"))
        elif self.state == "down":
            w = self._t >= now - 1.0
            moved = not self._is_still(self._a[w])
            if not moved and w.sum() >= 2 and self.g_down is not None:
                moved = _angle_deg(self.g_down, _unit(self._a[w].mean(axis=0))) > 25.0
            if moved:
                self.state = "normal"
                out.append((now, "moved"))
            elif not self.alerted and now - self.t_down >= c.fall_alert_after_s:
                self.alerted = True
                out.append((now, "alert"))
        return out

    def _is_still(self, a: np.ndarray) -> bool:
        """About 1 g and barely moving (total per-axis spread below fall_still_std_g)."""
        if len(a) < 2:
            return True
        spread = float(np.sqrt(a.var(axis=0).sum()))
        return spread < self.cfg.fall_still_std_g and 0.8 < float(np.linalg.norm(a.mean(axis=0))) < 1.2


@dataclass(slots=True)
class StumbleDetector:
    """Jolts and step-rhythm breaks, both found in the raw samples.

    Foot contacts are the peaks of |acc| (at least 0.25 s apart, above the recent level); a
    contact interval more than stumble_rhythm_tolerance off the median of the last six
    breaks the rhythm. (The detector's step events are spread evenly from the cadence, so
    they cannot show a broken rhythm.)
    """

    cfg: SafetySettings
    _t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    _m: np.ndarray = field(default_factory=lambda: np.zeros(0))
    contacts: deque = field(default_factory=lambda: deque(maxlen=8))
    peaks: deque = field(default_factory=lambda: deque())          # (t, jolt) per batch, 30 s
    rhythm_breaks: deque = field(default_factory=lambda: deque(maxlen=8))
    jolts: deque = field(default_factory=lambda: deque(maxlen=8))
    last_stumble_s: float = -1e9
    refractory_s: float = 20.0
    steady_at: float = -1e9          # last foot contact of a steady rhythm
    steady_step_s: float = 0.0       # its step interval
    _maybe: deque = field(default_factory=deque)   # jolts waiting to be confirmed brief

    def samples(self, t: np.ndarray, acc: np.ndarray) -> None:
        """Look for a jolt and new foot contacts in a batch."""
        if len(t) == 0:
            return
        mag = np.linalg.norm(acc, axis=1)
        dev = np.abs(mag - 1.0)
        i = int(np.argmax(dev))
        peak, tp = float(dev[i]), float(t[i])
        self._t = np.concatenate([self._t, t])
        self._m = np.concatenate([self._m, mag])
        keep = self._t >= self._t[-1] - 8.0
        self._t, self._m = self._t[keep], self._m[keep]
        if self.is_jolt(peak) and self.in_stride(tp):
            self._maybe.append((tp, peak))
        # a jolt is confirmed once 0.5 s of what follows shows it was brief
        while self._maybe and self._t[-1] >= self._maybe[0][0] + 0.5:
            tj, pj = self._maybe.popleft()
            if self.brief(tj, pj):
                self.jolts.append((tj, pj))
        self.peaks.append((tp, peak))
        while self.peaks and self.peaks[0][0] < tp - 30.0:
            self.peaks.popleft()
        self._find_contacts()

    def in_stride(self, t: float) -> bool:
        """Within about one step of a contact of steady walking (not stopping or starting)."""
        return 0.0 <= t - self.steady_at <= 1.3 * self.steady_step_s

    def brief(self, tp: float, peak: float) -> bool:
        """A jolt is short: within 0.5 s of its peak, under 0.25 s above half its size.

        (A sensor that saturates or glitches stays high; a stumble or an impact does not.)
        """
        w = (self._t >= tp - 0.5) & (self._t <= tp + 0.5)
        if w.sum() < 3:
            return True
        high = np.abs(self._m[w] - 1.0) > 0.5 * peak
        span = float(self._t[w][-1] - self._t[w][0])
        return float(high.mean()) * span <= 0.25

    def usual_jolt(self) -> float:
        """The wearer's usual per-batch peak (90th percentile over the last 30 s)."""
        if len(self.peaks) < 10:
            return 0.0
        return float(np.percentile([p for _, p in self.peaks], 90))

    def is_jolt(self, peak: float) -> bool:
        return peak > max(self.cfg.stumble_jolt_g, JOLT_OVER_USUAL * self.usual_jolt())

    def _find_contacts(self) -> None:
        t, m = self._t, self._m
        if len(t) < 10 or t[-1] - t[0] < 1.0:
            return
        recent = t >= t[-1] - 4.0
        level, spread = float(m[recent].mean()), float(m[recent].std())
        if spread < 0.03:          # not walking
            return
        last = self.contacts[-1] if self.contacts else -1e9
        ok_end = t[-1] - 0.25
        cand = np.flatnonzero((t > last + 0.25) & (t <= ok_end) & (m > level + 0.5 * spread))
        for j in cand:
            lo = np.searchsorted(t, t[j] - 0.2)
            hi = np.searchsorted(t, t[j] + 0.2, side="right")
            if m[j] < m[lo:hi].max() or (self.contacts and t[j] <= self.contacts[-1] + 0.25):
                continue
            self._contact(float(t[j]))

    def _contact(self, tc: float) -> None:
        if len(self.contacts) >= 7:
            ivs = np.diff(np.array(self.contacts))[-6:]
            med = float(np.median(ivs))
            iv = tc - self.contacts[-1]
            steady = 0.25 <= med <= 1.5 and float(np.abs(ivs - med).max()) <= 0.15 * med
            if steady and abs(iv - med) > self.cfg.stumble_rhythm_tolerance * med:
                self.rhythm_breaks.append(tc)
            elif steady:
                self.steady_at, self.steady_step_s = tc, med
        self.contacts.append(tc)

    def check(self, now: float) -> float | None:
        """Stream time of a new stumble (a jolt with a broken rhythm near it), or None."""
        w = self.cfg.stumble_window_s
        for tj, peak in self.jolts:
            if tj <= self.last_stumble_s + self.refractory_s:
                continue
            hit = any(abs(tr - tj) <= w for tr in self.rhythm_breaks) or \
                peak >= self.cfg.stumble_jolt_alone_g and peak > ALONE_OVER_USUAL * self.usual_jolt()
            if hit:
                self.last_stumble_s = tj
                return tj
        return None

    def impact_without_fall(self, t: float) -> bool:
        """An impact that did not end in a fall: a stumble if it was a confirmed jolt (brief,
        in steady walking) and none was just reported."""
        if t <= self.last_stumble_s + self.refractory_s or \
                not any(abs(tj - t) <= 0.3 for tj, _ in self.jolts):
            return False
        self.last_stumble_s = t
        return True


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else np.array([0.0, 0.0, 1.0])


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(float(np.dot(a, b)), -1.0, 1.0))))
