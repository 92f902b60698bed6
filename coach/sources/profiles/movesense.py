"""Movesense: the GATT SensorData Protocol (GSP) of the gatt_sensordata_app firmware.

Source: Movesense device library, samples/gatt_sensordata_app/GATTSensorDataClient.cpp and
python_client/movesense_sensor_data.py (movesense-device-lib; mirrored at
alexisduque/movesense-device-lib). Service 34802252-7185-4d5d-b431-630e7050e8f0, command
characteristic 34800001-... (write), data characteristic 34800002-... (notify).

* command: [cmd, client reference (not 0), data]; HELLO = 0, SUBSCRIBE = 1 (data = the
  resource path, e.g. "/Meas/Acc/52"), UNSUBSCRIBE = 2.
* notification: [response type, reference, ...]; type 1 = command result (2-byte HTTP-like
  status), type 2 = data: the SBEM-serialised resource. For /Meas/Acc that is
  Timestamp u32 LE (ms, of the first sample) then ArrayAcc: n x (x, y, z) float32 LE in m/s^2.
"""
from __future__ import annotations

import struct
from typing import ClassVar

import numpy as np

from coach.constants import G
from coach.sources.profiles.base import DecodeError, Frame, Link, Option, Profile, need

GSP_SERVICE = "34802252-7185-4d5d-b431-630e7050e8f0"
GSP_WRITE = "34800001-7185-4d5d-b431-630e7050e8f0"
GSP_NOTIFY = "34800002-7185-4d5d-b431-630e7050e8f0"
CMD_HELLO, CMD_SUBSCRIBE, CMD_UNSUBSCRIBE = 0, 1, 2
RESP_COMMAND, RESP_DATA = 1, 2
REFERENCE = 99
RATES = (13, 26, 52, 104, 208, 416, 833, 1666)


def subscribe_command(rate: int, reference: int = REFERENCE) -> bytes:
    return bytes([CMD_SUBSCRIBE, reference]) + f"/Meas/Acc/{rate}".encode()


class Movesense(Profile):
    name: ClassVar[str] = "movesense"
    title: ClassVar[str] = "Movesense (gatt_sensordata_app)"
    service_uuid: ClassVar[str] = GSP_SERVICE
    notify_uuid: ClassVar[str] = GSP_NOTIFY
    name_prefixes: ClassVar[tuple[str, ...]] = ("Movesense",)
    advertised_services: ClassVar[tuple[str, ...]] = (GSP_SERVICE,)
    has_timestamps: ClassVar[bool] = True
    options_spec: ClassVar[tuple[Option, ...]] = (
        Option("rate", 52, RATES[:5], "accelerometer sample rate, Hz"),
    )
    typical_samples_per_packet: ClassVar[int] = 4

    async def start(self, link: Link) -> None:
        await link.write(GSP_WRITE, subscribe_command(int(self.options["rate"])), True)

    async def stop(self, link: Link) -> None:
        await link.write(GSP_WRITE, bytes([CMD_UNSUBSCRIBE, REFERENCE]), True)

    def decode(self, payload: bytes) -> Frame:
        need(payload, 2, "Movesense GSP")
        kind = payload[0]
        if kind == RESP_COMMAND:
            status = int.from_bytes(payload[2:4], "little") if len(payload) >= 4 else None
            if status is not None and status < 300:
                return Frame(acc=np.zeros((0, 3)))   # "subscribed", not data
            raise DecodeError(f"Movesense GSP command refused (status {status})")
        if kind != RESP_DATA:
            raise DecodeError(f"Movesense GSP: unknown response type {kind}")
        body = payload[2:]
        need(body, 4 + 12, "Movesense /Meas/Acc data")
        if (len(body) - 4) % 12:
            raise DecodeError(f"Movesense /Meas/Acc data: {len(body) - 4} sample bytes is not a "
                              "multiple of 12 (3 x float32)")
        ts_ms = struct.unpack_from("<I", body, 0)[0]
        acc = np.frombuffer(bytes(body[4:]), dtype="<f4").reshape(-1, 3).astype(np.float64)
        if not np.all(np.isfinite(acc)):
            raise DecodeError("Movesense /Meas/Acc data holds a non-finite value")
        n = len(acc)
        t = ts_ms / 1000.0 + np.arange(n) / self.rate_hz
        return Frame(acc=acc / G, t_sensor=t)
