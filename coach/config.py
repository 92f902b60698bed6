"""Where config.toml is: one rule for every layer (sources, coaching, outputs)."""
from __future__ import annotations

import os
from pathlib import Path

REPO_CONFIG = Path(__file__).resolve().parents[1] / "config.toml"


def config_path() -> Path | None:
    """$COACH_CONFIG, else ./config.toml, else the checkout's config.toml, else None (defaults)."""
    env = os.environ.get("COACH_CONFIG")
    if env:
        return Path(env)
    cwd = Path.cwd() / "config.toml"
    if cwd.is_file():
        return cwd
    return REPO_CONFIG if REPO_CONFIG.is_file() else None


APP_NAME = "retro-coach"


def data_dir() -> Path:
    """The user's data directory: $XDG_DATA_HOME/retro-coach or ~/.local/share/retro-coach."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / APP_NAME
