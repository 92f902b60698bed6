"""Peak memory of `coach analyze` on a long recording (the reader streams; memory must not grow
with the file's length).

Writes a synthetic walk (forward walking with pauses, gravity + gait harmonics + noise) of
--hours at --rate Hz as a plain t,ax,ay,az CSV in a temporary directory, runs
`python -m coach analyze FILE --json` as a child process and reports the child's peak RSS
(ru_maxrss) and wall time.

    python benchmarks/memory.py                 # 24 h at 100 Hz (~330 MB of CSV)
    python benchmarks/memory.py --hours 1 --gzip
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_walk(path: Path, hours: float, rate: float, compress: bool, seed: int = 1) -> int:
    rng = np.random.default_rng(seed)
    block_s = 600.0                              # ten minutes, varied per block
    n_block = int(block_s * rate)
    total = int(hours * 3600 * rate)
    opener = gzip.open if compress else open
    with opener(path, "wt") as f:
        f.write("t,ax,ay,az\n")
        k = 0
        while k < total:
            n = min(n_block, total - k)
            t = (k + np.arange(n)) / rate
            cad = rng.uniform(1.6, 2.0)          # steps/s
            walking = (np.sin(2 * np.pi * t / rng.uniform(90, 200)) > -0.6).astype(float)
            ph = 2 * np.pi * cad * t
            up = walking * (0.25 * np.sin(ph) + 0.08 * np.sin(2 * ph + 0.5))
            side = walking * 0.1 * np.sin(ph / 2 + 0.3)
            fwd = walking * 0.12 * np.sin(ph + 1.1)
            acc = np.column_stack([fwd, side, 1.0 + up]) + rng.normal(0, 0.02, (n, 3))
            rows = np.column_stack([t, acc])
            f.write("\n".join(f"{r[0]:.2f},{r[1]:.4f},{r[2]:.4f},{r[3]:.4f}" for r in rows) + "\n")
            k += n
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--gzip", action="store_true", help="write the recording gzipped")
    ap.add_argument("--keep", type=Path, default=None, help="write the file here and keep it")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="coach-mem-") as d:
        path = a.keep or Path(d) / ("long.csv.gz" if a.gzip else "long.csv")
        t0 = time.perf_counter()
        rows = write_walk(path, a.hours, a.rate, a.gzip)
        gen_s = time.perf_counter() - t0
        size = path.stat().st_size
        t0 = time.perf_counter()
        env = dict(os.environ, COACH_DB=str(Path(d) / "s.sqlite3"), XDG_DATA_HOME=d)
        out = subprocess.run([sys.executable, "-m", "coach", "analyze", str(path), "--json"],
                             capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024   # KiB on Linux
        if out.returncode != 0:
            sys.exit(f"coach analyze failed: {out.stderr.strip()}")
        doc = json.loads(out.stdout)
    print(json.dumps({"hours": a.hours, "rate_hz": a.rate, "rows": rows, "file_mb": round(size / 2**20, 1),
                      "gzip": a.gzip, "generate_s": round(gen_s, 1), "analyze_s": round(wall, 1),
                      "x_real_time": round(a.hours * 3600 / wall), "peak_rss_mb": round(peak_mb, 1),
                      "duration_s": doc["duration_s"], "sample_rate_hz": doc["sample_rate_hz"],
                      "segments": len(doc["segments"])}))


if __name__ == "__main__":
    main()
