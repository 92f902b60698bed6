"""The `coach serve` ingest format: one JSON payload per batch of samples, per sensor stream.

  topic    <base>/ingest/<sensor_id>/samples
  payload  JSON {"t": [s, ...], "acc": [[ax, ay, az], ...]}     acceleration in g, t in seconds
           (any origin, strictly increasing), or {"t0": s, "hz": 50, "acc": [...]};
           optional "gap": true (samples were lost before this batch), "battery": 0-100,
           "placement": "ankle"; {"end": true} closes the session.

Every payload is checked before anything is computed from it (IngestError, a ValueError, with
a one-line reason otherwise): at most MAX_PAYLOAD bytes and MAX_SAMPLES samples, finite times
strictly increasing over at most MAX_SPAN_S, a rate from MIN_HZ to MAX_HZ, finite acceleration
within MAX_G, no nesting beyond what the format needs.
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from coach.types import SampleBatch

MAX_PAYLOAD = 512 * 1024     # bytes per message
MAX_SAMPLES = 4000           # samples per message
MAX_SPAN_S = 60.0            # seconds one message may cover
MIN_HZ, MAX_HZ = 5.0, 1000.0
MAX_G = 64.0                 # |component| in g
MAX_T = 1e13                 # |t|: epoch milliseconds still fit, 1e30 does not
MAX_DEPTH = 4                # {"acc": [[x, y, z]]} is 3 deep


class IngestError(ValueError):
    """A payload that is not a valid ingest message (one line, safe to log)."""


def _depth_ok(raw: bytes) -> bool:
    depth = 0
    in_str = esc = False
    for c in raw:
        if in_str:
            if esc:
                esc = False
            elif c == 0x5C:        # backslash
                esc = True
            elif c == 0x22:
                in_str = False
        elif c == 0x22:
            in_str = True
        elif c in (0x5B, 0x7B):    # [ {
            depth += 1
            if depth > MAX_DEPTH:
                return False
        elif c in (0x5D, 0x7D):
            depth -= 1
    return True


def _number(v: Any, name: str, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise IngestError(f"{name} must be a number")
    f = float(v)
    if not math.isfinite(f) or not lo <= f <= hi:
        raise IngestError(f"{name} must be a finite number from {lo:g} to {hi:g}")
    return f


def parse_samples(payload: bytes) -> tuple[SampleBatch | None, dict[str, Any]]:
    """Decode one ingest payload into a batch (None for control-only messages) and its extras."""
    if len(payload) > MAX_PAYLOAD:
        raise IngestError(f"payload of {len(payload)} bytes (at most {MAX_PAYLOAD})")
    if not _depth_ok(payload):
        raise IngestError(f"JSON nested deeper than {MAX_DEPTH}")
    try:
        msg = json.loads(payload)
    except (ValueError, RecursionError) as e:
        raise IngestError(f"not JSON ({str(e)[:80]})") from None
    if not isinstance(msg, dict):
        raise IngestError("payload must be a JSON object")
    extras: dict[str, Any] = {}
    if "gap" in msg:
        if not isinstance(msg["gap"], bool):
            raise IngestError("gap must be true or false")
        extras["gap"] = msg["gap"]
    if "end" in msg:
        if not isinstance(msg["end"], bool):
            raise IngestError("end must be true or false")
        extras["end"] = msg["end"]
    if "battery" in msg and msg["battery"] is not None:
        extras["battery"] = _number(msg["battery"], "battery", 0, 100)
    if "placement" in msg:
        p = msg["placement"]
        if not isinstance(p, str) or len(p) > 32:
            raise IngestError("placement must be a short string")
        extras["placement"] = p
    acc = msg.get("acc")
    if acc is None or acc == []:
        return None, extras
    if not isinstance(acc, list):
        raise IngestError("acc must be a list of [ax, ay, az]")
    if len(acc) > MAX_SAMPLES:
        raise IngestError(f"{len(acc)} samples in one message (at most {MAX_SAMPLES})")
    if not all(isinstance(row, list) and len(row) == 3 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in row) for row in acc):
        raise IngestError("acc must be a list of [ax, ay, az] numbers")
    a = np.asarray(acc, dtype=np.float64).reshape(-1, 3)
    if not np.all(np.isfinite(a)) or np.any(np.abs(a) > MAX_G):
        raise IngestError(f"acc must be finite and within +-{MAX_G:g} g")
    n = len(a)
    if "t" in msg:
        tl = msg["t"]
        if not isinstance(tl, list) or len(tl) != n or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in tl):
            raise IngestError(f"t must be a list of {n} number{'' if n == 1 else 's'}, one per sample")
        t = np.asarray(tl, dtype=np.float64)
        if not np.all(np.isfinite(t)) or np.any(np.abs(t) > MAX_T):
            raise IngestError("t must be finite seconds")
        if n > 1:
            if np.any(np.diff(t) <= 0):
                raise IngestError("t must be strictly increasing")
            span = float(t[-1] - t[0])
            if span > MAX_SPAN_S:
                raise IngestError(f"one message spans {span:.6g} s (at most {MAX_SPAN_S:g})")
            rate = (n - 1) / span
            if not MIN_HZ <= rate <= MAX_HZ:
                raise IngestError(f"rate {rate:.3g} Hz (from {MIN_HZ:g} to {MAX_HZ:g})")
    else:
        if "t0" not in msg:
            raise IngestError("samples need t, or t0 and hz")
        t0 = _number(msg["t0"], "t0", -MAX_T, MAX_T)
        hz = _number(msg.get("hz", 50.0), "hz", MIN_HZ, MAX_HZ)
        if (n - 1) / hz > MAX_SPAN_S:
            raise IngestError(f"one message spans {(n - 1) / hz:.6g} s (at most {MAX_SPAN_S:g})")
        t = t0 + np.arange(n) / hz
    return SampleBatch(t, a, gap_before=bool(msg.get("gap", False))), extras
