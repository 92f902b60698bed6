"""Real sensors walking "backward": the Oxford phone recordings with stretches reversed in time.

There is no public backward-walking recording to test on. Backward walking is close to forward
walking reversed in time (Thorstensson 1986; Grasso et al. 1998), which is what the detector's
time-odd features rest on; so a real forward walk with 6-15 s stretches reversed in place is a
stand-in with a real phone's noise, sampling, placement and a real walker's irregularity. It
flatters the detector in one way: a real backward step keeps its impact's time order (a sharp
rise, then a decay), a reversed one does not; --lowpass removes most impacts. Each recording
keeps its first 30 s of walking as the warm-up, then alternates reversed and forward stretches.
Writes a folder in the benchmark's format, to score with ../shared/benchmark/retro_score.py:
    python benchmarks/reversed_real.py --out data/oxrev [--lowpass 5] [--only dario]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shared import OXFORD as SRC
from shared import folder, read_session, write_index, write_session


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--src", type=Path, default=SRC)
    ap.add_argument("--lowpass", type=float, default=0.0, help="Hz (4th-order Butterworth, both ways); 0: none")
    ap.add_argument("--only", default="", help="recordings whose name contains this (a walker)")
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    folder(a.src)
    rng = np.random.default_rng(a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    names = []
    for n in json.loads((a.src / "index.json").read_text()):
        if a.only not in n:
            continue
        t, acc, truth = read_session(a.src, n)
        if a.lowpass > 0:
            from scipy.signal import butter, filtfilt

            b, aa = butter(4, a.lowpass / (0.5 / float(np.median(np.diff(t)))))
            acc = filtfilt(b, aa, acc, axis=0)
        lab, rate = list(truth["labels"]), truth["label_rate_hz"]
        steps = [dict(s) for s in truth["steps"]]
        walk = [k / rate for k, x in enumerate(lab) if x == "forward"]
        x, end, back, changes = walk[0] + 30.0, walk[-1] - 1.0, True, []
        while x + 6.0 < end:
            y = min(x + float(rng.uniform(6.0, 15.0)), end)
            if back:
                i0, i1 = np.searchsorted(t, x), np.searchsorted(t, y)
                acc[i0:i1] = acc[i0:i1][::-1]
                for k in range(int(x * rate), min(int(y * rate), len(lab))):
                    if lab[k] == "forward":
                        lab[k] = "backward"
                for s in steps:
                    if x <= s["t"] < y:
                        s["t"], s["direction"] = x + y - s["t"], "backward"
            changes.append({"t": x, "to": "backward" if back else "forward"})
            back, x = not back, y
        truth.update(labels=lab, steps=sorted(steps, key=lambda s: s["t"]), changes=changes)
        f = n.split("_")
        name = f"{f[0]}_{f[1]}_reversed_{f[-1]}"
        write_session(a.out, name, t, acc, truth)
        names.append(name)
    write_index(a.out, names)


if __name__ == "__main__":
    main()
