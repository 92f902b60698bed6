"""End to end: `coach run` against the bleak double, through the real detector pipeline.

A simulated session (forward warm-up, backward bout, forward) is streamed by a Polar H10
double at its real rate and packet size; once uninterrupted, once with the link dropped in
the middle of the backward bout. The tallies must match within what the gap can hold: the
session goes on, only the seconds the sensor was away are missing.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from coach.cli import main
from coach.simulate.ble import FakeDevice, FakeWorld
from coach.sources import ble

_tmp: Path | None = None


def session_acc(rate: float) -> np.ndarray:
    from coach.simulate.gait import Bout, simulate
    bouts = [Bout("forward", 30.0), Bout("still", 1.0), Bout("backward", 40.0), Bout("still", 1.0),
             Bout("forward", 25.0)]
    s = simulate(np.random.default_rng(7), bouts, placement="chest", rate_hz=rate,
                 mounting="upright")
    return s.acc


def _run_options() -> set[str]:
    from coach.cli import build_parser
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    assert isinstance(sub, argparse._SubParsersAction)
    return set(sub.choices["run"]._option_string_actions)


def coach_run(monkeypatch, capsys, drops: list) -> dict:
    assert _tmp is not None
    monkeypatch.setenv("COACH_DB", str(_tmp / "sessions.db"))   # stored sessions stay in tmp
    dev = FakeDevice("polar_h10", session_acc(50.0), rate_hz=50.0, drops=drops)
    world = FakeWorld([dev])
    monkeypatch.setattr(ble, "bleak_backend", world.backend)
    # 2 s batches: the detector's per-call cost, not the link, is what takes time here
    argv = ["run", "--device", "Polar H10", "--placement", "chest", "--json",
            "--batch-seconds", "2"]
    if "--no-coach" in _run_options():      # the spoken coach is another layer's test
        argv.append("--no-coach")
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 0, err
    res = json.loads(out)
    res["stderr"] = err
    return res


def test_run_with_a_drop_matches_an_uninterrupted_run(monkeypatch, capsys, tmp_path) -> None:
    global _tmp
    _tmp = tmp_path
    whole = coach_run(monkeypatch, capsys, [])
    cut = coach_run(monkeypatch, capsys, [(1000.0 + 50.0, 4.0)])   # mid backward bout
    link = cut["link"]
    assert whole["link"]["reconnects"] == 0 and link["reconnects"] == 1
    assert "connection lost" in cut["stderr"] and "back after" in cut["stderr"]
    gap = link["gap_seconds"]
    assert 4.0 <= gap <= 10.0
    a, b = whole["summary"], cut["summary"]
    # backward walking at >= 1.5 steps/s cannot hide more than ~2 steps per second of gap
    # (+ 8: the two runs may place the bout's last seconds differently, a few steps each way)
    assert a["retro_steps"] - 2.5 * gap - 8 <= b["retro_steps"] <= a["retro_steps"] + 4
    assert a["retro_seconds"] - gap - 4 <= b["retro_seconds"] <= a["retro_seconds"] + 3
    assert abs(a["forward_steps"] - b["forward_steps"]) <= 4
    assert abs(a["forward_seconds"] - b["forward_seconds"]) <= 3
    # the drop itself adds no change; the detector may still flicker once (there and back)
    # in the 40 s after it, as it may anywhere
    assert a["retro_steps"] > 30 and 0 <= b["direction_changes"] - a["direction_changes"] <= 2
    # the timeline is the same: the backward bout starts and ends at the same stream times
    back_a = [s for s in whole["segments"] if s["direction"] == "backward"]
    back_b = [s for s in cut["segments"] if s["direction"] == "backward"]
    assert len(back_a) == 1 and 1 <= len(back_b) <= 2     # the gap may split the bout
    assert back_a[0]["start_s"] == pytest.approx(back_b[0]["start_s"], abs=1.0)
    assert back_a[0]["end_s"] == pytest.approx(back_b[-1]["end_s"], abs=1.5)
    if len(back_b) == 2:                                   # ... exactly where the sensor was away
        assert back_b[1]["start_s"] - back_b[0]["end_s"] == pytest.approx(gap, abs=2.0)
