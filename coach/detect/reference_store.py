"""The forward reference kept per device and placement, between sessions.

A sensor worn the same way as last time needs only about a second of the warm-up to be
recognised (then last session's reference is reused); one worn differently is learnt afresh.
Kept as a small JSON file in the user's data directory, written atomically.
"""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from coach.config import data_dir, probe_writable
from coach.signal.calibration import Calibration
from coach.signal.features import Reference

log = logging.getLogger(__name__)


def store_path() -> Path:
    return data_dir() / "references.json"


_WARNED: set[str] = set()      # stores already said to be unreadable (once per run, not per read)


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as e:     # (deep nesting: RecursionError)
        if str(path) not in _WARNED:
            _WARNED.add(str(path))
            log.warning("ignoring unreadable %s (%s): the sensor is learnt afresh; a stored "
                        "calibration needs coach calibrate again", path, str(e)[:80])
        return {}


def load_reference(key: str) -> Reference | None:
    """The reference last saved for this device and placement, if any (and if sound)."""
    entry = _read(store_path()).get(key)
    if not isinstance(entry, dict):
        return None
    try:
        return Reference.from_dict(entry)
    except (KeyError, TypeError, ValueError) as e:
        log.warning("ignoring the stored reference for %s: %s", key, e)
        return None


def _write(path: Path, data: dict) -> None:
    """Replace the store atomically (OSError for the caller to judge)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _stamped(d: dict) -> dict:
    return {**d, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def save_reference(key: str, ref: Reference) -> None:
    """Keep this session's reference for the next session of the same device and placement."""
    path = store_path()
    data = _read(path)
    data[key] = _stamped(ref.to_dict())
    try:
        _write(path, data)
    except OSError as e:
        log.warning("could not keep the forward reference in %s: %s", path, e)


def check_writable() -> None:
    """CoachError unless the store can be written: checked before a guided calibration, which
    had walked the wearer through it all and then found nowhere to keep it."""
    from coach.errors import CoachError

    path = store_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe_writable(path)
    except OSError as e:
        raise CoachError(f"cannot keep calibrations in {path}: {e.strerror or e}") from None


def save_calibration(key: str, cal: Calibration) -> Path:
    """Keep a personal calibration for this device and placement (used by every later run)."""
    path = store_path()
    data = _read(path)
    cals = data.setdefault("calibrations", {})
    if not isinstance(cals, dict):
        cals = data["calibrations"] = {}
    cals[key] = _stamped(cal.to_dict())
    try:
        _write(path, data)
    except OSError as e:
        from coach.errors import CoachError

        raise CoachError(f"could not store the calibration in {path}: {e}") from None
    return path


def load_calibration(key: str) -> Calibration | None:
    """The calibration stored for this device and placement, if any (and if sound)."""
    cals = _read(store_path()).get("calibrations", {})
    entry = cals.get(key) if isinstance(cals, dict) else None
    if not isinstance(entry, dict):
        return None
    try:
        return Calibration.from_dict(entry)
    except (KeyError, TypeError, ValueError) as e:
        log.warning("ignoring the stored calibration for %s: %s (run coach calibrate again)", key, e)
        return None
