"""Recordings on disk, replayed as a Source; `read_csv` loads a (small) one whole.

Both are thin wrappers over coach.sources.readers, which recognises the format (plain
`t,ax,ay,az[,gx,gy,gz][,label]`, phyphox, Sensor Logger, Polar Sensor Logger, gzip/zip),
applies the time-base rule and streams the file in bounded chunks. Every way a file can be
wrong ends in a CoachError with one line that says what and where.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from coach.constants import G  # noqa: F401  (re-exported for callers that took it from here)
from coach.errors import CoachError
from coach.sources.base import SampleBatch
from coach.sources.readers import GRAVITY_RANGE, RecordingReader


@dataclass
class Recording:
    t: np.ndarray
    acc: np.ndarray          # g
    labels: list[str] | None
    units: str               # "g", "m/s2" or "mg" (as found in the file)
    start: datetime | None = None


class TooManyRows(CoachError):
    """read_csv(max_rows=...): the recording holds more rows than its use can take whole."""


def read_csv(path: str | Path, units: str = "auto", need_labels: bool = False,
             allow_rate: bool = False, max_rows: int | None = None) -> Recording:
    """Read and validate a whole recording; acceleration is returned in g. max_rows: refuse
    (TooManyRows) once more samples than this were kept (a gzipped file has no size to check
    first)."""
    r = RecordingReader(path, units=units, need_labels=need_labels, allow_rate=allow_rate)
    ts: list[np.ndarray] = []
    accs: list[np.ndarray] = []
    labels: list[str] | None = [] if r.fmt.label_col is not None else None
    n = 0
    for c in r.chunks():
        n += len(c.t)
        if max_rows is not None and n > max_rows:
            raise TooManyRows(f"{path}: more than {max_rows:,} samples")
        ts.append(c.t)
        accs.append(c.acc)
        if labels is not None and c.labels is not None:
            labels += c.labels
    return Recording(np.concatenate(ts), np.concatenate(accs), labels, r.units or "g", r.start)


def detect_units(acc: np.ndarray) -> str:
    """g or m/s^2, from the median magnitude (gravity is 1 g = 9.81 m/s^2)."""
    m = float(np.nanmedian(np.linalg.norm(acc, axis=1)))
    return "m/s2" if m >= GRAVITY_RANGE["m/s2"][0] else "g"


class CsvSource:
    """Replays a recording as a stream: as fast as possible (speed 0) or at speed x real time.

    The file is opened and its start checked here; stream() reads it in bounded chunks."""

    def __init__(self, path: str | Path, units: str = "auto", speed: float = 0.0,
                 batch_s: float = 30.0, allow_rate: bool = False) -> None:
        self.path = Path(path)
        self.reader = RecordingReader(self.path, units=units, allow_rate=allow_rate)
        self.name = str(path)
        self.speed = speed
        self.batch_s = batch_s if speed == 0 else min(batch_s, 0.25)
        self.start_time: datetime | None = self.reader.start
        self._stop = False

    def request_stop(self) -> None:
        """End the stream after the current batch (Ctrl-C: the session so far is kept)."""
        self._stop = True

    async def stream(self) -> AsyncIterator[SampleBatch]:
        t0 = time.monotonic()
        first: float | None = None
        for b in self.reader.batches(self.batch_s):
            if self._stop:
                return
            if first is None:
                first = float(b.t[0])
            if self.speed > 0:
                delay = t0 + (b.t[-1] - first) / self.speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            yield SampleBatch(b.t, b.acc)
            if self.speed == 0:
                await asyncio.sleep(0)
