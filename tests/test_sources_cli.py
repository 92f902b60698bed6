"""The sources CLI: devices, decode, scan, record, run (against the bleak double)."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from coach.cli import main
from coach.simulate.ble import FakeDevice, FakeWorld
from coach.sources import ble


@pytest.fixture
def world(monkeypatch, tmp_path):
    """Replace bleak with the double; yields the list of devices to fill."""
    devices: list[FakeDevice] = []
    w = FakeWorld(devices)
    monkeypatch.setattr(ble, "bleak_backend", w.backend)
    monkeypatch.setenv("COACH_DB", str(tmp_path / "sessions.db"))
    return devices


def test_devices_json(capsys) -> None:
    assert main(["devices", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = [r["name"] for r in rows]
    for p in ("polar_h10", "polar_verity", "movesense", "microbit", "thingy52", "witmotion",
              "generic", "sensorlogger"):
        assert p in names
    h10 = rows[names.index("polar_h10")]
    assert {"name": "rate", "default": 50, "choices": [25, 50, 100, 200]}.items() <= h10["options"][0].items()


def test_decode_json_and_refusals(capsys) -> None:
    assert main(["decode", "--profile", "microbit", "--json", "e803 18fc 0000"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"t_s": None, "ax": 1.0, "ay": -1.0, "az": 0.0}]
    assert main(["decode", "--profile", "polar_h10", "--json",
                 "02 0094357700000000 01 F7FFFFFFE703"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"t_s": 2.0, "ax": -0.009, "ay": -0.001, "az": 0.999}]
    for argv, why in ((["decode", "--profile", "thingy52", "00 01"], "18"),
                      (["decode", "--profile", "microbit", "xyz"], "not hex"),
                      (["decode", "--profile", "fitbit", "00"], "unknown profile"),
                      (["decode", "--profile", "polar_h10", "00 0094357700000000 00 00"], "ECG")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and why in err and "Traceback" not in err


def test_scan_json(world, capsys) -> None:
    world.append(FakeDevice("polar_h10", np.zeros((10, 3)), address="A0:9E:1A:00:00:01", rssi=-60))
    assert main(["scan", "--json", "--battery", "--timeout", "2"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"name": "Polar H10 ABC123", "address": "A0:9E:1A:00:00:01", "rssi": -60,
         "profile": "polar_h10", "battery": 87}]


def test_run_unknown_device_is_one_line(world, capsys) -> None:
    assert main(["run", "--device", "Polar H10 NOPE", "--scan-timeout", "2", "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("coach: error: no device 'Polar H10 NOPE' found") and "\n" not in err
    assert main(["run", "--device", "x", "--profile", "polar_h10", "--rate", "33"]) == 2
    assert "rate must be one of 25, 50, 100, 200" in capsys.readouterr().err


def test_record_writes_labelled_csv(world, tmp_path, capsys) -> None:
    rng = np.random.default_rng(3)
    world.append(FakeDevice("movesense", rng.normal(0, 0.1, (52 * 20, 3)) + [0, 0, 1]))
    out = tmp_path / "back.csv"
    assert main(["record", "--device", "Movesense", "--label", "backward", "--out", str(out)]) == 0
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["t", "ax", "ay", "az", "label"]
    assert len(rows) - 1 == 52 * 20 and {r[4] for r in rows[1:]} == {"backward"}
    t = np.array([float(r[0]) for r in rows[1:]])
    assert np.all(np.diff(t) > 0)
    assert main(["record", "--device", "Movesense", "--label", "backward", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err


def test_record_that_gets_no_samples_leaves_no_file(world, tmp_path, capsys) -> None:
    out = tmp_path / "fwd.csv"
    assert main(["record", "--device", "Polar H10 NOPE", "--scan-timeout", "1", "--label", "forward",
                 "--out", str(out)]) == 2
    assert "no device" in capsys.readouterr().err
    assert not out.exists()       # a header-only file had blocked the retry ("exists")


def test_record_from_the_simulated_sensor_does_what_the_label_says(tmp_path) -> None:
    """The simulated wearer under `record --label still` stands; under backward, walks (it
    walked the demo program whatever the label, so every file began with forward walking)."""
    motion = {}
    for label in ("still", "backward"):
        out = tmp_path / f"{label}.csv"
        assert main(["record", "--device", "sim:polar_h10", "--label", label, "--minutes", "0.2",
                     "--out", str(out)]) == 0
        d = np.loadtxt(out, delimiter=",", skiprows=1, usecols=(1, 2, 3))
        assert len(d) > 500
        motion[label] = float(np.linalg.norm(d, axis=1).std())
    assert motion["still"] < 0.1 < 0.3 < motion["backward"]


def test_a_simulated_recording_ends_with_its_minutes_not_a_lost_sensor(tmp_path, capsys) -> None:
    """A new user's find: every simulated recording ended 'sensor connection lost;
    reconnecting' and 'sensor gone for 120 s; ending the session' (the simulated sensor fell
    silent half a second before --minutes ended the session), and short of its minutes."""
    for minutes, label in (("0.5", "forward"), (None, "backward")):
        out = tmp_path / f"{label}.csv"
        assert main(["record", "--device", "sim:polar_h10", "--label", label, "--out", str(out)]
                    + (["--minutes", minutes] if minutes else [])) == 0
        err = capsys.readouterr().err
        assert "lost" not in err and "gone" not in err, err
        t = np.loadtxt(out, delimiter=",", skiprows=1, usecols=0)
        assert t[-1] == pytest.approx(float(minutes or 1.0) * 60, abs=0.05)
