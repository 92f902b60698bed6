"""Does a calibration read the walker's cadence? Over simulated people the model never saw.

Each person walks 20 s forward, a pause, 20 s backward (as `coach calibrate` asks), at a random
placement, sample rate and motion-capture-like realism; the calibration's cadence of each
direction is compared with the walker's true step rate (their simulated steps). A cadence more
than 30 % off is an octave misread: the windows read at half the cadence (two strides) or at
twice it. `--sim-wearer` checks the simulated sensors' one wearer instead (2.34 steps/s, the
person of `coach calibrate/run --device sim:...`), at 3 placements, 12 and 20 s each way, 16
seeds each. `--median` reads a bout's cadence as the median of its windows' (before 2026-12-07).

    python benchmarks/calibration_cadence.py [--people 150] [--seed 5300] [--sim-wearer] [--median]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_sessions import mocap_like

from coach.errors import CoachError
from coach.signal import calibration
from coach.simulate.gait import Bout, Person, simulate, worn_sensor_session

OFF = 1.3      # a cadence this far off (ratio) is an octave misread


def _true_hz(s, direction: str) -> float:
    t = [x["t"] for x in s.steps if x["direction"] == direction]
    return (len(t) - 1) / (t[-1] - t[0])


def people(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    refused, off, checked = [], [], 0
    for k in range(n):
        person = Person.random(rng)
        real = mocap_like(rng)
        place = ("chest", "waist", "pocket")[k % 3]
        rate = float(rng.choice([50, 52, 100]))
        s = simulate(rng, [Bout("forward", 20.0), Bout("still", 2.0), Bout("backward", 20.0),
                           Bout("still", 3.0)], placement=place, rate_hz=rate, person=person,
                     mounting="upright", realism=real)
        try:
            cal = calibration.calibrate(s.t, s.acc, s.labels)
        except CoachError as e:
            refused.append(f"person {k} ({person.style}, {place}): {e}")
            continue
        for d, st in (("forward", cal.forward), ("backward", cal.backward)):
            checked += 1
            true = _true_hz(s, d)
            if abs(np.log(st.step_hz / true)) > np.log(OFF):
                off.append(f"person {k} ({person.style}, {place}) {d}: {st.step_hz:.2f} steps/s, "
                           f"walked {true:.2f}")
    return {"people": n, "seed": seed, "refused": len(refused), "directions": checked,
            "octave_off": len(off), "refusals": refused, "misread": off}


def sim_wearer() -> dict:
    refused, half, n = 0, 0, 0
    for place in ("chest", "pocket", "waist"):
        for secs in (12, 20):
            for seed in range(8, 24):
                n += 1
                c = worn_sensor_session([Bout("forward", secs + 1), Bout("still", 2),
                                         Bout("backward", secs + 4)], place, 50.0, seed=seed)
                try:
                    cal = calibration.calibrate(c.t, c.acc, c.labels)
                except CoachError:
                    refused += 1
                    continue
                half += (cal.forward.step_hz < 1.6) + (cal.backward.step_hz < 1.6)
    return {"calibrations": n, "refused": refused, "directions_at_half_cadence": int(half)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=150)
    ap.add_argument("--seed", type=int, default=5300)
    ap.add_argument("--sim-wearer", action="store_true")
    ap.add_argument("--median", action="store_true", help="the bout's cadence as its median")
    a = ap.parse_args()
    if a.median:
        calibration._bout_cadence = lambda hz: float(np.median(hz))
    out = sim_wearer() if a.sim_wearer else people(a.people, a.seed)
    print(json.dumps({"rule": "median" if a.median else "pipeline", **out}, indent=1))


if __name__ == "__main__":
    main()
