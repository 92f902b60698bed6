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
from shared import OXFORD, folder
from shared import retro_score as _scorer

from coach.detect.pipeline import DirectionPipeline
from coach.errors import CoachError
from coach.signal.calibration import calibrate
from coach.sources.base import SampleBatch
from coach.sources.csvfile import read_csv

retro_score = _scorer()


def _analyze(t: np.ndarray, acc: np.ndarray, cal=None) -> dict:
    p = DirectionPipeline(calibration=cal)
    for i in range(0, len(t), 2000):
        p.feed(SampleBatch(t[i:i + 2000], acc[i:i + 2000]))
    return p.finish().to_json()


def _summary(rows: list[dict]) -> dict:
    tp, fp, fn = (sum(x[k] for x in rows) for k in ("tp", "fp", "fn"))
    lat = [v for x in rows for v in x["lat"]]
    mape = [abs(x["retro_steps"] - x["true_retro_steps"]) / x["true_retro_steps"]
            for x in rows if x["true_retro_steps"]]
    hours = sum(x["duration"] for x in rows) / 3600
    return dict(sessions=len(rows), f1=round(2 * tp / max(2 * tp + fp + fn, 1), 3),
                fwd_acc=round(sum(x["fwd_ok"] for x in rows) / max(sum(x["fwd_n"] for x in rows), 1), 3),
                retro_mape=round(float(np.mean(mape)), 3) if mape else None,
                lat_med=round(float(np.median(lat)), 2) if lat else None,
                missed=sum(x["missed"] for x in rows), changes=len(lat) + sum(x["missed"] for x in rows),
                fa_per_h=round(sum(x["false_alarms"] for x in rows) / hours, 1))


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
        plain.append(retro_score.score_session(name, _analyze(s.t, s.acc), truth))
        calibrated.append(retro_score.score_session(name, _analyze(s.t, s.acc, cal), truth))
    for r in refused:
        print("refused:", r, file=sys.stderr)
    print(json.dumps({"calibration_seconds": a.seconds, "calibrations_refused": len(refused),
                      "without_calibration": _summary(plain), "with_calibration": _summary(calibrated)},
                     indent=1))


if __name__ == "__main__":
    main()
