"""How soon the windows' evidence turns after a direct reversal (forward -> backward, no stop).

For every such change in the folders' truth: per 0.2 s after it (the time a window ends), the
median over changes of the latest stride's similarity to the forward reference, of the model's
p(backward) for that window, and the share of windows whose own cadence is more than 25 % off
the cadence of the walking just before the change (the stride the polarisation is taken over
comes from that cadence). Features as the live pipeline makes them (train.stream_features).
    python benchmarks/reversal_evidence.py DIR [DIR ...] [--model FILE]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shared import folder

from coach.detect.model import DirectionModel
from coach.detect.pipeline import LAG_S
from coach.detect.train import stream_features
from coach.errors import CoachError
from coach.signal.features import FEATURE_NAMES
from coach.sources.csvfile import read_csv

OFFSETS = np.round(np.arange(0.0, 3.01, 0.2), 1)
SIM_RECENT, STEP_HZ = FEATURE_NAMES.index("sim_recent"), FEATURE_NAMES.index("step_hz")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--model", help="model file (default: the shipped one)")
    a = ap.parse_args()
    try:
        model = DirectionModel.load(Path(a.model)) if a.model else DirectionModel.load()
    except CoachError as e:
        sys.exit(f"{Path(sys.argv[0]).name}: {e}")
    rows: dict[float, list[tuple[float, float, bool]]] = {o: [] for o in OFFSETS}
    n = 0
    for dd in a.dirs:
        d = folder(Path(dd))
        for name in json.loads((d / "index.json").read_text()):
            truth = json.loads((d / f"{name}.truth.json").read_text())
            rec = read_csv(d / f"{name}.csv")
            X, t_lab = stream_features(rec.t, rec.acc)
            if not len(X):
                continue
            p_back = model.predict_proba(X)[:, 1]
            t_end = t_lab + LAG_S
            lab, hz = truth["labels"], truth["label_rate_hz"]
            for c in truth["changes"]:
                before = int((c["t"] - 0.5) * hz)
                if c["to"] != "backward" or before < 0 or lab[before] != "forward":
                    continue
                pre = (t_end > c["t"] - 3.0) & (t_end <= c["t"] - 1.0)
                if pre.sum() < 5:
                    continue
                cad = float(np.median(X[pre, STEP_HZ]))
                n += 1
                for o in OFFSETS:
                    j = int(np.argmin(np.abs(t_end - (c["t"] + o))))
                    off = abs(X[j, STEP_HZ] - cad) > 0.25 * cad
                    rows[o].append((X[j, SIM_RECENT], p_back[j], off))
    print(f"{n} direct reversals to backward")
    print("after  latest-stride similarity  p(backward)  own cadence >25 % off")
    for o in OFFSETS:
        r = np.array(rows[o], dtype=float)
        if len(r):
            print(f"+{o:.1f} s  {np.median(r[:, 0]):+24.2f}  {np.median(r[:, 1]):11.2f}  "
                  f"{r[:, 2].mean():20.0%}")


if __name__ == "__main__":
    main()
