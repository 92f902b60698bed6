"""Records the detector emits: live state, events and the finished analysis."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

DIRECTIONS = ("forward", "backward", "still", "other")


@dataclass(slots=True)
class Event:
    """Something that happened at stream time t_s (the moment the live pipeline knew it).

    type: "direction_change" (data: direction, since_s = back-dated onset),
          "step" (data: direction), "gap" (data: duration_s).
    """

    t_s: float
    type: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Tallies:
    retro_steps: int = 0
    retro_seconds: float = 0.0
    forward_steps: int = 0
    forward_seconds: float = 0.0
    other_steps: int = 0
    direction_changes: int = 0


@dataclass(slots=True)
class LiveState:
    """What the wearer's coach knows right now."""

    t_s: float = 0.0
    direction: str = "still"
    since_s: float = 0.0            # when the current direction started (back-dated)
    cadence_spm: float = 0.0        # steps per minute, recent
    forward_cadence_spm: float = 0.0  # the wearer's usual forward cadence (from warm-up)
    confidence: float = 0.0
    calibrated: bool = False        # forward axis learnt from the warm-up
    mounting: str = ""              # vs the last session on this device: same, changed or new
    tallies: Tallies = field(default_factory=Tallies)
    jolt_g: float = 0.0             # largest |acc - gravity| in the last batch (stumble/fall cues)
    motion_g: float = 0.0           # RMS movement in the last second


@dataclass(slots=True)
class Segment:
    start_s: float
    end_s: float
    direction: str
    steps: int = 0


@dataclass
class AnalysisResult:
    source: str
    duration_s: float
    sample_rate_hz: float
    segments: list[Segment]
    events: list[Event]
    tallies: Tallies
    steps: list[tuple[float, str]] = field(default_factory=list)  # (t_s, direction) per contact

    def to_json(self) -> dict[str, Any]:
        """The stable `coach analyze --json` contract."""
        return {
            "source": self.source,
            "duration_s": round(self.duration_s, 3),
            "sample_rate_hz": round(self.sample_rate_hz, 2),
            "segments": [
                {"start_s": round(s.start_s, 3) + 0.0, "end_s": round(s.end_s, 3),
                 "direction": s.direction, "steps": s.steps} for s in self.segments
            ],
            "events": [
                {"t_s": round(e.t_s, 3) + 0.0, "type": e.type, "direction": e.data["direction"]}
                for e in self.events if e.type == "direction_change"
            ],
            "summary": {
                "retro_steps": self.tallies.retro_steps,
                "retro_seconds": round(self.tallies.retro_seconds, 2),
                "forward_steps": self.tallies.forward_steps,
                "forward_seconds": round(self.tallies.forward_seconds, 2),
                "direction_changes": self.tallies.direction_changes,
            },
        }


def tallies_dict(t: Tallies) -> dict[str, Any]:
    return asdict(t)
