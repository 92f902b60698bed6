"""The forward reference is kept per device and placement, and re-checked every session."""
from __future__ import annotations

import json

import numpy as np
import pytest

from coach.detect.pipeline import DirectionPipeline
from coach.detect.reference_store import load_reference, store_path
from coach.signal.features import Reference
from coach.simulate.gait import Bout, Person, simulate
from coach.sources.base import SampleBatch

BOUTS = [Bout("forward", 15), Bout("still", 1), Bout("backward", 15), Bout("forward", 10)]


def rot(axis: np.ndarray, deg: float) -> np.ndarray:
    a = axis / np.linalg.norm(axis)
    th = np.radians(deg)
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(th) * K + (1 - np.cos(th)) * K @ K


def session(seed: int, person: Person, R: np.ndarray):
    s = simulate(np.random.default_rng(seed), BOUTS, placement="chest", rate_hz=50.0,
                 person=person, mounting="aligned")   # worn as R says, the same every session
    return s, s.acc @ R.T


def run(t, acc, key):
    p = DirectionPipeline(device_key=key)
    steps_to_ready = None
    for i in range(0, len(t), 10):
        p.feed(SampleBatch(t[i:i + 10], acc[i:i + 10]))
        if steps_to_ready is None and p.state.calibrated:
            steps_to_ready = float(t[min(i + 9, len(t) - 1)])
    return p, p.finish(), steps_to_ready


def backward_share(res, s) -> float:
    """Share of the true backward time reported as backward."""
    hz = s.truth()["label_rate_hz"]
    lab = np.array(s.truth()["labels"])
    tt = np.arange(len(lab)) / hz
    back = np.zeros(len(lab), bool)
    for seg in res.segments:
        if seg.direction == "backward":
            back |= (tt >= seg.start_s) & (tt < seg.end_s)
    return float(back[lab == "backward"].mean())


def test_reference_round_trips_through_a_dict():
    r = Reference()
    r._blend_list(1.0, list(np.arange(12.0)), [0.1, -0.2, 0.3], 1.8, -1.5, [0.0, 0.6, 0.8])
    r.n = 33
    back = Reference.from_dict(json.loads(json.dumps(r.to_dict())))
    assert np.allclose(back.odd.ravel(), np.arange(12.0)) and np.allclose(back.gravity, r.gravity)
    assert back.n == 33 and back.step_hz == 1.8
    assert back.agreement(r)[0] > 0.999 and back.agreement(r)[1] < 1e-3


def test_a_reference_or_calibration_from_other_features_is_ignored_with_a_warning(tmp_path, monkeypatch,
                                                                                  caplog):
    """An upgrade that changes the features must not compare new windows with old vectors."""
    from coach.detect import reference_store as rs

    monkeypatch.setattr(rs, "store_path", lambda: tmp_path / "references.json")
    r = Reference()
    r._blend_list(1.0, list(np.arange(12.0)), [0.1, -0.2, 0.3], 1.8, -1.5, [0.0, 0.6, 0.8])
    rs.save_reference("dev|chest", r)
    assert rs.load_reference("dev|chest") is not None
    data = json.loads((tmp_path / "references.json").read_text())
    data["dev|chest"].pop("features")                      # what an earlier release stored
    data["calibrations"] = {"dev|chest": {"forward": {}, "backward": {}, "features": 1}}
    (tmp_path / "references.json").write_text(json.dumps(data))
    with caplog.at_level("WARNING"):
        assert rs.load_reference("dev|chest") is None
        assert rs.load_calibration("dev|chest") is None
    assert "earlier version" in caplog.text and "coach calibrate again" in caplog.text


@pytest.mark.parametrize("damage", [
    {"odd": [1e308] * 12},                  # had overflowed and ended the session
    {"step_hz": -1.2}, {"step_hz": float("nan")}, {"gravity": [0.0, 0.0, 0.0]},
    {"log_rms": float("inf")}, {"features": 99},
])
def test_a_damaged_stored_reference_or_calibration_is_set_aside(tmp_path, monkeypatch, caplog, damage):
    """A hand-edited or damaged store: values no sensor gives had crashed a session (1e308) or
    been used as they were (NaN, a negative cadence); now each is set aside with a warning."""
    from coach.detect import reference_store as rs
    from coach.signal.calibration import calibrate

    monkeypatch.setattr(rs, "store_path", lambda: tmp_path / "references.json")
    person = Person.random(np.random.default_rng(11))
    c = simulate(np.random.default_rng(3), [Bout("forward", 12), Bout("still", 2), Bout("backward", 12)],
                 placement="chest", rate_hz=50.0, person=person, mounting="aligned")
    rs.save_calibration("dev|chest", calibrate(c.t, c.acc, c.labels))
    r = Reference()
    r._blend_list(1.0, list(np.arange(12.0) / 20), [0.1, -0.2, 0.3], 1.8, -1.5, [0.0, 0.6, 0.8])
    rs.save_reference("dev|chest", r)
    assert rs.load_reference("dev|chest") is not None and rs.load_calibration("dev|chest") is not None
    data = json.loads((tmp_path / "references.json").read_text())
    data["dev|chest"].update(damage)
    data["calibrations"]["dev|chest"]["forward"].update(damage)
    data["calibrations"]["dev|chest"].update({k: v for k, v in damage.items() if k == "features"})
    (tmp_path / "references.json").write_text(json.dumps(data))
    with caplog.at_level("WARNING"):
        assert rs.load_reference("dev|chest") is None
        assert rs.load_calibration("dev|chest") is None
    assert "coach calibrate again" in caplog.text
    if "features" in damage:
        assert "a newer version" in caplog.text


def test_an_unreadable_store_is_said_once_and_deep_nesting_does_not_crash(tmp_path, monkeypatch, caplog):
    from coach.detect import reference_store as rs

    path = tmp_path / "references.json"
    monkeypatch.setattr(rs, "store_path", lambda: path)
    monkeypatch.setattr(rs, "_WARNED", set())
    path.write_text("[" * 100_000 + "]" * 100_000)          # json.loads: RecursionError
    with caplog.at_level("WARNING"):
        for _ in range(3):
            assert rs.load_reference("dev|chest") is None and rs.load_calibration("dev|chest") is None
    assert caplog.text.count("ignoring unreadable") == 1 and "coach calibrate again" in caplog.text


def test_same_mounting_is_recognised_and_a_turned_sensor_is_learnt_afresh():
    person = Person.random(np.random.default_rng(11))
    R = rot(np.array([0.3, 0.2, 1.0]), 70)
    key = "ble:test-sensor|chest"
    s1, a1 = session(1, person, R)
    p1, r1, ready1 = run(s1.t, a1, key)
    assert p1.state.mounting == "new" and load_reference(key) is not None
    assert backward_share(r1, s1) > 0.8

    # next session, worn the same way: last session's reference is reused, ready sooner
    s2, a2 = session(2, person, R)
    p2, r2, ready2 = run(s2.t, a2, key)
    assert p2.state.mounting == "same"
    assert ready2 < ready1 - 1.5
    assert backward_share(r2, s2) > 0.8

    # then worn turned round (yaw 180 deg): that reference would read forward as backward,
    # so it must not be reused; the warm-up teaches the new one
    s3, a3 = session(3, person, R @ rot(np.array([0.0, 0.0, 1.0]), 180))
    p3, r3, _ = run(s3.t, a3, key)
    assert p3.state.mounting == "changed"
    assert backward_share(r3, s3) > 0.8
    fwd = [seg for seg in r3.segments if seg.direction == "forward"]
    assert fwd and fwd[0].start_s < 8


def test_recordings_do_not_touch_the_store():
    person = Person.random(np.random.default_rng(5))
    s, a = session(4, person, np.eye(3))
    p = DirectionPipeline()
    p.feed(SampleBatch(s.t, a))
    p.finish()
    assert not store_path().exists()


def test_an_unreadable_store_is_ignored():
    store_path().parent.mkdir(parents=True, exist_ok=True)
    store_path().write_text("{not json")
    assert load_reference("x|chest") is None
    store_path().write_text(json.dumps({"x|chest": {"odd": [1, 2], "skew": [], "gravity": []}}))
    assert load_reference("x|chest") is None
