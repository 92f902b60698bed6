"""Device timestamps -> stream time, for inputs whose samples carry the sender's own clock (a
phone's Sensor Logger push, the web page's DeviceMotion).

The rule (issue 12): stream time is relative to the first sample; a sample whose time is not a
finite number, or lies far outside the stream's clock (more than ``tolerance_s`` ahead of the
time that has really passed since the stream started), is dropped and counted and never moves
the clock; a sample at or before the last one kept is a duplicate (dropped, counted); a jump of
more than ``gap_s`` is reported as a gap.

The clock is anchored on the first batch's main run of samples (one stray time cannot set it),
and a re-anchor (a new page, or REANCHOR_BATCHES batches in a row of which nothing fitted: the
sender's clock jumped, or a stray first time anchored it) continues at the time that has
really passed, never further: no input can move the stream ahead of real time.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

REANCHOR_BATCHES = 3     # batches in a row with nothing in range: the sender's clock moved


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
        self.reanchors = 0
        self._misses = 0                  # batches in a row of which nothing was in range
        self._new_anchor = False

    def reanchor(self) -> None:
        """The sender's clock restarted (a reloaded page): continue at the time that has really
        passed since the stream began, after the last sample (a page that changed its id with
        every message had moved the stream a second ahead each time)."""
        if self.t0 is None:
            return
        elapsed = self._anchor_offset + (self.now() - self._h_anchor)
        self.offset = max(self.last_t if np.isfinite(self.last_t) else self.offset, elapsed)
        self.t0 = None
        self.reanchors += 1
        self._new_anchor = True           # what follows is not continuous with what came before

    def _anchor(self, d: np.ndarray) -> float:
        """The earliest time of the run of samples around the median with no hole over gap_s
        (or three sample intervals, for a sender that samples sparsely): a stray time is not the
        start."""
        s = np.sort(d)
        i = int(np.searchsorted(s, np.median(s)))
        i = min(i, len(s) - 1)
        step = max(self.gap_s, float(np.median(np.diff(s))) * 3 if len(s) > 2 else self.gap_s)
        while i > 0 and s[i] - s[i - 1] <= step:
            i -= 1
        return float(s[i])

    def map(self, device_s: np.ndarray) -> Mapped:
        """device_s: sample times in seconds on the sender's clock (any origin)."""
        d = np.asarray(device_s, dtype=np.float64).reshape(-1)
        ok = np.isfinite(d) & (np.abs(d) < 1e15)
        host = self.now()
        if self.t0 is None and ok.any():
            self.t0 = self._anchor(d[ok])
            self.h0 = host if self.h0 is None else self.h0
            self._h_anchor = host
            self._anchor_offset = self.offset
        if self.t0 is None:
            self.out_of_range += int((~ok).sum())
            return Mapped(np.zeros(0), np.zeros(len(d), dtype=bool), False)
        t = np.full(len(d), np.nan)
        t[ok] = d[ok] - self.t0 + self.offset + 1e-3
        elapsed = self._anchor_offset + (host - self._h_anchor)
        # never before the anchor (a stray early time), never far ahead of real time
        sane = ok & (t <= elapsed + self.tolerance_s) & (t > self._anchor_offset)
        if ok.any() and not sane.any():
            self._misses += 1
            if self._misses >= REANCHOR_BATCHES:
                self._misses = 0
                self.reanchor()
                return self.map(device_s)
        else:
            self._misses = 0
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
        jump = bool(len(out) and np.isfinite(self.last_t) and out[0] - self.last_t > self.gap_s)
        if jump:
            self.gaps += 1
            self.gap_seconds += float(out[0] - self.last_t)
        gap = jump or bool(len(out) and self._new_anchor and np.isfinite(self.last_t))
        if len(out):
            self.last_t = float(out[-1])
            self._new_anchor = False
        return Mapped(out, keep, gap)
