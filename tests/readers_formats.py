"""Write one walk (t in s, acc in g) in every recording format the readers accept.

The layouts follow the apps' documentation (firmware_notes/file_formats.md):
phyphox "Acceleration with g" CSV export, Sensor Logger's zip/folder export (Accelerometer.csv
without g + Gravity.csv, or TotalAcceleration.csv; `time` in ns since 1970, m/s^2, columns
time,seconds_elapsed,z,y,x), Polar Sensor Logger's ACC file (semicolon-separated, phone time,
sensor time in ns since 2000, milli-g).
"""
from __future__ import annotations

import gzip
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

G = 9.80665
START = datetime(2026, 5, 1, 5, 30, 0, tzinfo=UTC)
START_NS = int(START.timestamp()) * 10**9
POLAR_EPOCH_NS = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp()) * 10**9


def plain(t: np.ndarray, acc: np.ndarray, path: Path, scale: float = 1.0) -> Path:
    with open(path, "w") as f:
        f.write("t,ax,ay,az\n")
        for ti, (x, y, z) in zip(t, acc * scale):
            f.write(f"{ti:.4f},{x:.6f},{y:.6f},{z:.6f}\n")
    return path


def gzipped(src: Path, path: Path) -> Path:
    with open(src, "rb") as f, gzip.open(path, "wb") as g:
        g.write(f.read())
    return path


def phyphox(t: np.ndarray, acc: np.ndarray, path: Path, linear: bool = False) -> Path:
    name = "Linear Acceleration" if linear else "Acceleration"
    a = acc * G
    if linear:
        a = a - gravity_of(t, acc) * G
    with open(path, "w") as f:
        f.write(f'"Time (s)","{name} x (m/s^2)","{name} y (m/s^2)","{name} z (m/s^2)",'
                '"Absolute acceleration (m/s^2)"\n')
        for ti, (x, y, z) in zip(t, a):
            f.write(f"{ti:.9E},{x:.9E},{y:.9E},{z:.9E},{np.sqrt(x * x + y * y + z * z):.9E}\n")
    return path


def gravity_of(t: np.ndarray, acc: np.ndarray, window_s: float = 1.0) -> np.ndarray:
    """A phone's gravity estimate: the acceleration's moving average."""
    dt = float(np.median(np.diff(t)))
    k = max(1, int(round(window_s / dt)))
    ker = np.ones(k) / k
    pad = np.pad(acc, ((k // 2, k - 1 - k // 2), (0, 0)), mode="edge")
    return np.column_stack([np.convolve(pad[:, i], ker, mode="valid") for i in range(3)])


def _sl_rows(f, t: np.ndarray, a: np.ndarray) -> None:
    f.write("time,seconds_elapsed,z,y,x\n")
    for ti, (x, y, z) in zip(t, a):
        f.write(f"{START_NS + int(round(ti * 1e9))},{ti + 0.2:.6f},{float(z)!r},{float(y)!r},{float(x)!r}\n")


def sensorlogger_folder(t: np.ndarray, acc: np.ndarray, folder: Path) -> Path:
    """iOS-style export: Accelerometer.csv (without g) + Gravity.csv, both in m/s^2."""
    folder.mkdir(parents=True, exist_ok=True)
    grav = gravity_of(t, acc) * G
    user = acc * G - grav
    with open(folder / "Accelerometer.csv", "w") as f:
        _sl_rows(f, t, user)
    with open(folder / "Gravity.csv", "w") as f:
        _sl_rows(f, t, grav)
    (folder / "Metadata.csv").write_text("version,device name,recording time,platform\n"
                                         "3,iPhone,2026-05-01_05-30-00,ios\n")
    return folder


def sensorlogger_zip(t: np.ndarray, acc: np.ndarray, path: Path, total: bool = True) -> Path:
    """Android-style export: TotalAcceleration.csv (with g) in a zip (or iOS-style pair)."""
    tmp = path.with_suffix(".d")
    tmp.mkdir(exist_ok=True)
    if total:
        with open(tmp / "TotalAcceleration.csv", "w") as f:
            _sl_rows(f, t, acc * G)
    else:
        sensorlogger_folder(t, acc, tmp)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(tmp.iterdir()):
            z.write(p, f"recording/{p.name}")
    return path


def polar(t: np.ndarray, acc: np.ndarray, path: Path, decimals: int = 3) -> Path:
    """Polar Sensor Logger ACC file: phone time (local ISO), sensor ns since 2000, milli-g."""
    s0 = START_NS - POLAR_EPOCH_NS
    with open(path, "w") as f:
        f.write("Phone timestamp;sensor timestamp [ns];X [mg];Y [mg];Z [mg]\n")
        for ti, (x, y, z) in zip(t, acc * 1000):
            phone = (START + timedelta(seconds=float(ti) + 0.05)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
            f.write(f"{phone};{s0 + int(round(ti * 1e9))};{x:.{decimals}f};{y:.{decimals}f};"
                    f"{z:.{decimals}f}\n")
    return path
