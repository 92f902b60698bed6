"""Reading recordings: any supported file, streamed in bounded chunks, under one time-base rule.

    reader = RecordingReader(path, units="auto", allow_rate=False)
    for t, acc, labels in reader.batches(30.0): ...     # t in s since the first sample, acc in g
    reader.start      # the recording's real start where the file has it (else None)

Memory does not depend on the file's length: the file is read about a megabyte at a time and
only one batch is held. Every way a file can be wrong is a CoachError with one line.
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from coach.constants import G
from coach.errors import CoachError
from coach.sources.readers.formats import Format, Rows, header_and_rows, open_sources, parse_phone_time
from coach.sources.readers.timebase import TimeBase, TimeStats

MIN_RATE_HZ = 22.0        # the supported 25 Hz, less what uneven sampling takes off a median
UNIT_SCALE = {"g": 1.0, "m/s2": G, "mg": 1000.0}
# median |a| (gravity's size) expected in each unit
GRAVITY_RANGE = {"g": (0.5, 2.0), "m/s2": (5.0, 20.0), "mg": (300.0, 2500.0)}  # between: refused
MAX_G = 1000.0             # |a| beyond this in any axis is no body-worn sensor (they saturate at 16-400 g)


@dataclass
class Chunk:
    t: np.ndarray
    acc: np.ndarray            # g
    labels: list[str] | None


def _only(rows: Rows, keep: np.ndarray) -> Rows:
    """The rows where keep is true (all of them, as they are, if it is true everywhere)."""
    if keep.all():
        return rows
    labels = [lb for lb, k in zip(rows.labels, keep) if k] if rows.labels is not None else None
    return Rows(rows.t[keep], rows.acc[keep], labels, rows.lines[keep])


class RecordingReader:
    """One recording, opened and checked (header, units, time base, rate) on construction;
    batches() then streams it."""

    def __init__(self, path: str | Path, units: str = "auto", need_labels: bool = False,
                 allow_rate: bool = False) -> None:
        if units not in ("auto", *UNIT_SCALE):
            raise CoachError(f"unknown units {units!r}: use g, m/s2 or mg")
        self.name, sources = open_sources(path)
        self.path = Path(path)
        self.units_arg = units
        self.allow_rate = allow_rate
        self.need_labels = need_labels
        self.fmt, self._parser, rows = header_and_rows(sources[0][1], self.name, sources[0][0],
                                                      need_labels, paired=len(sources) > 1)
        if len(sources) > 1:        # Sensor Logger: acceleration without g, plus gravity
            gfmt, _, grows = header_and_rows(sources[1][1], self.name, "Gravity.csv", paired=True)
            if gfmt.kind != "sensorlogger" or self.fmt.kind != "sensorlogger":
                raise CoachError(f"{self.name}: Accelerometer.csv and Gravity.csv are not a Sensor "
                                 "Logger export (expected time,seconds_elapsed,z,y,x)")
            rows = _add_gravity(rows, grows, self.name)
            self.fmt.gravity = True
        self.timebase = TimeBase(self.name, self.fmt.time_unit)
        self.units: str | None = None       # as found: g, m/s2 or mg
        self.scale = 1.0
        self._rows = rows
        self._n = 0
        self._checked_rate = False
        self._done = False
        self._chunks = self._read()
        self._first = next(self._chunks, None)     # validate the start of the file now
        self.start: datetime | None = self.timebase.start
        if self.fmt.kind == "polar" and self._parser.first_field is not None:
            self.start = parse_phone_time(self._parser.first_field) or self.start

    @property
    def stats(self) -> TimeStats:
        return self.timebase.stats

    # ------------------------------------------------------------------------------
    def _drop_unusable(self, rows: Rows, ok: np.ndarray) -> Rows:
        """rows without those not ok, counted for the one warning line."""
        self.timebase.stats.unusable += int((~ok).sum())
        return _only(rows, ok)

    def _kept(self, t: np.ndarray, acc: np.ndarray, labels: list | None) -> Iterator[Chunk]:
        """The samples the time base kept: the rate checked, counted, passed on if any."""
        self._check_rate(t)
        self._n += len(t)
        if len(t):
            yield Chunk(t, acc, labels)

    def _read(self) -> Iterator[Chunk]:
        for rows in self._rows:
            if len(rows.t) == 0:
                continue
            self._saw_rows = True
            if not np.isfinite(rows.t).all():
                k = int(np.nonzero(~np.isfinite(rows.t))[0][0])
                raise CoachError(f"{self.name}: line {int(rows.lines[k])}: time is NaN or infinite")
            # drop unusable rows (counted, one warning); the resampler bridges or marks the hole
            rows = self._drop_unusable(rows, np.isfinite(rows.acc).all(axis=1))
            if len(rows.t) == 0:
                continue
            if self.units is None:
                self._choose_units(rows.acc)
            # beyond MAX_G no body-worn sensor reads: a corrupt row, dropped like a NaN
            rows = self._drop_unusable(rows, np.all(np.abs(rows.acc) <= MAX_G * self.scale, axis=1))
            if len(rows.t) == 0:
                continue
            acc = rows.acc if self.units == "g" else rows.acc / self.scale
            yield from self._kept(*self.timebase.push(rows.t, acc, rows.labels, rows.lines))
        tail = self.timebase.finish()
        if tail is not None:
            t, acc, labels = tail
            yield from self._kept(t, acc, None if all(lb is None for lb in labels) else labels)
        if not self._saw_rows:
            raise CoachError(f"{self.name}: no data rows after the header")
        if self.units is None:
            raise CoachError(f"{self.name}: no valid acceleration values (all not a number or "
                             "infinite)")
        if self._n < 2:
            # say why, where rows were dropped for their timestamps (all of them repeating one)
            why = self.timebase.stats.warning()
            raise CoachError(f"{self.name}: too few samples ({self._n}" + (f"; {why})" if why else ")"))
        self._done = True

    _saw_rows = False

    def _choose_units(self, acc: np.ndarray) -> None:
        """g, m/s^2 (or milli-g when the format says so) from gravity's size; refuse the rest."""
        with np.errstate(over="ignore", invalid="ignore"):
            m = float(np.median(np.linalg.norm(acc, axis=1)))
        fmt = self.fmt
        found = next((u for u, (lo, hi) in GRAVITY_RANGE.items() if lo <= m < hi), None)
        if self.units_arg != "auto" or fmt.acc_units != "auto":
            # said on the command line or by the format: gravity's size must agree (a g file
            # read with --units m/s2 had run as a walker with a tenth of gravity)
            units = self.units_arg if self.units_arg != "auto" else fmt.acc_units
            lo, hi = GRAVITY_RANGE[units]
            if self.units_arg != "auto" and found is not None and found != units:
                raise CoachError(f"{self.name}: --units {units}, but gravity's size (the median "
                                 f"|a|) is {m:.3g}, as in {found}: check --units")
            if m < lo:
                raise CoachError(f"{self.name}: the acceleration has no gravity in it (median |a| "
                                 f"{m:.3g} {units}): the detector needs total acceleration "
                                 "(with g), not linear acceleration")
            if m >= hi:
                raise CoachError(f"{self.name}: the acceleration is far larger than gravity "
                                 f"(median |a| {m:.3g} {units}): not a walking recording?")
        else:
            if found is None:
                raise CoachError(
                    f"{self.name}: acceleration is neither g nor m/s^2 (gravity's size, the median "
                    f"|a|, is {m:.3g}; expected about 1 or 9.8)"
                    + (": there is no gravity in it (linear acceleration?)" if m < 0.5 else
                       "; say the unit with --units g|m/s2|mg"))
            if found == "mg":
                raise CoachError(f"{self.name}: acceleration looks like milli-g (gravity's size "
                                 f"{m:.0f}), not g or m/s^2: pass --units mg if it is")
            units = found
        self.units = units
        self.scale = UNIT_SCALE[units]

    def _check_rate(self, t: np.ndarray) -> None:
        if self.allow_rate or len(t) < 3 or (self._checked_rate and len(t) < 17):
            return
        self._checked_rate = True
        d = np.diff(t)
        med = float(np.median(d))
        if med > 0 and 1.0 / med < MIN_RATE_HZ:
            raise CoachError(f"{self.name}: sample rate about {1.0 / med:.3g} Hz (median interval "
                             f"{med * 1000:.0f} ms) is below the 25 Hz the detector supports; "
                             "pass --allow-rate to analyse it anyway")

    # ------------------------------------------------------------------------------
    def chunks(self) -> Iterator[Chunk]:
        """The recording in read-sized chunks (about a megabyte of text each)."""
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        yield from self._chunks
        w = self.stats.warning()
        if w:
            print(f"coach: warning: {self.name}: {w}", file=sys.stderr)

    def batches(self, batch_s: float) -> Iterator[Chunk]:
        """Batches of batch_s seconds of stream time, cut exactly where slicing the whole
        recording would cut them (so results do not depend on how the file was read)."""
        bt: np.ndarray = np.zeros(0)
        ba: np.ndarray = np.zeros((0, 3))
        bl: list | None = None
        for c in self.chunks():
            bt = np.concatenate((bt, c.t)) if len(bt) else c.t
            ba = np.concatenate((ba, c.acc)) if len(ba) else c.acc
            if c.labels is not None:
                bl = (bl or []) + c.labels
            while len(bt):
                j = int(np.searchsorted(bt, bt[0] + batch_s, side="left"))
                if j >= len(bt):
                    break
                j = max(j, 1)
                yield Chunk(bt[:j], ba[:j], bl[:j] if bl is not None else None)
                bt, ba = bt[j:], ba[j:]
                bl = bl[j:] if bl is not None else None
        while len(bt):
            j = max(int(np.searchsorted(bt, bt[0] + batch_s, side="left")), 1)
            yield Chunk(bt[:j], ba[:j], bl[:j] if bl is not None else None)
            bt, ba = bt[j:], ba[j:]
            bl = bl[j:] if bl is not None else None


START_YEARS = (1990, 2100)      # --start and --week: what every export and report can date


def parse_start(text: str) -> datetime:
    """--start: an ISO 8601 date-time; without a zone it is local time."""
    try:
        d = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CoachError(f"--start {text!r}: not an ISO 8601 date-time "
                         "(for example 2026-05-01T07:30:00+02:00)") from None
    if not START_YEARS[0] <= d.year <= START_YEARS[1]:
        # a FIT file counts seconds from 1990 in 32 bits; the store's dates need a year either side
        raise CoachError(f"--start {text!r}: the year must be from {START_YEARS[0]} to {START_YEARS[1]}")
    return d if d.tzinfo else d.astimezone()


def add_reader_args(p) -> None:
    """The options every command that reads a recording offers."""
    import argparse

    def start(text: str) -> datetime:
        try:
            return parse_start(text)
        except CoachError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    p.add_argument("--units", choices=["auto", "g", "m/s2", "mg"], default="auto",
                   help="acceleration units (default: from the format, or from gravity's size; "
                        "anything else is refused unless said here)")
    p.add_argument("--allow-rate", action="store_true",
                   help="analyse a recording sampled below the supported 25 Hz anyway")
    p.add_argument("--start", type=start, default=None, metavar="ISO8601",
                   help="the recording's real start (default: from the file where the format "
                        "has it, else now minus its duration)")


def _add_gravity(acc_rows: Iterator[Rows], grav_rows: Iterator[Rows], name: str) -> Iterator[Rows]:
    """Sensor Logger's Accelerometer.csv (without g) plus Gravity.csv, gravity interpolated at
    the accelerometer's times: total acceleration, streamed."""
    gt = np.zeros(0)
    ga = np.zeros((0, 3))
    g_eof = False
    for r in acc_rows:
        if len(r.t) == 0:
            continue
        while not g_eof and (len(gt) == 0 or gt[-1] < r.t[-1]):
            nxt = next(grav_rows, None)
            if nxt is None:
                g_eof = True
                break
            ok = np.isfinite(nxt.t) & np.isfinite(nxt.acc).all(axis=1)
            gt = np.concatenate((gt, nxt.t[ok]))
            ga = np.concatenate((ga, nxt.acc[ok]))
        if len(gt) == 0:
            raise CoachError(f"{name}: Sensor Logger's Gravity.csv has no data")
        order = np.argsort(gt, kind="stable")
        gt, ga = gt[order], ga[order]
        g = np.column_stack([np.interp(r.t, gt, ga[:, k]) for k in range(3)])
        yield Rows(r.t, r.acc + g, r.labels, r.lines)
        keep = max(0, int(np.searchsorted(gt, r.t[-1], side="left")) - 2)
        gt, ga = gt[keep:], ga[keep:]


__all__ = ["RecordingReader", "Chunk", "Format", "G", "GRAVITY_RANGE", "MIN_RATE_HZ", "add_reader_args",
           "parse_start"]
