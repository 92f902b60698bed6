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
