"""The project's records and protocols, in one place.

Data flows sources -> signal -> detect -> coaching -> outputs; what passes between the stages
is defined here: a SampleBatch (what every source yields), the detector's LiveState, Events,
Segments and AnalysisResult, the coach's Prompt, and the Observer / Sink protocols a layer
implements to be told about a session.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import numpy as np


class Direction(StrEnum):
    """What the detector says the wearer is doing. Values are the JSON strings."""

    FORWARD = "forward"
    BACKWARD = "backward"
    STILL = "still"
    OTHER = "other"


class PromptKind(StrEnum):
    """What kind of thing the coach says."""

    CUE = "cue"
    INTERVAL = "interval"
    SAFETY = "safety"
    INFO = "info"


DIRECTIONS: tuple[str, ...] = tuple(d.value for d in Direction)
PROMPT_KINDS: tuple[str, ...] = tuple(k.value for k in PromptKind)

# -- sources ---------------------------------------------------------------------------------
@dataclass(slots=True)
class SampleBatch:
    """Samples in stream time.

    t: (n,) seconds since the stream started, strictly increasing within and across batches.
    acc: (n, 3) acceleration in g, in the sensor's own axes (mounting unknown).
    gap_before: the source knows data was lost just before this batch (a sensor drop).
    """

    t: np.ndarray
    acc: np.ndarray
    gap_before: bool = False
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.t = np.asarray(self.t, dtype=np.float64).reshape(-1)
        self.acc = np.asarray(self.acc, dtype=np.float64).reshape(-1, 3)
        if len(self.t) != len(self.acc):
            raise ValueError("t and acc lengths differ")

    def __len__(self) -> int:
        return len(self.t)


class Source(Protocol):
    """Anything that streams samples: a CSV replay, the simulator, a BLE sensor, a phone."""

    name: str

    def stream(self) -> AsyncIterator[SampleBatch]: ...


# -- detect ----------------------------------------------------------------------------------
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


STANDING_S = 3.0    # a still segment this long holds no steps (Segment.counts_step)


@dataclass(slots=True)
class Segment:
    start_s: float
    end_s: float
    direction: str
    steps: int = 0

    def counts_step(self, t_s: float) -> bool:
        """Whether a step at t_s (inside this segment) is a step of the answer. A stretch read
        as still for STANDING_S or more holds none (a walker swaying at a stop, a phone handled
        before or after the walk: periodic enough to count, but standing); a step at its very
        start is the walking's last one."""
        return not (self.direction == "still" and self.end_s - self.start_s >= STANDING_S - 1e-6
                    and t_s > self.start_s + 1e-6)


@dataclass
class AnalysisResult:
    source: str
    duration_s: float
    sample_rate_hz: float
    segments: list[Segment]
    events: list[Event]
    tallies: Tallies
    steps: list[tuple[float, str]] = field(default_factory=list)  # (t_s, direction) per contact
    # with a personal calibration: "used", or "ignored" (set aside: the sensor sits otherwise,
    # or the session's warm-up does not match it); None without one (and absent from the JSON)
    calibration: str | None = None

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
            # sensor drops: no data, so no steps; their time shows as still in the segments
            "gaps": [
                {"start_s": round(e.t_s - e.data["duration_s"], 3) + 0.0, "end_s": round(e.t_s, 3)}
                for e in self.events if e.type == "gap"
            ],
            "summary": {
                "retro_steps": self.tallies.retro_steps,
                "retro_seconds": round(self.tallies.retro_seconds, 2),
                "forward_steps": self.tallies.forward_steps,
                "forward_seconds": round(self.tallies.forward_seconds, 2),
                "direction_changes": self.tallies.direction_changes,
            },
            **({"calibration": self.calibration} if self.calibration else {}),
        }


def tallies_dict(t: Tallies) -> dict[str, Any]:
    return asdict(t)


# -- coaching --------------------------------------------------------------------------------
P_INFO = 10


@dataclass(slots=True)
class Prompt:
    """One thing the coach says at stream time t_s."""

    t_s: float
    kind: str            # a PromptKind: "cue" | "interval" | "safety" | "info"
    text: str
    priority: int = P_INFO
    key: str = ""        # what rule produced it ("cue", "look_back", "fall" ...)

    def to_json(self) -> dict[str, Any]:
        return {"t_s": round(self.t_s, 3), "kind": self.kind, "text": self.text}


# -- protocols -------------------------------------------------------------------------------
@runtime_checkable
class Observer(Protocol):
    """Told about each batch (with the detector's state and new events) and the end result."""

    async def on_batch(self, batch: SampleBatch, state: LiveState, events: list[Event]) -> None: ...

    async def on_end(self, result: AnalysisResult) -> None: ...


@runtime_checkable
class Sink(Protocol):
    """Takes what the coach says (the store, MQTT, the display)."""

    def publish_prompt(self, prompt: dict[str, Any]) -> None: ...


@runtime_checkable
class AlertSink(Protocol):
    """Takes the coach's alerts (a suspected fall)."""

    def publish_alert(self, alert: dict[str, Any]) -> None: ...


@runtime_checkable
class IntervalSink(Protocol):
    """Takes the program's interval changes."""

    def publish_interval(self, interval: dict[str, Any]) -> None: ...


@runtime_checkable
class TakesSinks(Protocol):
    """An observer that makes prompts and hands them to sinks (the coach)."""

    sinks: list[Any]

    def add_sink(self, sink: Any) -> None: ...


@runtime_checkable
class TakesNotices(Protocol):
    """An observer told about the sensor link ("reconnecting...", "back after 4 s")."""

    def on_notice(self, text: str) -> None: ...


@runtime_checkable
class ReadsObservers(Protocol):
    """An observer that looks at the session's other observers once the list is complete (the
    web page finds the coach and the store)."""

    def attach_observers(self, observers: list[Any]) -> None: ...


@runtime_checkable
class StartsEarly(Protocol):
    """An observer started before the session's first batch (the web page's server)."""

    async def start_before_session(self) -> None: ...


@runtime_checkable
class JsonExtra(Protocol):
    """An observer that adds keys to the analyze / replay JSON document."""

    def json_extra(self) -> dict[str, Any]: ...


__all__ = [
    "AlertSink", "AnalysisResult", "DIRECTIONS", "Direction", "Event", "IntervalSink", "JsonExtra",
    "LiveState", "Observer", "PROMPT_KINDS", "Prompt", "PromptKind", "ReadsObservers", "SampleBatch", "StartsEarly", "Segment",
    "Sink", "Source", "Tallies", "TakesNotices", "TakesSinks", "tallies_dict",
]
