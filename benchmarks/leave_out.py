"""Leave-one-style-out and leave-one-placement-out validation of the detector.

For each group of walking styles (and each placement), a model is trained on simulated
sessions without it and scored (the shared scorer's metrics) on held-out sessions that have
only it: motion-capture-like renders (smooth, band-limited) with short bouts, as in the graded
sets. Pure simulation (no real recordings), fewer sessions than the shipped model.

    python benchmarks/leave_out.py [--sessions 120] [--eval 18] [--out leave_out.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibration_gain import summary
from make_sessions import mocap_like
from shared import retro_score as _scorer

from coach.detect.pipeline import DirectionPipeline
from coach.detect.train import train
from coach.simulate.gait import Person, random_program, simulate
from coach.sources.base import SampleBatch

retro_score = _scorer()

STYLE_GROUPS = {
    "slow and low (elderly, tired, sad, slow, dragging)": ["elderly", "tired", "sad", "slow", "dragging"],
    "big and showy (long strides, exaggerated, bouncy, swagger)": ["long", "exaggerated", "bouncy", "swagger"],
    "irregular (shuffle, stooped, limp)": ["shuffle", "stooped", "limp"],
    "ordinary (normal, brisk, proud)": ["normal", "brisk", "proud"],
}
ALL_STYLES = sorted({s for g in STYLE_GROUPS.values() for s in g})
PLACES = ["chest", "waist", "pocket"]
TRAIN_PLACES = ["chest", "waist", "pocket", "wrist", "hand", "bag"]


def held_out(seed: int, n: int, styles: list[str] | None, places: list[str]) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n):
        person = Person.random(rng, styles=styles)
        place = places[k % len(places)]
        s = simulate(rng, random_program(rng, 1.5, forward_only=rng.random() < 0.15, short=True),
                     placement=place, rate_hz=float(rng.choice([50, 52, 100])), person=person,
                     mounting="upright", realism=mocap_like(rng))
        rows.append({"name": f"h{k}_{place}", "t": s.t, "acc": s.acc, "truth": s.truth()})
    return rows


def score(model, rows: list[dict]) -> dict:
    out = []
    for r in rows:
        p = DirectionPipeline(model=model)
        for i in range(0, len(r["t"]), 1000):
            p.feed(SampleBatch(r["t"][i:i + 1000], r["acc"][i:i + 1000]))
        out.append(retro_score.score_session(r["name"], p.finish().to_json(), r["truth"]))
    return summary(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=120)
    ap.add_argument("--eval", type=int, default=18)
    ap.add_argument("--out", type=Path, default=Path("leave_out.json"))
    a = ap.parse_args()
    res: dict = {"styles": {}, "placements": {}}
    for i, (name, group) in enumerate(STYLE_GROUPS.items()):
        t0 = time.time()
        m = train(seed=1, sessions=a.sessions, styles=[s for s in ALL_STYLES if s not in group])
        res["styles"][name] = score(m, held_out(9500 + i, a.eval, group, PLACES))
        print(name, res["styles"][name], f"{time.time() - t0:.0f} s", flush=True)
    for i, place in enumerate(PLACES):
        t0 = time.time()
        m = train(seed=1, sessions=a.sessions, placements=[p for p in TRAIN_PLACES if p != place])
        res["placements"][place] = score(m, held_out(9600 + i, a.eval, None, [place]))
        print(place, res["placements"][place], f"{time.time() - t0:.0f} s", flush=True)
    a.out.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
