"""Option values checked where they are parsed, so a bad one is one line and exit 2 before any
work starts (a negative --minutes had run a demo of nothing, and 1e9 minutes had filled memory).
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from coach.config import probe_writable
from coach.errors import CoachError

MAX_MINUTES = 24 * 60        # a day: more than any session, and what a simulated one can hold
MAX_SEED = 2 ** 32 - 1       # numpy's seeds


def _number(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return x


def file_path(text: str) -> Path:
    """A file's path, not empty (Path("") is the working directory: an empty name had been
    read as '.', and its error spoke of a directory)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty file name")
    return Path(text)


def minutes(text: str) -> float:
    """Minutes of a session: more than 0, at most a day."""
    x = _number(text)
    if not 0 < x <= MAX_MINUTES:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most {MAX_MINUTES} (a day), "
                                         f"not {text}")
    return x


def seconds(text: str) -> float:
    """A time limit in seconds: more than 0."""
    x = _number(text)
    if x <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return x


def speed(text: str) -> float:
    """x real time: 0 (as fast as possible) or more."""
    x = _number(text)
    if x < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (as fast as possible) or more, not {text}")
    return x


def _whole(text: str, lo: int, hi: int, rule: str) -> int:
    try:
        x = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not lo <= x <= hi:
        raise argparse.ArgumentTypeError(f"must be {rule}, not {text}")
    return x


def seed(text: str) -> int:
    return _whole(text, 0, MAX_SEED, f"from 0 to {MAX_SEED}")


def sessions(text: str) -> int:
    """Simulated training sessions: 2 or more (one holds too few of some classes)."""
    return _whole(text, 2, 2 ** 63, "2 or more")


def check_out(path: str | Path, what: str = "--out") -> None:
    """An output file's place, checked before the work that fills it (a guided calibration had
    walked the wearer through it all, then failed on a missing folder)."""
    p = Path(path)
    if str(path) == "-":
        return
    if p.is_dir():
        raise CoachError(f"{what} {p} is a folder; give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise CoachError(f"{what} {p}: {parent} is a file, not a folder")
    if not parent.is_dir():
        raise CoachError(f"{what} {p}: the folder {parent} does not exist")
    # can it be written at all? (an unwritable place had been found only after the walk)
    try:
        probe_writable(p)
    except OSError as e:
        raise CoachError(f"{what} {p}: cannot write ({e.strerror or e})") from None
