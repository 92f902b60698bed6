"""Walkers who change their pace within a session: a folder of sessions to score.

Each session is one simulated walker (motion-capture-like, chest / lower back / pocket, the
sensor worn one way throughout): a minute at their own pace (a forward warm-up, then
intervals), then two minutes of intervals whose walking bouts go at PACE times their cadence,
stride and speed (`Bout.pace`; turns, sidesteps and runs as before). The forward reference is
learnt at the first pace, and follows later walking that is no more than ADAPT_ENERGY above
it in log-energy; this asks how the walking at the second pace reads.
    python benchmarks/pace_change.py --out data/pace075 --pace 0.75
then `python benchmarks/eval_inproc.py data/pace075` (or the shared scorer).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_sessions import mocap_like
from shared import write_index, write_session

from coach.simulate.gait import Bout, Person, random_program, simulate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--pace", type=float, default=0.75,
                    help="the later walking bouts' cadence, stride and speed against the walker's own")
    ap.add_argument("--sessions", type=int, default=30)
    ap.add_argument("--seed", type=int, default=8700)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    places = ["chest", "waist", "pocket"]
    names = []
    for k in range(a.sessions):
        place = places[k % 3]
        rate = float(rng.choice([50, 52, 100]))
        person = Person.random(rng)
        real = mocap_like(rng)
        first = [Bout("forward", 10.0)] + random_program(rng, 1.0, short=True)
        later = [Bout("still", 2.0)] + [
            replace(b, pace=a.pace) if b.activity in ("forward", "backward") else b
            for b in random_program(rng, 2.0, short=True)]
        s = simulate(rng, first + later, placement=place, rate_hz=rate, person=person,
                     mounting="upright", realism=real)
        name = f"s{k:02d}_{place}_{int(rate)}hz_pace{int(round(a.pace * 100))}"
        names.append(name)
        write_session(a.out, name, s.t, s.acc, s.truth())
    write_index(a.out, names)


if __name__ == "__main__":
    main()
