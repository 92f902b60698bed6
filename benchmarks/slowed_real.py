"""Real sensors walking slowly: the Oxford phone recordings played slower.

Backward walking is done at about half the forward pace, and rehab walkers are slow; the real
recordings are all at 1.5-2.1 steps/s. Played at FACTOR of their speed (time / FACTOR, the
motion about a 1 s gravity estimate scaled by FACTOR^2 as accelerations are, gravity kept,
resampled to the recording's own rate), a walk keeps a real phone's noise, placement and a
real walker's irregularity at 0.9-1.3 steps/s (0.6). It is not a slow walker's gait (whose
double support lengthens and whose impacts soften), so it tests the step counter's search,
not the simulator's idea of slow walking. Writes a folder in the benchmark's format:
    python benchmarks/slowed_real.py --out data/ox_x60 [--factor 0.6] [--src data/oxrev]
and score it with ../shared/benchmark/retro_score.py (step MAPE; retro-step MAPE on a
--src made by benchmarks/reversed_real.py).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shared import OXFORD as SRC
from shared import folder, read_session, write_index, write_session


def slowed(t: np.ndarray, acc: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """(t, acc) of the recording played at factor of its speed, at its own sample rate."""
    fs = (len(t) - 1) / (t[-1] - t[0])
    k = max(1, int(round(fs)))                         # about 1 s: gravity
    pad = np.pad(acc, ((k // 2, k - 1 - k // 2), (0, 0)), mode="edge")
    c = np.cumsum(np.vstack([np.zeros((1, 3)), pad]), axis=0)
    g = (c[k:] - c[:-k]) / k
    moved = g + (acc - g) * factor ** 2
    t2 = (t - t[0]) / factor
    tn = np.arange(0.0, t2[-1], 1.0 / fs)
    return tn, np.column_stack([np.interp(tn, t2, moved[:, j]) for j in range(3)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--src", type=Path, default=SRC, help="a folder of sessions (.csv or .csv.gz)")
    ap.add_argument("--factor", type=float, default=0.6, help="speed played at (0.3-1)")
    a = ap.parse_args()
    if not 0.3 <= a.factor <= 1.0:
        sys.exit("slowed_real.py: --factor must be 0.3-1")
    folder(a.src)
    a.out.mkdir(parents=True, exist_ok=True)
    names = []
    for n in json.loads((a.src / "index.json").read_text()):
        t, acc, truth = read_session(a.src, n)
        t, acc = slowed(t, acc, a.factor)
        lab = truth["labels"]
        idx = np.minimum((np.arange(int(len(lab) / a.factor)) * a.factor).astype(int), len(lab) - 1)
        truth.update(labels=[lab[i] for i in idx],
                     steps=[dict(s, t=s["t"] / a.factor) for s in truth["steps"]],
                     changes=[dict(c, t=c["t"] / a.factor) for c in truth["changes"]])
        name = f"{n}_x{round(100 * a.factor)}"
        write_session(a.out, name, t, acc, truth)
        names.append(name)
    write_index(a.out, names)


if __name__ == "__main__":
    main()
