"""Home Assistant MQTT discovery, checked against the current schema's rules with a real
Mosquitto. The rules (a small validator below) follow Home Assistant's MQTT docs
(home-assistant.io/integrations/mqtt, sensor.mqtt, binary_sensor.mqtt, event.mqtt):

* `object_id` is deprecated (HA 2025.10): `default_entity_id` is "<domain>.<object id>";
* an `origin` block (`name` required; `sw_version`, `support_url`) and a `device` with
  `identifiers` (a `sw_version` on it); every entity a `unique_id`;
* a sensor with device_class `enum` lists `options` and has no unit or state_class; a duration
  sensor's unit is one of d/h/min/s/ms, a battery's %; `entity_category` is `config` or
  `diagnostic` (a sensor only `diagnostic`); `expire_after` a positive number of seconds;
  `json_attributes_template` only with `json_attributes_topic`;
* an event entity lists `event_types`; each message on its state topic is JSON with an
  `event_type` from that list (else HA drops it), its other keys become attributes.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from coach.detect.types import Event
from coach.outputs.mqtt import MqttPublisher
from tests.outputs_broker import Broker, Collector, FakePipeline, FakeSource, have_mosquitto

pytestmark = pytest.mark.skipif(not have_mosquitto(),
                                reason="mosquitto not installed (apt-get install mosquitto)")

DURATION_UNITS = {"d", "h", "min", "s", "ms"}


def validate_discovery(topic: str, cfg: dict) -> list[str]:
    """The schema rules above; returns what is wrong (empty when valid)."""
    errs = []
    parts = topic.split("/")
    component = parts[1]
    if len(parts) not in (4, 5) or parts[-1] != "config":
        errs.append("topic is not <prefix>/<component>/[<node_id>/]<object_id>/config")
    if "object_id" in cfg:
        errs.append("object_id is deprecated: use default_entity_id")
    dei = cfg.get("default_entity_id", "")
    if not dei.startswith(f"{component}.") or not dei.split(".", 1)[1].replace("_", "").isalnum():
        errs.append(f"default_entity_id {dei!r} is not {component}.<slug>")
    if not cfg.get("unique_id"):
        errs.append("no unique_id")
    origin = cfg.get("origin") or {}
    if not origin.get("name") or not origin.get("sw_version") or not origin.get("support_url"):
        errs.append("origin needs name, sw_version and support_url")
    dev = cfg.get("device") or {}
    if not dev.get("identifiers") or not dev.get("sw_version"):
        errs.append("device needs identifiers and sw_version")
    if not cfg.get("state_topic"):
        errs.append("no state_topic")
    dc = cfg.get("device_class")
    if component == "sensor":
        if dc == "enum":
            if not isinstance(cfg.get("options"), list) or not cfg["options"]:
                errs.append("enum sensor without options")
            if "unit_of_measurement" in cfg or "state_class" in cfg:
                errs.append("enum sensor with a unit or state_class")
        elif "options" in cfg:
            errs.append("options only on an enum sensor")
        if dc == "duration" and cfg.get("unit_of_measurement") not in DURATION_UNITS:
            errs.append("duration unit not one of d/h/min/s/ms")
        if dc == "battery" and cfg.get("unit_of_measurement") != "%":
            errs.append("battery not in %")
        if cfg.get("state_class") not in (None, "measurement", "total", "total_increasing", "measurement_angle"):
            errs.append("bad state_class")
    if component == "binary_sensor" and dc not in (None, "connectivity", "problem", "safety", "motion"):
        errs.append("unexpected binary_sensor device_class")
    if component == "event":
        if not isinstance(cfg.get("event_types"), list) or not cfg["event_types"]:
            errs.append("event entity without event_types")
        if "command_topic" in cfg:
            errs.append("an event has no command_topic")
    if cfg.get("entity_category") not in (None, "diagnostic", "config") or \
            (component in ("sensor", "binary_sensor", "event") and cfg.get("entity_category") == "config"):
        errs.append("bad entity_category")
    if "expire_after" in cfg and not (isinstance(cfg["expire_after"], int) and cfg["expire_after"] > 0):
        errs.append("expire_after must be a positive integer")
    if "json_attributes_template" in cfg and "json_attributes_topic" not in cfg:
        errs.append("json_attributes_template without json_attributes_topic")
    return errs


def test_validator_rejects_the_old_payloads() -> None:
    old = {"name": "Direction", "unique_id": "u", "object_id": "u", "state_topic": "s",
           "device": {"identifiers": ["u"]}}
    assert {"object_id is deprecated: use default_entity_id",
            "origin needs name, sw_version and support_url",
            "device needs identifiers and sw_version"} <= set(validate_discovery("homeassistant/sensor/n/d/config", old))


@pytest.fixture()
def broker(tmp_path: Path):
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


def _wait(cond, timeout: float = 5.0) -> bool:
    import time
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return bool(cond())


def test_discovery_and_every_payload_follow_the_schema(broker: Broker) -> None:
    col = Collector(broker.port)
    pub = MqttPublisher(broker.url, device_id="hana", totals_base=(120.0, 900.0))

    async def go():
        p = FakePipeline()
        i = 0
        async for b in FakeSource(duration_s=24.0).stream():
            ev = p.feed(b)
            i += 1
            if i == 3:
                ev = [*ev, Event(float(b.t[0]), "gap", {"duration_s": 1.2})]
            await pub.on_batch(b, p.state, ev)
            if i == 5:
                for n in range(13):  # routine look-back reminders: prompts, not alerts
                    pub.publish_prompt({"t_s": 3.0 + n, "kind": "safety", "text": "Look over your shoulder"})
                pub.publish_prompt({"t_s": 3.5, "kind": "interval", "text": "Walk backward for a minute"})
                pub.publish_interval({"index": 1, "of": 4, "label": "backward", "direction": "backward",
                                      "planned_s": 60.0, "status": "running"})
                pub.set_battery(77)
            if i == 7:
                pub.publish_alert({"t_s": 4.0, "kind": "fall", "text": "Possible fall: no movement after an impact"})
            if i == 8:
                pub.set_connected(False)   # the BLE source saw the sensor drop
                await asyncio.sleep(0.2)
        await pub.on_end(p.finish())
    asyncio.run(go())
    assert pub.delivered
    assert _wait(lambda: any(e["type"] == "session_end" for e in col.payloads("coach/hana/event")))

    configs = {t: json.loads(p) for t, p, _ in col.messages if t.startswith("homeassistant/")}
    for topic, cfg in configs.items():
        assert validate_discovery(topic, cfg) == [], topic
    uid = "homeassistant/{}/retro_coach_hana/{}/config"
    direction = configs[uid.format("sensor", "direction")]
    assert direction["device_class"] == "enum"
    assert set(direction["options"]) == {"forward", "backward", "still", "other"}
    assert direction["json_attributes_topic"] == "coach/hana/state" and direction["expire_after"] > 0
    assert configs[uid.format("sensor", "battery")]["entity_category"] == "diagnostic"
    assert configs[uid.format("binary_sensor", "connected")]["entity_category"] == "diagnostic"

    # every event published on an event entity's topic has a type that entity lists
    by_topic = {c["state_topic"]: c for c in configs.values() if "event_types" in c}
    seen: dict[str, list[dict[str, Any]]] = {}
    for t, p, _ in col.messages:
        if t in by_topic:
            body = json.loads(p)
            assert body["event_type"] in by_topic[t]["event_types"], (t, body)
            seen.setdefault(t, []).append(body)
    events = seen["coach/hana/event"]
    assert {"gap", "prompt", "direction_change", "session_end"} <= {e["event_type"] for e in events}
    prompts = [e for e in events if e["event_type"] == "prompt"]
    assert len(prompts) == 14 and prompts[0]["text"] == "Look over your shoulder"
    assert not any(e["event_type"] == "safety_alert" for e in events)   # reminders are not alerts
    (fall,) = seen["coach/hana/alert"]
    assert fall["event_type"] == "fall" and "fall" in fall["text"]
    assert configs[uid.format("event", "fall")]["event_types"] == ["fall"]

    states = col.payloads("coach/hana/state")
    assert all(s["direction"] in direction["options"] for s in states)
    assert any(s["connected"] is False for s in states)
    assert any(s["interval_text"] == "2/4: backward 1:00 (running)" for s in states)
    col.close()

    # the totals outlive the session: retained, today = 2 min before + this session
    late = Collector(broker.port, client_id="late")
    assert _wait(lambda: any(t == "coach/hana/totals" and r for t, _, r in late.messages))
    tot = [json.loads(p) for t, p, r in late.messages if t == "coach/hana/totals" and r][-1]
    retro_min = states[-1]["retro_seconds"] / 60
    assert tot["today_minutes"] == pytest.approx(2 + retro_min, abs=0.06)
    assert tot["week_minutes"] == pytest.approx(15 + retro_min, abs=0.06)
    assert {"date", "week"} <= set(tot)     # which day and week the figures are for
    today = configs[uid.format("sensor", "retro_minutes_today")]
    assert today["state_topic"] == "coach/hana/totals" and "availability_topic" not in today
    late.close()
