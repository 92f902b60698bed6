"""Small simulated sessions for the detector tests (fixed seeds, a few minutes at most)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from coach.simulate.gait import Bout, SimSession, simulate


def interval_session(seed: int = 3, placement: str = "waist", rate: float = 50.0) -> SimSession:
    bouts = [Bout("forward", 20), Bout("still", 1), Bout("backward", 25), Bout("still", 1),
             Bout("forward", 20), Bout("backward", 20), Bout("still", 5)]
    return simulate(np.random.default_rng(seed), bouts, placement=placement, rate_hz=rate,
                    mounting="upright")


def write_csv(s: SimSession, path: Path, scale: float = 1.0) -> Path:
    with open(path, "w") as f:
        f.write("t,ax,ay,az\n")
        for t, (x, y, z) in zip(s.t, s.acc * scale):
            f.write(f"{t:.4f},{x:.5f},{y:.5f},{z:.5f}\n")
    path.with_suffix(".truth.json").write_text(json.dumps(s.truth()))
    return path
