"""Physical constants and shared vocabularies, in one place."""
from __future__ import annotations

G = 9.80665   # standard gravity, m/s² (acceleration is carried in g everywhere)

# Where a sensor can be worn. The simulator renders all of these; the commands offer the ones
# the detector is evaluated on (a hand or a bag is not a worn sensor the coach supports).
PLACEMENTS: tuple[str, ...] = ("chest", "waist", "pocket", "wrist", "hand", "bag")
WORN_PLACEMENTS: tuple[str, ...] = ("chest", "waist", "pocket", "wrist")
DEMO_PLACEMENTS: tuple[str, ...] = ("chest", "waist", "pocket")
