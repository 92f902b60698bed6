"""Personal calibration: both directions of one wearer give the detector its reference."""
from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from coach.detect.pipeline import DirectionPipeline
from coach.detect.session import analyze_file, load_calibration
from coach.errors import CoachError
from coach.signal.calibration import Calibration, calibrate
from coach.simulate.gait import Bout, Person, simulate
from coach.sources.base import SampleBatch

CAL_BOUTS = [Bout("forward", 22), Bout("still", 3), Bout("backward", 22), Bout("still", 2)]
# a session that opens with forward walking, as every session does (the warm-up)
OPENS_FORWARD = [Bout("forward", 15), Bout("backward", 15), Bout("still", 3), Bout("forward", 10),
                 Bout("backward", 12)]


def _walker(seed: int = 3) -> tuple[Person, int]:
    return Person.random(np.random.default_rng(seed)), seed


def _cal_recording(person: Person, seed: int = 21):
    s = simulate(np.random.default_rng(seed), CAL_BOUTS, placement="chest", rate_hz=50.0,
                 person=person, mounting="aligned")
    return s.t, s.acc, s.labels


def _predicted(p: DirectionPipeline, s, batch: int = 25) -> np.ndarray:
    """What p's segments call each of the session s's samples, fed in batches of `batch`."""
    for i in range(0, len(s.t), batch):
        p.feed(SampleBatch(s.t[i:i + batch], s.acc[i:i + batch]))
    pred = np.full(len(s.t), "", dtype=object)
    for seg in p.finish().segments:
        pred[(s.t >= seg.start_s) & (s.t < seg.end_s)] = seg.direction
    return pred


def _backward_share(p: DirectionPipeline, person: Person, bouts: list[Bout]) -> float:
    """Share of the session's backward walking that p's segments call backward."""
    s = simulate(np.random.default_rng(22), bouts, placement="chest", rate_hz=50.0,
                 person=person, mounting="aligned")
    return float((_predicted(p, s)[np.array(s.labels) == "backward"] == "backward").mean())


def _write(path: Path, t, acc, labels) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t", "ax", "ay", "az", "label"])
        for ti, a, lab in zip(t, acc, labels):
            w.writerow([f"{ti:.4f}", f"{a[0]:.5f}", f"{a[1]:.5f}", f"{a[2]:.5f}", lab])
    return path


def test_a_calibration_separates_the_two_directions_and_round_trips():
    person, _ = _walker()
    cal = calibrate(*_cal_recording(person))
    assert cal.separation["gap"] > 0.4
    assert cal.forward.windows >= 10 and cal.backward.windows >= 10
    back = Calibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert np.allclose(back.forward.odd, cal.forward.odd)
    ref = cal.reference()
    assert ref.ready and ref.frozen and ref.verdict == "calibrated"


def test_for_an_exact_time_reversal_the_calibrated_axis_is_the_forward_reference():
    person, _ = _walker()
    t, acc, labels = _cal_recording(person)
    lab = np.array(labels)
    f = lab == "forward"
    # backward = the forward part played backwards in time
    acc_b = acc[f][::-1]
    t2 = np.concatenate([t[f], t[f][-1] + 3 + (t[f] - t[f][0])])
    cal = calibrate(t2, np.vstack([acc[f], acc_b]), ["forward"] * f.sum() + ["backward"] * f.sum())
    d = cal.reference().odd.ravel()
    fwd = cal.forward.odd.ravel()
    assert d @ fwd / (np.linalg.norm(d) * np.linalg.norm(fwd)) > 0.98


def test_with_a_calibration_the_reference_is_ready_from_the_first_window():
    person, _ = _walker()
    cal = calibrate(*_cal_recording(person))
    with_cal = DirectionPipeline(calibration=cal)
    assert with_cal.state.calibrated is False and with_cal.reference.ready
    share_cal = _backward_share(with_cal, person, OPENS_FORWARD)
    assert with_cal.calibration is not None and with_cal.calibration_fit is not None
    assert with_cal.calibration_fit > 0.9
    assert share_cal > 0.8


def _right_share(p: DirectionPipeline, s, batch: int = 25) -> float:
    """Share of s's walking whose direction p's segments give right."""
    lab = np.array(s.labels)
    walking = np.isin(lab, ["forward", "backward"])
    return float((_predicted(p, s, batch)[walking] == lab[walking]).mean())


def test_someone_elses_calibration_is_set_aside_after_the_warm_up(caplog, monkeypatch):
    """A calibration describes one walker's gait. Another walker's (or one walked in a very
    different gait) had read a session mostly reversed: the session's own warm-up now checks
    it, and where the two disagree the warm-up is trusted. (Walkers 52/1052 were the pair until
    the calibration read a brisk walker's cadence right; their pair now costs little kept.)"""
    import coach.detect.pipeline as pipeline

    owner = Person.random(np.random.default_rng(64))
    other = Person.random(np.random.default_rng(1064))
    cal = calibrate(*_cal_recording(owner))
    s = simulate(np.random.default_rng(22), OPENS_FORWARD, placement="chest", rate_hz=50.0,
                 person=other, mounting="aligned")
    p = DirectionPipeline(calibration=cal, refine_backward=True)
    with caplog.at_level("WARNING"):
        right = _right_share(p, s, 25)
    assert "calibration does not match this walk" in caplog.text and p.calibration is None
    assert p.calibration_fit is not None and p.calibration_fit < pipeline.CAL_FIT_MIN
    assert right > 0.85
    assert p.refined     # a coached session set aside its calibration: the first backward bout teaches
    # the verdict falls on the same window however the stream is batched
    big = DirectionPipeline(calibration=cal, refine_backward=True)
    assert _right_share(big, s, 5000) == right and big.calibration_fit == p.calibration_fit
    # ignored means ignored from the start: the session reads as if none had been given (its
    # first seconds had kept the calibration's reading: forward walking called backward)
    plain = DirectionPipeline(refine_backward=True)
    assert _right_share(plain, s, 300) == right
    assert p.finish().to_json()["segments"] == plain.finish().to_json()["segments"]
    monkeypatch.setattr(pipeline, "CAL_FIT_MIN", -2.0)       # the calibration kept, as before
    kept = DirectionPipeline(calibration=cal)
    assert _right_share(kept, s) < 0.5 and kept.calibration is not None


def test_a_walkers_own_calibration_is_kept_where_their_backward_walk_is_no_time_reversal():
    """The warm-up is checked against the calibration's forward walk. Against its axis (half of
    forward minus backward) it had set aside the calibrations that help most: those of walkers
    whose backward walk is far from their forward walk reversed in time, where the axis leans
    away from the forward walk. This walker's axis is 0.61 from it; without the calibration
    half of the walking is read the wrong way."""
    import coach.detect.pipeline as pipeline

    person = Person.random(np.random.default_rng(31))
    for key in person.back_harm_dev:
        person.back_harm_dev[key] *= 2
    cal = calibrate(*_cal_recording(person))
    axis, fwd = cal.reference().odd.ravel(), cal.forward.odd.ravel()
    assert axis @ fwd / (np.linalg.norm(axis) * np.linalg.norm(fwd)) < pipeline.CAL_FIT_MIN
    s = simulate(np.random.default_rng(22), OPENS_FORWARD, placement="chest", rate_hz=50.0,
                 person=person, mounting="aligned")
    p = DirectionPipeline(calibration=cal)
    right = _right_share(p, s)
    assert p.calibration is not None and p.calibration_fit is not None and p.calibration_fit > 0.9
    assert right > 0.95 and _right_share(DirectionPipeline(), s) < 0.7


@pytest.mark.parametrize("rate", [50.0, 100.0])
def test_five_seconds_each_way_is_enough(rate):
    """'At least 5 s of each': 250 samples at 50 Hz are 5 s of recording, 4.98 s first to last,
    and hold 16 windows; such a calibration had been refused as too short."""
    person, _ = _walker()
    s = simulate(np.random.default_rng(21), [Bout("forward", 5.0), Bout("backward", 5.3)],
                 placement="chest", rate_hz=rate, person=person, mounting="aligned")
    n = int(5 * rate)
    cal = calibrate(s.t[:2 * n], s.acc[:2 * n], ["forward"] * n + ["backward"] * n)
    assert cal.separation["gap"] > 1.0
    with pytest.raises(CoachError, match="at least 5 s"):
        calibrate(s.t[:2 * n - 5], s.acc[:2 * n - 5], ["forward"] * n + ["backward"] * (n - 5))


def test_a_calibration_with_misspelt_labels_is_refused_naming_them():
    """A typo in the labels ('forwrd') had read as no forward walking at all; the error now
    names the labels it did find, so the wearer sees what to mend."""
    person, _ = _walker()
    t, acc, labels = _cal_recording(person)
    typo = ["forwrd" if x == "forward" else x for x in labels]
    with pytest.raises(CoachError, match=r"no forward walking in it .*other labels in it: "
                                         r"'forwrd' \(\d+ rows\), 'still'"):
        calibrate(t, acc, typo)
    # every other forward row misspelt: too broken to be one bout, and the typo is named too
    every_other = [("forwrd" if i % 2 else x) if x == "forward" else x for i, x in enumerate(labels)]
    with pytest.raises(CoachError, match=r"longest unbroken stretch of forward .*'forwrd'"):
        calibrate(t, acc, every_other)


def test_a_slow_gentle_walker_is_calibrated_when_the_directions_are_clearly_apart(monkeypatch):
    """A slow walker (1.1 steps/s, 'dragging' and the like) has no whole stride in a window and
    moves the trunk little: the steady-walking test had refused such calibrations, for the very
    people the model knows least. Taken at the detector's own walking level, if clearly apart."""
    import coach.signal.calibration as cal_mod

    person = Person.random(np.random.default_rng(13), styles=["dragging", "elderly", "sad", "tired"])
    assert person.step_hz < 1.2
    t, acc, labels = _cal_recording(person)
    cal = calibrate(t, acc, labels)
    assert cal.separation["gap"] > cal_mod.GENTLE_MIN_GAP
    assert _backward_share(DirectionPipeline(calibration=cal), person, OPENS_FORWARD) > 0.7
    # held to the steady walker's thresholds alone, it is refused
    monkeypatch.setattr(cal_mod, "GENTLE_PERIODICITY", cal_mod.MIN_PERIODICITY)
    monkeypatch.setattr(cal_mod, "GENTLE_RMS_G", cal_mod.MIN_RMS_G)
    with pytest.raises(CoachError, match="not steady walking"):
        calibrate(t, acc, labels)


def test_a_calibration_reads_another_days_pace(monkeypatch):
    """Calibrated at one pace, walking at 0.85 of it (cadence and energy): the model reads a
    window's cadence and energy against the reference's, and against the calibration's pace
    most of this walk had come out 'other'. The pace is now learnt from the session's walking;
    the direction axis stays the calibration's."""
    import copy

    import coach.detect.pipeline as pipeline
    from coach.signal.features import Reference

    # the pace-following on its own: this walk's warm-up agrees only 0.24 with the calibration,
    # which is then set aside (test_someone_elses_calibration_is_set_aside_after_the_warm_up)
    monkeypatch.setattr(pipeline, "CAL_FIT_MIN", -2.0)

    # (the walker of seed 702 until model 6, whose calibration agreed 0.29: model 6 reads that
    # walk's forward bouts backward whether the pace follows or not, 0.605 and 0.583; over
    # seeds 702-711 model 6 is better in 4, within 0.015 in 5, and far worse in that one.
    # Seed 711 with model 7: 0.932 followed, 0.900 fixed; seed 702 again shows the difference)
    rng = np.random.default_rng(702)
    person = Person.random(rng)
    c = simulate(rng, [Bout("forward", 20), Bout("still", 2), Bout("backward", 20)],
                 placement="pocket", rate_hz=50.0, person=person, mounting="aligned")
    cal = calibrate(c.t, c.acc, c.labels)
    slower = copy.deepcopy(person)
    slower.step_hz *= 0.85
    slower.speed_scale *= 0.85
    bouts = [Bout("forward", 15), Bout("backward", 15), Bout("still", 3), Bout("forward", 10),
             Bout("backward", 12), Bout("still", 3), Bout("backward", 10), Bout("forward", 10)]
    s = simulate(rng, bouts, placement="pocket", rate_hz=50.0, person=slower, mounting="aligned")

    def right_share() -> float:
        return _right_share(DirectionPipeline(calibration=cal), s, 500)

    # model 7: 0.898 followed, 0.734 fixed (without a calibration 0.934). Seed 711 gave model 5
    # 0.933 and 0.663, model 6 0.962 and 0.762; seed 702 model 4 0.954 and 0.574, model 5 0.894
    # and 0.599
    assert right_share() > 0.85
    # the calibration's pace held fixed, as before
    reference = Calibration.reference

    def fixed_pace(self: Calibration) -> Reference:
        ref = reference(self)
        ref.pace_follow = None
        return ref

    monkeypatch.setattr(Calibration, "reference", fixed_pace)
    assert cal.reference().pace_follow is None
    assert right_share() < 0.8


def test_labels_in_any_case_and_stretches_too_short_are_said(tmp_path):
    person, _ = _walker()
    t, acc, labels = _cal_recording(person)
    shouted = [lab.upper() if lab == "forward" else lab.title() for lab in labels]
    cal = load_calibration(_write(tmp_path / "case.csv", t, acc, shouted))   # FORWARD, Backward
    assert cal.separation["gap"] > 0.4
    # a label that flips every second: 20 s labelled forward, but never 5 s in one go
    flips = ["forward" if int(x) % 2 else "backward" for x in t]
    with pytest.raises(CoachError, match=r"longest unbroken stretch of \w+ walking is 1\.00 s"):
        load_calibration(_write(tmp_path / "flips.csv", t, acc, flips))


def test_a_milli_g_calibration_for_a_g_recording_and_whether_it_was_used(tmp_path):
    """--units is the recording's; a calibration has its own (an mg calibration with a g
    recording had no way through: --units mg then refused the recording)."""
    person, _ = _walker()
    t, acc, labels = _cal_recording(person)
    cal_mg = _write(tmp_path / "cal_mg.csv", t, acc * 1000, labels)
    s = simulate(np.random.default_rng(22), OPENS_FORWARD, placement="chest", rate_hz=50.0,
                 person=person, mounting="aligned")
    sess = tmp_path / "s.csv"
    sess.write_text("t,ax,ay,az\n" + "".join(f"{x:.3f},{a[0]:.5f},{a[1]:.5f},{a[2]:.5f}\n"
                                             for x, a in zip(s.t, s.acc)))

    def analyze(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "coach", "analyze", str(sess), "--json",
                               "--calibration", str(cal_mg), *extra], capture_output=True, text=True)
    p = analyze()
    assert p.returncode == 2 and "--calibration-units mg" in p.stderr
    p = analyze("--calibration-units", "mg")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["calibration"] == "used"
    # the plain report says so too (only the warning had told an ignored one)
    plain = subprocess.run([sys.executable, "-m", "coach", "analyze", str(sess), "--calibration",
                            str(cal_mg), "--calibration-units", "mg"], capture_output=True, text=True)
    assert "  calibration: used" in plain.stdout.splitlines(), plain.stdout
    # a folder is not a calibration (the recording reader's message spoke of a Sensor Logger export)
    with pytest.raises(CoachError, match="is a directory, not a calibration"):
        load_calibration(tmp_path)
    for empty in ("", " "):
        with pytest.raises(CoachError, match="^a calibration needs a file name: an empty one was given$"):
            load_calibration(empty)
    # the sensor turned on its side since the calibration: set aside, and the JSON says so
    turned = _write(tmp_path / "cal_turned.csv", t, acc[:, [2, 1, 0]] * [1, 1, -1], labels)
    p = subprocess.run([sys.executable, "-m", "coach", "analyze", str(sess), "--json",
                        "--calibration", str(turned)], capture_output=True, text=True)
    assert p.returncode == 0 and json.loads(p.stdout)["calibration"] == "ignored"
    assert p.stderr.startswith("coach: warning: the calibration does not fit"), p.stderr


def test_a_file_far_too_big_for_a_calibration_is_refused_before_it_is_read(tmp_path, monkeypatch):
    import coach.detect.session as session

    person, _ = _walker()
    path = _write(tmp_path / "cal.csv", *_cal_recording(person))
    assert load_calibration(path).separation["gap"] > 0.4
    monkeypatch.setattr(session, "MAX_CALIBRATION_BYTES", path.stat().st_size - 1)
    with pytest.raises(CoachError, match="is not a calibration"):
        load_calibration(path)
    # its size to a tenth of a MB: 9.0 MB had been called "8 MB ... at most 8 MB"
    path.write_bytes(path.read_bytes() * (9 * 2**20 // path.stat().st_size + 1))
    monkeypatch.setattr(session, "MAX_CALIBRATION_BYTES", 8 << 20)
    with pytest.raises(CoachError, match=r"9\.\d MB is not a calibration .*at most 8 MB"):
        load_calibration(path)
    # gzipped it has no size to check first (an hour of 100 Hz in 3.6 MB had been read whole,
    # 0.9 GB): the rows read are counted
    path = _write(tmp_path / "cal.csv", *_cal_recording(person))
    gz = tmp_path / "cal.csv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert load_calibration(gz).separation["gap"] > 0.4
    monkeypatch.setattr(session, "MAX_CALIBRATION_ROWS", 1000)
    with pytest.raises(CoachError, match=r"cal\.csv\.gz: more than 1,000 samples is not a calibration"):
        load_calibration(gz)
    # through a pipe it is read up to four times the size limit (a recording's reader takes a
    # pipe whole: 830 MB had taken 1.7 GB to refuse)
    monkeypatch.setattr(session, "MAX_CALIBRATION_ROWS", 250_000)

    def through_a_pipe(data: bytes) -> Path:
        fifo = tmp_path / f"cal{len(data)}.fifo"
        os.mkfifo(fifo)

        def write() -> None:
            try:
                with open(fifo, "wb") as f:
                    f.write(data)
            except OSError:
                pass                # the reader stopped early
        threading.Thread(target=write, daemon=True).start()
        return fifo
    assert load_calibration(through_a_pipe(gz.read_bytes())).separation["gap"] > 0.4
    monkeypatch.setattr(session, "MAX_CALIBRATION_BYTES", 1000)
    with pytest.raises(CoachError, match=r"\.fifo: more than 0\.0038\d* MB from a pipe is not a calibration"):
        load_calibration(through_a_pipe(path.read_bytes()))


@pytest.mark.parametrize("case,needle", [
    ("forward_only", "no backward walking"),
    ("short", "at least 5 s"),
    ("same", "cannot be told apart"),
    ("still", "not steady walking"),
])
def test_bad_calibrations_are_refused_with_one_line(tmp_path, case, needle):
    person, _ = _walker()
    t, acc, labels = _cal_recording(person)
    lab = np.array(labels)
    f, b = lab == "forward", lab == "backward"
    if case == "forward_only":
        t, acc, labels = t[f], acc[f], list(lab[f])
    elif case == "short":
        keep = (f & (t < 4)) | (b & (t < 29))
        t, acc, labels = t[keep], acc[keep], list(lab[keep])
    elif case == "same":     # forward walking labelled as both directions
        n = f.sum() // 2
        labels = ["forward"] * n + ["backward"] * (f.sum() - n)
        t, acc = t[f], acc[f]
    elif case == "still":    # standing, labelled as walking
        rest = simulate(np.random.default_rng(5), [Bout("still", 30)], placement="chest",
                        rate_hz=50.0, person=person, mounting="aligned")
        t, acc = rest.t, rest.acc
        labels = ["forward" if x < 15 else "backward" for x in t]
    path = _write(tmp_path / "cal.csv", t, acc, labels)
    with pytest.raises(CoachError) as e:
        load_calibration(path)
    assert needle in str(e.value) and "\n" not in str(e.value)
    sess = tmp_path / "s.csv"
    sess.write_text("t,ax,ay,az\n" + "".join(f"{i / 50:.3f},0,0,1\n" for i in range(300)))
    p = subprocess.run([sys.executable, "-m", "coach", "analyze", str(sess), "--json",
                        "--calibration", str(path)], capture_output=True, text=True)
    assert p.returncode == 2 and (p.stdout == "" or json.loads(p.stdout)["exit_status"] == 2)  # --json: the error as JSON
    assert needle in p.stderr and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr


def test_analyze_takes_a_calibration_file(tmp_path):
    person, _ = _walker()
    cal = _write(tmp_path / "cal.csv", *_cal_recording(person))
    s = simulate(np.random.default_rng(22), OPENS_FORWARD, placement="chest", rate_hz=50.0,
                 person=person, mounting="aligned")
    rec = tmp_path / "session.csv"
    rec.write_text("t,ax,ay,az\n" + "".join(f"{t:.4f},{a[0]:.5f},{a[1]:.5f},{a[2]:.5f}\n"
                                            for t, a in zip(s.t, s.acc)))
    res = analyze_file(rec, calibration=cal)
    assert res.tallies.retro_seconds > 20
    p = subprocess.run([sys.executable, "-m", "coach", "analyze", str(rec), "--json",
                        "--calibration", str(cal)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["summary"]["retro_steps"] == res.tallies.retro_steps


def test_coach_calibrate_guides_stores_and_run_uses_it(tmp_path, monkeypatch):
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    import os
    full = {**os.environ, **env}
    out = tmp_path / "cal.csv"
    p = subprocess.run([sys.executable, "-m", "coach", "calibrate", "--device", "sim:polar_h10",
                        "--mute", "--seconds", "12", "--out", str(out), "--json"],
                       capture_output=True, text=True, env=full, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "walk forward" in p.stderr.lower() and "walk backward" in p.stderr.lower()
    doc = json.loads(p.stdout)
    stored = json.loads(Path(doc["stored_in"]).read_text())
    assert len(stored["calibrations"]) == 1
    assert load_calibration(out).separation["gap"] > 0.4     # the written file is a calibration
    p = subprocess.run([sys.executable, "-m", "coach", "run", "--device", "sim:polar_h10",
                        "--minutes", "0.5", "--mute", "--json", "--no-coach"],
                       capture_output=True, text=True, env=full, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "using your calibration" in p.stderr
    assert "does not match this walk" not in p.stderr      # the warm-up agrees: kept
    # the simulated sensor's wearer calibrated is the wearer coached, the sensor worn alike:
    # the run's opening 30 s are forward (a calibration by another simulated person, the
    # sensor turned another way, had read every direction reversed)
    assert json.loads(p.stdout)["calibration"] == "used"
    segs = json.loads(p.stdout)["segments"]
    fwd = sum(min(sg["end_s"], 30) - sg["start_s"] for sg in segs
              if sg["direction"] == "forward" and sg["start_s"] < 30)
    assert fwd > 25, segs


def test_a_calibration_from_a_sensor_worn_otherwise_is_dropped_with_a_warning(caplog):
    person, _ = _walker()
    cal = calibrate(*_cal_recording(person))
    s = simulate(np.random.default_rng(23), [Bout("forward", 20), Bout("still", 2),
                                              Bout("backward", 15)],
                 placement="chest", rate_hz=50.0, person=person, mounting="aligned")
    turned = s.acc[:, [2, 0, 1]]           # worn on its side: gravity along another axis
    p = DirectionPipeline(calibration=cal)
    with caplog.at_level("WARNING"):
        for i in range(0, len(s.t), 25):
            p.feed(SampleBatch(s.t[i:i + 25], turned[i:i + 25]))
        res = p.finish()
    assert "calibration does not fit" in caplog.text and p.calibration is None
    back = sum(seg.end_s - seg.start_s for seg in res.segments if seg.direction == "backward")
    assert 8 < back < 20     # learnt from the warm-up instead: the backward bout is found


def test_a_brisk_walkers_calibration_keeps_their_cadence():
    """At 2.3-2.5 steps/s the detector's walking flag (under 2.4) had kept only the windows read
    at half cadence, whose polarisation spans two strides: the calibration's forward was of
    another period than the walking it was then compared with."""
    person = Person.random(np.random.default_rng(7))
    assert person.style == "brisk" and person.step_hz > 2.3
    for seed in (25, 29, 37):        # recordings whose forward part came out at half cadence
        cal = calibrate(*_cal_recording(person, seed))
        assert abs(cal.forward.step_hz / person.step_hz - 1) < 0.15, (seed, cal.forward.step_hz)


def test_a_bouts_cadence_is_the_walkers_though_half_its_windows_read_half_of_it():
    """A brisk walker's windows read now at the cadence, now at half of it, about as often: the
    median fell between the two, near no window, and such a calibration was refused as 'not
    steady walking' (the simulated sensors' wearer: 3 of 96 calibrations)."""
    from coach.signal.calibration import _bout_cadence
    from coach.simulate.gait import worn_sensor_session

    assert _bout_cadence(np.array([1.22] * 28 + [2.44] * 28)) == pytest.approx(2.44)
    assert _bout_cadence(np.array([1.22] * 36 + [2.44] * 20)) == pytest.approx(2.44)
    # a few windows at twice a slow walker's cadence do not double it
    assert _bout_cadence(np.array([0.8] * 30 + [1.6] * 10)) == pytest.approx(0.8)
    assert _bout_cadence(np.array([1.8] * 40 + [0.9] * 12)) == pytest.approx(1.8)
    c = worn_sensor_session([Bout("forward", 13), Bout("still", 2), Bout("backward", 16)],
                            "chest", 50.0, seed=13)
    cal = calibrate(c.t, c.acc, c.labels)
    assert 2.1 < cal.forward.step_hz < 2.6 and 2.1 < cal.backward.step_hz < 2.6


@pytest.mark.parametrize("placement", ["chest", "pocket"])
def test_a_brisk_walkers_own_calibration_passes_the_warm_up_check(monkeypatch, placement):
    """The simulated sensors' one wearer walks at 2.34 steps/s: the warm-up's windows read now at
    the cadence, now at half of it, and the detector's reference learnt from the half ones (its
    walking flag stopped at 2.4). Compared with that, their own calibration agreed -0.02 and was
    set aside in every `coach run --device sim:...`. The warm-up's steady walking at the
    calibration's cadence is compared instead; and since the walking flag reaches 2.6 steps/s,
    the warm-up's own reference agrees too."""
    import coach.detect.pipeline as pipeline
    from coach.simulate.gait import demo_program, worn_sensor_session

    c = worn_sensor_session(CAL_BOUTS, placement, 50.0, seed=11)
    cal = calibrate(c.t, c.acc, c.labels)
    s = worn_sensor_session(demo_program(1.0), placement, 50.0, seed=7)
    p = DirectionPipeline(calibration=cal)
    _right_share(p, s)
    assert p.calibration is not None and p.calibration_fit is not None and p.calibration_fit > 0.9
    # compared with the detector's own warm-up reference, as before: it agrees now (0.78 on the
    # chest, 0.70 in the pocket; -0.02..0.36 with the flag at 2.4, and the calibration was set
    # aside), though less than the steady walking at the calibration's cadence
    monkeypatch.setattr(pipeline, "steady_odd", lambda raw, near_hz=None: None)
    q = DirectionPipeline(calibration=cal)
    _right_share(q, s)
    assert q.calibration_fit is not None and 0.6 < q.calibration_fit < p.calibration_fit


def test_a_calibrated_session_that_opens_backward_is_told_to_start_forward(caplog):
    person, _ = _walker()
    cal = calibrate(*_cal_recording(person))
    opens_back = [Bout("backward", 15), Bout("still", 2), Bout("forward", 15)]
    s = simulate(np.random.default_rng(22), opens_back, placement="chest", rate_hz=50.0,
                 person=person, mounting="aligned")
    p = DirectionPipeline(calibration=cal)
    with caplog.at_level("WARNING"):
        _right_share(p, s)
    assert p.calibration is None and p.calibration_fit is not None and p.calibration_fit < -0.7
    assert "as backward" in caplog.text and "start forward" in caplog.text
