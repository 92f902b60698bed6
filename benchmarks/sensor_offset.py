"""Sensors that read with an offset: a folder of sessions scored with a constant offset added.

A MEMS accelerometer's zero-g offset is tens of mg in a phone or a chest strap and can be
100-200 mg in an uncalibrated one; the graded sets carry "bias" too. An offset moves the
gravity norm a window reads (one of the model's features) and tilts the gravity it sees a
little; the motion about gravity is unchanged. Each session gets its own offset of the
given size, in a random direction (seeded), added to every sample; scored in-process with the
shared scorer's own metric code, as benchmarks/eval_inproc.py does:
    python benchmarks/sensor_offset.py data/mocap [--offsets 0,0.1,0.2] [--model FILE]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shared import folder, read_session, summary
from shared import retro_score as _scorer

from coach.constants import G
from coach.detect.model import DirectionModel
from coach.detect.pipeline import DirectionPipeline
from coach.errors import CoachError
from coach.sources.base import SampleBatch

retro_score = _scorer()


def _sizes(text: str) -> list[float]:
    try:
        sizes = [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None
    if not all(np.isfinite(x) and x >= 0 for x in sizes):
        raise argparse.ArgumentTypeError(f"offsets are sizes in g, 0 or more: {text!r}")
    return sizes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path, help="a folder of sessions (index.json, NAME.csv, NAME.truth.json)")
    ap.add_argument("--offsets", type=_sizes, default=[0.0, 0.1, 0.2],
                    help="offset sizes in g, comma-separated (default 0,0.1,0.2)")
    ap.add_argument("--seed", type=int, default=77)
    ap.add_argument("--model", type=Path, default=None)
    a = ap.parse_args()
    data = folder(a.data)
    try:
        model = DirectionModel.load(a.model) if a.model else None
    except CoachError as e:
        sys.exit(f"sensor_offset.py: {e}")
    try:
        names = json.loads((data / "index.json").read_text())
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ValueError("index.json is not a list of session names")
        sessions = [read_session(data, n) for n in names]
    except (OSError, ValueError) as e:           # (a JSON error is a ValueError)
        sys.exit(f"sensor_offset.py: {data}: {e}")
    units = [G if tr.get("units") == "m/s^2" else 1.0 for _, _, tr in sessions]
    for size in a.offsets:
        rng = np.random.default_rng(a.seed)
        rows = []
        for n, (t, acc, truth), unit in zip(names, sessions, units):
            v = rng.normal(size=3)
            p = DirectionPipeline(model=model)
            p.feed(SampleBatch(t, acc / unit + v / np.linalg.norm(v) * size))
            rows.append(retro_score.score_session(n, p.finish().to_json(), truth))
        print(json.dumps({"offset_g": size, **summary(rows)}), flush=True)


if __name__ == "__main__":
    main()
