"""One config: where config.toml is, how it is read, its dataclasses and one rule for errors.

Looked up from `--config FILE`, else $COACH_CONFIG, else $XDG_CONFIG_HOME/retro-coach/config.toml
(~/.config/retro-coach/config.toml); never from the current directory. Without a file every
setting takes its default (the repo's config.toml documents them). A file named by --config or
$COACH_CONFIG must exist. An unknown section or key, a wrong type or a TOML syntax error is a
one-line CoachError naming the key and the file.
"""
from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from coach.errors import CoachError

APP_NAME = "retro-coach"
SECTIONS = ("coach", "safety", "speech", "programs", "store", "mqtt", "sources")

_selected: Path | None = None             # --config, once the CLI has read it


def data_dir() -> Path:
    """The user's data directory: $XDG_DATA_HOME/retro-coach or ~/.local/share/retro-coach."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / APP_NAME


def probe_writable(path: Path) -> None:
    """OSError unless path can be written (created and removed again if it was not there):
    an output's place is checked before the work that fills it."""
    existed = path.exists()
    with path.open("a"):
        pass
    if not existed:
        path.unlink(missing_ok=True)


def select(path: str | Path | None) -> None:
    """Use `path` (the command line's --config) for every layer from now on."""
    global _selected
    _selected = Path(path).expanduser() if path else None


def config_path(explicit: str | Path | None = None) -> Path | None:
    """The config file in use: `explicit` or --config, $COACH_CONFIG, the XDG one, else None."""
    for value, origin in ((explicit, "--config"), (_selected, "--config"),
                          (os.environ.get("COACH_CONFIG"), "$COACH_CONFIG")):
        if value:
            path = Path(value).expanduser()
            if path.is_dir():
                raise CoachError(f"config file {path} (from {origin}) is a folder; give the file")
            if not path.is_file():
                raise CoachError(f"config file not found: {path} (from {origin})")
            return path
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    path = Path(base) / APP_NAME / "config.toml"
    return path if path.is_file() else None


def read_config(path: str | Path | None = None) -> tuple[Path | None, dict[str, Any]]:
    """The config file in use (see config_path) and its parsed tables ({} without a file)."""
    p = config_path(path)
    if p is None:
        return None, {}
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as e:
        raise CoachError(f"config file {p}: {e}") from None
    except UnicodeDecodeError as e:
        raise CoachError(f"config file {p}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise CoachError(f"config file {p}: {e.strerror or e}") from None
    for name, table in data.items():
        if name not in SECTIONS:
            raise CoachError(f"config file {p}: unknown section [{name}] "
                             f"(known: {', '.join(SECTIONS)})")
        if not isinstance(table, dict):
            raise CoachError(f"config file {p}: [{name}] must be a table")
    return p, data


def section(name: str, path: str | Path | None = None) -> dict[str, Any]:
    """One [section] of the config in use ({} when absent)."""
    return dict(read_config(path)[1].get(name, {}))


def rng(default: Any, lo: float | None = 0, hi: float | None = None, *,
        kind: type | None = None) -> Any:
    """A dataclass field with its allowed range [lo, hi] (and, for optional fields, its kind:
    `kind=str` refuses numbers). Every number must also be finite; unannotated numbers must be
    >= 0 and at most MAX_NUMBER."""
    return field(default=default, metadata={"min": lo, "max": hi, "kind": kind})


MAX_NUMBER = 1e6   # the bound of a number without a range of its own


def check_value(f: Any, key: str, value: Any, where: str, section: str) -> None:
    """The range rule of one field (see rng)."""
    meta = f.metadata
    kind = meta.get("kind")
    if kind is not None and value is not None and not isinstance(value, kind):
        raise CoachError(f"{where}: [{section}] {key} must be {kind.__name__}, got {value!r}")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    if not math.isfinite(value):
        raise CoachError(f"{where}: [{section}] {key} must be a finite number, got {value!r}")
    lo = meta.get("min", 0)
    hi = meta.get("max", MAX_NUMBER) if "max" in meta else MAX_NUMBER
    if lo is not None and value < lo:
        raise CoachError(f"{where}: [{section}] {key} must be at least {lo:g}, got {value!r}")
    if hi is not None and value > hi:
        raise CoachError(f"{where}: [{section}] {key} must be at most {hi:g}, got {value!r}")


def fill(cls: type, table: Any, section: str, path: Path | None = None, **fixed: Any) -> Any:
    """Build dataclass `cls` from a TOML table, checking keys and types against its defaults:
    the one rule for every section (an unknown key or a wrong type is a CoachError naming the
    key and the file)."""
    where = f"config file {path}" if path else "config"
    if table is None:
        return cls(**fixed)
    if not isinstance(table, dict):
        raise CoachError(f"{where}: [{section}] must be a table")
    base = cls(**fixed)
    by_name = {f.name: f for f in fields(cls)}
    known = set(by_name)
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known or key in fixed:
            raise CoachError(f"{where}: [{section}] unknown key {key!r}")
        default = getattr(base, key)
        if default is None:   # optional: a string or a number
            ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)
        elif isinstance(default, bool):
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
            kind = "a string or a number" if default is None else type(default).__name__
            raise CoachError(f"{where}: [{section}] {key} must be {kind}, got {value!r}")
        check_value(by_name[key], key, value, where, section)
        changes[key] = value
    return replace(base, **changes)




# -- the settings -----------------------------------------------------------------------------
@dataclass(slots=True)
class CoachSettings:
    """[coach]: what the coach says besides safety."""

    program: str = "classic"          # default program name (built in or [programs.NAME])
    cues: bool = True                 # "Backward" / "Forward" on each detected direction change
    warn_before_s: float = rng(10.0, 0, 600)  # "Turn around in 10 seconds" this long before a switch
    compliance_grace_s: float = rng(20.0, 0, 3600)  # after a switch, wait this long before "Still walking forward"
    progress: bool = True             # "Four minutes backward, 380 retro steps" after bouts
    progress_delay_s: float = rng(5.0, 0, 600)  # said this long after a backward bout ends


@dataclass(slots=True)
class SafetySettings:
    """[safety]: reminders, limits, stumble and fall detection."""

    look_back_every_s: float = rng(15.0, 1, 3600)  # look-over-your-shoulder, from the bout start, repeating
    max_pace_ratio: float = rng(0.5, 0.05, 2)  # backward speed limit as a fraction of forward pace
    backward_stride_ratio: float = rng(0.45, 0.05, 2)  # backward step length / forward step length (assumed)
    max_cadence_spm: float = rng(0.0, 0, 400)  # absolute backward cadence limit; 0 = derive from the two above
    slow_down_hold_s: float = rng(5.0, 0, 600)  # over the limit this long before "Slow down"
    slow_down_every_s: float = rng(45.0, 1, 3600)  # at most one "Slow down" per this long
    max_continuous_backward_s: float = rng(300.0, 1, 86400)
    max_session_backward_s: float = rng(1800.0, 1, 86400)
    cap_repeat_s: float = rng(60.0, 1, 3600)  # repeat the continuous-cap prompt while still backward
    stumble_jolt_g: float = rng(1.0, 0.05, 16)  # | |acc| - 1 g | above this is a jolt
    stumble_rhythm_tolerance: float = rng(0.25, 0.01, 1)  # a step interval this far off the recent median breaks rhythm
    stumble_window_s: float = rng(1.5, 0.1, 60)  # jolt and broken rhythm within this of each other
    stumble_jolt_alone_g: float = rng(1.8, 0.05, 16)  # a jolt this hard is a stumble even without step data
    fall_impact_g: float = rng(2.5, 0.1, 16)  # |acc| above this is an impact
    fall_still_s: float = rng(3.0, 0.1, 600)  # then lying still this long ...
    fall_still_std_g: float = rng(0.06, 0.001, 2)  # ... (|acc| varies less than this) ...
    fall_tilt_deg: float = rng(45.0, 1, 180)  # ... with gravity turned this far from before the impact
    fall_window_s: float = rng(8.0, 0.1, 600)  # lying still must begin within this of the impact
    fall_alert_after_s: float = rng(30.0, 1, 3600)  # no movement this long after "Are you OK?" -> alert
    first_run_notice: bool = True          # clearance notice on the first session
    history_of_falls: bool = False         # repeat the clearance notice every session


@dataclass(slots=True)
class SpeechSettings:
    """[speech]: the voice and the queue."""

    enabled: bool = True
    mute: bool = False
    volume: float = rng(1.0, 0, 2)  # 0..2 (espeak-ng amplitude 0..200)
    voice: str = "en"
    rate_wpm: int = rng(165, 80, 450)
    pitch: int = rng(50, 0, 99)
    min_gap_s: float = rng(1.5, 1.5, 600)  # never two prompts closer than this (stream time)
    pause_s: float = rng(0.3, 0, 60)  # extra silence after an utterance before a non-urgent prompt
    stale_after_s: float = rng(4.0, 0, 600)  # default: drop a prompt not spoken within this of its due time
    echo_text: bool = True      # also print each prompt (always, when there is no audio device)
    player: str = "auto"        # one of PLAYER_CHOICES


PLAYER_CHOICES = ("auto", "aplay", "paplay", "play", "none")   # coach.coaching.speech.PLAYERS + 2


@dataclass(slots=True)
class ProgramSpec:
    """One program as written in [programs.NAME].

    kind: "intervals" (warm-up forward, then forward/backward cycles up to total_s),
          "progression" (intervals sized from the wearer's history), "free" (cues and safety only).
    """

    name: str
    kind: str = "intervals"
    title: str = ""
    warmup_s: float = rng(300.0, 0, 14400)
    forward_s: float = rng(180.0, 0, 14400)
    backward_s: float = rng(60.0, 0, 14400)
    total_s: float = rng(1800.0, 0, 21600)
    treadmill: bool = False
    # progression only
    start_backward_min: float = rng(5.0, 0, 240)
    step_backward_min: float = rng(2.5, 0, 240)
    max_backward_min: float = rng(25.0, 0, 360)
    advance_after: int = rng(2, 1, 100)  # comfortable sessions at a level before advancing
    sessions_per_week: int = rng(3, 1, 21)
    recovery_forward_s: float = rng(120.0, 0, 14400)
    max_bout_s: float = rng(180.0, 1, 14400)
    long_break_days: int = rng(14, 0, 3650)  # no session for longer than this: one step back (0: never)


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




@dataclass(slots=True)
class StoreSettings:
    """[store]: where sessions are kept."""

    path: str | None = rng(None, kind=str)  # default: <data dir>/sessions.sqlite3
    weekly_goal_minutes: float | None = rng(None, 0, 10080)  # default: the program's weekly backward minutes


@dataclass(slots=True)
class MqttConfig:
    """[mqtt]: the broker (used when --mqtt is given without a URL) and the topics."""

    url: str | None = rng(None, kind=str)
    device_id: str | None = rng(None, kind=str)
    base_topic: str = "coach"
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    keepalive: int = rng(30, 0, 65535)
    drain_timeout_s: float = rng(60.0, 0, 86400)
    max_buffer: int = rng(100_000, 1, 10000000)
    username: str | None = rng(None, kind=str)
    password: str | None = rng(None, kind=str)
    tls: bool = False
    tls_insecure: bool = False
    ca_file: str | None = rng(None, kind=str)
    certfile: str | None = rng(None, kind=str)
    keyfile: str | None = rng(None, kind=str)


def checked_section(name: str, cls: type, path: str | Path | None = None) -> dict[str, Any]:
    """[name] checked against dataclass `cls` (unknown keys, types); only the keys given."""
    p, data = read_config(path)
    table = data.get(name, {})
    fill(cls, table, name, p)
    return dict(table)
