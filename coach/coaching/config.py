"""Coach settings: the [coach], [safety], [speech] and [programs.*] sections of config.toml.

Every key is optional; absent keys take the defaults below, so an empty or missing file
gives a working coach. Unknown keys are ignored (with a debug log); wrong types raise one
CoachError naming the key.
"""
from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from coach.errors import CoachError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CoachSettings:
    """[coach]: what the coach says besides safety."""

    program: str = "classic"          # default program name (built in or [programs.NAME])
    cues: bool = True                 # "Backward" / "Forward" on each detected direction change
    warn_before_s: float = 10.0       # "Turn around in 10 seconds" this long before a switch
    compliance_grace_s: float = 20.0  # after a switch, wait this long before "Still walking forward"
    progress: bool = True             # "Four minutes backward, 380 retro steps" after bouts
    progress_delay_s: float = 5.0     # said this long after a backward bout ends


@dataclass(slots=True)
class SafetySettings:
    """[safety]: reminders, limits, stumble and fall detection."""

    look_back_every_s: float = 15.0        # look-over-your-shoulder, from the bout start, repeating
    max_pace_ratio: float = 0.5            # backward speed limit as a fraction of forward pace
    backward_stride_ratio: float = 0.45    # backward step length / forward step length (assumed)
    max_cadence_spm: float = 0.0           # absolute backward cadence limit; 0 = derive from the two above
    slow_down_hold_s: float = 5.0          # over the limit this long before "Slow down"
    slow_down_every_s: float = 45.0       # at most one "Slow down" per this long
    max_continuous_backward_s: float = 300.0
    max_session_backward_s: float = 1800.0
    cap_repeat_s: float = 60.0             # repeat the continuous-cap prompt while still backward
    stumble_jolt_g: float = 1.0            # | |acc| - 1 g | above this is a jolt
    stumble_rhythm_tolerance: float = 0.25 # a step interval this far off the recent median breaks rhythm
    stumble_window_s: float = 1.5          # jolt and broken rhythm within this of each other
    stumble_jolt_alone_g: float = 1.8      # a jolt this hard is a stumble even without step data
    fall_impact_g: float = 2.5             # |acc| above this is an impact
    fall_still_s: float = 3.0              # then lying still this long ...
    fall_still_std_g: float = 0.06         # ... (|acc| varies less than this) ...
    fall_tilt_deg: float = 45.0            # ... with gravity turned this far from before the impact
    fall_window_s: float = 8.0             # lying still must begin within this of the impact
    fall_alert_after_s: float = 30.0       # no movement this long after "Are you OK?" -> alert
    first_run_notice: bool = True          # clearance notice on the first session
    history_of_falls: bool = False         # repeat the clearance notice every session


@dataclass(slots=True)
class SpeechSettings:
    """[speech]: the voice and the queue."""

    enabled: bool = True
    mute: bool = False
    volume: float = 1.0         # 0..2 (espeak-ng amplitude 0..200)
    voice: str = "en"
    rate_wpm: int = 165
    pitch: int = 50
    min_gap_s: float = 1.5      # never two prompts closer than this (stream time)
    pause_s: float = 0.3        # extra silence after an utterance before a non-urgent prompt
    stale_after_s: float = 4.0  # default: drop a prompt not spoken within this of its due time
    echo_text: bool = True      # also print each prompt (always, when there is no audio device)
    player: str = "auto"        # "auto" | "aplay" | "paplay" | "play" | "none"


@dataclass(slots=True)
class ProgramSpec:
    """One program as written in [programs.NAME].

    kind: "intervals" (warm-up forward, then forward/backward cycles up to total_s),
          "progression" (intervals sized from the wearer's history), "free" (cues and safety only).
    """

    name: str
    kind: str = "intervals"
    title: str = ""
    warmup_s: float = 300.0
    forward_s: float = 180.0
    backward_s: float = 60.0
    total_s: float = 1800.0
    treadmill: bool = False
    # progression only
    start_backward_min: float = 5.0
    step_backward_min: float = 2.5
    max_backward_min: float = 25.0
    advance_after: int = 2          # comfortable sessions at a level before advancing
    sessions_per_week: int = 3
    recovery_forward_s: float = 120.0
    max_bout_s: float = 180.0


BUILTIN_PROGRAMS: dict[str, ProgramSpec] = {
    "classic": ProgramSpec("classic", "intervals", "Classic intervals",
                           warmup_s=300, forward_s=180, backward_s=60, total_s=1800),
    "progression": ProgramSpec("progression", "progression", "Progression"),
    "free": ProgramSpec("free", "free", "Free walk", warmup_s=0, total_s=0),
    "treadmill": ProgramSpec("treadmill", "intervals", "Treadmill intervals", warmup_s=180,
                             forward_s=120, backward_s=60, total_s=1200, treadmill=True),
}


@dataclass(slots=True)
class CoachConfig:
    coach: CoachSettings = field(default_factory=CoachSettings)
    safety: SafetySettings = field(default_factory=SafetySettings)
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    programs: dict[str, ProgramSpec] = field(default_factory=lambda: dict(BUILTIN_PROGRAMS))

    def program(self, name: str | None = None) -> ProgramSpec:
        """The named program (default: [coach] program); CoachError if unknown."""
        name = name or self.coach.program
        try:
            return self.programs[name]
        except KeyError:
            raise CoachError(f"unknown program {name!r} (known: {', '.join(sorted(self.programs))})") from None


def _fill(cls: type, table: Any, section: str, **fixed: Any) -> Any:
    """Build dataclass `cls` from a TOML table, checking types against the defaults."""
    if table is None:
        return cls(**fixed)
    if not isinstance(table, dict):
        raise CoachError(f"config: [{section}] must be a table")
    base = cls(**fixed)
    known = {f.name for f in fields(cls)}
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known or key in fixed:
            log.debug("config: ignoring unknown key [%s] %s", section, key)
            continue
        default = getattr(base, key)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, (int, float)):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok and isinstance(default, float):
                value = float(value)
            elif ok and isinstance(default, int) and not float(value).is_integer():
                ok = False
            elif ok:
                value = type(default)(value)
        else:
            ok = isinstance(value, type(default))
        if not ok:
            raise CoachError(f"config: [{section}] {key} must be {type(default).__name__}, got {value!r}")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            raise CoachError(f"config: [{section}] {key} must not be negative")
        changes[key] = value
    return replace(base, **changes)


def config_from_dict(data: dict[str, Any]) -> CoachConfig:
    """A CoachConfig from parsed TOML (other sections are ignored)."""
    programs = dict(BUILTIN_PROGRAMS)
    raw_programs = data.get("programs", {}) or {}
    if not isinstance(raw_programs, dict):
        raise CoachError("config: [programs] must be a table of [programs.NAME] tables")
    for name, table in raw_programs.items():
        base = programs.get(name)
        if base is not None and isinstance(table, dict):
            merged = {f.name: getattr(base, f.name) for f in fields(ProgramSpec) if f.name != "name"}
            merged.update(table)
            table = merged
        spec = _fill(ProgramSpec, table, f"programs.{name}", name=name)
        if spec.kind not in ("intervals", "progression", "free"):
            raise CoachError(f"config: [programs.{name}] kind must be intervals, progression or free")
        if spec.kind == "intervals" and (spec.forward_s <= 0 or spec.backward_s <= 0):
            raise CoachError(f"config: [programs.{name}] forward_s and backward_s must be > 0")
        programs[name] = spec
    cfg = CoachConfig(
        coach=_fill(CoachSettings, data.get("coach"), "coach"),
        safety=_fill(SafetySettings, data.get("safety"), "safety"),
        speech=_fill(SpeechSettings, data.get("speech"), "speech"),
        programs=programs,
    )
    if cfg.speech.min_gap_s < 1.5:
        raise CoachError("config: [speech] min_gap_s must be at least 1.5")
    if cfg.safety.look_back_every_s <= 0:
        raise CoachError("config: [safety] look_back_every_s must be > 0")
    cfg.program()  # the default program must exist
    return cfg


def load_coach_config(path: str | Path | None = None) -> CoachConfig:
    """Read config.toml (path None: the shared rule of coach.config, else built-in defaults)."""
    if path is None:
        from coach.config import config_path

        path = config_path()
        if path is None:
            return CoachConfig()
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise CoachError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise CoachError(f"config file {path}: {e}") from None
    except OSError as e:
        raise CoachError(f"config file {path}: {e.strerror or e}") from None
    return config_from_dict(data)
