"""Polar H10 and Polar Verity Sense: the PMD (Polar Measurement Data) service.

Protocol (Polar BLE SDK, polarofficial/polar-ble-sdk:
technical_documentation/Polar_Measurement_Data_Specification.pdf and the Android parsers
sources/Android/android-communications/library/src/main/java/com/polar/androidcommunications/
api/ble/model/gatt/client/pmd/{PmdControlPointResponse,PmdSetting}.kt, model/AccData.kt,
BlePMDClient.kt parseDeltaFramesAll):

* control point FB005C81 (write + indicate), data FB005C82 (notify).
* request: [op, measurement type, settings...]; op 0x01 = get settings, 0x02 = start,
  0x03 = stop; ACC measurement type = 0x02. A setting is [type, count, value LE]; types
  0 sample rate (u16), 1 resolution (u16), 2 range (u16), 3 range milli-unit (u32),
  4 channels (u8), 5 conversion factor (f32).
* response: [0xF0, op, measurement type, status (0 = success), more, parameters...]; the
  start response may carry the conversion factor (setting type 5).
* data frame: [measurement type, timestamp u64 LE ns (of the LAST sample), frame type,
  data...]. Frame type bit 7 = delta-compressed. Raw type 0/1/2: 1/2/3-byte signed x,y,z
  in mg. Compressed: a reference sample (x,y,z; ceil(resolution/8) bytes each, signed), then
  blocks [delta bits, sample count, packed deltas LSB-first, signed]. Compressed type 0
  values times the factor are g; compressed type 1 values (times the factor if it is not 1)
  are mg.
"""
from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from coach.errors import CoachError
from coach.sources.profiles.base import DecodeError, Frame, Link, Option, Profile, need

log = logging.getLogger(__name__)

PMD_SERVICE = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CP = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"

MEAS_ACC = 0x02
MEAS_NAMES = {0: "ECG", 1: "PPG", 2: "ACC", 3: "PPI", 5: "GYRO", 6: "MAG", 9: "SDK mode",
              10: "location", 11: "pressure", 12: "temperature"}
OP_GET_SETTINGS, OP_START, OP_STOP = 0x01, 0x02, 0x03
SETTING_SIZES = {0: 2, 1: 2, 2: 2, 3: 4, 4: 1, 5: 4}
STATUS = ["success", "invalid op code", "invalid measurement type", "not supported",
          "invalid length", "invalid parameter", "already in state", "invalid resolution",
          "invalid sample rate", "invalid range", "invalid MTU", "invalid number of channels",
          "invalid state", "device in charger", "disk full"]
# Polar device time counts from 2000-01-01T00:00:00; only differences matter here.


def parse_settings(data: bytes) -> dict[int, list[float]]:
    """[type, count, values...]* -> {type: [values]} (the factor as a float)."""
    out: dict[int, list[float]] = {}
    i = 0
    while i + 2 <= len(data):
        typ, count = data[i], data[i + 1]
        i += 2
        size = SETTING_SIZES.get(typ)
        if size is None:
            raise DecodeError(f"PMD settings: unknown setting type {typ}")
        vals: list[float] = []
        for _ in range(count):
            if i + size > len(data):
                raise DecodeError("PMD settings: truncated")
            chunk = data[i:i + size]
            vals.append(struct.unpack("<f", chunk)[0] if typ == 5
                        else int.from_bytes(chunk, "little", signed=False))
            i += size
        out[typ] = vals
    return out


@dataclass(slots=True)
class CpResponse:
    op: int
    measurement: int
    status: int
    more: bool
    params: bytes

    @property
    def ok(self) -> bool:
        return self.status == 0


def parse_cp_response(data: bytes) -> CpResponse:
    need(data, 4, "PMD control point response")
    if data[0] != 0xF0:
        raise DecodeError(f"PMD control point response must start with F0 (got {data[0]:02X})")
    ok = data[3] == 0
    return CpResponse(op=data[1], measurement=data[2], status=data[3],
                      more=ok and len(data) > 4 and data[4] != 0,
                      params=bytes(data[5:]) if ok else b"")


def acc_start_request(rate: int, resolution: int = 16, range_g: int = 8) -> bytes:
    """The ACC start command: op 0x02, type 0x02, sample rate, resolution, range."""
    return bytes([OP_START, MEAS_ACC, 0, 1]) + struct.pack("<H", rate) + bytes([1, 1]) + \
        struct.pack("<H", resolution) + bytes([2, 1]) + struct.pack("<H", range_g)


def _signed(v: int, bits: int) -> int:
    return v - (1 << bits) if bits and v & (1 << (bits - 1)) else v


def parse_delta_frames(data: bytes, channels: int, resolution: int) -> list[list[int]]:
    """Polar delta compression: reference sample, then [bits, count, packed deltas] blocks."""
    ref_bytes = (resolution + 7) // 8
    need(data, channels * ref_bytes, "PMD delta frame reference sample")
    prev = [int.from_bytes(data[c * ref_bytes:(c + 1) * ref_bytes], "little", signed=True)
            for c in range(channels)]
    samples = [prev]
    off = channels * ref_bytes
    while off < len(data):
        if off + 2 > len(data):
            raise DecodeError("PMD delta frame: block header truncated")
        bits, count = data[off], data[off + 1]
        off += 2
        if bits > 32:
            raise DecodeError(f"PMD delta frame: delta size {bits} bits is out of range")
        nbytes = (bits * count * channels + 7) // 8
        if off + nbytes > len(data):
            raise DecodeError(f"PMD delta frame: block of {count} samples x {bits} bits truncated")
        packed = int.from_bytes(data[off:off + nbytes], "little")
        off += nbytes
        mask = (1 << bits) - 1
        k = 0
        for _ in range(count):
            cur = []
            for c in range(channels):
                d = _signed((packed >> (k * bits)) & mask, bits) if bits else 0
                k += 1
                cur.append(prev[c] + d)
            samples.append(cur)
            prev = cur
    return samples


@dataclass
class PolarAccDecoder:
    """Decodes PMD ACC data frames; factor comes from the start response."""

    rate_hz: float = 50.0
    factor: float = 1.0
    range_g: int = 8

    def decode(self, payload: bytes) -> Frame:
        need(payload, 10, "PMD data frame")
        mtype = payload[0]
        if mtype != MEAS_ACC:
            raise DecodeError(f"PMD frame is {MEAS_NAMES.get(mtype, f'type {mtype}')} data, "
                              "not accelerometer (type 2)")
        ts_ns = int.from_bytes(payload[1:9], "little")
        ftype = payload[9]
        compressed, kind = bool(ftype & 0x80), ftype & 0x7F
        body = payload[10:]
        if not body:
            raise DecodeError("PMD data frame has no samples")
        if not compressed:
            if kind not in (0, 1, 2):
                raise DecodeError(f"PMD raw ACC frame type {kind} is not supported")
            step = kind + 1
            if len(body) % (3 * step):
                raise DecodeError(f"PMD raw ACC type {kind} frame: {len(body)} data bytes is not "
                                  f"a multiple of {3 * step}")
            raw = np.frombuffer(bytes(body), dtype=np.uint8).reshape(-1, 3, step)
            vals = np.zeros(raw.shape[:2], dtype=np.int64)
            for b in range(step):
                vals |= raw[:, :, b].astype(np.int64) << (8 * b)
            vals = np.where(vals >= 1 << (8 * step - 1), vals - (1 << (8 * step)), vals)
            acc = vals / 1000.0  # raw frames are mg; the SDK applies no factor to them
        else:
            if kind == 0:
                samples = parse_delta_frames(body, 3, 16)
                factor = self.factor if self.factor not in (0.0, 1.0) else self.range_g / 32768
                acc = np.asarray(samples, dtype=np.float64) * factor
            elif kind == 1:
                samples = parse_delta_frames(body, 3, 16)
                f = self.factor if self.factor not in (0.0, 1.0) else 1.0
                acc = np.asarray(samples, dtype=np.float64) * f / 1000.0
            else:
                raise DecodeError(f"PMD compressed ACC frame type {kind} is not supported")
        n = len(acc)
        dt = 1.0 / self.rate_hz
        t_last = ts_ns / 1e9
        t = t_last - dt * np.arange(n - 1, -1, -1)
        return Frame(acc=acc, t_sensor=t)


class _PolarBase(Profile):
    service_uuid: ClassVar[str] = PMD_SERVICE
    notify_uuid: ClassVar[str] = PMD_DATA
    advertised_services: ClassVar[tuple[str, ...]] = ()
    has_timestamps: ClassVar[bool] = True
    heart_rate: ClassVar[bool] = True   # Heart Rate service 0x180D beside PMD (heart_rate.py)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._dec = PolarAccDecoder(rate_hz=self.rate_hz, range_g=int(self.options["range"]),
                                    factor=float(self.options["factor"]))

    @property
    def decoder(self) -> PolarAccDecoder:
        return self._dec

    async def start(self, link: Link) -> None:
        # Ask what the device supports, then start ACC with our choice.
        resp = parse_cp_response(await link.request(PMD_CP, bytes([OP_GET_SETTINGS, MEAS_ACC])))
        if not resp.ok:
            raise CoachError(f"{self.title}: accelerometer settings refused "
                             f"({STATUS[resp.status] if resp.status < len(STATUS) else resp.status})")
        avail = parse_settings(resp.params)
        rate, rng = int(self.options["rate"]), int(self.options["range"])
        if avail.get(0) and rate not in avail[0]:
            raise CoachError(f"{self.title} does not offer {rate} Hz (offers "
                             f"{', '.join(str(int(r)) for r in sorted(avail[0]))} Hz)")
        if avail.get(2) and rng not in avail[2]:
            rng = int(max(avail[2]))
        res = int(max(avail.get(1) or [16]))
        req = acc_start_request(rate, res, rng)
        resp = parse_cp_response(await link.request(PMD_CP, req))
        if resp.status == 6:  # already streaming (a reconnect after a short drop): restart it
            await link.request(PMD_CP, bytes([OP_STOP, MEAS_ACC]))
            resp = parse_cp_response(await link.request(PMD_CP, req))
        if not resp.ok:
            msg = STATUS[resp.status] if resp.status < len(STATUS) else str(resp.status)
            raise CoachError(f"{self.title}: accelerometer start refused ({msg})")
        factor = parse_settings(resp.params).get(5) if resp.params else None
        self._dec = PolarAccDecoder(rate_hz=rate, range_g=rng,
                                    factor=float(factor[0]) if factor else float(self.options["factor"]))

    async def stop(self, link: Link) -> None:
        await link.request(PMD_CP, bytes([OP_STOP, MEAS_ACC]))

    def decode(self, payload: bytes) -> Frame:
        return self._dec.decode(payload)


class PolarH10(_PolarBase):
    name: ClassVar[str] = "polar_h10"
    title: ClassVar[str] = "Polar H10"
    name_prefixes: ClassVar[tuple[str, ...]] = ("Polar H10",)
    options_spec: ClassVar[tuple[Option, ...]] = (
        Option("rate", 50, (25, 50, 100, 200), "accelerometer sample rate, Hz"),
        Option("range", 8, (2, 4, 8), "accelerometer range, g"),
        Option("factor", 0.0, None, "conversion factor of compressed frames (0: from the device)"),
    )
    typical_samples_per_packet: ClassVar[int] = 36


class PolarVerity(_PolarBase):
    name: ClassVar[str] = "polar_verity"
    title: ClassVar[str] = "Polar Verity Sense"
    name_prefixes: ClassVar[tuple[str, ...]] = ("Polar Sense", "Polar Verity")
    options_spec: ClassVar[tuple[Option, ...]] = (
        Option("rate", 52, (52,), "accelerometer sample rate, Hz (the Verity Sense offers 52)"),
        Option("range", 8, (8,), "accelerometer range, g"),
        Option("factor", 0.0, None, "conversion factor of compressed frames (0: from the device)"),
    )
    typical_samples_per_packet: ClassVar[int] = 57
