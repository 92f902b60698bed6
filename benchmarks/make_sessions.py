"""Write simulated sessions in the benchmark's folder format (index.json, NAME.csv, NAME.truth.json).

Seeds here are far from the training seeds, so these are sessions the model never saw.
Mounting is the benchmark's: upright at any yaw with up to 20 degrees of tilt.
    python benchmarks/make_sessions.py --out data/bench --seed 9001 --sessions 24
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from shared import write_index, write_session

from coach.simulate.gait import Person, Realism, random_program, simulate


def mocap_like(rng: np.random.Generator) -> Realism:
    """A render of motion capture: smooth (no impacts), band-limited, some noise."""
    return Realism(impact_scale=0.0, lowpass_hz=float(rng.uniform(4.0, 12.0)),
                   extra_noise_g=float(rng.uniform(0.0, 0.01)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=9001)
    ap.add_argument("--sessions", type=int, default=24)
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--forward-only", type=float, default=0.2, help="share of forward-only sessions")
    ap.add_argument("--placements", default="chest,waist,pocket")
    ap.add_argument("--realism", choices=["none", "random", "mocap"], default="none",
                    help="none: the plain render; random: training augmentations; mocap: smooth, band-limited")
    ap.add_argument("--short", action="store_true", help="bouts of a few seconds (stitched clips)")
    ap.add_argument("--rates", default="50,60,100")
    ap.add_argument("--weak-backward", action="store_true",
                    help="backward walks of 0.3-1.0 the forward walk's amplitude and 0.6-1.1 its "
                         "cadence (the training population: 0.45-1.0 and 0.7-1.1)")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    names = []
    places = a.placements.split(",")
    for k in range(a.sessions):
        place = places[k % len(places)]
        fwd_only = rng.random() < a.forward_only
        rate = float(rng.choice([float(x) for x in a.rates.split(",")]))
        real = {"none": None, "random": Realism.random(rng), "mocap": mocap_like(rng)}[a.realism]
        program = random_program(rng, a.minutes, forward_only=fwd_only, short=a.short)
        # (simulate draws its walker first: drawn here, the stream is the same)
        person = (Person.random(rng, back_amp=(0.3, 1.0), back_cadence=(0.6, 1.1))
                  if a.weak_backward else None)
        s = simulate(rng, program, placement=place, rate_hz=rate, mounting="upright",
                     realism=real, person=person)
        name = f"s{k:02d}_{place}_{int(rate)}hz_{'forward' if fwd_only else 'interval'}"
        names.append(name)
        write_session(a.out, name, s.t, s.acc, s.truth())
    write_index(a.out, names)


if __name__ == "__main__":
    main()
