"""Settings of the outputs layer: where the store lives, how to reach the MQTT broker.

Read from config.toml (the repo's, or $COACH_CONFIG) with tomllib; every key is optional.
Secrets may come from the environment instead (COACH_MQTT_USERNAME / COACH_MQTT_PASSWORD).
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any


def config_path() -> Path:
    """The shared rule (coach.config): $COACH_CONFIG, ./config.toml, the checkout's."""
    from coach.config import REPO_CONFIG, config_path as shared

    return shared() or REPO_CONFIG


def load_section(name: str) -> dict[str, Any]:
    """One [section] of config.toml as a dict ({} when the file or section is absent)."""
    path = config_path()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (FileNotFoundError, tomllib.TOMLDecodeError, IsADirectoryError):
        return {}
    section = data.get(name, {})
    return section if isinstance(section, dict) else {}


def data_dir() -> Path:
    """The user's data directory (coach.config.data_dir)."""
    from coach.config import data_dir as shared

    return shared()


def default_db_path() -> Path:
    """$COACH_DB, else [store] path in config.toml (~ expanded), else <data dir>/sessions.sqlite3."""
    env = os.environ.get("COACH_DB")
    if env:
        return Path(env).expanduser()
    path = load_section("store").get("path")
    if path:
        return Path(str(path)).expanduser()
    return data_dir() / "sessions.sqlite3"
