"""Device timestamps -> stream time, for inputs whose samples carry the sender's own clock (a
phone's Sensor Logger push, the web page's DeviceMotion).

The rule (issue 12): stream time is relative to the first sample; a sample whose time is not a
finite number, or lies far outside the stream's clock (more than ``tolerance_s`` ahead of the
time that has really passed since the stream started), is dropped and counted and never moves
the clock; a sample at or before the last one kept is a duplicate (dropped, counted); a jump of
more than ``gap_s`` is reported as a gap.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(slots=True)
class Mapped:
    t: np.ndarray          # stream seconds, strictly increasing
    keep: np.ndarray       # which of the input samples these are (bool mask)
    gap: bool


class DeviceClock:
    def __init__(self, tolerance_s: float = 30.0, gap_s: float = 1.0,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.tolerance_s = tolerance_s
        self.gap_s = gap_s
        self.now = now
        self.t0: float | None = None      # device time of stream time 0 (seconds)
        self.h0: float | None = None      # host time then
        self.last_t = -np.inf
        self.offset = 0.0                 # added after a re-anchor (a new page, a new phone session)
        self.out_of_range = 0             # dropped: not finite or far outside the clock
        self.duplicates = 0
        self.gaps = 0
        self.gap_seconds = 0.0

    def reanchor(self) -> None:
        """The sender's clock restarted (a reloaded page): continue after the last sample."""
        if self.t0 is not None and np.isfinite(self.last_t):
            self.offset = self.last_t + self.gap_s * 1.01
            self.t0 = None

    def map(self, device_s: np.ndarray) -> Mapped:
        """device_s: sample times in seconds on the sender's clock (any origin)."""
        d = np.asarray(device_s, dtype=np.float64).reshape(-1)
        ok = np.isfinite(d) & (np.abs(d) < 1e15)
        host = self.now()
        if self.t0 is None and ok.any():
            first = d[ok]
            med = float(np.median(first))
            near = ok & (np.abs(d - med) <= self.tolerance_s)
            self.t0 = float(d[near].min())
            self.h0 = host if self.h0 is None else self.h0
            self._h_anchor = host
            self._anchor_offset = self.offset
        if self.t0 is None:
            self.out_of_range += int((~ok).sum())
            return Mapped(np.zeros(0), np.zeros(len(d), dtype=bool), False)
        t = np.full(len(d), np.nan)
        t[ok] = d[ok] - self.t0 + self.offset + 1e-3
        elapsed = self._anchor_offset + (host - self._h_anchor)
        sane = ok & (t <= elapsed + self.tolerance_s) & (t >= self._anchor_offset - self.tolerance_s)
        self.out_of_range += int((~sane).sum())
        keep = sane.copy()
        # strictly after the last kept sample, and increasing within the batch
        run = self.last_t
        for i in np.flatnonzero(sane):
            if t[i] <= run:
                keep[i] = False
                self.duplicates += 1
            else:
                run = t[i]
        out = t[keep]
        gap = bool(len(out) and np.isfinite(self.last_t) and out[0] - self.last_t > self.gap_s)
        if gap:
            self.gaps += 1
            self.gap_seconds += float(out[0] - self.last_t)
        if len(out):
            self.last_t = float(out[-1])
        return Mapped(out, keep, gap)
