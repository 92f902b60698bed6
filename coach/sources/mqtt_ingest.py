"""The `coach serve` ingest format: one JSON payload per batch of samples, per sensor stream.

  topic    <base>/ingest/<sensor_id>/samples
  payload  JSON {"t": [s, ...], "acc": [[ax, ay, az], ...]}     acceleration in g, t in seconds
           (any origin, strictly increasing), or {"t0": s, "hz": 50, "acc": [...]};
           optional "gap": true (samples were lost before this batch), "battery": 0-100,
           "placement": "ankle"; {"end": true} closes the session.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from coach.types import SampleBatch


def parse_samples(payload: bytes) -> tuple[SampleBatch | None, dict[str, Any]]:
    """Decode one ingest payload into a batch (None for control-only messages) and its extras."""
    msg = json.loads(payload)
    if not isinstance(msg, dict):
        raise ValueError("payload must be a JSON object")
    acc = msg.get("acc")
    extras = {k: msg[k] for k in ("gap", "battery", "placement", "end") if k in msg}
    if not acc:
        return None, extras
    a = np.asarray(acc, dtype=np.float64).reshape(-1, 3)
    if "t" in msg:
        t = np.asarray(msg["t"], dtype=np.float64)
    else:
        t = float(msg["t0"]) + np.arange(len(a)) / float(msg.get("hz", 50.0))
    return SampleBatch(t, a, gap_before=bool(msg.get("gap", False))), extras
