"""How often plain walking hears "Stumble?": the coach's stumble and fall detectors on real
recordings that hold no stumble, fed in 0.2 s notifications as a live sensor would.

    python benchmarks/false_stumbles.py [DIR]     (default ../shared/data/oxford-optimisation)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shared import OXFORD, folder

from coach.coaching.config import SafetySettings
from coach.coaching.safety import FallDetector, StumbleDetector
from coach.sources.csvfile import read_csv


def main() -> None:
    root = folder(Path(sys.argv[1]) if len(sys.argv) > 1 else OXFORD)
    cfg = SafetySettings()
    names = json.loads((root / "index.json").read_text())
    hits: list[tuple[str, float]] = []
    minutes = 0.0
    for n in names:
        path = next(p for p in (root / f"{n}.csv.gz", root / f"{n}.csv") if p.exists())
        r = read_csv(path)
        minutes += float(r.t[-1] - r.t[0]) / 60
        step = max(1, int(round(0.2 / float(np.median(np.diff(r.t))))))
        sd, fd = StumbleDetector(cfg), FallDetector(cfg)
        for i in range(0, len(r.t), step):
            t, a = r.t[i:i + step], r.acc[i:i + step]
            sd.samples(t, a)
            for ts, what in fd.feed(t, a):
                if what == "impact_only" and sd.impact_without_fall(ts):
                    hits.append((n, round(ts, 1)))
            ts2 = sd.check(float(t[-1]))
            if ts2 is not None:
                hits.append((n, round(ts2, 1)))
    print(json.dumps({"recordings": len(names), "minutes": round(minutes, 1),
                      "false_stumbles": len(hits), "where": hits}, indent=1))


if __name__ == "__main__":
    main()
