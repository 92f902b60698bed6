"""The standard Bluetooth Heart Rate service (0x180D), read beside a profile's accelerometer.

Heart Rate Measurement (0x2A37) notifications, per the Bluetooth SIG Heart Rate Service 1.0
and the GATT Specification Supplement's Heart Rate Measurement characteristic:

    byte 0  flags: bit 0 value format (0: uint8, 1: uint16), bits 1-2 sensor contact status
            (bit 2 supported, bit 1 detected), bit 3 energy expended present, bit 4 RR
            intervals present
    then    heart rate (uint8 or uint16 LE, bpm); energy expended (uint16 LE, kJ) if flagged;
            RR intervals (uint16 LE each, units of 1/1024 s) to the end, if flagged

The Polar H10 and Verity Sense stream it beside their PMD accelerometer (firmware_notes/).
"""
from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from coach.sources.profiles.base import DecodeError

HR_SERVICE = "0000180d-0000-1000-8000-00805f9b34fb"
HR_MEASUREMENT = "00002a37-0000-1000-8000-00805f9b34fb"


@dataclass(slots=True)
class HeartRate:
    bpm: int
    rr_ms: list[float] = field(default_factory=list)
    contact: bool | None = None        # None: the sensor does not report skin contact
    energy_kj: int | None = None


def parse_heart_rate(data: bytes) -> HeartRate:
    """One Heart Rate Measurement notification; DecodeError when it does not parse."""
    if len(data) < 2:
        raise DecodeError(f"heart rate: {len(data)} bytes, need at least 2")
    flags = data[0]
    i = 1
    if flags & 0x01:
        if len(data) < 3:
            raise DecodeError("heart rate: uint16 value flagged but only 1 byte follows")
        bpm = struct.unpack_from("<H", data, 1)[0]
        i = 3
    else:
        bpm = data[1]
        i = 2
    contact = bool(flags & 0x02) if flags & 0x04 else None
    energy = None
    if flags & 0x08:
        if len(data) < i + 2:
            raise DecodeError("heart rate: energy expended flagged but missing")
        energy = struct.unpack_from("<H", data, i)[0]
        i += 2
    rr: list[float] = []
    if flags & 0x10:
        rest = data[i:]
        if len(rest) % 2:
            raise DecodeError("heart rate: RR intervals with an odd byte count")
        rr = [round(v * 1000 / 1024, 1) for (v,) in struct.iter_unpack("<H", rest)]
    return HeartRate(bpm, rr, contact, energy)


def encode_heart_rate(bpm: int, rr_ms: Sequence[float] = (), contact: bool | None = True,
                      energy_kj: int | None = None) -> bytes:
    """The inverse (for the BLE double and tests)."""
    flags = 0x01 if bpm > 255 else 0
    if contact is not None:
        flags |= 0x04 | (0x02 if contact else 0)
    if energy_kj is not None:
        flags |= 0x08
    if rr_ms:
        flags |= 0x10
    out = bytes([flags]) + (struct.pack("<H", bpm) if bpm > 255 else bytes([bpm]))
    if energy_kj is not None:
        out += struct.pack("<H", energy_kj)
    for r in rr_ms:
        out += struct.pack("<H", round(r * 1024 / 1000))
    return out
