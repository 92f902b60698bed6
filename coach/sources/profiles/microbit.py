"""BBC micro:bit: the Bluetooth Accelerometer Service of the micro:bit runtime (DAL/CODAL).

Source: lancaster-university/microbit-dal, docs/ble/accelerometer-service.md and
source/bluetooth/MicroBitAccelerometerService.cpp; micro:bit Bluetooth profile
(https://lancaster-university.github.io/microbit-docs/ble/profile/).

* service E95D0753-251D-470A-A062-FA1922DFA9A8;
* Accelerometer Data E95DCA4B-...: notify/read, x, y, z int16 LE, milli-g;
* Accelerometer Period E95DFB24-...: read/write u16 LE, ms; valid 1, 2, 5, 10, 20, 80, 160,
  640 (other values are rounded by the runtime). One sample per notification, no timestamp.
"""
from __future__ import annotations

import struct
from typing import ClassVar

import numpy as np

from coach.sources.profiles.base import DecodeError, Frame, Link, Option, Profile, need

ACC_SERVICE = "e95d0753-251d-470a-a062-fa1922dfa9a8"
ACC_DATA = "e95dca4b-251d-470a-a062-fa1922dfa9a8"
ACC_PERIOD = "e95dfb24-251d-470a-a062-fa1922dfa9a8"
PERIODS_MS = (1, 2, 5, 10, 20, 80, 160, 640)


class Microbit(Profile):
    name: ClassVar[str] = "microbit"
    title: ClassVar[str] = "BBC micro:bit"
    service_uuid: ClassVar[str] = ACC_SERVICE
    notify_uuid: ClassVar[str] = ACC_DATA
    name_prefixes: ClassVar[tuple[str, ...]] = ("BBC micro:bit",)
    advertised_services: ClassVar[tuple[str, ...]] = (ACC_SERVICE,)
    options_spec: ClassVar[tuple[Option, ...]] = (
        Option("period_ms", 20, (10, 20, 80, 160), "accelerometer period, ms (20 = 50 Hz)"),
    )

    @property
    def rate_hz(self) -> float:
        return 1000.0 / int(self.options["period_ms"])

    async def start(self, link: Link) -> None:
        await link.write(ACC_PERIOD, struct.pack("<H", int(self.options["period_ms"])), True)

    def decode(self, payload: bytes) -> Frame:
        need(payload, 6, "micro:bit accelerometer data")
        if len(payload) != 6:
            raise DecodeError(f"micro:bit accelerometer data is 6 bytes, got {len(payload)}")
        x, y, z = struct.unpack("<hhh", payload)
        return Frame(acc=np.array([[x, y, z]], dtype=np.float64) / 1000.0)
