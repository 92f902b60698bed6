"""Steps counted in motion that is not walking: gestures, torso twists, sidestepping, turning,
running.

    python benchmarks/other_steps.py [--sessions 12] [--seed 100] [--other-step-periodic P]

Each simulated session is 8 s forward, 3 s standing, 20 s of one activity, 3 s standing
(chest, lower back and pocket in turn, 50 Hz). It counts the answer's steps from 0.5 s before
the activity to 1 s after it, against the true steps in it. Gestures and torso twists take
none; sidestepping, turning and running take theirs. `--other-step-periodic 0` turns off the
check that keeps loosely repeating other motion from counting (`OTHER_STEP_PERIODIC` in
coach/detect/pipeline.py), for comparison.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

import coach.detect.pipeline as pipeline
from coach.detect.pipeline import DirectionPipeline
from coach.simulate.gait import Bout, simulate
from coach.sources.base import SampleBatch

ACTIVITIES = ["gesture", "torso", "sidestep", "turn", "run"]
PLACES = ["chest", "waist", "pocket"]
T0, T1 = 11.0, 31.0                       # the activity, after 8 s forward and 3 s standing


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=12, help="per activity")
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--other-step-periodic", type=float, default=None)
    a = ap.parse_args()
    if a.other_step_periodic is not None:
        pipeline.OTHER_STEP_PERIODIC = a.other_step_periodic
    res = {}
    for act in ACTIVITIES:
        true = counted = 0
        by_place: dict[str, list[int]] = {p: [0, 0] for p in PLACES}
        for k in range(a.sessions):
            rng = np.random.default_rng(a.seed + k)
            place = PLACES[k % len(PLACES)]
            s = simulate(rng, [Bout("forward", 8), Bout("still", 3), Bout(act, 20), Bout("still", 3)],
                         placement=place, rate_hz=50)
            p = DirectionPipeline()
            p.feed(SampleBatch(s.t, s.acc))
            r = p.finish()
            n_true = sum(1 for x in s.steps if T0 <= x["t"] < T1)
            n_ours = sum(1 for t, _ in r.steps if T0 - 0.5 <= t < T1 + 1.0)
            true += n_true
            counted += n_ours
            by_place[place][0] += n_true
            by_place[place][1] += n_ours
        res[act] = {"true_steps": true, "counted": counted,
                    "by_placement": {p: {"true_steps": v[0], "counted": v[1]} for p, v in by_place.items()}}
        print(act, json.dumps(res[act]), flush=True)


if __name__ == "__main__":
    main()
