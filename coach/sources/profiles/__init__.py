"""The device profile registry: name -> Profile class (one small module per device)."""
from __future__ import annotations

from typing import Any

from coach.errors import CoachError
from coach.sources.profiles.base import DecodeError, Frame, Option, Profile
from coach.sources.profiles.generic import Generic
from coach.sources.profiles.microbit import Microbit
from coach.sources.profiles.movesense import Movesense
from coach.sources.profiles.polar import PolarH10, PolarVerity
from coach.sources.profiles.thingy52 import Thingy52
from coach.sources.profiles.witmotion import WitMotion

PROFILES: dict[str, type[Profile]] = {p.name: p for p in (
    PolarH10, PolarVerity, Movesense, Microbit, Thingy52, WitMotion, Generic)}

__all__ = ["PROFILES", "DecodeError", "Frame", "Option", "Profile", "get_profile",
           "profile_for_advertisement"]


def get_profile(name: str, options: dict[str, Any] | None = None) -> Profile:
    """An instance of the named profile with its options checked."""
    cls = PROFILES.get(name)
    if cls is None:
        raise CoachError(f"unknown profile {name!r} (known: {', '.join(PROFILES)})")
    opts = dict(options or {})
    names = {o.name for o in cls.options_spec}
    if "rate" in opts and "rate" not in names and "period_ms" in names:
        opts["period_ms"] = int(round(1000 / float(opts.pop("rate"))))   # micro:bit: periods
    return cls(options=opts)


def profile_for_advertisement(name: str | None, service_uuids: list[str]) -> str | None:
    """The profile whose device this advertisement looks like, if any."""
    for pname, cls in PROFILES.items():
        if pname == "generic":
            continue
        if cls.matches(name, service_uuids):
            return pname
    try:
        if Generic().matches_instance(name, service_uuids):
            return "generic"
    except CoachError:
        pass
    return None
