"""Nordic Thingy:52: the Thingy Motion Service, raw data characteristic.

Source: NordicSemiconductor/Nordic-Thingy52-FW, include/ble_services/ble_tms.h
(ble_tms_raw_t, ble_tms_config_t, BLE_TMS_CONFIG_MPUF_MIN/MAX) and source/modules/m_motion.c
(RAW_Q_FORMAT_ACC_INTEGER_BITS 6: accelerometer in Q6.10 fixed point, g); UUIDs from the
Thingy:52 firmware documentation (base EF68xxxx-9B35-4933-9B10-52FFA9740042).

* Motion service EF680400-..., configuration EF680401-... (read/write, 9 bytes: step counter
  interval u16 ms, temperature compensation interval u16 ms, magnetometer compensation
  interval u16 ms, motion processing frequency u16 Hz (1-200), wake on motion u8);
* raw data EF680406-... (notify, 18 bytes): accelerometer x,y,z int16 Q6.10 g, gyroscope
  x,y,z int16 Q11.5 deg/s, compass x,y,z int16 Q12.4 uT. No timestamp.
"""
from __future__ import annotations

import struct
from typing import ClassVar

import numpy as np

from coach.sources.profiles.base import DecodeError, Frame, Link, Option, Profile, need

BASE = "ef68{:04x}-9b35-4933-9b10-52ffa9740042"
TMS_SERVICE = BASE.format(0x0400)
TMS_CONFIG = BASE.format(0x0401)
TMS_RAW = BASE.format(0x0406)
TCS_SERVICE = BASE.format(0x0100)  # the configuration service the Thingy advertises


class Thingy52(Profile):
    name: ClassVar[str] = "thingy52"
    title: ClassVar[str] = "Nordic Thingy:52"
    service_uuid: ClassVar[str] = TMS_SERVICE
    notify_uuid: ClassVar[str] = TMS_RAW
    name_prefixes: ClassVar[tuple[str, ...]] = ("Thingy",)
    advertised_services: ClassVar[tuple[str, ...]] = (TCS_SERVICE, TMS_SERVICE)
    options_spec: ClassVar[tuple[Option, ...]] = (
        Option("rate", 50, (10, 25, 50, 100), "motion processing frequency, Hz"),
    )

    async def start(self, link: Link) -> None:
        cfg = bytearray(await link.read(TMS_CONFIG))
        if len(cfg) < 9:
            cfg = bytearray(struct.pack("<HHHHB", 1000, 500, 500, 50, 0))
        struct.pack_into("<H", cfg, 6, int(self.options["rate"]))
        await link.write(TMS_CONFIG, bytes(cfg), True)

    def decode(self, payload: bytes) -> Frame:
        need(payload, 18, "Thingy:52 raw motion data")
        if len(payload) != 18:
            raise DecodeError(f"Thingy:52 raw motion data is 18 bytes, got {len(payload)}")
        x, y, z = struct.unpack_from("<hhh", payload, 0)
        return Frame(acc=np.array([[x, y, z]], dtype=np.float64) / 1024.0)
