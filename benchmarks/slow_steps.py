"""Step counting by cadence: slow walkers (the rehab case) against ordinary ones.

    python benchmarks/slow_steps.py [--seed 500] [--walkers 12]

For each cadence, simulates walkers of the "elderly" style (chest, lower back, pocket in turn,
50 Hz, any mounting, the simulator's default realism) walking 40 s forward, 30 s backward at the
same cadence and 10 s forward, and prints the per-session error of all steps counted and of the
retro steps, as median and worst |error|. Seeds differ from the tests' (tests/test_detect_pipeline.py).
"""
from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np

from coach.detect.pipeline import DirectionPipeline
from coach.simulate.gait import Bout, Person, simulate
from coach.sources.base import SampleBatch

CADENCES = [0.9, 1.0, 1.1, 1.2, 1.4, 1.6, 2.0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=500)
    ap.add_argument("--walkers", type=int, default=12)
    a = ap.parse_args()
    rows = {}
    for hz in CADENCES:
        all_e, retro_e = [], []
        for k in range(a.walkers):
            rng = np.random.default_rng(a.seed + k)
            person = dataclasses.replace(Person.random(rng, styles=["elderly"]), step_hz=hz,
                                         back_cadence_ratio=1.0)
            s = simulate(rng, [Bout("forward", 40), Bout("backward", 30), Bout("forward", 10)],
                         placement=["chest", "waist", "pocket"][k % 3], rate_hz=50, person=person)
            p = DirectionPipeline()
            p.feed(SampleBatch(s.t, s.acc))
            out = p.finish().to_json()
            true_back = sum(1 for x in s.steps if x["direction"] == "backward")
            all_e.append(sum(sg["steps"] for sg in out["segments"]) / len(s.steps) - 1)
            retro_e.append(out["summary"]["retro_steps"] / true_back - 1)
        rows[str(hz)] = {
            "steps_error_median": round(float(np.median(np.abs(all_e))), 3),
            "steps_error_worst": round(float(np.max(np.abs(all_e))), 3),
            "steps_bias": round(float(np.mean(all_e)), 3),
            "retro_error_median": round(float(np.median(np.abs(retro_e))), 3),
            "retro_error_worst": round(float(np.max(np.abs(retro_e))), 3),
        }
        print(hz, json.dumps(rows[str(hz)]), flush=True)


if __name__ == "__main__":
    main()
