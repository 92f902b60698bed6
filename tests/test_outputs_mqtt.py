"""MQTT against a real Mosquitto started here on a free port: state, events, Home Assistant
discovery, username/password auth, a broker restart mid-replay, `coach serve` workers."""
from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from pathlib import Path

import pytest

from coach.outputs.mqtt import MqttPublisher, MqttSettings
from tests.outputs_broker import Broker, Collector, FakePipeline, FakeSource, have_mosquitto

pytestmark = pytest.mark.skipif(not have_mosquitto(),
                                reason="mosquitto not installed (apt-get install mosquitto)")


@pytest.fixture()
def broker(tmp_path: Path):
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


def wait_for(cond, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return bool(cond())


async def replay(pub, speed: float = 0.0, on_batch=None, duration_s: float = 24.0):
    p = FakePipeline()
    i = 0
    async for b in FakeSource(duration_s=duration_s, speed=speed).stream():
        ev = p.feed(b)
        await pub.on_batch(b, p.state, ev)
        i += 1
        if on_batch:
            await on_batch(i)
    r = p.finish()
    await pub.on_end(r)
    return r


def test_state_events_and_discovery(broker: Broker) -> None:
    col = Collector(broker.port)
    pub = MqttPublisher(broker.url, device_id="alice")
    r = asyncio.run(replay(pub))
    assert pub.delivered
    assert wait_for(lambda: any(e["type"] == "session_end" for e in col.payloads("coach/alice/event")))
    events = col.payloads("coach/alice/event")
    changes = [e for e in events if e["type"] == "direction_change"]
    assert len(changes) == len(r.to_json()["events"]) == 5
    assert [e["direction"] for e in changes] == [e["direction"] for e in r.to_json()["events"]]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    states = col.payloads("coach/alice/state")
    assert states[-1]["retro_steps"] == r.tallies.retro_steps and states[-1]["active"] is False
    assert {"direction", "retro_steps", "retro_seconds", "cadence", "interval", "battery",
            "connected"} <= set(states[-1])
    col.close()

    # a newcomer gets the retained state, availability and discovery
    late = Collector(broker.port, client_id="late")
    assert wait_for(lambda: len(late.payloads("/config")) >= 9)
    retained = {t: p for t, p, ret in late.messages if ret}
    assert json.loads(retained["coach/alice/state"])["retro_steps"] == r.tallies.retro_steps
    assert retained["coach/alice/availability"] == b"offline"
    configs = {t: json.loads(p) for t, p in retained.items() if t.startswith("homeassistant/")}
    steps = configs["homeassistant/sensor/retro_coach_alice/retro_steps/config"]
    assert steps["state_topic"] == "coach/alice/state" and steps["unique_id"] == "retro_coach_alice_retro_steps"
    assert "homeassistant/binary_sensor/retro_coach_alice/connected/config" in configs
    assert configs["homeassistant/event/retro_coach_alice/event/config"]["state_topic"] == "coach/alice/event"
    late.close()


def test_prompts_alerts_and_base_topic(broker: Broker) -> None:
    col = Collector(broker.port)
    pub = MqttPublisher(broker.url, device_id="bob", base_topic="clinic/coach")

    async def on_batch(i: int) -> None:
        if i == 5:
            pub.publish_prompt({"t_s": 2.5, "kind": "cue", "text": "Look over your shoulder"})
            pub.publish_alert({"t_s": 3.0, "kind": "stumble", "text": "Stop and steady yourself"})
            pub.publish_interval({"index": 1, "of": 4, "direction": "backward"})
            pub.set_battery(81)
    asyncio.run(replay(pub, on_batch=on_batch))
    assert wait_for(lambda: any(e["type"] == "session_end" for e in col.payloads("clinic/coach/bob/event")))
    types = [e["type"] for e in col.payloads("clinic/coach/bob/event")]
    assert types.count("prompt") == 1 and types.count("safety_alert") == 1
    st = col.payloads("clinic/coach/bob/state")[-1]
    assert st["battery"] == 81 and st["interval"]["index"] == 1
    col.close()


@pytest.mark.skipif(not shutil.which("mosquitto_passwd"), reason="mosquitto_passwd not installed")
def test_username_password_auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                caplog: pytest.LogCaptureFixture) -> None:
    b = Broker(tmp_path, users={"coach": "s3cret-pw"})
    b.start()
    try:
        col = Collector(b.port, username="coach", password="s3cret-pw")
        caplog.set_level(logging.DEBUG)
        pub = MqttPublisher(f"mqtt://coach:s3cret-pw@127.0.0.1:{b.port}", device_id="carol")
        asyncio.run(replay(pub, duration_s=6))
        assert pub.delivered
        monkeypatch.setenv("COACH_MQTT_USERNAME", "coach")
        monkeypatch.setenv("COACH_MQTT_PASSWORD", "s3cret-pw")
        pub = MqttPublisher(b.url, device_id="dave")        # credentials from the environment
        asyncio.run(replay(pub, duration_s=6))
        assert pub.delivered
        assert wait_for(lambda: col.payloads("coach/dave/state"))
        monkeypatch.setenv("COACH_MQTT_PASSWORD", "wrong")
        s = MqttSettings.from_url(b.url, drain_timeout_s=1.0)
        pub = MqttPublisher(s, device_id="eve")
        asyncio.run(replay(pub, duration_s=2))
        assert pub.delivered is False                       # refused: nothing was acknowledged
        assert not col.payloads("coach/eve/state")
        assert "s3cret-pw" not in caplog.text and "wrong" not in caplog.text
        assert "***" in repr(MqttSettings.from_url("mqtt://u:pw@h").redacted())
        assert "pw" not in repr(MqttSettings.from_url("mqtt://u:pw@h"))
        col.close()
    finally:
        b.stop()


def test_broker_restart_mid_replay_loses_nothing(broker: Broker, caplog) -> None:
    col = Collector(broker.port)
    pub = MqttPublisher(broker.url, device_id="frank")

    async def on_batch(i: int) -> None:
        if i == 10:       # t = 5 s: before the second direction change
            broker.stop()
        if i == 30:       # t = 15 s: three changes happened while the broker was down
            await asyncio.sleep(0.2)
            broker.start()
    with caplog.at_level("WARNING", logger="coach.outputs.mqtt"):
        r = asyncio.run(replay(pub, speed=25.0, on_batch=on_batch))
    assert pub.delivered and pub.link.connects >= 2
    # said without -v: the loss (nothing lost, messages wait) and the return
    assert "lost" in caplog.text and "retrying, messages wait" in caplog.text and "MQTT back at" in caplog.text
    assert wait_for(lambda: any(e["type"] == "session_end" for e in col.payloads("coach/frank/event")),
                    timeout=10)
    events = col.payloads("coach/frank/event")
    seqs = sorted({e["seq"] for e in events})
    assert seqs == list(range(1, max(seqs) + 1))              # nothing lost
    changes = {e["seq"]: e for e in events if e["type"] == "direction_change"}
    assert len(changes) == r.tallies.direction_changes == 5
    assert col.payloads("coach/frank/state")[-1]["retro_steps"] == r.tallies.retro_steps
    col.close()


def test_serve_workers_share_streams(broker: Broker) -> None:
    import paho.mqtt.client as mqtt

    from coach.cli.serve import StreamWorker
    settings = MqttSettings.from_url(broker.url)
    col = Collector(broker.port)
    sensors = [f"s{i}" for i in range(5)]   # odd: round-robin spreads each stream over both
    expected = {}
    for s in sensors:  # what one detector makes of each stream offline
        p = FakePipeline()
        asyncio.run(_feed(p))
        expected[s] = p.finish()

    async def main() -> list[StreamWorker]:
        workers = [StreamWorker(settings, worker_id=w, pipeline_factory=lambda n: FakePipeline())
                   for w in ("w1", "w2")]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(w.run(stop)) for w in workers]
        for w in workers:
            await asyncio.wait_for(w.link.connected.wait(), 5)
        await asyncio.sleep(0.3)
        gw = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="gateway")
        gw.connect("127.0.0.1", broker.port)
        gw.loop_start()
        n = 24 * 50
        for i in range(0, n, 25):
            for s in sensors:
                t = [j / 50 for j in range(i, min(i + 25, n))]
                gw.publish(f"coach/ingest/{s}/samples",
                           json.dumps({"t": t, "acc": [[0, 0, 1]] * len(t), "battery": 90}), qos=1)
            await asyncio.sleep(0.005)   # no pause: claims race with the first batches
        for s in sensors:
            gw.publish(f"coach/ingest/{s}/samples", json.dumps({"end": True}), qos=1).wait_for_publish()
        gw.loop_stop()
        gw.disconnect()
        for _ in range(200):
            if sum(len(w.finished) for w in workers) == len(sensors):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*tasks)
        return workers

    workers = asyncio.run(main())
    done = {s: w.worker_id for w in workers for s in w.finished}
    print("handed over:", [w.handed_over for w in workers], "dropped:", [w.dropped for w in workers])
    assert sorted(done) == sensors
    assert len(set(done.values())) == 2                      # both workers took streams
    for s in sensors:
        res = next(w.finished[s] for w in workers if s in w.finished)
        assert res.tallies.retro_steps == expected[s].tallies.retro_steps
        assert wait_for(lambda s=s: any(e["type"] == "session_end" for e in col.payloads(f"coach/{s}/event")))
        changes = [e for e in col.payloads(f"coach/{s}/event") if e["type"] == "direction_change"]
        assert len(changes) == 5
        assert col.payloads(f"coach/{s}/state")[-1]["retro_steps"] == expected[s].tallies.retro_steps
        assert f"homeassistant/sensor/retro_coach_{s}/retro_steps/config" in col.topics()
    col.close()


async def _feed(p: FakePipeline) -> None:
    async for b in FakeSource(duration_s=24.0).stream():
        p.feed(b)


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl CLI not installed")
def test_tls_with_ca_from_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.outputs_broker import make_tls
    ca, cert, key = make_tls(tmp_path)
    b = Broker(tmp_path, tls=(ca, cert, key))
    b.start()
    try:
        cfg = tmp_path / "config.toml"
        cfg.write_text(f'[mqtt]\nca_file = "{ca}"\nbase_topic = "tlscoach"\n')
        monkeypatch.setenv("COACH_CONFIG", str(cfg))
        pub = MqttPublisher(f"mqtts://127.0.0.1:{b.port}", device_id="tina")
        assert pub.settings.tls and pub.topics.state == "tlscoach/tina/state"
        asyncio.run(replay(pub, duration_s=4))
        assert pub.delivered and pub.link.connects == 1
        monkeypatch.delenv("COACH_CONFIG")   # no CA: refused
        pub = MqttPublisher(MqttSettings.from_url(f"mqtts://127.0.0.1:{b.port}", drain_timeout_s=1.0),
                            device_id="tom")
        asyncio.run(replay(pub, duration_s=2))
        assert pub.delivered is False
    finally:
        b.stop()


def test_coach_serve_cli(broker: Broker, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    import paho.mqtt.client as mqtt

    from coach.detect.pipeline import _default_model
    _default_model()
    col = Collector(broker.port)
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-m", "coach", "serve", "--mqtt", broker.url,
                             "--worker-id", "w9", "--db", str(tmp_path / "s.db")], cwd=root,
                            env={**os.environ, "PYTHONPATH": str(root)}, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: any(t == "coach/serve/w9/availability" for t, _, _ in col.messages), 15)
        gw = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="gw")
        gw.connect("127.0.0.1", broker.port)
        gw.loop_start()
        for i in range(0, 500, 50):
            gw.publish("coach/ingest/phone1/samples",
                       json.dumps({"t0": i / 50, "hz": 50, "acc": [[0.0, 0.0, 1.0]] * 50}), qos=1)
            time.sleep(0.05)
        gw.publish("coach/ingest/phone1/samples", json.dumps({"end": True}), qos=1).wait_for_publish()
        assert wait_for(lambda: any(e["type"] == "session_end" for e in col.payloads("coach/phone1/event")), 15)
        assert col.payloads("coach/phone1/state")[-1]["active"] is False
        gw.loop_stop()
        gw.disconnect()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    from coach.outputs.store import SessionStore
    (s,) = SessionStore(tmp_path / "s.db").history()["sessions"]
    assert s["kind"] == "walk" and s["device"] == "phone1" and s["duration_s"] > 9
    col.close()


def test_discovery_resent_when_home_assistant_restarts(broker: Broker) -> None:
    col = Collector(broker.port)
    pub = MqttPublisher(broker.url, device_id="gina")

    async def on_batch(i: int) -> None:
        if i == 2:
            await asyncio.wait_for(pub.link.connected.wait(), 5)
            await asyncio.sleep(0.2)
            col.client.publish("homeassistant/status", b"online", qos=1)
            await asyncio.sleep(0.3)
    asyncio.run(replay(pub, duration_s=4, on_batch=on_batch))
    key = "homeassistant/sensor/retro_coach_gina/retro_steps/config"
    assert wait_for(lambda: sum(t == key for t, _, _ in col.messages) >= 2)
    col.close()
