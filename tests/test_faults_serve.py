"""`coach serve` under hostile input and many streams: every payload bounded and validated
(property tests), a bad message dropped with one warning, several concurrent streams stored
(--save) through a real broker, and a worker that outlives its broker."""
from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coach.cli.serve import StreamWorker
from coach.outputs.mqtt import MqttSettings
from coach.simulate.bench import NullLink
from coach.sources import mqtt_ingest as ing
from coach.sources.mqtt_ingest import IngestError, parse_samples
from tests.outputs_broker import Broker, Collector, FakePipeline, have_mosquitto

ROOT = Path(__file__).resolve().parents[1]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(
        st.sampled_from(["t", "t0", "hz", "acc", "gap", "end", "battery", "placement", "x"]),
        children, max_size=6),
    max_leaves=40)


def _check(payload: bytes) -> None:
    try:
        batch, extras = parse_samples(payload)
    except IngestError as e:
        assert "\n" not in str(e)
        return
    assert isinstance(extras, dict)
    if batch is None:
        return
    t, a = batch.t, batch.acc
    assert 1 <= len(t) <= ing.MAX_SAMPLES and a.shape == (len(t), 3)
    assert np.all(np.isfinite(t)) and np.all(np.isfinite(a)) and np.all(np.abs(a) <= ing.MAX_G)
    assert np.all(np.diff(t) > 0) and t[-1] - t[0] <= ing.MAX_SPAN_S + 1e-9


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_parser_accepts_only_bounded_batches(value) -> None:
    _check(json.dumps(value).encode())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_parser_never_raises_anything_but_ingest_error_on_bytes(raw: bytes) -> None:
    _check(raw)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=1, max_size=40),
       st.floats(allow_nan=True, allow_infinity=True))
def test_parser_time_fields(ts, hz) -> None:
    acc = [[0.0, 0.0, 1.0]] * len(ts)
    _check(json.dumps({"t": ts, "acc": acc}).encode())
    _check(json.dumps({"t0": ts[0], "hz": hz, "acc": acc}).encode())


BAD = [
    (b'{"t": [NaN, 0.02], "acc": [[0,0,1],[0,0,1]]}', "finite"),
    (b'{"t0": 0, "hz": 0, "acc": [[0,0,1],[0,0,1]]}', "hz"),
    (b'{"t0": 0, "hz": NaN, "acc": [[0,0,1]]}', "hz"),
    (b'{"t": [0, 1e7], "acc": [[0,0,1],[0,0,1]]}', "spans"),
    (b'{"t": [0, 1e30], "acc": [[0,0,1],[0,0,1]]}', "finite"),
    (b'{"t0": 1e30, "hz": 50, "acc": [[0,0,1]]}', "t0"),
    (b'{"t": [0, 0.02, 0.01], "acc": [[0,0,1],[0,0,1],[0,0,1]]}', "increasing"),
    (b'{"t": [0, 0.02], "acc": [[0,0,1]]}', "one per sample"),
    (b'{"t": [0, 0.02], "acc": [[0,0,1e9],[0,0,1]]}', "within"),
    (b'{"t": [0, 0.02], "acc": [[0,0,"1"],[0,0,1]]}', "numbers"),
    (b"[" * 100_000 + b"]" * 100_000, "nested"),
    (b'{"acc": ' + b"[" * 50 + b"]" * 50 + b"}", "nested"),
    (b'{"t0": 0, "hz": 50, "acc": [' + b"[0,0,1]," * 200_000 + b"[0,0,1]]}", "bytes"),
    (json.dumps({"t0": 0, "hz": 50, "acc": [[0, 0, 1]] * 5000}).encode(), "samples"),
    (b'{"battery": "full"}', "battery"),
    (b"\xff\xfe", "not JSON"),
]


@pytest.mark.parametrize("payload, why", BAD, ids=[w + str(i) for i, (_, w) in enumerate(BAD)])
def test_bad_payloads_have_one_line_reasons(payload: bytes, why: str) -> None:
    with pytest.raises(IngestError, match=why):
        parse_samples(payload)


def _good(t0: float, n: int = 25) -> bytes:
    return json.dumps({"t": [t0 + j / 50 for j in range(n)], "acc": [[0, 0, 1]] * n}).encode()


def test_worker_drops_bad_messages_with_one_warning_and_keeps_counting(caplog) -> None:
    link = NullLink()
    w = StreamWorker(MqttSettings(), worker_id="w", link=link,  # type: ignore[arg-type]
                     pipeline_factory=lambda name: FakePipeline(), claim_grace_s=0.0)
    link.worker = w
    topic = "coach/ingest/s1/samples"
    caplog.set_level(logging.WARNING)
    for i in range(20):
        w.handle(topic, _good(i * 0.5))
        w.process()
    bad = [p for p, _ in BAD] + [
        _good(1e7),                                     # far off the stream's clock
        json.dumps({"t0": 10.5, "hz": 50, "acc": [[0, 0, 1]] * 4000}).encode(),  # beyond the rate
    ]
    for p in bad:
        caplog.clear()
        w.handle(topic, p)
        w.process()
        assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
    for i in range(20, 40):
        w.handle(topic, _good(i * 0.5))
        w.process()
    assert w.rejected == len(bad)
    st_ = w.streams["s1"]
    assert st_.rejected == len(bad)
    assert math.isclose(st_.pipeline.state.t_s, 40 * 0.5 - 0.02, abs_tol=0.05)
    w.handle(topic, b'{"end": true}')
    w.process()
    assert "s1" in w.finished and w.finished["s1"].duration_s < 25


@pytest.mark.skipif(not have_mosquitto(), reason="mosquitto not installed")
def test_serve_save_with_several_concurrent_streams(tmp_path: Path) -> None:
    import paho.mqtt.client as mqtt
    try:
        from coach.detect.pipeline import _default_model
        _default_model()
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"detector not available: {e}")
    b = Broker(tmp_path)
    b.start()
    col = Collector(b.port)
    db = tmp_path / "s.db"
    proc = subprocess.Popen([sys.executable, "-m", "coach", "serve", "--mqtt", b.url,
                             "--worker-id", "w1", "--save", "--db", str(db)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stderr=subprocess.PIPE, text=True)
    sensors = [f"s{i}" for i in range(5)]
    try:
        assert _wait(lambda: "coach/serve/w1/availability" in col.topics(), 20)
        gw = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="gw")
        gw.connect("127.0.0.1", b.port)
        gw.loop_start()
        for i in range(0, 600, 50):             # 12 s of five sensors, interleaved
            for s in sensors:
                gw.publish(f"coach/ingest/{s}/samples",
                           json.dumps({"t0": i / 50, "hz": 50, "acc": [[0.0, 0.1, 1.0]] * 50}), qos=1)
            gw.publish("coach/ingest/s0/samples", b'{"t": [NaN], "acc": [[0,0,1]], "n": %d}' % i, qos=1)
            time.sleep(0.03)
        for s in sensors:
            gw.publish(f"coach/ingest/{s}/samples", b'{"end": true}', qos=1).wait_for_publish()
        assert _wait(lambda: all(any(e["type"] == "session_end" for e in col.payloads(f"coach/{s}/event"))
                                 for s in sensors), 30)
        gw.loop_stop()
        gw.disconnect()
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(15)
        err = proc.stderr.read() if proc.stderr else ""
        col.close()
        b.stop()
    assert rc == 0, err
    assert "transaction" not in err and "Traceback" not in err
    assert err.count("dropped") == 12                   # one line per bad message
    from coach.outputs.store import SessionStore
    sessions = SessionStore(db).history()["sessions"]
    assert sorted(s["device"] for s in sessions) == sensors
    assert all(s["status"] == "closed" and s["duration_s"] > 11 for s in sessions)


def _wait(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not have_mosquitto(), reason="mosquitto not installed")
def test_serve_worker_outlives_a_broker_restart(tmp_path: Path) -> None:
    """The broker goes away mid-stream: the worker reconnects, says it is online again, and the
    stream's session carries on (what the gateway re-sends is counted once)."""
    import paho.mqtt.client as mqtt
    b = Broker(tmp_path)
    b.start()
    db = tmp_path / "s.db"
    proc = subprocess.Popen([sys.executable, "-m", "coach", "serve", "--mqtt", b.url,
                             "--worker-id", "w2", "--save", "--db", str(db),
                             "--idle-timeout", "60"], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stderr=subprocess.PIPE, text=True)

    def send(lo: int, hi: int) -> None:
        gw = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"gw{lo}")
        gw.connect("127.0.0.1", b.port)
        gw.loop_start()
        for i in range(lo, hi, 50):
            gw.publish("coach/ingest/r1/samples",
                       json.dumps({"t0": i / 50, "hz": 50, "acc": [[0.0, 0.1, 1.0]] * 50}),
                       qos=1).wait_for_publish()
            time.sleep(0.03)
        gw.loop_stop()
        gw.disconnect()
    try:
        col = Collector(b.port)
        assert _wait(lambda: "coach/serve/w2/availability" in col.topics(), 20)
        send(0, 300)
        assert _wait(lambda: bool(col.payloads("coach/r1/state")), 10)
        col.close()
        b.stop()
        time.sleep(1.0)
        b.start()
        col = Collector(b.port, topics=("coach/#",))
        assert _wait(lambda: any(t == "coach/serve/w2/availability" and p == b"online"
                                 for t, p, _ in col.messages), 20)
        send(300, 600)
        time.sleep(1.0)
        send(600, 650)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="end")
        pub.connect("127.0.0.1", b.port)
        pub.loop_start()
        pub.publish("coach/ingest/r1/samples", b'{"end": true}', qos=1).wait_for_publish()
        assert _wait(lambda: any(e["type"] == "session_end" for e in col.payloads("coach/r1/event")), 20)
        pub.loop_stop()
        pub.disconnect()
        col.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(15)
        err = proc.stderr.read() if proc.stderr else ""
        b.stop()
    assert rc == 0, err
    from coach.outputs.store import SessionStore
    (s,) = SessionStore(db).history()["sessions"]
    assert s["device"] == "r1" and s["status"] == "closed" and s["duration_s"] > 12.5
