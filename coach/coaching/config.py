"""Coach settings: the [coach], [safety], [speech] and [programs.*] sections of config.toml.

The dataclasses and the one reading rule are coach.config's; this module builds the coach's
CoachConfig from them and checks the programs. Every key is optional; an empty or missing file
gives a working coach.
"""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from coach.config import (
    BUILTIN_PROGRAMS,
    PLAYER_CHOICES,
    CoachConfig,
    CoachSettings,
    ProgramSpec,
    SafetySettings,
    SpeechSettings,
    fill,
    read_config,
)
from coach.errors import CoachError

__all__ = ["BUILTIN_PROGRAMS", "CoachConfig", "CoachSettings", "ProgramSpec", "SafetySettings",
           "SpeechSettings", "config_from_dict", "load_coach_config"]


def config_from_dict(data: dict[str, Any], path: Path | None = None) -> CoachConfig:
    """A CoachConfig from parsed TOML (other sections are checked where they are used)."""
    where = f"config file {path}" if path else "config"
    programs = dict(BUILTIN_PROGRAMS)
    raw_programs = data.get("programs", {}) or {}
    if not isinstance(raw_programs, dict):
        raise CoachError(f"{where}: [programs] must be a table of [programs.NAME] tables")
    for name, table in raw_programs.items():
        base = programs.get(name)
        if base is not None and isinstance(table, dict):
            merged = {f.name: getattr(base, f.name) for f in fields(ProgramSpec) if f.name != "name"}
            merged.update(table)
            table = merged
        spec = fill(ProgramSpec, table, f"programs.{name}", path, name=name)
        if spec.kind not in ("intervals", "progression", "free"):
            raise CoachError(f"{where}: [programs.{name}] kind must be intervals, progression or free")
        if spec.kind == "intervals" and (spec.forward_s <= 0 or spec.backward_s <= 0):
            raise CoachError(f"{where}: [programs.{name}] forward_s and backward_s must be > 0")
        programs[name] = spec
    cfg = CoachConfig(
        coach=fill(CoachSettings, data.get("coach"), "coach", path),
        safety=fill(SafetySettings, data.get("safety"), "safety", path),
        speech=fill(SpeechSettings, data.get("speech"), "speech", path),
        programs=programs,
    )
    if cfg.speech.min_gap_s < 1.5:
        raise CoachError(f"{where}: [speech] min_gap_s must be at least 1.5")
    if cfg.safety.look_back_every_s <= 0:
        raise CoachError(f"{where}: [safety] look_back_every_s must be > 0")
    if cfg.speech.player not in PLAYER_CHOICES:
        raise CoachError(f"{where}: [speech] player must be one of {', '.join(PLAYER_CHOICES)}, "
                         f"got {cfg.speech.player!r}")
    cfg.program()  # the default program must exist
    return cfg


def load_coach_config(path: str | Path | None = None) -> CoachConfig:
    """The coach's settings from the config in use (coach.config.config_path; `path` as --config)."""
    p, data = read_config(path)
    return config_from_dict(data, p)
