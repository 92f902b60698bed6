"""What a calibration does on real sensors: the Oxford phone recordings, 7 placements.

A real walker's calibration needs real backward walking, which no public recording has; the
stand-in (as in reversed_real.py) is 20 s of the recording's own forward walking and the same
20 s reversed in time. Each reversed-stretch session (reversed_real.py's folder) is analysed
with and without that calibration and scored with the shared scorer's own metrics. It checks
that a calibration is accepted for real phones at every placement and that using one costs
nothing there (a time reversal is what the warm-up's reference assumes anyway); the gain on
walkers whose backward walk is not a time reversal is measured by calibration_gain.py.
    python benchmarks/reversed_real.py --out data/oxrev
    python benchmarks/calibration_real.py [--sessions data/oxrev] [--seconds 20]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibration_gain import agreement, analyze, retro_score, summary
from shared import OXFORD, folder

from coach.errors import CoachError
from coach.signal.calibration import calibrate
from coach.sources.csvfile import read_csv


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=Path, default=Path("data/oxrev"),
                    help="reversed_real.py's folder (default data/oxrev)")
    ap.add_argument("--src", type=Path, default=OXFORD)
    ap.add_argument("--seconds", type=float, default=20.0, help="calibration walking each way")
    a = ap.parse_args()
    folder(a.src)
    folder(a.sessions)
    plain, calibrated, refused = [], [], []
    names = json.loads((a.src / "index.json").read_text())
    for name in json.loads((a.sessions / "index.json").read_text()):
        src = next(n for n in names if n.split("_")[0] == name.split("_")[0])
        rec = read_csv(a.src / f"{src}.csv.gz")        # in g, t from 0, as the sessions
        truth_src = json.loads((a.src / f"{src}.truth.json").read_text())
        rate = truth_src["label_rate_hz"]
        w0 = next(k for k, x in enumerate(truth_src["labels"]) if x == "forward") / rate
        m = (rec.t >= w0 + 2) & (rec.t < w0 + 2 + a.seconds)
        tf, af = rec.t[m], rec.acc[m]
        t = np.concatenate([tf, tf[-1] + 2.0 + (tf - tf[0])])
        labels = ["forward"] * len(tf) + ["backward"] * len(tf)
        try:
            cal = calibrate(t, np.concatenate([af, af[::-1]]), labels)
        except CoachError as e:
            refused.append(f"{name}: {e}")
            continue
        s = read_csv(a.sessions / f"{name}.csv")
        truth = json.loads((a.sessions / f"{name}.truth.json").read_text())
        plain.append(retro_score.score_session(name, analyze(s.t, s.acc), truth))
        calibrated.append(retro_score.score_session(name, analyze(s.t, s.acc, cal), truth))
    for r in refused:
        print("refused:", r, file=sys.stderr)
    print(json.dumps({"calibration_seconds": a.seconds, "calibrations_refused": len(refused),
                      "without_calibration": summary(plain), "with_calibration": summary(calibrated),
                      "agreement": agreement()},
                     indent=1))


if __name__ == "__main__":
    main()
