"""One time-base rule for every recording: the file's clock -> seconds since its first sample.

* The unit is recognised from the magnitude of the first time value and from the step size:
  seconds, milliseconds, microseconds or nanoseconds, relative or since the Unix epoch (the
  epoch also gives the recording's real start). What fits none of them is refused, naming
  what it looks like; nothing is ever analysed as seconds when it is not.
* t is made relative to the first sample (a recording that starts at t=-100 or at 1.7e9
  starts at 0 like any other).
* A row that repeats the previous timestamp is dropped and counted.
* A forward jump of more than GAP_TOL_S is held back: if the clock comes back within
  LOOKAHEAD samples, the held samples were far outside the stream's clock (dropped, counted,
  the clock never moves); if the new clock goes on, it was a gap (kept: the resampler reports
  it as a gap, and the detected rate ignores it), as it was if the file ends after EOF_RUN or
  more samples at its step. A gap longer than MAX_GAP_S is refused.
* Time that goes backwards and stays there is refused with the line named; a few samples
  behind the clock that it then overtakes are outliers (dropped, counted).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from coach.errors import CoachError

GAP_TOL_S = 0.5           # a step longer than this is a gap or an outlier, never jitter
LOOKAHEAD = 16            # samples that decide between a gap and an outlier
EOF_RUN = 3               # ... or, where the file ends first, that make its last moments a gap
MAX_GAP_S = 86400.0       # a longer jump is not one recording
OUT_OF_STEP_MIN = 50      # more samples out of step with the clock than this, and more than
OUT_OF_STEP_SHARE = 0.01  # ... this share of those read: the file is out of order, not glitched
MIN_HZ, MAX_HZ = 1.0, 5000.0    # rates a step may mean when the unit is chosen from it
PLAUSIBLE_LO, PLAUSIBLE_HI = 20.0, 500.0   # a sensor rate, to pick ms/us/ns over seconds

UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
# first time values that mean "since 1970" (years 2000 to 2100) in each unit
EPOCH_LO, EPOCH_HI = 946684800.0, 4102444800.0


@dataclass
class TimeStats:
    repeats: int = 0
    outliers: int = 0
    unusable: int = 0          # rows whose acceleration is not a number, or beyond any sensor
    gaps: int = 0
    gap_seconds: float = 0.0
    unit: str = "s"
    epoch: bool = False

    def warning(self) -> str | None:
        parts = []
        if self.repeats:
            one = self.repeats == 1
            parts.append(f"dropped {self.repeats} row{'' if one else 's'} that "
                         f"repeat{'s' if one else ''} the previous timestamp")
        if self.outliers:
            parts.append(f"dropped {self.outliers} sample{'s' * (self.outliers != 1)} out of step with "
                         "the recording's clock")
        if self.unusable:
            parts.append(f"dropped {self.unusable} row{'s' * (self.unusable != 1)} whose "
                         "acceleration is not a number or beyond any sensor's range")
        return "; ".join(parts) or None


def detect_unit(t: np.ndarray, name: str) -> tuple[str, bool]:
    """(unit, since_epoch) for raw time values, from the first value and the median step."""
    t = t[np.isfinite(t)]
    if len(t) == 0:
        return "s", False
    first = float(np.median(t[:64]))     # robust to a bad first row (a 0 before epoch times)
    d = np.diff(t)
    d = d[d > 0]
    step = float(np.median(d)) if len(d) else None
    mag = abs(first)
    for unit, scale in UNITS.items():
        if EPOCH_LO <= mag * scale <= EPOCH_HI:
            if first < 0:
                break
            if step is not None and not (MIN_HZ <= 1.0 / (step * scale) <= MAX_HZ):
                raise CoachError(f"{name}: time looks like Unix-epoch {UNIT_NAMES[unit]} "
                                 f"(t={first:.6g}) but its steps ({step:g}) do not fit: "
                                 "give t in seconds since the start")
            return unit, True
    if mag >= 1e8 and step is None:
        raise CoachError(f"{name}: time value {first:.6g} is not seconds, milliseconds or "
                         "nanoseconds since the start or since 1970")
    if step is None:
        return "s", False
    if 1.0 / step >= PLAUSIBLE_LO:
        unit = "s"
    else:
        unit = next((u for u, sc in UNITS.items()
                     if u != "s" and PLAUSIBLE_LO <= 1.0 / (step * sc) <= PLAUSIBLE_HI), "s")
    if mag >= 1e8:
        span = mag * UNITS[unit]
        if span > MAX_GAP_S * 366:
            raise CoachError(f"{name}: time values like {first:.6g} are not seconds, "
                             "milliseconds or nanoseconds since the start or since 1970")
    return unit, False


@dataclass
class _Pending:
    kind: str                      # "ahead" or "behind"
    t: list = field(default_factory=list)
    a: list = field(default_factory=list)
    lab: list = field(default_factory=list)
    line: list = field(default_factory=list)
    raw: list = field(default_factory=list)


class TimeBase:
    """Streaming: push() raw time chunks, get kept samples in seconds since the first one."""

    def __init__(self, name: str, unit: str = "auto") -> None:
        self.name = name
        self.unit = unit
        self.scale: float | None = None
        self.raw0: float | None = None
        self.last: float | None = None
        self.last_raw: float = 0.0
        self.pending: _Pending | None = None
        self.stats = TimeStats()
        self.start: datetime | None = None
        self.tol = GAP_TOL_S
        self.seen = 0

    # -------------------------------------------------------------------------------
    def _begin(self, t: np.ndarray, lines: np.ndarray) -> int:
        """Choose the unit and the anchor (first sample); return how many leading samples are
        outliers (dropped)."""
        if self.unit == "auto":
            unit, epoch = detect_unit(t, self.name)
        else:
            unit, epoch = self.unit, False
        self.stats.unit, self.stats.epoch = unit, epoch
        self.scale = UNITS[unit]
        d = np.diff(t)
        d = d[d > 0]
        if len(d):   # a slow sensor's step is not a gap (as the resampler sees it)
            self.tol = max(GAP_TOL_S, 8 * float(np.median(d)) * self.scale)
        tol = self.tol / self.scale
        skip = 0
        # a leading sample that its followers do not continue is an outlier (a repeated
        # timestamp continues it: the repeat is dropped as a repeat, not the samples before it)
        for i in range(min(LOOKAHEAD, max(0, len(t) - 3))):
            d = np.diff(t[i:i + 4])
            if ((d >= 0) & (d <= tol)).all() and (d > 0).any():
                skip = i
                break
        self.raw0 = float(t[skip])
        if epoch:
            try:
                self.start = datetime.fromtimestamp(self.raw0 * self.scale, tz=UTC)
            except (OverflowError, OSError, ValueError):
                self.start = None
        return skip

    def push(self, t_raw: np.ndarray, acc: np.ndarray, labels: list | None,
             lines: np.ndarray) -> tuple[np.ndarray, np.ndarray, list | None]:
        """Kept samples of one chunk (t in seconds since the first sample)."""
        if len(t_raw) == 0:
            return np.zeros(0), np.zeros((0, 3)), ([] if labels is not None else None)
        if self.scale is None:
            skip = self._begin(t_raw, lines)
            if skip:
                self.stats.outliers += skip
                t_raw, acc, lines = t_raw[skip:], acc[skip:], lines[skip:]
                labels = labels[skip:] if labels is not None else None
            self.last = None
        assert self.scale is not None and self.raw0 is not None
        r = (t_raw - self.raw0) * self.scale
        if not np.isfinite(r).all():
            k = int(np.nonzero(~np.isfinite(r))[0][0])
            raise CoachError(f"{self.name}: line {int(lines[k])}: time value out of range")
        keep_t: list[np.ndarray] = []
        keep_a: list[np.ndarray] = []
        keep_l: list = []
        n = len(r)
        i = 0
        while i < n:
            if self.pending is None:
                # the regular run from i: steps in (0, tol], repeats dropped
                prev = self.last if self.last is not None else r[i] - 1e-9
                d = np.diff(np.concatenate(([prev], r[i:])))
                bad = (d < 0) | (d > self.tol)
                j = i + (int(np.argmax(bad)) if bad.any() else n - i)
                if j > i:
                    seg = slice(i, j)
                    dd = d[:j - i]
                    new = dd > 0
                    rep = int((~new).sum())
                    if rep:
                        self.stats.repeats += rep
                    keep_t.append(r[seg][new])
                    keep_a.append(acc[seg][new])
                    if labels is not None:
                        keep_l += [lb for lb, k in zip(labels[i:j], new) if k]
                    if new.any():
                        self.last = float(r[seg][new][-1])
                        self.last_raw = float(t_raw[seg][new][-1])
                    i = j
                    continue
            # one irregular sample through the state machine
            out = self._one(float(r[i]), acc[i], labels[i] if labels is not None else None,
                            int(lines[i]), float(t_raw[i]))
            for (tt, aa, ll) in out:
                keep_t.append(np.array([tt]))
                keep_a.append(np.asarray(aa).reshape(1, 3))
                if labels is not None:
                    keep_l.append(ll)
                self.last = tt
            i += 1
        self.seen += n
        dropped = self.stats.outliers
        if dropped > OUT_OF_STEP_MIN and dropped > OUT_OF_STEP_SHARE * self.seen:
            # a glitch drops a sample or two; jittered or shuffled timestamps would drop a fifth
            # of a file and more (held back as out of step, one after another)
            by = f", by line {int(lines[-1])}" if len(lines) else ""
            raise CoachError(f"{self.name}: time is out of order at many rows ({dropped} of the first "
                             f"{self.seen} samples out of step with the clock{by}): sort the file "
                             "by time")
        t_out = np.concatenate(keep_t) if keep_t else np.zeros(0)
        a_out = np.concatenate(keep_a) if keep_a else np.zeros((0, 3))
        return t_out, a_out, (keep_l if labels is not None else None)

    def _one(self, x: float, a, lab, line: int, raw: float) -> list:
        """Process one sample that the vectorised path could not; return samples to keep."""
        last = self.last
        p = self.pending
        if last is None:
            self.last_raw = raw
            return [(x, a, lab)]
        if p is None:
            d = x - last
            if d == 0:
                self.stats.repeats += 1
                return []
            if 0 < d <= self.tol:
                self.last_raw = raw
                return [(x, a, lab)]
            self.pending = _Pending("ahead" if d > 0 else "behind", [x], [a], [lab], [line], [raw])
            return []
        if x == last or x == p.t[-1]:
            self.stats.repeats += 1
            return []
        if 0 < x - last <= self.tol:
            # the clock came back: the held samples were outliers
            self.stats.outliers += len(p.t)
            self.pending = None
            self.last_raw = raw
            return [(x, a, lab)]
        # held on: a run at the sensor's step from the held samples (ahead, or behind the
        # clock), or another sample a moment behind it, in any order among the held ones (t of
        # rows 500 and 502 swapped); time that stays behind is refused once LOOKAHEAD are held
        if ((0 < x - p.t[-1] <= self.tol and (p.kind == "ahead" or x < last))
                or (p.kind == "behind" and 0 < last - x <= self.tol)):
            p.t.append(x)
            p.a.append(a)
            p.lab.append(lab)
            p.line.append(line)
            p.raw.append(raw)
            if len(p.t) >= LOOKAHEAD:
                return self._resolve_run()
            return []
        if p.kind == "behind" and x < last:
            self._refuse_behind()
        # something else again: the held samples were outliers; look at this one afresh
        self.stats.outliers += len(p.t)
        self.pending = None
        return self._one(x, a, lab, line, raw)

    def _resolve_run(self) -> list:
        """LOOKAHEAD samples go on from the held one: a real gap ahead, or time going back."""
        p = self.pending
        assert p is not None
        if p.kind == "behind":
            self._refuse_behind()
        jump = p.t[0] - self.last
        if jump > MAX_GAP_S:
            raise CoachError(f"{self.name}: line {p.line[0]}: time jumps forward by {jump:.0f} s "
                             "(more than a day): split the file into separate recordings")
        self.stats.gaps += 1
        self.stats.gap_seconds += jump
        self.pending = None
        self.last_raw = p.raw[-1]
        return list(zip(p.t, p.a, p.lab))

    def _refuse_behind(self) -> None:
        p = self.pending
        assert p is not None
        raise CoachError(f"{self.name}: time goes backwards at line {p.line[0]} "
                         f"(t={self.last_raw:g} then {p.raw[0]:g})")

    def finish(self) -> tuple[np.ndarray, np.ndarray, list] | None:
        """End of file: held samples behind mean time went backwards unless they were far
        behind; held samples ahead were outliers, unless the file ends in a run of them at the
        sensor's step (a gap, then the last moments of the recording): those are returned."""
        p = self.pending
        if p is None:
            return None
        if p.kind == "behind" and self.last is not None and self.last - p.t[0] <= self.tol:
            self._refuse_behind()
        if (p.kind == "ahead" and len(p.t) >= EOF_RUN and self.last is not None
                and p.t[0] - self.last <= MAX_GAP_S):      # (a day ahead: a broken clock)
            kept = self._resolve_run()
            t = np.array([k[0] for k in kept])
            a = np.array([np.asarray(k[1]) for k in kept]).reshape(-1, 3)
            return t, a, [k[2] for k in kept]
        self.stats.outliers += len(p.t)
        self.pending = None
        return None


def epoch_start(seconds: float) -> datetime | None:
    if not math.isfinite(seconds):
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
