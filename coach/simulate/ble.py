"""A bleak double: scanner and client that behave like the real sensors, on a virtual clock.

Devices advertise, accept connections, answer control points (Polar PMD, Movesense GSP,
WitMotion registers...), and send byte-exact notifications at the device's real rate and
packet size, with a drifting sensor clock and jittered latency. They drop the link on cue
(and come back after a while), repeat or garble packets when asked, and switch off when their
data ends. Time is virtual: emitting a packet moves the clock to its arrival time, so an hour
of streaming runs in seconds and every run is identical.

Used by the tests and by `coach run --device sim:<profile>` to try the app without a sensor.
"""
from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from coach.constants import G
from coach.sources.ble import Backend
from coach.sources.profiles import generic, microbit, movesense, polar, thingy52, witmotion
from coach.sources.profiles.base import BATTERY_LEVEL_UUID
from coach.sources.profiles.heart_rate import HR_MEASUREMENT


class FakeBleakError(Exception):
    """What the double raises where bleak raises BleakError."""


class VirtualClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance_to(self, t: float) -> None:
        self.now = max(self.now, t)

    async def sleep(self, d: float) -> None:
        self.now += max(0.0, d)
        await asyncio.sleep(0)


# --- packet encoders (the vendors' formats, see the profile modules) -----------------------
def _mg16(acc: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(acc * 1000), -32768, 32767).astype("<i2")


def enc_polar_raw(acc: np.ndarray, t_last_ns: int) -> bytes:
    return bytes([2]) + struct.pack("<Q", t_last_ns) + bytes([0x01]) + _mg16(acc).tobytes()


def enc_polar_delta(acc: np.ndarray, t_last_ns: int, factor: float) -> bytes:
    """Compressed type 0: 16-bit reference sample + one delta block."""
    raw = np.clip(np.rint(acc / factor), -32768, 32767).astype(np.int64)
    out = bytearray([2]) + struct.pack("<Q", t_last_ns) + bytes([0x80])
    out += raw[0].astype("<i2").tobytes()
    if len(raw) > 1:
        d = np.diff(raw, axis=0)
        bits = max(2, int(np.max(np.abs(d))).bit_length() + 1)
        packed = 0
        for k, v in enumerate(d.reshape(-1)):
            packed |= (int(v) & ((1 << bits) - 1)) << (k * bits)
        nbytes = (bits * d.size + 7) // 8
        out += bytes([bits, len(d)]) + packed.to_bytes(nbytes, "little")
    return bytes(out)


def enc_movesense(acc: np.ndarray, t_first_ms: int) -> bytes:
    return bytes([2, movesense.REFERENCE]) + struct.pack("<I", t_first_ms & 0xFFFFFFFF) + \
        (acc * G).astype("<f4").tobytes()


def enc_microbit(acc: np.ndarray) -> bytes:
    return _mg16(acc).tobytes()


def enc_thingy(acc: np.ndarray) -> bytes:
    a = np.clip(np.rint(acc * 1024), -32768, 32767).astype("<i2")
    return a.tobytes() + struct.pack("<6h", 0, 0, 0, 0, 0, 0)


def enc_witmotion(acc: np.ndarray) -> bytes:
    a = np.clip(np.rint(acc / 16 * 32768), -32768, 32767).astype("<i2")
    return witmotion.HEADER + a.tobytes() + bytes(12)


def enc_generic(acc: np.ndarray, seq: int, t_first_ms: int) -> bytes:
    return struct.pack("<HI", seq & 0xFFFF, t_first_ms & 0xFFFFFFFF) + _mg16(acc).tobytes()


@dataclass
class DeviceModel:
    """How one kind of device talks: UUIDs, packet size, encoder."""

    profile: str
    name: str
    service: str
    notify: str
    per_packet: int
    rate_hz: float
    chars: tuple[str, ...] = ()


MODELS = {
    "polar_h10": DeviceModel("polar_h10", "Polar H10 ABC123", polar.PMD_SERVICE, polar.PMD_DATA,
                             36, 50, (polar.PMD_CP,)),
    "polar_verity": DeviceModel("polar_verity", "Polar Sense 0A1B2C3D", polar.PMD_SERVICE,
                                polar.PMD_DATA, 57, 52, (polar.PMD_CP,)),
    "movesense": DeviceModel("movesense", "Movesense 220330000123", movesense.GSP_SERVICE,
                             movesense.GSP_NOTIFY, 4, 52, (movesense.GSP_WRITE,)),
    "microbit": DeviceModel("microbit", "BBC micro:bit [zotig]", microbit.ACC_SERVICE,
                            microbit.ACC_DATA, 1, 50, (microbit.ACC_PERIOD,)),
    "thingy52": DeviceModel("thingy52", "Thingy", thingy52.TMS_SERVICE, thingy52.TMS_RAW, 1, 50,
                            (thingy52.TMS_CONFIG,)),
    "witmotion": DeviceModel("witmotion", "WT901BLE68", witmotion.WIT_SERVICE,
                             witmotion.WIT_NOTIFY, 1, 50, (witmotion.WIT_WRITE,)),
    "generic": DeviceModel("generic", "RetroSense 01", generic.DIY_SERVICE, generic.DIY_DATA,
                           2, 52, (generic.DIY_RATE,)),
}


@dataclass
class FakeDevice:
    """One simulated sensor with its data (acc in g at rate_hz) and its misbehaviour."""

    profile: str
    acc: np.ndarray
    rate_hz: float | None = None
    name: str | None = None
    address: str = "C0:FF:EE:00:00:01"
    rssi: int = -58
    battery: int = 87
    drift_ppm: float = 40.0               # the sensor clock runs this much fast
    latency_s: float = 0.015
    jitter_s: float = 0.020
    drops: list[tuple[float, float]] = field(default_factory=list)  # (at, down for), virtual s
    dup_every: int = 0                    # resend every n-th packet
    junk_every: int = 0                   # send a garbled packet every n-th packet
    lose_every: int = 0                   # the radio loses every n-th packet
    connect_failures: int = 0             # refuse the first n connection attempts
    stalls: list[float] = field(default_factory=list)  # go silent (link up) at these times
    seed: int = 1
    # Heart Rate Measurement notifications (0x2A37), byte-exact, one a second in turn; the
    # device has the Heart Rate service only when this is non-empty
    hr_packets: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.model = MODELS[self.profile]
        self.rate_hz = float(self.rate_hz or self.model.rate_hz)
        self.name = self.name or self.model.name
        self.acc = np.asarray(self.acc, dtype=np.float64).reshape(-1, 3)
        self.rng = np.random.default_rng(self.seed)
        self.t0: float | None = None      # virtual time of sample 0 (set at power on)
        self.down_until = -1.0
        self.off = False
        self.drops = sorted(self.drops)
        self.sent = 0
        self.hr_sent = 0
        self.factor = 8 / 32768

    # true (host) time of sample i, and what the sensor's clock says then
    def t_true(self, i: int | np.ndarray) -> Any:
        assert self.t0 is not None and self.rate_hz is not None, "the device is not powered on"
        return self.t0 + np.asarray(i) / self.rate_hz / (1 + self.drift_ppm * 1e-6)

    def t_dev(self, i: int | np.ndarray) -> Any:
        return 86400.0 * 365 * 24 + np.asarray(i) / self.rate_hz  # device clock (s)

    def visible(self, now: float) -> bool:
        return not self.off and now >= self.down_until


class FakeClient:
    """The BleakClient double."""

    def __init__(self, world: "FakeWorld", device_or_address: Any,
                 disconnected_callback: Callable[[Any], None] | None = None,
                 timeout: float = 10.0, **_: Any) -> None:
        self.world = world
        addr = getattr(device_or_address, "address", device_or_address)
        self._dev = world.by_address(str(addr))
        self.cb_disc = disconnected_callback
        self.is_connected = False
        self.subs: dict[str, Callable[[Any, bytearray], None]] = {}
        self.task: asyncio.Task | None = None
        self.streaming = False
        self.cfg: dict[str, Any] = {}

    @property
    def dev(self) -> FakeDevice:
        if self._dev is None:
            raise FakeBleakError("Device not found")
        return self._dev

    # bleak API -------------------------------------------------------------------------
    async def connect(self, **_: Any) -> bool:
        clk = self.world.clock
        await clk.sleep(0.3)
        d = self._dev
        if d is None or not d.visible(clk.now):
            raise FakeBleakError("Device not found")
        if d.connect_failures > 0:
            d.connect_failures -= 1
            raise FakeBleakError("failed to connect (le-connection-abort-by-local)")
        self.is_connected = True
        self.world.connected.append(self)
        return True

    async def disconnect(self) -> bool:
        self._stop()
        self.is_connected = False
        return True

    async def start_notify(self, uuid: str, callback: Callable[[Any, bytearray], None], **_: Any) -> None:
        self._check()
        m = self.dev.model
        hr = {HR_MEASUREMENT} if self.dev.hr_packets else set()
        if uuid.lower() not in {m.notify, *m.chars, *hr}:
            raise FakeBleakError(f"Characteristic {uuid} was not found!")
        self.subs[uuid.lower()] = callback
        if self.dev.profile in ("microbit", "thingy52", "witmotion") and uuid.lower() == m.notify:
            self._start_stream()

    async def stop_notify(self, uuid: str) -> None:
        self.subs.pop(uuid.lower(), None)

    async def read_gatt_char(self, uuid: Any) -> bytearray:
        self._check()
        u = str(uuid).lower()
        if u == BATTERY_LEVEL_UUID:
            return bytearray([self.dev.battery])
        if u == thingy52.TMS_CONFIG and self.dev.profile == "thingy52":
            return bytearray(struct.pack("<HHHHB", 1000, 500, 500, 10, 0))
        raise FakeBleakError(f"Characteristic {uuid} was not found!")

    async def write_gatt_char(self, uuid: Any, data: bytes, response: bool = False) -> None:
        self._check()
        u, data = str(uuid).lower(), bytes(data)
        d = self.dev
        if d.profile.startswith("polar") and u == polar.PMD_CP:
            self._polar_cp(data)
        elif d.profile == "movesense" and u == movesense.GSP_WRITE:
            if data[:1] == bytes([movesense.CMD_SUBSCRIBE]) and data[2:].startswith(b"/Meas/Acc/"):
                d.rate_hz = float(data[2:].decode().rsplit("/", 1)[1])
                self._start_stream()
            elif data[:1] == bytes([movesense.CMD_UNSUBSCRIBE]):
                self._stop()
        elif d.profile == "microbit" and u == microbit.ACC_PERIOD:
            d.rate_hz = 1000.0 / struct.unpack("<H", data)[0]
        elif d.profile == "thingy52" and u == thingy52.TMS_CONFIG:
            d.rate_hz = float(struct.unpack_from("<H", data, 6)[0])
        elif d.profile == "witmotion" and u == witmotion.WIT_WRITE:
            if data[2] == 0x03:
                d.rate_hz = float({v: k for k, v in witmotion.RATE_CODES.items()}[data[3]])
        elif d.profile == "generic" and u == generic.DIY_RATE:
            d.rate_hz = float(struct.unpack("<H", data)[0])
            self._start_stream()
        else:
            raise FakeBleakError(f"Characteristic {uuid} was not found!")

    # device behaviour ---------------------------------------------------------------------
    def _check(self) -> None:
        if not self.is_connected:
            raise FakeBleakError("Not connected")

    def _indicate(self, uuid: str, data: bytes) -> None:
        cb = self.subs.get(uuid)
        if cb is None:
            raise FakeBleakError("indication without a subscription")
        asyncio.get_running_loop().call_soon(cb, None, bytearray(data))

    def _polar_cp(self, data: bytes) -> None:
        op, mtype = data[0], data[1] if len(data) > 1 else 0
        if mtype != polar.MEAS_ACC:
            self._indicate(polar.PMD_CP, bytes([0xF0, op, mtype, 3]))
            return
        if op == polar.OP_GET_SETTINGS:
            rates = (25, 50, 100, 200) if self.dev.profile == "polar_h10" else (52,)
            ranges = (2, 4, 8) if self.dev.profile == "polar_h10" else (8,)
            body = bytes([0, len(rates)]) + b"".join(struct.pack("<H", r) for r in rates) + \
                bytes([1, 1]) + struct.pack("<H", 16) + bytes([2, len(ranges)]) + \
                b"".join(struct.pack("<H", r) for r in ranges)
            self._indicate(polar.PMD_CP, bytes([0xF0, op, mtype, 0, 0]) + body)
        elif op == polar.OP_START:
            if self.streaming:
                self._indicate(polar.PMD_CP, bytes([0xF0, op, mtype, 6]))
                return
            st = polar.parse_settings(data[2:])
            self.dev.rate_hz = float(st[0][0])
            params = b""
            if self.dev.profile == "polar_verity":
                params = bytes([5, 1]) + struct.pack("<f", self.dev.factor)
            self._indicate(polar.PMD_CP, bytes([0xF0, op, mtype, 0, 0]) + params)
            self._start_stream()
        elif op == polar.OP_STOP:
            self._stop()
            self._indicate(polar.PMD_CP, bytes([0xF0, op, mtype, 0, 0]))

    def _start_stream(self) -> None:
        if not self.streaming:
            self.streaming = True
            self.task = asyncio.get_running_loop().create_task(self._emit())

    def _stop(self) -> None:
        self.streaming = False
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        self.task = None

    def _drop(self, now: float, down: float | None) -> None:
        """The link goes away (down for `down` s, or for good when None)."""
        d = self.dev
        if down is None:
            d.off = True
        else:
            d.down_until = now + down
        self.streaming = False
        self.is_connected = False
        self.task = None
        if self.cb_disc is not None:
            self.cb_disc(self)

    def _packet(self, i0: int, i1: int, k: int) -> bytes:
        d, acc = self.dev, self.dev.acc[i0:i1]
        p = d.profile
        if p == "polar_h10":
            return enc_polar_raw(acc, int(round(float(d.t_dev(i1 - 1)) * 1e9)))
        if p == "polar_verity":
            return enc_polar_delta(acc, int(round(float(d.t_dev(i1 - 1)) * 1e9)), d.factor)
        if p == "movesense":
            return enc_movesense(acc, int(round(float(d.t_dev(i0)) * 1000)) % 2**32)
        if p == "microbit":
            return enc_microbit(acc)
        if p == "thingy52":
            return enc_thingy(acc)
        if p == "witmotion":
            return enc_witmotion(acc)
        return enc_generic(acc, k, int(round(float(d.t_dev(i0)) * 1000)) % 2**32)

    async def _emit(self) -> None:
        d, clk = self.dev, self.world.clock
        n = d.model.per_packet
        if d.t0 is None:
            d.t0 = clk.now + 0.05
        # resume at the packet being sampled now (what happened while away is gone)
        assert d.rate_hz is not None
        i = max(0, int(np.ceil((clk.now - d.t0) * d.rate_hz * (1 + d.drift_ppm * 1e-6))))
        i -= i % n
        notify = self.subs.get(d.model.notify)
        if notify is None:    # nobody subscribed: nothing to send
            return
        next_hr = clk.now + 1.0
        while self.streaming:
            i1 = i + n
            if i1 > len(d.acc):
                clk.advance_to(float(d.t_true(len(d.acc))) + 0.5)
                self._drop(clk.now, None)
                return
            k = i // n
            arrive = float(d.t_true(i1 - 1)) + d.latency_s + float(d.rng.exponential(d.jitter_s))
            if d.stalls and arrive >= d.stalls[0]:
                d.stalls.pop(0)
                self.streaming = False        # silent: the link stays up, no more data
                return
            if d.drops and arrive >= d.drops[0][0]:
                at, down = d.drops.pop(0)
                clk.advance_to(at)
                self._drop(at, down)
                return
            clk.advance_to(arrive)
            hr_cb = self.subs.get(HR_MEASUREMENT)
            while hr_cb is not None and d.hr_packets and arrive >= next_hr:
                hr_cb(None, bytearray(d.hr_packets[d.hr_sent % len(d.hr_packets)]))
                d.hr_sent += 1
                next_hr += 1.0
            pkt = self._packet(i, i1, k)
            i = i1
            if d.lose_every and k % d.lose_every == d.lose_every - 1:
                continue
            d.sent += 1
            notify(None, bytearray(pkt))
            if d.dup_every and k % d.dup_every == d.dup_every - 1:
                notify(None, bytearray(pkt))
            if d.junk_every and k % d.junk_every == d.junk_every - 1:
                notify(None, bytearray(pkt[: max(1, len(pkt) // 3)]) + b"\x13\x37")
            await asyncio.sleep(0)


class FakeScanner:
    def __init__(self, world: "FakeWorld") -> None:
        self.world = world

    async def discover(self, timeout: float = 5.0, return_adv: bool = False, **_: Any) -> Any:
        clk = self.world.clock
        await clk.sleep(min(timeout, 1.0))
        out = {}
        for d in self.world.devices:
            if not d.visible(clk.now):
                continue
            dev = SimpleNamespace(address=d.address, name=d.name)
            adv = SimpleNamespace(local_name=d.name, rssi=d.rssi, service_uuids=[],
                                  manufacturer_data={})
            out[d.address] = (dev, adv)
        return out if return_adv else [v[0] for v in out.values()]


class FakeWorld:
    """Devices + virtual clock; `.backend()` plugs into BleSource/scan."""

    def __init__(self, devices: list[FakeDevice], clock: VirtualClock | None = None) -> None:
        self.devices = devices
        self.clock = clock or VirtualClock()
        self.connected: list[FakeClient] = []

    def by_address(self, addr: str) -> FakeDevice | None:
        return next((d for d in self.devices if d.address.lower() == addr.lower()), None)

    def backend(self) -> Backend:
        return Backend(scanner=FakeScanner(self),
                       client=lambda dev, **kw: FakeClient(self, dev, **kw),
                       clock=self.clock, sleep=self.clock.sleep, errors=(FakeBleakError,))
