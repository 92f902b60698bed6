"""Where the benchmarks find ../shared (beside the checkout: the scorer and the real recordings),
and how they read and write a folder of sessions.

A checkout without it gets one line that says what is missing, not an import traceback.
"""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared"
OXFORD = SHARED / "data" / "oxford-optimisation"


def _missing(what: Path) -> None:
    sys.exit(f"{Path(sys.argv[0]).name}: needs {what}, in the shared folder beside this checkout "
             "(see README: Tests and benchmarks)")


def retro_score() -> ModuleType:
    """The shared scorer, imported from ../shared/benchmark (never copied into the project)."""
    where = SHARED / "benchmark"
    if not (where / "retro_score.py").is_file():
        _missing(where / "retro_score.py")
    sys.path.insert(0, str(where))
    import retro_score as rs
    return rs


def folder(path: Path) -> Path:
    """A folder of sessions that must exist (index.json)."""
    if not (path / "index.json").is_file():
        if SHARED in path.resolve().parents:
            _missing(path / "index.json")
        sys.exit(f"{Path(sys.argv[0]).name}: {path} is not a folder of sessions (no index.json)")
    return path


def read_session(src: Path, name: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """One session of a folder (NAME.csv or NAME.csv.gz, and NAME.truth.json) -> (t, acc,
    truth), acc a copy of its own to change."""
    gz = src / f"{name}.csv.gz"
    with (gzip.open(gz, "rt") if gz.is_file() else open(src / f"{name}.csv")) as fh:
        d = np.loadtxt(fh, delimiter=",", skiprows=1)
    return d[:, 0], d[:, 1:4].copy(), json.loads((src / f"{name}.truth.json").read_text())


def write_session(out: Path, name: str, t: np.ndarray, acc: np.ndarray, truth: dict) -> None:
    """One session in the scorer's folder format: NAME.csv (t,ax,ay,az; 4 decimals) and
    NAME.truth.json (write_index once all are written)."""
    with open(out / f"{name}.csv", "w") as f:
        f.write("t,ax,ay,az\n")
        np.savetxt(f, np.column_stack([t, acc]), fmt="%.4f", delimiter=",")
    (out / f"{name}.truth.json").write_text(json.dumps(truth))


def write_index(out: Path, names: list[str]) -> None:
    """A folder's index.json, once all its sessions are written."""
    (out / "index.json").write_text(json.dumps(names))
    print(f"wrote {len(names)} sessions to {out}")


def summary(rows: list[dict]) -> dict:
    """The scorer's figures over a folder, from its per-session rows (score_session): what
    benchmarks/eval_inproc.py prints first."""
    tp, fp, fn = (sum(x[k] for x in rows) for k in ("tp", "fp", "fn"))
    lat = [v for x in rows for v in x["lat"]]
    sites = {}
    for site in sorted({x["name"].split("_")[1] for x in rows if "_" in x["name"]}):
        sr = [x for x in rows if f"_{site}_" in x["name"]]
        t_, f_, n_ = (sum(x[k] for x in sr) for k in ("tp", "fp", "fn"))
        sites[site] = round(2 * t_ / max(2 * t_ + f_ + n_, 1), 3)
    mape = [abs(x["retro_steps"] - x["true_retro_steps"]) / x["true_retro_steps"] for x in rows if x["true_retro_steps"]]
    amape = [abs(x["all_steps"] - x["true_all_steps"]) / x["true_all_steps"] for x in rows if x["true_all_steps"]]
    hours = sum(x["duration"] for x in rows) / 3600
    return dict(f1=round(2 * tp / max(2 * tp + fp + fn, 1), 3), by_site=sites,
                fwd_acc=round(sum(x["fwd_ok"] for x in rows) / max(sum(x["fwd_n"] for x in rows), 1), 3),
                retro_mape=round(float(np.mean(mape)), 3) if mape else None,
                step_mape=round(float(np.mean(amape)), 3) if amape else None,
                lat_med=round(float(np.median(lat)), 2) if lat else None,
                lat_p95=round(float(np.percentile(lat, 95)), 2) if lat else None,
                missed=sum(x["missed"] for x in rows), changes=len(lat) + sum(x["missed"] for x in rows),
                fa_per_h=round(sum(x["false_alarms"] for x in rows) / hours, 1))
