"""Settings of the outputs layer: where the store lives, how to reach the MQTT broker.

The [store] and [mqtt] sections of the config in use (coach.config: one loader, one rule for
errors). Secrets may come from the environment instead (COACH_MQTT_USERNAME /
COACH_MQTT_PASSWORD).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from coach.config import MqttConfig, StoreSettings, checked_section, data_dir

_CLASSES: dict[str, type] = {"store": StoreSettings, "mqtt": MqttConfig}

__all__ = ["data_dir", "default_db_path", "load_section"]


def load_section(name: str) -> dict[str, Any]:
    """[store] or [mqtt] as a dict of the keys given ({} when absent), checked."""
    return checked_section(name, _CLASSES[name])


def default_db_path() -> Path:
    """$COACH_DB, else [store] path in config.toml (~ expanded), else <data dir>/sessions.sqlite3."""
    env = os.environ.get("COACH_DB")
    if env:
        return Path(env).expanduser()
    path = load_section("store").get("path")
    if path:
        return Path(str(path)).expanduser()
    return data_dir() / "sessions.sqlite3"
