"""Streaming resampler: any sensor rate and clock jitter in, a uniform 50 Hz grid out.

Everything downstream (windows, features, the model) works at one rate, so the model does not
care whether the sensor sends 25, 52, 100 or 200 Hz. Gaps (a dropped sensor) are not bridged:
the grid restarts after the gap and the gap is reported, so no step is invented inside it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FS = 50.0          # internal rate, Hz
GAP_S = 0.5        # a hole longer than this is a sensor drop, not jitter
PROBE_S = 1.0      # a run's first second measures its sample period (the box width, the drop limit)
MAX_BOX = 20       # box width cap (input samples): 1 kHz
RATE_SAME = 0.7    # a second's period within this factor of the run's: the same rate
MEAN_SAME = 0.15   # ... and a second whose mean interval is this close needs no median


def increasing(t: np.ndarray, last: float | None) -> np.ndarray:
    """Mask of the samples whose time is finite and later than every one before (and than
    last): a sample that repeats or goes back in time cannot be placed on the grid. Readers
    drop and report such rows; this keeps the Python API's callers from breaking the grid."""
    ok = np.isfinite(t)
    prev = np.fmax.accumulate(np.concatenate([[-np.inf if last is None else last],
                                              np.where(ok, t, -np.inf)]))[:-1]
    return ok & (t > prev)


@dataclass(slots=True)
class Resampled:
    t: np.ndarray        # (m,) grid times
    acc: np.ndarray      # (m,3)
    gap_before: float    # seconds of data missing before this chunk (0 if none)
    resume_t: float = 0.0  # with gap_before: when the data came back


class Resampler:
    """Linear interpolation onto t = t0 + k/FS, with a box anti-alias filter for fast sensors.

    The output depends only on the samples, never on how they were cut into batches: a live
    sensor's 1-36-sample notifications and `coach analyze`'s large chunks give the same grid and
    values. So the sensor's sample period is measured over each run's first second (PROBE_S),
    which is held until then, and again over every following second of the stream's own time:
    where that period is a new rate (RATE_SAME) with another box width (a phone that slows its
    sensor down), the new period and width hold from there. Grid times are counted, not summed.
    """

    def __init__(self) -> None:
        self._last_t: float | None = None
        self._last_a: np.ndarray | None = None
        self._t0: float | None = None          # this run's first grid time
        self._k = 0                            # index of its next grid point
        self._dt: float | None = None          # this run's sample period, once measured
        self._w = 1                            # ... and its box width in input samples
        self._raw_last: float | None = None
        self._hist_t = np.zeros(0)
        self._hist_a = np.zeros((0, 3))
        self._pend_t = np.zeros(0)             # the run's first samples, until PROBE_S
        self._pend_a = np.zeros((0, 3))
        self._blk_start = 0.0                  # since then the period is measured again
        self._blk_iv: list[np.ndarray] = []    # ... from these intervals

    def push(self, t: np.ndarray, acc: np.ndarray, gap: bool = False) -> list[Resampled]:
        """Add raw samples; return the grid chunks they complete. A drop before a run is
        reported on an empty chunk whose gap_before is the drop and resume_t the run's start."""
        out: list[Resampled] = []
        keep = increasing(t, self._raw_last)
        if not keep.all():
            t, acc = t[keep], acc[keep]
        if len(t) == 0:
            return out
        i, n = 0, len(t)
        while i < n:
            limit = max(GAP_S, 8 * self._dt) if self._dt else GAP_S
            if self._raw_last is not None and (t[i] - self._raw_last > limit or (i == 0 and gap)):
                out.append(Resampled(np.zeros(0), np.zeros((0, 3)), float(t[i] - self._raw_last),
                                     float(t[i])))
                self._reset_run()
            # this piece runs to the next hole, or to where the probe is complete
            holes = np.nonzero(np.diff(t[i:]) > limit)[0]
            j = i + int(holes[0]) + 1 if len(holes) else n
            # ... or, in the probe, to the end of the run's first second
            if self._dt is None:
                t_first = self._pend_t[0] if len(self._pend_t) else t[i]
                done = np.nonzero(t[i:j] - t_first >= PROBE_S)[0]
                if len(done):
                    j = i + int(done[0]) + 1
            r, used = self._take(t[i:j], acc[i:j], self._raw_last)
            j = i + used                        # a new rate ends the piece: its own drop limit
            self._raw_last = float(t[j - 1])
            if r is not None and out and len(out[-1].t):
                # one chunk per run, also where the probe ended inside the batch
                out[-1] = Resampled(np.concatenate([out[-1].t, r.t]),
                                    np.vstack([out[-1].acc, r.acc]), out[-1].gap_before)
            elif r is not None:
                out.append(r)
            i = j
        return out

    def _reset_run(self) -> None:
        self._t0 = None
        self._k = 0
        self._hist_t = np.zeros(0)
        self._hist_a = np.zeros((0, 3))
        self._last_t = None
        self._last_a = None
        self._dt = None
        self._pend_t = np.zeros(0)
        self._pend_a = np.zeros((0, 3))

    @staticmethod
    def _box(dt: float) -> int:
        return min(MAX_BOX, max(1, int(round((1 / FS) / max(dt, 1e-4)))))

    def _take(self, t: np.ndarray, acc: np.ndarray,
              prev: float | None) -> tuple[Resampled | None, int]:
        """Grid samples of these raw samples, and how many were used (all, or up to where a
        new rate takes over)."""
        if self._dt is None:
            n = len(t)
            self._pend_t = np.concatenate([self._pend_t, t])
            self._pend_a = np.concatenate([self._pend_a, acc])
            if self._pend_t[-1] - self._pend_t[0] < PROBE_S:
                return None, n
            self._dt = float(np.median(np.diff(self._pend_t)))
            self._w = self._box(self._dt)
            t, acc = self._pend_t, self._pend_a
            self._pend_t, self._pend_a = np.zeros(0), np.zeros((0, 3))
            self._blk_start, self._blk_iv = float(t[-1]), []
            return self._push_run(t, acc), n
        # each second (from the sample that ends the last) measures the period again; a new
        # rate holds from the sample after that second. Only such a switch cuts the filtering
        scan = 0
        before = prev if prev is not None else float(t[0])
        while scan < len(t):
            b = scan + int(np.searchsorted(t[scan:], self._blk_start + PROBE_S))
            ended = b < len(t)
            b = min(b, len(t) - 1)
            self._blk_iv.append(np.diff(t[scan:b + 1], prepend=before))
            before, scan = float(t[b]), b + 1
            if not ended:
                break
            start, iv = self._blk_start, self._blk_iv
            self._blk_start, self._blk_iv = float(t[b]), []     # the next second starts here
            mean = (float(t[b]) - start) / max(sum(len(x) for x in iv), 1)
            if abs(mean / (self._dt or mean) - 1) < MEAN_SAME:
                continue                         # the same rate, as most seconds are
            dt = float(np.median(np.concatenate(iv)))
            # a new rate, not a jittery clock's second (a phone's 4.9 ms median can read 5.7)
            if self._box(dt) != self._w and not RATE_SAME < dt / (self._dt or dt) < 1 / RATE_SAME:
                r = self._push_run(t[:b + 1], acc[:b + 1])
                self._dt, self._w = dt, self._box(dt)
                return r, b + 1
        return self._push_run(t, acc), len(t)

    def _push_run(self, t: np.ndarray, acc: np.ndarray) -> Resampled | None:
        # anti-alias: a box of about one output period over the input samples
        w, h = self._w, len(self._hist_t)
        ht = np.concatenate([self._hist_t, t])
        ha = np.concatenate([self._hist_a, acc])
        # the last MAX_BOX - 1 raw samples stay, for whatever box width comes next
        self._hist_t, self._hist_a = ht[-(MAX_BOX - 1):], ha[-(MAX_BOX - 1):]
        first = max(h, w - 1)                  # the first new sample with a whole box behind it
        if first >= len(ht):
            return None
        m = len(ht) - first
        # shifted slices, not a running sum: the same additions whatever the batch
        s0 = first - (w - 1)
        filt = ha[s0:s0 + m].copy()
        for k in range(1, w):
            filt += ha[s0 + k:s0 + k + m]
        filt /= w
        ft = ht[first:] - (w - 1) * (self._dt or 1 / FS) / 2
        if self._last_t is not None and self._last_a is not None:
            later = ft > self._last_t          # a wider box dates its samples further back
            ft, filt = ft[later], filt[later]
            if len(ft) == 0:
                return None
            ft = np.concatenate([[self._last_t], ft])
            filt = np.vstack([self._last_a[None, :], filt])
        self._last_t, self._last_a = float(ft[-1]), filt[-1].copy()
        if self._t0 is None:
            self._t0 = float(ft[0])
        # grid point k is t0 + k / FS, computed afresh each time (no running sum to drift);
        # only points up to the last filtered time, exactly: one past it would be held, not
        # interpolated, and differ from what the next batch gives it
        n = int(np.floor((ft[-1] - self._t0) * FS + 1e-9)) + 1 - self._k
        while n > 0 and self._t0 + (self._k + n - 1) / FS > ft[-1]:
            n -= 1
        if n <= 0:
            return None
        grid = self._t0 + (self._k + np.arange(n)) / FS
        self._k += n
        out = np.empty((n, 3))
        for k in range(3):
            out[:, k] = np.interp(grid, ft, filt[:, k])
        return Resampled(grid, out, 0.0)
