"""Bad input found by trying to break the command line: each is one line on stderr and exit 2,
before any work (never a traceback, an exit 0, or memory filling up)."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from coach.cli.main import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("COACH_DB", str(tmp_path / "s.sqlite3"))
    monkeypatch.delenv("COACH_CONFIG", raising=False)


def one_error(capsys, argv: list[str]) -> str:
    """Run the CLI; it must fail with exit 2 and exactly one line on stderr."""
    rc: int | str | None
    try:
        rc = main(argv)
    except SystemExit as e:      # the option parser's own errors
        rc = e.code
    assert rc == 2, argv
    err = capsys.readouterr().err.strip()
    assert err.startswith("coach: error:") and "\n" not in err and "Traceback" not in err, err
    return err


def walk_csv(path: Path, seconds: float = 20.0, label: str | None = None) -> Path:
    from coach.simulate.gait import SimulatedWalker

    s = SimulatedWalker(seed=2, minutes=seconds / 60).session
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t", "ax", "ay", "az"] + (["label"] if label else []))
        for t, a in zip(s.t, s.acc):
            if t > seconds:
                break
            w.writerow([f"{t:.3f}", *(f"{v:.5f}" for v in a)] + ([label] if label else []))
    return path


@pytest.mark.parametrize("argv, says", [
    (["demo", "--minutes", "-1"], "--minutes: must be more than 0"),
    (["demo", "--minutes", "nan"], "must be a finite number"),
    (["demo", "--minutes", "1e9", "--fast"], "at most 1440"),   # had filled memory
    (["demo", "--speed", "-3"], "--speed: must be 0"),
    (["replay", "x.csv", "--speed", "nan"], "--speed: must be a finite number"),
    (["train", "--out", "m.npz", "--seed", "-1"], "--seed: must be from 0"),
    (["train", "--out", "m.npz", "--seed", "99999999999999999999"], "--seed: must be from 0"),
    (["train", "--out", "m.npz", "--sessions", "0"], "--sessions: must be 2 or more"),
    (["train", "--out", "m.npz", "--sessions", "1"], "--sessions: must be 2 or more"),
    (["train", "--out", "m.npz", "--minutes", "0"], "--minutes: must be more than 0"),
    (["run", "--device", "sim:polar_h10", "--minutes", "-1"], "--minutes: must be more than 0"),
    (["serve", "--idle-timeout", "-5"], "--idle-timeout: must be more than 0"),
    (["scan", "--timeout", "0"], "--timeout: must be more than 0"),
    (["replay", "x.csv", "--placement", "head"], "invalid choice: 'head'"),
    (["record", "--device", "x", "--label", "sideways", "--out", "r.csv"], "invalid choice: 'sideways'"),
    # an empty name had been read as the working directory ('.: is a directory ...')
    (["analyze", ""], "argument path: an empty file name"),
    (["analyze", "x.csv", "--calibration", " "], "argument --calibration: an empty file name"),
    (["analyze", "x.csv", "--start", "9999-12-31T23:59:59"], "the year must be from 1990 to 2100"),
    (["analyze", "x.csv", "--start", "1900-01-01T00:00:00"], "the year must be from 1990 to 2100"),
    (["report", "--week", "9999-12-31"], "--week 9999-12-31: the year must be from 1990 to 2100"),
    (["demo", "--fast", "--web", "127.0.0.1:"], "no port after '127.0.0.1:'"),
    (["run", "--device", "X", "--phone"], "--device NAME or --phone, not both"),
    # the simulated sensor's options are checked as a real one's (calibrate had taken any --rate)
    (["calibrate", "--device", "sim:polar_h10", "--mute", "--rate", "10"], "rate must be one of"),
])
def test_bad_options_are_one_line(capsys, argv, says) -> None:
    assert says in one_error(capsys, argv)


def test_output_places_are_checked_before_the_work(capsys, tmp_path) -> None:
    assert "is a folder" in one_error(capsys, ["train", "--out", str(tmp_path)])
    assert "the folder /nonexistent-dir does not exist" in one_error(
        capsys, ["train", "--out", "/nonexistent-dir/m.npz"])
    # a guided calibration had walked the wearer through it all before this failed
    t0 = time.monotonic()
    assert "does not exist" in one_error(capsys, ["calibrate", "--device", "sim:polar_h10", "--mute",
                                                  "--out", "/nonexistent-dir/c.csv"])
    assert time.monotonic() - t0 < 5
    # a full disk shows only as the file is written (after the guided walk, whose prompts are
    # on stderr too): the error names the file
    assert main(["calibrate", "--device", "sim:polar_h10", "--mute", "--out", "/dev/full"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == "coach: error: /dev/full: cannot write (No space left on device)"
    f = tmp_path / "taken.csv"
    f.write_text("x")
    assert "is a file; reports go in a folder" in one_error(capsys, ["report", "last", "--out", str(f)])
    assert f"{f} is a file, not a folder" in one_error(
        capsys, ["calibrate", "--device", "sim:polar_h10", "--mute", "--out", str(f / "c.csv")])
    # an empty --out had been taken as none: the walk done, nothing written, exit 0
    assert "is a folder" in one_error(capsys, ["calibrate", "--device", "sim:polar_h10", "--mute",
                                               "--out", ""])


def test_a_calibration_store_that_cannot_be_written_is_found_before_the_walk(capsys, tmp_path,
                                                                            monkeypatch) -> None:
    """It had been found only after the whole guided walk, and nothing was kept."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    (tmp_path / "retro-coach" / "references.json").mkdir(parents=True)
    t0 = time.monotonic()
    err = one_error(capsys, ["calibrate", "--device", "sim:polar_h10", "--mute"])
    assert "cannot keep calibrations in" in err and "references.json" in err
    assert time.monotonic() - t0 < 5
    # a folder that cannot be made: the OS's reason and the path, one line
    assert "/proc/nope" in one_error(capsys, ["report", "--week", "2026-12-01", "--out", "/proc/nope"])


def test_endless_binary_input_is_refused_at_once(capsys) -> None:
    t0 = time.monotonic()
    assert "not a text CSV file" in one_error(capsys, ["analyze", "/dev/zero"])
    assert time.monotonic() - t0 < 5


def test_a_file_that_is_not_a_model(capsys, tmp_path) -> None:
    rec = walk_csv(tmp_path / "w.csv")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(os.urandom(3000))
    objects = tmp_path / "objects.npz"
    np.savez(objects, a=np.array([object()], dtype=object))
    for m in (junk, objects, rec):
        err = one_error(capsys, ["analyze", str(rec), "--model", str(m)])
        # (numpy's words had said to load it with allow_pickle)
        assert "not a retro-coach model file" in err and "pickle" not in err


def test_training_that_would_write_an_unreadable_model_is_refused(capsys, tmp_path) -> None:
    out = tmp_path / "m.npz"
    assert main(["train", "--out", str(out), "--sessions", "2", "--minutes", "0.2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]      # after train's progress lines
    assert err.startswith("coach: error: the training data holds no") and "windows" in err
    assert not out.exists()


def test_training_refuses_a_label_it_does_not_know(capsys, tmp_path) -> None:
    rec = walk_csv(tmp_path / "side.csv", 10, label="sideways")
    t0 = time.monotonic()
    err = one_error(capsys, ["train", "--out", str(tmp_path / "m.npz"), "--recordings", str(rec)])
    assert "label 'sideways' is not one of forward, backward, still, other, run" in err
    assert time.monotonic() - t0 < 20      # before the simulated sessions, not after


def test_config_errors_name_the_file(capsys, tmp_path) -> None:
    c = tmp_path / "c.toml"
    c.write_text('[speech]\nplayer = "nosuch"\n')
    err = one_error(capsys, ["--config", str(c), "history"])
    assert str(c) in err and "player must be one of auto, aplay, paplay, play, none" in err
    c.write_text('[programs.x]\nkind = "weird"\n')
    err = one_error(capsys, ["--config", str(c), "history"])
    assert str(c) in err and "kind must be intervals, progression or free" in err
    assert "is a folder" in one_error(capsys, ["--config", str(tmp_path), "history"])


def test_ctrl_c_ends_a_replay_and_keeps_it(tmp_path) -> None:
    """The first Ctrl-C finishes the session and stores it, as `coach run` does (demo and replay
    had exited 130 and left it to be recovered)."""
    rec = walk_csv(tmp_path / "w.csv", 60)
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "cfg"),
               COACH_DB=str(tmp_path / "s.sqlite3"))
    proc = subprocess.Popen([sys.executable, "-m", "coach", "replay", str(rec), "--speed", "4", "--mute",
                             "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopping: finishing the session" in err
    import json
    doc = json.loads(out.strip().splitlines()[-1])
    assert 1 < doc["duration_s"] < 55        # ended early, not at the file's end
    hist = subprocess.run([sys.executable, "-m", "coach", "history", "--all", "--json"], env=env,
                          capture_output=True, text=True, check=True)
    sessions = json.loads(hist.stdout)["sessions"]
    assert len(sessions) == 1 and not sessions[0].get("recovered")


def test_benchmarks_say_what_is_missing(tmp_path, monkeypatch) -> None:
    """One line naming the missing file, not an import traceback (a checkout without ../shared)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_shared", REPO / "benchmarks" / "shared.py")
    assert spec is not None and spec.loader is not None
    shared = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shared)
    monkeypatch.setattr(sys, "argv", ["eval_inproc.py"])
    with pytest.raises(SystemExit) as e:
        shared.folder(tmp_path)
    assert e.value.code == f"eval_inproc.py: {tmp_path} is not a folder of sessions (no index.json)"
    monkeypatch.setattr(shared, "SHARED", tmp_path / "shared")
    with pytest.raises(SystemExit) as e:
        shared.retro_score()
    assert str(e.value.code).startswith(f"eval_inproc.py: needs {tmp_path}/shared/benchmark/retro_score.py")
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "eval_inproc.py")],
                       capture_output=True, text=True)          # whichever is missing first
    assert r.returncode != 0 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_units_that_contradict_gravity_are_refused(capsys, tmp_path) -> None:
    rec = walk_csv(tmp_path / "w.csv")        # in g
    for u in ("m/s2", "mg"):
        err = one_error(capsys, ["analyze", str(rec), "--units", u])
        assert f"--units {u}, but gravity's size" in err and "as in g" in err
    assert main(["analyze", str(rec), "--units", "g"]) == 0


def test_a_very_low_rate_is_reported_as_it_is(capsys, tmp_path) -> None:
    rec = walk_csv(tmp_path / "w.csv", 60)
    rows = list(csv.reader(rec.open()))
    low = tmp_path / "hz1.csv"
    with low.open("w", newline="") as f:
        csv.writer(f).writerows([rows[0]] + rows[1::50])          # 1 Hz
    assert main(["analyze", str(low), "--allow-rate"]) == 0
    assert "at 1 Hz" in capsys.readouterr().out                    # it had said "at 0 Hz"
    # --allow-rate is for the recording, not for a calibration: the message says so
    cal = tmp_path / "cal1hz.csv"
    with cal.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(rows[0] + ["label"])
        w.writerows(r + ["forward" if i < 30 else "backward"] for i, r in enumerate(rows[1::50]))
    err = one_error(capsys, ["analyze", str(rec), "--allow-rate", "--calibration", str(cal)])
    assert "record the calibration at 25 Hz or more" in err and "pass --allow-rate" not in err


def test_analyze_save_says_the_session_and_a_simulated_run_is_a_demo(capsys, tmp_path) -> None:
    """Found by a fresh-clone trial: --save did not say where the session went, and a run of
    the simulated sensor counted as the wearer's walking in the week and the progression."""
    rec = walk_csv(tmp_path / "w.csv", 30)
    assert main(["analyze", str(rec), "--save"]) == 0
    assert "saved as session 1 (coach report 1)" in capsys.readouterr().out
    assert main(["run", "--device", "sim:polar_h10", "--minutes", "0.3", "--mute", "--no-coach"]) == 0
    capsys.readouterr()
    assert main(["history", "--all", "--json"]) == 0
    import json
    kinds = [s["kind"] for s in json.loads(capsys.readouterr().out)["sessions"]]
    assert sorted(kinds) == ["analysis", "demo"], kinds


def test_run_json_stdout_is_only_the_json(capsys) -> None:
    """The live display, kept as the coach's prompt sink, had printed prompts on stdout."""
    assert main(["run", "--device", "sim:polar_h10", "--minutes", "0.3", "--mute", "--json"]) == 0
    out = capsys.readouterr()
    import json
    doc = json.loads(out.out)
    assert doc["summary"]["forward_steps"] > 0 and "info:" in out.err


def test_a_bad_mqtt_url_opens_no_session(capsys, tmp_path) -> None:
    rec = walk_csv(tmp_path / "w.csv")
    assert "bad MQTT URL" in one_error(capsys, ["replay", str(rec), "--speed", "0", "--mute",
                                                "--mqtt", "mqtt://127.0.0.1:99999"])
    assert main(["history", "--all"]) == 0
    assert "no sessions yet" in capsys.readouterr().out     # (it had left one to be "recovered")


def test_history_and_the_week_report_share_the_weeks_goal(capsys, tmp_path) -> None:
    """Found by a fresh-clone trial: the week report derived a goal from the program, history
    showed none unless [store] weekly_goal_minutes was set."""
    import json
    rec = walk_csv(tmp_path / "w.csv", 30)
    assert main(["analyze", str(rec), "--save"]) == 0
    capsys.readouterr()
    assert main(["report", "--week", "--all", "--json", "--out", str(tmp_path / "r")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert main(["history", "--all", "--json"]) == 0
    week = json.loads(capsys.readouterr().out)["weeks"][0]
    assert report["goal_minutes"] and week["goal_seconds"] == pytest.approx(report["goal_minutes"] * 60)
