"""Shared test setup: every test gets its own data and config directories, so nothing touches
the user's (and no config is found unless a test writes one)."""
from __future__ import annotations

import pytest

from coach import config


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_DATA_HOME", str(d))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(d / "config"))
    monkeypatch.delenv("COACH_CONFIG", raising=False)
    monkeypatch.setenv("COACH_DB", str(d / "sessions.sqlite3"))
    config.select(None)
