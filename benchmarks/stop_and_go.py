"""Forward accuracy and steps on stop-and-go walking: 10 m walks with U-turns and stops, lower back.

Like the graded lower-back forward-only set (walks of about 10 m, a U-turn, the walk back, a
stop), simulated for ordinary walkers (normal, brisk, slow styles), half of them with the
real-sensor augmentations; scored with the shared scorer's own metric code.
    python benchmarks/stop_and_go.py [--walkers 12] [--seed 500]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shared import retro_score as _scorer

from coach.detect.pipeline import DirectionPipeline
from coach.simulate.gait import Bout, Person, Realism, simulate
from coach.sources.base import SampleBatch

retro_score = _scorer()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--walkers", type=int, default=12)
    ap.add_argument("--seed", type=int, default=500)
    a = ap.parse_args()
    rows = []
    for k in range(a.walkers):
        rng = np.random.default_rng(a.seed + k)
        bouts = [Bout("still", 3.0)]
        for _ in range(4):
            bouts += [Bout("forward", float(rng.uniform(6, 9))), Bout("turn", 2.0),
                      Bout("forward", float(rng.uniform(6, 9))), Bout("still", float(rng.uniform(2, 5)))]
        real = Realism.random(rng) if k % 2 else None
        s = simulate(rng, bouts, placement="waist", rate_hz=100.0, mounting="upright", realism=real,
                     person=Person.random(rng, styles=["normal", "brisk", "slow"]))
        p = DirectionPipeline()
        p.feed(SampleBatch(s.t, s.acc))
        rows.append(retro_score.score_session(f"w{k}", p.finish().to_json(), s.truth()))
    walk = sum(r["fwd_n"] for r in rows)
    hours = sum(r["duration"] for r in rows) / 3600
    print(json.dumps({
        "walkers": a.walkers,
        "forward_accuracy": round(sum(r["fwd_ok"] for r in rows) / walk, 3),
        "phantom_backward": round(sum(r["fp"] for r in rows) / walk, 4),
        "false_alarms_per_hour": round(sum(r["false_alarms"] for r in rows) / hours, 1),
        # steps within the truth's own: |counted - true| / true per walker, and its signed mean
        "step_error": round(float(np.mean([abs(r["all_steps"] - r["true_all_steps"]) / r["true_all_steps"]
                                           for r in rows])), 3),
        "step_bias": round(float(np.mean([(r["all_steps"] - r["true_all_steps"]) / r["true_all_steps"]
                                          for r in rows])), 3),
    }))


if __name__ == "__main__":
    main()
