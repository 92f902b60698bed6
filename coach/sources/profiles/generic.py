"""A sensor described in config.toml instead of code.

    [sources.generic]
    name_prefix = "RetroSense"            # how the device advertises (optional)
    service = "3f1d0001-8a4c-4b8e-9a4f-6c2d5e7b1a00"
    characteristic = "3f1d0002-8a4c-4b8e-9a4f-6c2d5e7b1a00"   # notify
    header = "<HI"        # struct layout of a packet header ("" for none)
    seq_field = 0         # index of a sequence number in the header (-1: none)
    seq_bits = 16
    time_field = 1        # index of a timestamp in the header (-1: none): first sample's time
    time_scale = 0.001    # seconds per timestamp tick
    sample = "<hhh"       # struct layout of one sample: x, y, z (then anything else, ignored)
    scale = 0.001         # g per unit (one number, or [sx, sy, sz])
    rate_hz = 52
    rate_characteristic = "3f1d0003-8a4c-4b8e-9a4f-6c2d5e7b1a00"   # optional; u16 Hz written

The defaults are the DIY firmware's layout (firmware_notes/diy_nrf52840/), so that sensor needs
no configuration at all. Layouts are Python struct format strings.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from coach.errors import CoachError
from coach.sources.profiles.base import DecodeError, Frame, Link, Option, Profile, need

DIY_SERVICE = "3f1d0001-8a4c-4b8e-9a4f-6c2d5e7b1a00"
DIY_DATA = "3f1d0002-8a4c-4b8e-9a4f-6c2d5e7b1a00"
DIY_RATE = "3f1d0003-8a4c-4b8e-9a4f-6c2d5e7b1a00"

DEFAULTS: dict[str, Any] = {
    "name_prefix": "RetroSense", "service": DIY_SERVICE, "characteristic": DIY_DATA,
    "header": "<HI", "seq_field": 0, "seq_bits": 16, "time_field": 1, "time_scale": 0.001,
    "sample": "<hhh", "scale": 0.001, "rate_hz": 52, "rate_characteristic": DIY_RATE,
}


def load_generic_config(path: Path | None = None) -> dict[str, Any]:
    """[sources.generic] of the config in use (coach.config) merged over the DIY defaults."""
    from coach.config import read_config

    cfg = dict(DEFAULTS)
    where, data = read_config(path)
    section = data.get("sources", {})
    unknown_tables = set(section) - {"generic"}
    if unknown_tables:
        raise CoachError(f"config file {where}: unknown section "
                         f"[sources.{sorted(unknown_tables)[0]}] (known: [sources.generic])")
    generic = section.get("generic", {})
    unknown = set(generic) - set(DEFAULTS)
    if unknown:
        raise CoachError(f"config file {where}: [sources.generic] unknown key {sorted(unknown)[0]!r}")
    cfg.update(generic)
    _check_ranges(cfg, where)
    return cfg


# allowed ranges of the numeric [sources.generic] keys
RANGES: dict[str, tuple[float, float]] = {
    "seq_field": (-1, 64), "seq_bits": (1, 64), "time_field": (-1, 64),
    "time_scale": (1e-12, 1e6), "rate_hz": (1, 2000),
}


def _check_ranges(cfg: dict[str, Any], where: Any) -> None:
    import math

    for key, (lo, hi) in RANGES.items():
        v = cfg[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or not lo <= v <= hi or (key.startswith(("seq", "time_f")) and not float(v).is_integer()):
            raise CoachError(f"config file {where}: [sources.generic] {key} must be a number "
                             f"from {lo:g} to {hi:g}, got {v!r}")
    scale = cfg["scale"]
    items = scale if isinstance(scale, list) else [scale]
    if len(items) not in (1, 3) or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x != 0
            for x in items):
        raise CoachError(f"config file {where}: [sources.generic] scale must be a finite non-zero "
                         f"number or [sx, sy, sz], got {scale!r}")
    for key in ("header", "sample", "service", "characteristic", "name_prefix"):
        if not isinstance(cfg[key], str):
            raise CoachError(f"config file {where}: [sources.generic] {key} must be a string, "
                             f"got {cfg[key]!r}")


@dataclass
class Layout:
    """A compiled packet layout."""

    header: struct.Struct
    sample: struct.Struct
    seq_field: int
    seq_bits: int
    time_field: int
    time_scale: float
    scale: np.ndarray

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "Layout":
        try:
            header = struct.Struct(cfg["header"] or "<")
            sample = struct.Struct(cfg["sample"])
        except struct.error as e:
            raise CoachError(f"generic profile: bad struct layout ({e})") from None
        if len(struct.unpack(sample.format, bytes(sample.size))) < 3:
            raise CoachError("generic profile: a sample layout needs at least 3 fields (x, y, z)")
        nh = len(struct.unpack(header.format, bytes(header.size)))
        for key in ("seq_field", "time_field"):
            if int(cfg[key]) >= nh:
                raise CoachError(f"generic profile: {key}={cfg[key]} but the header has {nh} fields")
        scale = np.broadcast_to(np.asarray(cfg["scale"], dtype=np.float64), (3,)).copy()
        return cls(header, sample, int(cfg["seq_field"]), int(cfg["seq_bits"]),
                   int(cfg["time_field"]), float(cfg["time_scale"]), scale)

    def decode(self, payload: bytes, rate_hz: float) -> Frame:
        need(payload, self.header.size + self.sample.size, "generic packet")
        body = len(payload) - self.header.size
        if body % self.sample.size:
            raise DecodeError(f"generic packet: {body} sample bytes is not a multiple of the "
                              f"{self.sample.size}-byte sample layout")
        head = self.header.unpack_from(payload, 0)
        rows = [s[:3] for s in self.sample.iter_unpack(payload[self.header.size:])]
        acc = np.asarray(rows, dtype=np.float64) * self.scale
        if not np.all(np.isfinite(acc)):
            raise DecodeError("generic packet holds a non-finite value")
        seq = int(head[self.seq_field]) if self.seq_field >= 0 else None
        t = None
        if self.time_field >= 0:
            t = float(head[self.time_field]) * self.time_scale + np.arange(len(acc)) / rate_hz
        return Frame(acc=acc, t_sensor=t, seq=seq,
                     seq_modulo=(1 << self.seq_bits) if seq is not None else 0)


class Generic(Profile):
    name: ClassVar[str] = "generic"
    title: ClassVar[str] = "Generic sensor (config.toml; default: the DIY firmware)"
    service_uuid: ClassVar[str] = DIY_SERVICE
    notify_uuid: ClassVar[str] = DIY_DATA
    name_prefixes: ClassVar[tuple[str, ...]] = ("RetroSense",)
    advertised_services: ClassVar[tuple[str, ...]] = (DIY_SERVICE,)
    has_timestamps: ClassVar[bool] = True
    options_spec: ClassVar[tuple[Option, ...]] = (
        Option("rate", 0, None, "sample rate, Hz (0: config.toml's rate_hz)"),
        Option("config", "", None, "path of a config.toml with a [sources.generic] section"),
    )
    typical_samples_per_packet: ClassVar[int] = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        path = Path(self.options["config"]) if self.options["config"] else None
        if path is not None and not path.exists():
            raise CoachError(f"{path}: no such config file")
        self.cfg = load_generic_config(path)
        self.layout = Layout.from_config(self.cfg)
        # instance-level UUIDs (a configured sensor has its own)
        self.service_uuid = str(self.cfg["service"]).lower()  # type: ignore[misc]
        self.notify_uuid = str(self.cfg["characteristic"]).lower()  # type: ignore[misc]

    @property
    def rate_hz(self) -> float:
        return float(self.options["rate"] or self.cfg["rate_hz"])

    @property
    def has_ts(self) -> bool:
        return self.layout.time_field >= 0

    async def start(self, link: Link) -> None:
        if self.cfg.get("rate_characteristic"):
            await link.write(str(self.cfg["rate_characteristic"]),
                             struct.pack("<H", int(round(self.rate_hz))), True)

    def decode(self, payload: bytes) -> Frame:
        return self.layout.decode(bytes(payload), self.rate_hz)

    def matches_instance(self, name: str | None, service_uuids: list[str]) -> bool:
        n = name or ""
        prefix = str(self.cfg.get("name_prefix") or "")
        return bool(prefix and n.startswith(prefix)) or \
            self.service_uuid in {u.lower() for u in service_uuids}
