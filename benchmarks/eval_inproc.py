"""Fast in-process scoring for development: the same metrics as ../shared/benchmark/retro_score.py.

Imports the scorer's own score_session (not a copy) and runs the pipeline in this process.
    python benchmarks/eval_inproc.py data/bench [--model PATH]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shared import folder, summary
from shared import retro_score as _scorer

from coach.detect.model import DirectionModel
from coach.detect.pipeline import DirectionPipeline
from coach.sources.base import SampleBatch
from coach.sources.csvfile import read_csv

retro_score = _scorer()


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: eval_inproc.py DIR [--model FILE]  (DIR: a folder of sessions)")
    data = folder(Path(sys.argv[1]))
    model = DirectionModel.load(Path(sys.argv[3])) if len(sys.argv) > 3 else None
    names = json.loads((data / "index.json").read_text())
    rows = []
    conf: dict[str, dict[str, int]] = {}
    stop_lat: list[float] = []
    for n in names:
        truth = json.loads((data / f"{n}.truth.json").read_text())
        r = read_csv(data / f"{n}.csv")
        p = DirectionPipeline(model=model)
        states = []
        for i in range(0, len(r.t), 3000):
            states += [e for e in p.feed(SampleBatch(r.t[i:i + 3000], r.acc[i:i + 3000]))
                       if e.type == "state"]
        out = p.finish().to_json()
        # how soon the reported state leaves walking after walking stops
        lab = truth["labels"]
        rate = truth["label_rate_hz"]
        for k in range(1, len(lab)):
            if lab[k - 1] in ("forward", "backward") and lab[k] in ("still", "other"):
                t_stop = k / rate
                end = next((j / rate for j in range(k, len(lab)) if lab[j] != lab[k]), len(lab) / rate)
                if end - t_stop < 2.0:
                    continue
                hit = [e.t_s for e in states if t_stop - 0.5 <= e.t_s <= end
                       and e.data["direction"] not in ("forward", "backward")]
                stop_lat.append(hit[0] - t_stop if hit else end - t_stop)
        rows.append(retro_score.score_session(n, out, truth))
        rate = truth["label_rate_hz"]
        segs = out["segments"]
        bounds = np.array([sg["start_s"] for sg in segs[1:]])
        lab = truth["labels"]
        idx = np.searchsorted(bounds, np.arange(len(lab)) / rate, side="right")
        for li, k in zip(lab, idx):
            c = conf.setdefault(li, {})
            d = segs[k]["direction"]
            c[d] = c.get(d, 0) + 1
    print(json.dumps(summary(rows)))
    if stop_lat:
        print(f"walking stops: state leaves walking after {np.median(stop_lat):.2f} s median, "
              f"{np.percentile(stop_lat, 90):.2f} s p90 ({len(stop_lat)} stops)")
    walk_s = sum(x["fwd_n"] for x in rows)
    print("phantom backward (share of forward-walking samples called backward):",
          round(conf.get("forward", {}).get("backward", 0) / max(walk_s, 1), 4))
    for li, c in sorted(conf.items()):
        tot = sum(c.values())
        print(f"  true {li:9s}", " ".join(f"{d}={v / tot:.2f}" for d, v in sorted(c.items())))


if __name__ == "__main__":
    main()
