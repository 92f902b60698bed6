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


@dataclass(slots=True)
class Resampled:
    t: np.ndarray        # (m,) grid times
    acc: np.ndarray      # (m,3)
    gap_before: float    # seconds of data missing before this chunk (0 if none)


class Resampler:
    """Linear interpolation onto t = t0 + k/FS, with a box anti-alias filter for fast sensors."""

    def __init__(self) -> None:
        self._last_t: float | None = None
        self._last_a: np.ndarray | None = None
        self._next: float | None = None
        self._dt_est: float | None = None
        self._raw_last: float | None = None
        self._hist_t = np.zeros(0)
        self._hist_a = np.zeros((0, 3))

    def push(self, t: np.ndarray, acc: np.ndarray, gap: bool = False) -> list[Resampled]:
        """Add raw samples; return the grid chunks they complete (one per run between gaps)."""
        out: list[Resampled] = []
        if len(t) == 0:
            return out
        if len(t) > 1:
            med = float(np.median(np.diff(t)))
            self._dt_est = med if self._dt_est is None else 0.9 * self._dt_est + 0.1 * med
        limit = max(GAP_S, 8 * (self._dt_est or 0.02))
        cuts = list(np.nonzero(np.diff(t) > limit)[0] + 1)
        bounds = [0] + cuts + [len(t)]
        for k in range(len(bounds) - 1):
            i, j = bounds[k], bounds[k + 1]
            hole = 0.0
            if self._raw_last is not None and (t[i] - self._raw_last > limit or (k == 0 and gap)):
                hole = float(t[i] - self._raw_last)
                self._reset_grid()
            self._raw_last = float(t[j - 1])
            r = self._push_run(t[i:j], acc[i:j])
            if r is None and hole:
                r = Resampled(np.zeros(0), np.zeros((0, 3)), 0.0)
            if r is not None:
                r.gap_before = hole
                out.append(r)
        return out

    def _reset_grid(self) -> None:
        self._next = None
        self._hist_t = np.zeros(0)
        self._hist_a = np.zeros((0, 3))
        self._last_t = None
        self._last_a = None

    def _push_run(self, t: np.ndarray, acc: np.ndarray) -> Resampled | None:
        # anti-alias: a box of about one output period over the input samples
        dt = self._dt_est or (float(np.median(np.diff(t))) if len(t) > 1 else 1 / FS)
        w = int(round((1 / FS) / max(dt, 1e-4)))
        ht = np.concatenate([self._hist_t, t])
        ha = np.concatenate([self._hist_a, acc])
        if w > 1 and len(ha) >= w:
            c = np.cumsum(np.vstack([np.zeros((1, 3)), ha]), axis=0)
            filt = (c[w:] - c[:-w]) / w
            ft = ht[w - 1:] - (w - 1) * dt / 2
            keep = w - 1
        else:
            filt, ft, keep = ha, ht, 0
        self._hist_t = ht[len(ht) - keep:] if keep else np.zeros(0)
        self._hist_a = ha[len(ha) - keep:] if keep else np.zeros((0, 3))
        if len(ft) == 0:
            return None
        if self._last_t is not None and self._last_a is not None:
            ft = np.concatenate([[self._last_t], ft])
            filt = np.vstack([self._last_a[None, :], filt])
        self._last_t, self._last_a = float(ft[-1]), filt[-1].copy()
        if self._next is None:
            self._next = float(ft[0])
        if ft[-1] < self._next:
            return None
        n = int(np.floor((ft[-1] - self._next) * FS + 1e-9)) + 1
        grid = self._next + np.arange(n) / FS
        self._next = float(grid[-1] + 1 / FS)
        out = np.empty((n, 3))
        for k in range(3):
            out[:, k] = np.interp(grid, ft, filt[:, k])
        return Resampled(grid, out, 0.0)
