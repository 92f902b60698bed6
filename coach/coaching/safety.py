"""Stumble and fall detection on raw accelerometer samples (g, sensor axes, gravity included).

Fall: an impact (|acc| above fall_impact_g), then, within fall_window_s, lying still for
fall_still_s (about 1 g, per-axis spread under fall_still_std_g) with gravity turned by at least
fall_tilt_deg from its direction before the impact. After "Are you OK?", movement clears
it; no movement for fall_alert_after_s raises the alert.

Stumble: a sudden jolt (| |acc| - 1 g | above max(stumble_jolt_g, 1.5 x the wearer's usual
step peaks)) together with a broken step rhythm (a step interval far off the recent
median), or an impact that is not followed by a fall. Without step events, a jolt above
stumble_jolt_alone_g counts on its own.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from coach.coaching.config import SafetySettings


@dataclass(slots=True)
class FallDetector:
    cfg: SafetySettings
    state: str = "normal"          # normal | impact | down
    t_impact: float = 0.0
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
                pre = (self._t >= self.t_impact - 2.0) & (self._t <= self.t_impact - 0.3)
                self.g_before = _unit(self._a[pre].mean(axis=0)) if pre.sum() >= 3 else None
                self.state = "impact"
                out.append((self.t_impact, "impact"))
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
    cfg: SafetySettings
    steps: deque = field(default_factory=lambda: deque(maxlen=9))
    peaks: deque = field(default_factory=lambda: deque(maxlen=300))   # (t, jolt) per batch
    rhythm_breaks: deque = field(default_factory=lambda: deque(maxlen=8))
    jolts: deque = field(default_factory=lambda: deque(maxlen=8))
    seen_steps: bool = False
    last_stumble_s: float = -1e9

    def step(self, t: float) -> None:
        """A detected foot contact at t."""
        self.seen_steps = True
        if self.steps:
            ivs = np.diff(np.array(list(self.steps) + [t]))
            if len(ivs) >= 4:
                med = float(np.median(ivs[:-1]))
                if 0.3 <= med <= 1.5 and abs(ivs[-1] - med) > self.cfg.stumble_rhythm_tolerance * med:
                    self.rhythm_breaks.append(t)
        self.steps.append(t)

    def samples(self, t: np.ndarray, acc: np.ndarray) -> None:
        """Look for a jolt in a batch."""
        if len(t) == 0:
            return
        dev = np.abs(np.linalg.norm(acc, axis=1) - 1.0)
        i = int(np.argmax(dev))
        peak, tp = float(dev[i]), float(t[i])
        usual = float(np.percentile([p for _, p in self.peaks], 90)) if len(self.peaks) >= 10 else 0.0
        if peak > max(self.cfg.stumble_jolt_g, 1.5 * usual):
            self.jolts.append((tp, peak))
        self.peaks.append((tp, peak))
        while self.peaks and self.peaks[0][0] < tp - 30.0:
            self.peaks.popleft()

    def check(self, now: float) -> float | None:
        """Stream time of a new stumble, or None (refractory 10 s)."""
        w = self.cfg.stumble_window_s
        for tj, peak in self.jolts:
            if tj <= self.last_stumble_s + 10.0:
                continue
            # step events may arrive up to ~1 s after the contact (detector latency)
            hit = any(tj - w <= tr <= tj + w + 1.0 for tr in self.rhythm_breaks)
            if not hit and not self.seen_steps and peak >= self.cfg.stumble_jolt_alone_g:
                hit = True
            if hit:
                self.last_stumble_s = tj
                return tj
        return None

    def impact_without_fall(self, t: float) -> bool:
        """An impact that did not end in a fall: a stumble unless one was just reported."""
        if t <= self.last_stumble_s + 10.0:
            return False
        self.last_stumble_s = t
        return True


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else np.array([0.0, 0.0, 1.0])


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(float(np.dot(a, b)), -1.0, 1.0))))
