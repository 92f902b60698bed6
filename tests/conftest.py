"""Shared test setup: every test gets its own data directory, so nothing touches the user's."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_DATA_HOME", str(d))
    monkeypatch.setenv("COACH_DB", str(d / "sessions.sqlite3"))
