"""Recordings on disk: CSV `t,ax,ay,az[,gx,gy,gz][,label]`, read strictly, replayed as a Source.

Every way a file can be wrong ends in a CoachError with one line that says what and where.
"""
from __future__ import annotations

import asyncio
import math
import time
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coach.constants import G
from coach.errors import CoachError
from coach.sources.base import SampleBatch


@dataclass
class Recording:
    t: np.ndarray
    acc: np.ndarray          # g
    labels: list[str] | None
    units: str               # "g" or "m/s2" (as found in the file)


def read_csv(path: str | Path, units: str = "auto", need_labels: bool = False) -> Recording:
    """Read and validate a recording; acceleration is returned in g."""
    p = Path(path)
    if not p.exists():
        raise CoachError(f"{p}: no such file")
    if p.is_dir():
        raise CoachError(f"{p}: is a directory, expected a CSV file")
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise CoachError(f"{p}: cannot read ({e.strerror})") from None
    if b"\x00" in raw[:4096]:
        raise CoachError(f"{p}: not a text CSV file (binary data)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CoachError(f"{p}: not a text CSV file (not UTF-8)") from None
    del raw
    fast = _parse_fast(text)
    if fast is not None:
        header, arr = fast
        _check_header(p, header, need_labels)
        labels = None
        cols = [header.index(c) for c in ("t", "ax", "ay", "az")]
    else:
        arr, labels, cols = _parse_strict(p, text, need_labels)
    t = arr[:, cols[0]]
    acc = arr[:, cols[1:4]]
    if not np.isfinite(t).all():
        raise CoachError(f"{p}: time column has NaN or infinite values")
    bad = ~np.isfinite(acc).all(axis=1)
    if bad.all():
        raise CoachError(f"{p}: no valid acceleration values (all NaN)")
    if bad.any():  # drop unusable rows; the resampler bridges or marks the hole
        t, acc = t[~bad], acc[~bad]
        if labels is not None:
            labels = [l for l, b in zip(labels, bad) if not b]
    if len(t) < 2:
        raise CoachError(f"{p}: too few samples ({len(t)})")
    d = np.diff(t)
    if (d <= 0).any():
        k = int(np.nonzero(d <= 0)[0][0])
        raise CoachError(f"{p}: time goes backwards or repeats at row {k + 2} "
                         f"(t={t[k]:g} then {t[k + 1]:g})")
    found = detect_units(acc)
    if units == "auto":
        units = found
    elif units not in ("g", "m/s2"):
        raise CoachError(f"unknown units {units!r}: use g or m/s2")
    if units == "m/s2":
        acc = acc / G
    return Recording(t - 0.0, acc, labels, units)


def _check_header(p: Path, header: list[str], need_labels: bool) -> None:
    missing = [c for c in ("t", "ax", "ay", "az") if c not in header]
    if missing:
        raise CoachError(f"{p}: missing column(s) {', '.join(missing)} (header must include t,ax,ay,az)")
    if need_labels and "label" not in header:
        raise CoachError(f"{p}: missing column label (training needs t,ax,ay,az,label)")


def _parse_strict(p: Path, text: str, need_labels: bool) -> tuple[np.ndarray, list[str] | None, list[int]]:
    """Line by line: slower, but names the line and field that is wrong."""
    lines = text.splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise CoachError(f"{p}: empty file")
    header = [h.strip().lower() for h in lines[0].split(",")]
    _check_header(p, header, need_labels)
    ncol = len(header)
    cols = [header.index(c) for c in ("t", "ax", "ay", "az")]
    lab_i = header.index("label") if "label" in header else None
    num_idx = [i for i in range(ncol) if i != lab_i]
    body = [ln for ln in lines[1:] if ln.strip()]
    if not body:
        raise CoachError(f"{p}: no data rows after the header")
    if lab_i is None:
        flat = ",".join(body).split(",")
        if len(flat) != ncol * len(body):
            for k, ln in enumerate(body):
                if ln.count(",") != ncol - 1:
                    raise CoachError(f"{p}: line {k + 2}: expected {ncol} fields, got {ln.count(',') + 1}")
        try:
            arr = np.array(flat, dtype=np.float64).reshape(len(body), ncol)
        except ValueError:
            _find_bad(p, body, num_idx)
            raise
        return arr, None, cols
    rows = [ln.split(",") for ln in body]
    for k, r in enumerate(rows):
        if len(r) != ncol:
            raise CoachError(f"{p}: line {k + 2}: expected {ncol} fields, got {len(r)}")
    try:
        arr = np.array([[r[i] for i in num_idx] for r in rows], dtype=np.float64)
    except ValueError:
        _find_bad(p, body, num_idx)
        raise
    labels = [r[lab_i].strip() for r in rows]
    remap = {h: j for j, h in enumerate(num_idx)}
    return arr, labels, [remap[c] for c in cols]


def _parse_fast(text: str) -> tuple[list[str], np.ndarray] | None:
    """All-numeric CSV in one C pass (an hour at 100 Hz in ~0.1 s, no per-field objects).

    Returns None for anything irregular (labels, blank lines, a bad field, ragged rows): the
    strict line-by-line reader then finds and names the problem.
    """
    head_end = text.find("\n")
    if head_end < 0:
        return None
    header = [h.strip().lower() for h in text[:head_end].split(",")]
    if not header[0] or "label" in header:
        return None
    body = text[head_end + 1:].replace("\r", "").rstrip()
    if not body:
        return None
    nrows = body.count("\n") + 1
    ncol = len(header)
    if body.count(",") != nrows * (ncol - 1):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            arr = np.fromstring(body.replace("\n", ","), sep=",")
    except (ValueError, DeprecationWarning):
        return None
    if arr.size != nrows * ncol:
        return None
    return header, arr.reshape(nrows, ncol)


def _find_bad(p: Path, body: list[str], num_idx: list[int]) -> None:
    for k, ln in enumerate(body):
        f = ln.split(",")
        for i in num_idx:
            try:
                float(f[i])
            except (ValueError, IndexError):
                raise CoachError(f"{p}: line {k + 2}: non-numeric value {f[i].strip()[:20]!r}"
                                 if i < len(f) else f"{p}: line {k + 2}: missing field") from None


def detect_units(acc: np.ndarray) -> str:
    """g or m/s^2, from the median magnitude (gravity is 1 g = 9.81 m/s^2)."""
    m = float(np.nanmedian(np.linalg.norm(acc, axis=1)))
    return "m/s2" if m > 3.5 else "g"


class CsvSource:
    """Replays a recording as a stream: as fast as possible (speed 0) or at speed x real time."""

    def __init__(self, path: str | Path, units: str = "auto", speed: float = 0.0,
                 batch_s: float = 30.0) -> None:
        self.path = Path(path)
        self.recording = read_csv(self.path, units)
        self.name = str(path)
        self.speed = speed
        self.batch_s = batch_s if speed == 0 else min(batch_s, 0.25)

    async def stream(self) -> AsyncIterator[SampleBatch]:
        r = self.recording
        t0 = time.monotonic()
        i, n = 0, len(r.t)
        while i < n:
            j = int(np.searchsorted(r.t, r.t[i] + self.batch_s, side="left"))
            j = max(j, i + 1)
            if self.speed > 0:
                delay = t0 + (r.t[j - 1] - r.t[0]) / self.speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            yield SampleBatch(r.t[i:j], r.acc[i:j])
            i = j
            if self.speed == 0 and i < n and math.isfinite(r.t[i]):
                await asyncio.sleep(0)
