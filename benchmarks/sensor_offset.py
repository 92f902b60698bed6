"""Sensors that read with an offset: a folder of sessions scored with a constant offset added.

A MEMS accelerometer's zero-g offset is tens of mg in a phone or a chest strap and can be
100-200 mg in an uncalibrated one; the graded sets carry "bias" too. An offset moves the
gravity norm a window reads (one of the model's features) and nothing else the detector
sees, so this isolates what the detector makes of it. Each session gets its own offset of the
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
from shared import folder, read_session
from shared import retro_score as _scorer

from coach.detect.model import DirectionModel
from coach.detect.pipeline import DirectionPipeline
from coach.sources.base import SampleBatch

retro_score = _scorer()


def score(rows: list[dict]) -> dict:
    tp, fp, fn = (sum(r[k] for r in rows) for k in ("tp", "fp", "fn"))
    lat = [v for r in rows for v in r["lat"]]
    sites = {}
    for site in sorted({r["name"].split("_")[1] for r in rows if r["name"].count("_") >= 2}):
        sr = [r for r in rows if f"_{site}_" in r["name"]]
        t_, f_, n_ = (sum(r[k] for r in sr) for k in ("tp", "fp", "fn"))
        sites[site] = round(2 * t_ / max(2 * t_ + f_ + n_, 1), 3)
    retro = [abs(r["retro_steps"] - r["true_retro_steps"]) / r["true_retro_steps"]
             for r in rows if r["true_retro_steps"]]
    hours = sum(r["duration"] for r in rows) / 3600
    return dict(backward_f1=round(2 * tp / max(2 * tp + fp + fn, 1), 3), f1_by_placement=sites,
                forward_accuracy=round(sum(r["fwd_ok"] for r in rows) / max(sum(r["fwd_n"] for r in rows), 1), 3),
                retro_step_mape=round(float(np.mean(retro)), 3) if retro else None,
                latency_median_s=round(float(np.median(lat)), 2) if lat else None,
                missed=sum(r["missed"] for r in rows),
                false_alarms_per_hour=round(sum(r["false_alarms"] for r in rows) / hours, 1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path, help="a folder of sessions (index.json, NAME.csv, NAME.truth.json)")
    ap.add_argument("--offsets", default="0,0.1,0.2", help="offset sizes in g, comma-separated")
    ap.add_argument("--seed", type=int, default=77)
    ap.add_argument("--model", type=Path, default=None)
    a = ap.parse_args()
    data = folder(a.data)
    model = DirectionModel.load(a.model) if a.model else None
    names = json.loads((data / "index.json").read_text())
    sessions = [read_session(data, n) for n in names]
    units = [9.80665 if tr.get("units") == "m/s^2" else 1.0 for _, _, tr in sessions]
    for size in (float(x) for x in a.offsets.split(",")):
        rng = np.random.default_rng(a.seed)
        rows = []
        for n, (t, acc, truth), unit in zip(names, sessions, units):
            v = rng.normal(size=3)
            p = DirectionPipeline(model=model)
            p.feed(SampleBatch(t, acc / unit + v / np.linalg.norm(v) * size))
            rows.append(retro_score.score_session(n, p.finish().to_json(), truth))
        print(json.dumps({"offset_g": size, **score(rows)}), flush=True)


if __name__ == "__main__":
    main()
