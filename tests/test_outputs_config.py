"""MQTT URL/config/env parsing, credential redaction, and CLI errors (no broker needed)."""
from __future__ import annotations

from pathlib import Path

import pytest

from coach.cli import main
from coach.errors import CoachError
from coach.outputs.mqtt import MqttLink, MqttSettings, sanitize_id


@pytest.fixture(autouse=True)
def no_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COACH_CONFIG", raising=False)
    for k in ("COACH_MQTT_USERNAME", "COACH_MQTT_PASSWORD", "COACH_DB"):
        monkeypatch.delenv(k, raising=False)


def test_url_forms() -> None:
    s = MqttSettings.from_url("mqtt://broker")
    assert (s.host, s.port, s.tls, s.base_topic, s.username) == ("broker", 1883, False, "coach", None)
    s = MqttSettings.from_url("mqtts://u%40x:p%3Aw@broker:9000/clinic/a")
    assert (s.port, s.tls, s.username, s.password, s.base_topic) == (9000, True, "u@x", "p:w", "clinic/a")
    assert MqttSettings.from_url("mqtts://broker").port == 8883
    assert "p:w" not in repr(s) and "p:w" not in s.redacted() and "***" in s.redacted()
    for bad in ("ftp://broker", "mqtt://:1883", "mqtt://h:99999"):
        with pytest.raises(CoachError):
            MqttSettings.from_url(bad)
    with pytest.raises(CoachError):
        MqttSettings.from_url(None)            # no URL and no [mqtt] url


def test_config_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[mqtt]\nurl = "mqtt://cfg-host:1999"\nusername = "cfguser"\npassword = "cfgpw"\n'
                   'base_topic = "home/coach"\ndiscovery = false\n')
    monkeypatch.setenv("COACH_CONFIG", str(cfg))
    s = MqttSettings.from_url(None)
    assert (s.host, s.port, s.username, s.password, s.base_topic, s.discovery) == \
        ("cfg-host", 1999, "cfguser", "cfgpw", "home/coach", False)
    monkeypatch.setenv("COACH_MQTT_USERNAME", "envuser")
    monkeypatch.setenv("COACH_MQTT_PASSWORD", "envpw")
    s = MqttSettings.from_url("mqtt://other")
    assert (s.username, s.password) == ("envuser", "envpw")
    assert MqttSettings.from_url("mqtt://a:b@other").username == "a"   # URL wins


def test_ids_and_buffer() -> None:
    assert sanitize_id("Living room #2") == "Living_room_2"
    assert sanitize_id("///") == "coach"
    # letters beyond ASCII: kept apart by a hash of the original (both had become "coach")
    ids = {sanitize_id(x) for x in ("é☃", "ü", "café", "cafè")}
    assert len(ids) == 4 and all(i.replace("_", "").isalnum() and i.isascii() for i in ids)
    link = MqttLink(MqttSettings(max_buffer=3))
    for i in range(5):
        link.publish("t", {"i": i})
    link.publish("s", "a", retain=True, coalesce=True)
    link.publish("s", "b", retain=True, coalesce=True)
    assert link.dropped == 3 and [m[1] for m in link.queue][-1] == b"b"


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "nope.csv"), "--speed", "0", "--no-save"]) == 2
    assert main(["serve", "--mqtt", "ftp://x"]) == 2
    assert main(["report", "abc", "--db", str(tmp_path / "s.db")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("coach: error:") for line in err)


def test_connect_sinks_hands_publishers_to_the_coach(tmp_path: Path) -> None:
    from coach.cli.output_options import connect_sinks
    from coach.outputs.display import LiveDisplay

    class Coach:
        def __init__(self) -> None:
            self.sinks: list = []

        def add_sink(self, s) -> None:
            self.sinks.append(s)
    coach, disp = Coach(), LiveDisplay(plain=True)
    connect_sinks([coach, disp, object()])
    connect_sinks([coach, disp])
    assert coach.sinks == [disp]
