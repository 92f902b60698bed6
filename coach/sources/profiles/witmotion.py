"""WitMotion WT901BLE family (BWT901BLE5.0, WT901BLECL, WT9011DCL): 0x55 0x61 frames.

Source: WITMOTION/WitBluetooth_BWT901BLE5_0, Python/BWT901BLE5.0_python_sdk/device_model.py
(service 0000FFE5, notify 0000FFE4, write 0000FFE9; 20-byte frames 0x55 0x61 followed by
acc x,y,z, gyro x,y,z, angle x,y,z as int16 LE; acc = raw / 32768 * 16 g; register writes
FF AA reg lo hi, unlock = reg 0x69 value 0xB588, save = reg 0x00 value 0). The output rate
is register 0x03 (RRATE): 0x06 = 10 Hz, 0x07 = 20 Hz, 0x08 = 50 Hz, 0x09 = 100 Hz (WitMotion
standard protocol, WITMOTION/WitStandardProtocol_JY901). Frames carry no timestamp; a
notification may hold more than one frame, and frames may be split across notifications (the
SDK resynchronises on the 0x55 0x61 header, as does the stream decoder here).
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from coach.sources.profiles.base import DecodeError, Frame, Link, Option, Profile, need

WIT_SERVICE = "0000ffe5-0000-1000-8000-00805f9a34fb"
WIT_NOTIFY = "0000ffe4-0000-1000-8000-00805f9a34fb"
WIT_WRITE = "0000ffe9-0000-1000-8000-00805f9a34fb"
HEADER = b"\x55\x61"
FRAME = 20
RATE_CODES = {10: 0x06, 20: 0x07, 50: 0x08, 100: 0x09}


def write_reg(reg: int, value: int) -> bytes:
    return bytes([0xFF, 0xAA, reg, value & 0xFF, (value >> 8) & 0xFF])


def decode_frames(buf: bytes) -> np.ndarray:
    """Complete 0x55 0x61 frames (back to back) -> (n, 3) g."""
    if len(buf) % FRAME:
        raise DecodeError(f"WitMotion: {len(buf)} bytes is not a whole number of 20-byte frames")
    out = []
    for i in range(0, len(buf), FRAME):
        fr = buf[i:i + FRAME]
        if fr[:2] != HEADER:
            raise DecodeError(f"WitMotion frame at byte {i} starts {fr[:2].hex(' ')}, not 55 61")
        raw = np.frombuffer(bytes(fr[2:8]), dtype="<i2").astype(np.float64)
        out.append(raw / 32768.0 * 16.0)
    return np.array(out).reshape(-1, 3)


class WitMotion(Profile):
    name: ClassVar[str] = "witmotion"
    title: ClassVar[str] = "WitMotion WT901BLE"
    service_uuid: ClassVar[str] = WIT_SERVICE
    notify_uuid: ClassVar[str] = WIT_NOTIFY
    name_prefixes: ClassVar[tuple[str, ...]] = ("WT901", "WT9011", "BWT901", "WT")
    advertised_services: ClassVar[tuple[str, ...]] = (WIT_SERVICE,)
    options_spec: ClassVar[tuple[Option, ...]] = (
        Option("rate", 50, tuple(RATE_CODES), "output rate, Hz"),
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self._buf = b""

    def reset(self) -> None:
        self._buf = b""

    async def start(self, link: Link) -> None:
        await link.write(WIT_WRITE, write_reg(0x69, 0xB588), True)  # unlock
        await link.write(WIT_WRITE, write_reg(0x03, RATE_CODES[int(self.options["rate"])]), True)
        await link.write(WIT_WRITE, write_reg(0x00, 0x0000), True)  # save

    def decode(self, payload: bytes) -> Frame:
        """Stream decoding: buffer, resync on 55 61, emit every complete frame."""
        need(payload, 1, "WitMotion notification")
        payload = bytes(payload)
        # a notification that starts a frame ends whatever partial frame came before
        buf = payload if payload[:2] == HEADER else self._buf + payload
        frames = []
        while True:
            k = buf.find(HEADER)
            if k < 0:
                buf = buf[-1:] if buf.endswith(b"\x55") else b""
                break
            if len(buf) - k < FRAME:
                buf = buf[k:]
                break
            frames.append(buf[k:k + FRAME])
            buf = buf[k + FRAME:]
        self._buf = buf[-2 * FRAME:]
        if not frames:
            if not buf:
                raise DecodeError("WitMotion notification holds no 55 61 frame")
            return Frame(acc=np.zeros((0, 3)))
        return Frame(acc=decode_frames(b"".join(frames)))

    @staticmethod
    def decode_one(payload: bytes) -> Frame:
        """Stateless: a payload of whole frames (for `coach decode`)."""
        need(payload, FRAME, "WitMotion payload")
        return Frame(acc=decode_frames(bytes(payload)))
