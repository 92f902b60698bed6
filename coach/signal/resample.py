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
    values. So the sensor's sample period is measured once per run (between gaps), over its first
    second (PROBE_S), which is held until then, and grid times are counted, not summed.
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
            if self._dt is None:
                # ... the probe ends at the first sample PROBE_S after the run's first
                t_first = self._pend_t[0] if len(self._pend_t) else t[i]
                done = np.nonzero(t[i:j] - t_first >= PROBE_S)[0]
                if len(done):
                    j = i + int(done[0]) + 1
            self._raw_last = float(t[j - 1])
            r = self._take(t[i:j], acc[i:j])
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

    def _take(self, t: np.ndarray, acc: np.ndarray) -> Resampled | None:
        if self._dt is None:
            self._pend_t = np.concatenate([self._pend_t, t])
            self._pend_a = np.concatenate([self._pend_a, acc])
            if self._pend_t[-1] - self._pend_t[0] < PROBE_S:
                return None
            self._dt = float(np.median(np.diff(self._pend_t)))
            self._w = min(MAX_BOX, max(1, int(round((1 / FS) / max(self._dt, 1e-4)))))
            t, acc = self._pend_t, self._pend_a
            self._pend_t, self._pend_a = np.zeros(0), np.zeros((0, 3))
        return self._push_run(t, acc)

    def _push_run(self, t: np.ndarray, acc: np.ndarray) -> Resampled | None:
        # anti-alias: a box of about one output period over the input samples
        w = self._w
        ht = np.concatenate([self._hist_t, t])
        ha = np.concatenate([self._hist_a, acc])
        if w > 1 and len(ha) >= w:
            # shifted slices, not a running sum: the same additions whatever the batch
            m = len(ha) - w + 1
            filt = ha[:m].copy()
            for k in range(1, w):
                filt += ha[k:k + m]
            filt /= w
            ft = ht[w - 1:] - (w - 1) * (self._dt or 1 / FS) / 2
            keep = w - 1
        else:
            filt, ft, keep = ha, ht, 0 if w == 1 else len(ha)
        self._hist_t = ht[len(ht) - keep:] if keep else np.zeros(0)
        self._hist_a = ha[len(ha) - keep:] if keep else np.zeros((0, 3))
        if w > 1 and len(ha) < w:
            return None
        if len(ft) == 0:
            return None
        if self._last_t is not None and self._last_a is not None:
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
