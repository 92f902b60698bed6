"""What a device profile is: one sensor's protocol, and nothing else.

A profile knows its GATT UUIDs, how to recognise the device in a scan, how to configure and
start the accelerometer stream (writes to the device), and how to decode one notification
into samples in g. The BLE transport (scanning, connecting, retries, timing, loss counting)
is generic and lives in coach.sources.ble.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from coach.errors import CoachError

BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"


class DecodeError(CoachError):
    """A payload that does not parse; the message is one line saying why."""


class Link(Protocol):
    """The slice of a bleak client a profile may use while configuring a device."""

    async def write(self, uuid: str, data: bytes, response: bool = True) -> None: ...

    async def read(self, uuid: str) -> bytes: ...

    async def subscribe(self, uuid: str, callback: Callable[[bytes], None]) -> None: ...

    async def request(self, uuid: str, data: bytes, timeout: float = 5.0) -> bytes: ...


@dataclass(slots=True)
class Frame:
    """One decoded notification.

    acc: (n, 3) in g, sensor axes. t_sensor: (n,) seconds on the sensor's own clock, or None
    when the device sends no timestamps. seq: a packet sequence number, when the device has one
    (seq_modulo says where it wraps).
    """

    acc: np.ndarray
    t_sensor: np.ndarray | None = None
    seq: int | None = None
    seq_modulo: int = 0

    def __post_init__(self) -> None:
        self.acc = np.asarray(self.acc, dtype=np.float64).reshape(-1, 3)
        if self.t_sensor is not None:
            self.t_sensor = np.asarray(self.t_sensor, dtype=np.float64).reshape(-1)

    def __len__(self) -> int:
        return len(self.acc)


@dataclass(frozen=True, slots=True)
class Option:
    """A user-settable profile option (`--opt key=value` or --rate/--range)."""

    name: str
    default: Any
    choices: tuple | None = None
    help: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "default": self.default,
                "choices": list(self.choices) if self.choices else None, "help": self.help}


@dataclass
class Profile:
    """Base class; subclasses fill in the class attributes and override the methods."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    service_uuid: ClassVar[str] = ""
    notify_uuid: ClassVar[str] = ""
    name_prefixes: ClassVar[tuple[str, ...]] = ()
    advertised_services: ClassVar[tuple[str, ...]] = ()
    options_spec: ClassVar[tuple[Option, ...]] = ()
    has_timestamps: ClassVar[bool] = False
    typical_samples_per_packet: ClassVar[int] = 1
    # streams heart rate on the standard Heart Rate service beside the accelerometer
    heart_rate: ClassVar[bool] = False

    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        given = dict(self.options)
        self.options = {o.name: o.default for o in self.options_spec}
        for k, v in given.items():
            spec = next((o for o in self.options_spec if o.name == k), None)
            if spec is None:
                known = ", ".join(o.name for o in self.options_spec) or "none"
                raise CoachError(f"profile {self.name}: unknown option {k!r} (options: {known})")
            if v is None:
                continue
            try:
                v = type(spec.default)(v) if spec.default is not None else v
            except (TypeError, ValueError):
                raise CoachError(f"profile {self.name}: option {k}={v!r} is not a "
                                 f"{type(spec.default).__name__}") from None
            if spec.choices and v not in spec.choices:
                raise CoachError(f"profile {self.name}: {k} must be one of "
                                 f"{', '.join(map(str, spec.choices))} (got {v})")
            self.options[k] = v

    # --- discovery -----------------------------------------------------------------------
    @classmethod
    def matches(cls, name: str | None, service_uuids: list[str] | tuple[str, ...] = ()) -> bool:
        """Whether an advertisement looks like this device."""
        n = (name or "").strip()
        if any(n.startswith(p) for p in cls.name_prefixes):
            return True
        svc = {u.lower() for u in service_uuids}
        return any(u.lower() in svc for u in cls.advertised_services)

    # --- streaming -----------------------------------------------------------------------
    @property
    def rate_hz(self) -> float:
        """The nominal sample rate the device is configured for."""
        return float(self.options.get("rate", 50))

    async def start(self, link: Link) -> None:
        """Configure the device and start the accelerometer stream (after subscribing)."""

    async def stop(self, link: Link) -> None:
        """Stop the stream (best effort, before a clean disconnect)."""

    def reset(self) -> None:
        """Forget per-connection decoder state (called after every (re)connect)."""

    def decode(self, payload: bytes) -> Frame:
        """One notification -> samples. Raises DecodeError with a one-line reason."""
        raise NotImplementedError

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {"name": cls.name, "title": cls.title, "service": cls.service_uuid,
                "notify": cls.notify_uuid, "timestamps": cls.has_timestamps,
                "options": [o.to_json() for o in cls.options_spec]}


def need(payload: bytes, n: int, what: str) -> None:
    """Refuse a payload shorter than n bytes."""
    if len(payload) < n:
        raise DecodeError(f"{what}: payload is {len(payload)} bytes, need at least {n}")


