"""Regenerate the small sample recordings in this folder (deterministic).

Each follows its app's documented export layout (see firmware_notes/file_formats.md): a phone
or strap held still for a moment and then swung a little, about two seconds long.
    python tests/data/make_samples.py
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

G = 9.80665
HERE = Path(__file__).parent


def motion(n: int, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate + rng.normal(0, 0.0003, n)
    t[0] = 0.0
    t = np.maximum.accumulate(t + np.arange(n) * 1e-7)
    g = np.array([0.12, -0.97, 0.21])
    g /= np.linalg.norm(g)
    swing = 0.15 * np.sin(2 * np.pi * 1.8 * t)[:, None] * np.array([0.3, 0.2, 0.9])
    return t, g + swing + rng.normal(0, 0.01, (n, 3))


def main() -> None:
    t, a = motion(400, 200.0, 1)                       # phyphox: ~200 Hz
    lin = (a - a.mean(axis=0)) * G
    for name, arr, label in (("phyphox_acceleration_with_g.csv", a * G, "Acceleration"),
                             ("phyphox_linear_acceleration.csv", lin, "Linear Acceleration")):
        with open(HERE / name, "w") as f:
            f.write(f'"Time (s)","{label} x (m/s^2)","{label} y (m/s^2)","{label} z (m/s^2)",'
                    '"Absolute acceleration (m/s^2)"\n')
            for ti, (x, y, z) in zip(t + 0.004, arr):
                f.write(f"{ti:.9E},{x:.9E},{y:.9E},{z:.9E},{np.sqrt(x*x + y*y + z*z):.9E}\n")

    t, a = motion(200, 100.0, 2)                       # Sensor Logger: 100 Hz, ns since 1970
    t0 = 1709975525130000000
    grav = np.repeat(a.mean(axis=0, keepdims=True), len(t), axis=0) * G
    user = a * G - grav
    (HERE / "sensorlogger").mkdir(exist_ok=True)
    for path, arr in ((HERE / "sensorlogger" / "Accelerometer.csv", user),
                      (HERE / "sensorlogger" / "Gravity.csv", grav),
                      (HERE / "sensorlogger_TotalAcceleration.csv", a * G)):
        with open(path, "w") as f:
            f.write("time,seconds_elapsed,z,y,x\n")
            for ti, (x, y, z) in zip(t, arr):
                f.write(f"{t0 + int(round(ti * 1e9))},{ti + 0.0213:.9f},{z:.9g},{y:.9g},{x:.9g}\n")
    (HERE / "sensorlogger" / "Metadata.csv").write_text(
        "version,device name,recording time,platform,appVersion\n"
        "3,iPhone 13,2024-03-09_09-12-05,ios,1.31.1\n")

    t, a = motion(200, 100.0, 3)                       # Polar H10: 100 Hz, ns since 2000, mg
    s0 = 763208010000000000
    with open(HERE / "Polar_H10_0A1B2C3D_20240309_101205_ACC.txt", "w") as f:
        f.write("Phone timestamp;sensor timestamp [ns];X [mg];Y [mg];Z [mg]\n")
        for ti, (x, y, z) in zip(t, a * 1000):
            # the phone stamps each BLE packet (about 36 samples at 100 Hz) when it arrives
            ms = 301 + int(ti * 1000 // 360) * 360
            phone = f"2024-03-09T10:12:{5 + ms // 1000:02d}.{ms % 1000:03d}"
            f.write(f"{phone};{s0 + int(round(ti * 1e9))};{x:.0f};{y:.0f};{z:.0f}\n")

    t, a = motion(300, 100.0, 4)                       # plain t,ax,ay,az in m/s^2, gzipped
    body = "t,ax,ay,az\n" + "".join(f"{ti:.4f},{x:.3f},{y:.3f},{z:.3f}\n" for ti, (x, y, z) in zip(t, a * G))
    with gzip.GzipFile(HERE / "plain_ms2.csv.gz", "wb", mtime=0) as f:
        f.write(body.encode())


if __name__ == "__main__":
    main()
