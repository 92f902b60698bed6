"""Speed benchmark: `coach analyze` on one hour of 100 Hz data, and live per-batch latency.

    python benchmarks/speed.py [--minutes 60] [--rate 100]

1. Writes a simulated recording (walking intervals) of the given length to a temp CSV, then
   runs the whole `coach analyze --json` process on it: wall time (-> x real time) and peak
   memory (max RSS of the child). Goal: >= 1000x real time, <= 300 MB.
2. Feeds the same data to a live pipeline in 0.2 s batches, as a BLE sensor would, and times
   each feed(): the time from a batch's arrival to the direction state reflecting it.
   Goal: p99 <= 50 ms.

    python benchmarks/speed.py --against REV [--pairs 6]

3. Against another revision of this repository (git archive REV, read first on the Python path),
   the two `coach analyze` processes alternated pair by pair on the same file: this machine's
   speed moves by a fifth between minutes, which swamps a change measured one run after the other.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HWM_PROBE = """
import atexit, sys
def hwm():
    sys.stderr.write([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0])
atexit.register(hwm)
sys.argv = ['coach', 'analyze', '--json', sys.argv[1]]
from coach.cli import main
main()
"""


def make_recording(minutes: float, rate: float, path: Path) -> tuple[np.ndarray, np.ndarray]:
    from coach.simulate.gait import Bout, simulate

    rng = np.random.default_rng(42)
    bouts = [Bout("forward", 60.0)]
    total = 60.0
    while total < minutes * 60:
        bouts += [Bout("forward", 180.0), Bout("still", 1.0), Bout("backward", 60.0), Bout("still", 1.0)]
        total += 242
    s = simulate(rng, bouts, placement="waist", rate_hz=rate, mounting="upright")
    keep = s.t <= minutes * 60
    t, a = s.t[keep], s.acc[keep]
    with open(path, "w") as f:
        f.write("t,ax,ay,az\n")
        np.savetxt(f, np.column_stack([t, a]), fmt=["%.4f", "%.4f", "%.4f", "%.4f"], delimiter=",")
    return t, a


def against(rev: str, csv: Path, pairs: int, d: Path) -> dict:
    """Wall times of `coach analyze` with this checkout and with revision rev, alternated."""
    root = Path(__file__).resolve().parent.parent
    old = d / "against"
    old.mkdir()
    archive = subprocess.run(["git", "-C", str(root), "archive", rev], capture_output=True)
    if archive.returncode:
        sys.exit(f"speed.py: git archive {rev}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
    runs: dict[str, list[float]] = {"this": [], rev: []}
    for _ in range(pairs):
        for name, path in (("this", str(root)), (rev, str(old))):
            # (python -m puts the working directory first on the path: run in the tree itself)
            env = {**os.environ, "PYTHONPATH": path}
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "coach", "analyze", "--json", str(csv)],
                                 capture_output=True, text=True, env=env, cwd=path)
            runs[name].append(time.perf_counter() - t0)
            if out.returncode:
                sys.exit(out.stderr)
    return {k: {"best_s": round(min(v), 2), "median_s": round(float(np.median(v)), 2),
                "runs_s": [round(x, 2) for x in v]} for k, v in runs.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--against", metavar="REV", help="compare with this git revision, alternated")
    ap.add_argument("--pairs", type=int, default=6)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        csv = Path(d) / "hour.csv"
        t, acc = make_recording(a.minutes, a.rate, csv)
        if a.against:
            print(json.dumps({"recording_s": round(float(t[-1] - t[0]), 1), "rate_hz": a.rate,
                              **against(a.against, csv, a.pairs, Path(d))}, indent=1))
            return
        coach = [sys.executable, "-m", "coach", "analyze", "--json", str(csv)]
        walls = []
        for _ in range(3):
            t0 = time.perf_counter()
            out = subprocess.run(coach, capture_output=True, text=True)
            walls.append(time.perf_counter() - t0)
            if out.returncode:
                sys.exit(out.stderr)
        summary = json.loads(out.stdout)["summary"]
        # peak memory: the child reads its own high-water mark (getrusage of children would
        # count the parent's pages that a fork carries into the child before exec)
        probe = subprocess.run([sys.executable, "-c", HWM_PROBE, str(csv)], capture_output=True,
                               text=True)
        rss_mb = int(probe.stderr.split("VmHWM:")[1].split()[0]) / 1024

    from coach.detect.pipeline import DirectionPipeline
    from coach.sources.base import SampleBatch

    p = DirectionPipeline()
    step = max(1, int(0.2 * a.rate))
    lat = []
    for i in range(0, len(t), step):
        b = SampleBatch(t[i:i + step], acc[i:i + step])
        t0 = time.perf_counter()
        p.feed(b)
        lat.append(time.perf_counter() - t0)
    lat_ms = np.array(lat) * 1000
    dur = float(t[-1] - t[0])
    print(json.dumps({
        "recording_s": round(dur, 1), "rate_hz": a.rate, "samples": int(len(t)),
        "analyze_wall_s_best": round(min(walls), 2), "analyze_wall_s_runs": [round(w, 2) for w in walls],
        "realtime_factor": round(dur / min(walls), 0),
        "peak_rss_mb": round(rss_mb, 1),
        "live_feed_ms_median": round(float(np.median(lat_ms)), 2),
        "live_feed_ms_p99": round(float(np.percentile(lat_ms, 99)), 2),
        "live_feed_ms_max": round(float(lat_ms.max()), 2),
        "retro_steps": summary["retro_steps"], "cpu_count": os.cpu_count(),
    }, indent=1))


if __name__ == "__main__":
    main()
