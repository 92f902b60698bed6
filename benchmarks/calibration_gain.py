"""What a personal calibration gains, on simulated people the model never saw.

Each person walks a calibration (20 s forward, a pause, 20 s backward, as `coach calibrate`
asks), then a session of short forward/backward/other bouts, with the same sensor worn the
same way. The session is analysed with and without the calibration and scored with the
shared scorer's own metrics. `--deviation` scales how far each person's backward walk is from
an exact time reversal of their forward walk (1 = the training population; 2 = twice as far,
which the model never saw).

    python benchmarks/calibration_gain.py [--people 30] [--seed 8100] [--deviation 2] [--styles S,...]
        [--pace P] [--wearer other] [--fit-min C]

The JSON's `agreement` gives how the warm-up check judged the calibrations: how many it kept and
set aside, and the cosines it measured (min, 10th, 50th, 90th percentile, max), so that its
threshold (the pipeline's CAL_FIT_MIN, or `--fit-min C` to try another) can be chosen from
measurements on both a walker's own and someone else's calibrations.

`--wearer other`: each session is walked by another simulated person than the calibration (the
same sensor, worn the same way): what someone else's calibration, or one walked in a very
different gait, does.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_sessions import mocap_like
from shared import retro_score as _scorer
from shared import summary as _summary

from coach.detect import pipeline as _pipeline
from coach.detect.pipeline import DirectionPipeline
from coach.signal.calibration import calibrate
from coach.simulate.gait import Bout, Person, Realism, _mounting, random_program, simulate
from coach.sources.base import SampleBatch

retro_score = _scorer()

CAL_S = 45.0
FITS: list[float] = []      # the warm-up check's agreement, one per calibrated analysis


def analyze(t: np.ndarray, acc: np.ndarray, cal=None) -> dict:
    """The analyze JSON of one recording, with or without a calibration."""
    p = DirectionPipeline(calibration=cal)
    for i in range(0, len(t), 500):
        p.feed(SampleBatch(t[i:i + 500], acc[i:i + 500]))
    out = p.finish().to_json()
    if cal is not None and p.calibration_fit is not None:
        FITS.append(p.calibration_fit)
    return out


def agreement() -> dict:
    """How the warm-up check judged the calibrations analysed so far."""
    f = np.array(FITS)
    kept = int((f >= _pipeline.CAL_FIT_MIN).sum())
    q = [round(float(x), 2) for x in np.percentile(f, [0, 10, 50, 90, 100])] if len(f) else []
    return {"threshold": _pipeline.CAL_FIT_MIN, "checked": len(f), "kept": kept,
            "set_aside": len(f) - kept, "cosine_min_p10_p50_p90_max": q}


HEADLINE = ("f1", "fwd_acc", "retro_mape", "lat_med", "missed", "changes", "fa_per_h")


def summary(rows: list[dict]) -> dict:
    """The scorer's headline metrics over sessions scored one by one (shared.summary's)."""
    figures = _summary(rows)
    return {k: figures[k] for k in HEADLINE}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=30)
    ap.add_argument("--seed", type=int, default=8100)
    ap.add_argument("--deviation", type=float, default=2.0)
    ap.add_argument("--realism", choices=["mocap", "random"], default="mocap")
    ap.add_argument("--styles", help="draw people of these gait styles only (comma-separated, "
                                     "e.g. elderly,tired,sad,slow,dragging)")
    ap.add_argument("--pace", type=float, default=1.0,
                    help="the sessions' pace (cadence and energy) against the calibration's "
                         "(1: the same walk; 0.85: another day, slower)")
    ap.add_argument("--wearer", choices=["same", "other"], default="same",
                    help="who walks the sessions: the calibration's walker, or another person")
    ap.add_argument("--fit-min", type=float, default=None,
                    help="the warm-up check's threshold (default: the pipeline's CAL_FIT_MIN)")
    a = ap.parse_args()
    if a.fit_min is not None:
        _pipeline.CAL_FIT_MIN = a.fit_min
    rng = np.random.default_rng(a.seed)
    places = ["chest", "waist", "pocket"]
    plain, calibrated, refused = [], [], 0
    for k in range(a.people):
        person = Person.random(rng, styles=a.styles.split(",") if a.styles else None)
        for key in person.back_harm_dev:
            person.back_harm_dev[key] = person.back_harm_dev[key] * a.deviation
        real = mocap_like(rng) if a.realism == "mocap" else Realism.random(rng)
        bouts = [Bout("forward", 20.0), Bout("still", 2.0), Bout("backward", 20.0),
                 Bout("still", CAL_S - 42.0)]
        bouts += random_program(rng, 2.0, short=True)
        rate = float(rng.choice([50, 52, 100]))
        if a.pace == 1.0 and a.wearer == "same":
            s = simulate(rng, bouts, placement=places[k % 3], rate_hz=rate, person=person,
                         mounting="upright", realism=real)
            c = s.t < CAL_S
            cal_t, cal_acc, cal_labels = s.t[c], s.acc[c], [lab for lab, m in zip(s.labels, c) if m]
            t, acc = s.t[~c] - CAL_S, s.acc[~c]
            truth = {"label_rate_hz": s.rate_hz,
                     "labels": [lab for lab, m in zip(s.labels, c) if not m],
                     "steps": [{"t": x["t"] - CAL_S, "direction": x["direction"]}
                               for x in s.steps if x["t"] >= CAL_S],
                     "changes": [{"t": x["t"] - CAL_S, "to": x["to"]}
                                 for x in s.changes if x["t"] >= CAL_S + 1]}
        else:
            # the calibration, then the sessions at another pace or by another walker, the
            # sensor worn the same way
            mount = _mounting(rng, "upright", places[k % 3])
            sc = simulate(rng, bouts[:4], placement=places[k % 3], rate_hz=rate, person=person,
                          mounting=mount, realism=real)
            cal_t, cal_acc, cal_labels = sc.t, sc.acc, sc.labels
            other = Person.random(rng) if a.wearer == "other" else copy.deepcopy(person)
            other.step_hz *= a.pace
            other.speed_scale *= a.pace
            ss = simulate(rng, bouts[4:], placement=places[k % 3], rate_hz=rate, person=other,
                          mounting=mount, realism=real)
            t, acc, truth = ss.t, ss.acc, ss.truth()
        try:
            cal = calibrate(cal_t, cal_acc, cal_labels)
        except Exception as e:  # noqa: BLE001 - a refused calibration is counted, not fatal
            refused += 1
            print(f"person {k}: calibration refused: {e}", file=sys.stderr)
            cal = None
        plain.append(retro_score.score_session(f"p{k}_{places[k % 3]}", analyze(t, acc), truth))
        if cal is not None:
            calibrated.append(retro_score.score_session(f"p{k}_{places[k % 3]}", analyze(t, acc, cal), truth))
            # the same sessions without calibration, for a like-for-like comparison
    same = [r for r in plain if any(r["name"] == c["name"] for c in calibrated)]
    print(json.dumps({"people": a.people, "deviation": a.deviation, "realism": a.realism, "pace": a.pace,
                      "wearer": a.wearer,
                      "styles": a.styles or "all",
                      "calibrations_refused": refused,
                      "without_calibration": summary(same), "with_calibration": summary(calibrated),
                      "agreement": agreement()},
                     indent=1))


if __name__ == "__main__":
    main()
