"""The BLE transport: scan, connect with retries, stream, reconnect on a drop.

Generic over device profiles (coach.sources.profiles): a profile says what to write and how
to decode; this module owns the link. Connection handling follows bleak-retry-connector (the
library Home Assistant uses): connection attempts are retried with exponential backoff, and a
device that drops is looked up again and reconnected while the session goes on. The first
batch after a drop has gap_before=True, its times continue in stream time after the gap, and
the wearer is told (the `notify` callback and batch.meta["notice"]). While the link is down,
`on_connection(False)` is called (True when it is back), so outputs can say so at once.

A profile with `heart_rate = True` (Polar H10, Verity Sense) also gets the standard Heart Rate
Measurement characteristic subscribed when the device has it; readings arrive in
batch.meta["heart_rate"] as [{"t_s", "bpm", "rr_ms"}] in stream time.

Everything bleak-specific goes through `Backend`, so tests swap in a scanner/client double
(coach.simulate.ble) and a virtual clock.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from coach.errors import CoachError
from coach.sources.base import SampleBatch
from coach.sources.profiles import PROFILES, Profile, get_profile, profile_for_advertisement
from coach.sources.profiles.base import BATTERY_LEVEL_UUID, DecodeError
from coach.sources.profiles.heart_rate import HR_MEASUREMENT, parse_heart_rate
from coach.sources.timing import LinkStats, StreamClock

log = logging.getLogger(__name__)


@dataclass
class Backend:
    """bleak's entry points (or a double's): scanner class, client class, clock, sleep."""

    scanner: Any
    client: Any
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    errors: tuple[type[BaseException], ...] = (Exception,)
    # establish(device, name, disconnected_callback) -> connected client; None = client().connect()
    establish: Callable[[Any, str, Callable[[Any], None]], Awaitable[Any]] | None = None


def bleak_backend() -> Backend:
    """The real thing. Tests monkeypatch this function to return a double."""
    try:
        from bleak import BleakClient, BleakScanner
        from bleak.exc import BleakError
    except ImportError as e:  # pragma: no cover - bleak is a dependency
        raise CoachError(f"bleak is not installed ({e}); pip install bleak") from None
    establish = None
    try:  # Home Assistant's connector: retries, backoff, BlueZ cache/adapter quirks handled
        from bleak_retry_connector import BleakClientWithServiceCache, establish_connection

        async def establish(device: Any, name: str, on_disconnect: Callable[[Any], None]) -> Any:
            return await establish_connection(BleakClientWithServiceCache, device, name or "sensor",
                                              disconnected_callback=on_disconnect, max_attempts=3)
    except ImportError:
        log.debug("bleak-retry-connector not installed; using the built-in backoff loop")
    return Backend(scanner=BleakScanner, client=BleakClient, establish=establish,
                   errors=(BleakError, asyncio.TimeoutError, OSError, EOFError))


@dataclass
class Found:
    """One scanned device."""

    name: str
    address: str
    rssi: int | None
    profile: str | None
    service_uuids: list[str] = field(default_factory=list)
    battery: int | None = None
    device: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address, "rssi": self.rssi,
                "profile": self.profile, "battery": self.battery}


async def scan(backend: Backend, timeout: float = 5.0, all_devices: bool = False) -> list[Found]:
    """Nearby devices a profile supports (all with all_devices), strongest first."""
    try:
        found = await backend.scanner.discover(timeout=timeout, return_adv=True)
    except backend.errors as e:
        detail = str(e) or type(e).__name__
        if isinstance(e, FileNotFoundError) or "dbus" in detail.lower() or "adapter" in detail.lower():
            raise CoachError("Bluetooth is not available here: no adapter, or the Bluetooth "
                             f"service (BlueZ) is not running ({detail})") from None
        raise CoachError(f"Bluetooth scan failed: {detail} (is Bluetooth on, and may this "
                         "user use it?)") from None
    out = []
    for address, (dev, adv) in found.items():
        name = adv.local_name or getattr(dev, "name", None) or ""
        uuids = [u.lower() for u in (adv.service_uuids or [])]
        prof = profile_for_advertisement(name, uuids)
        if prof or all_devices:
            out.append(Found(name, address, adv.rssi, prof, uuids, device=dev))
    out.sort(key=lambda f: -(f.rssi if f.rssi is not None else -999))
    return out


async def read_battery(backend: Backend, found: Found, timeout: float = 10.0) -> int | None:
    """Battery level (0x2A19) if the device exposes it; None otherwise."""
    try:
        client = backend.client(found.device or found.address, timeout=timeout)
        await client.connect()
        try:
            data = await client.read_gatt_char(BATTERY_LEVEL_UUID)
            return int(data[0]) if data else None
        finally:
            await client.disconnect()
    except backend.errors:
        return None


class _Link:
    """What a profile sees of the client: write, read, subscribe, request/response."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._waiters: dict[str, asyncio.Queue[bytes]] = {}

    async def write(self, uuid: str, data: bytes, response: bool = True) -> None:
        await self.client.write_gatt_char(uuid, data, response=response)

    async def read(self, uuid: str) -> bytes:
        return bytes(await self.client.read_gatt_char(uuid))

    async def subscribe(self, uuid: str, callback: Callable[[bytes], None]) -> None:
        await self.client.start_notify(uuid, lambda _c, data: callback(bytes(data)))

    async def request(self, uuid: str, data: bytes, timeout: float = 5.0) -> bytes:
        """Write to a control point and wait for its indication."""
        q = self._waiters.get(uuid)
        if q is None:
            q = self._waiters[uuid] = asyncio.Queue()
            await self.subscribe(uuid, q.put_nowait)
        while not q.empty():
            q.get_nowait()
        await self.write(uuid, data, True)
        try:
            return await asyncio.wait_for(q.get(), timeout)
        except TimeoutError:
            raise CoachError(f"no answer from the device's control point {uuid[:8]}") from None


_DROP = object()
_STOP = object()


def _stop_failed(task: asyncio.Future) -> None:
    """Collect a stop request's outcome: a link already gone is expected at the end."""
    if not task.cancelled() and task.exception() is not None:
        log.debug("stopping the stream: %s", task.exception())


class BleSource:
    """A Source streaming one BLE sensor through a profile, reconnecting on drops."""

    def __init__(self, device: str, profile: str | Profile | None = None, *,
                 options: dict[str, Any] | None = None, backend: Backend | None = None,
                 scan_timeout: float = 10.0, connect_attempts: int = 4,
                 reconnect_timeout: float = 120.0, stall_timeout: float = 5.0,
                 duration_s: float | None = None, batch_s: float = 0.25,
                 notify: Callable[[str], None] | None = None,
                 on_raw: Callable[[float, bytes], None] | None = None,
                 on_connection: Callable[[bool], None] | None = None) -> None:
        self.device = device
        self.backend = backend or bleak_backend()
        self._profile_arg = profile
        self._options = options or {}
        self.profile: Profile | None = profile if isinstance(profile, Profile) else None
        self.scan_timeout = scan_timeout
        self.connect_attempts = connect_attempts
        self.reconnect_timeout = reconnect_timeout
        self.stall_timeout = stall_timeout
        self.duration_s = duration_s
        self.batch_s = batch_s
        self.notify = notify or (lambda msg: log.warning(msg))
        self.on_raw = on_raw
        self.on_connection = on_connection
        self.stats = LinkStats()
        self._hr: list[tuple[float, bytes]] = []       # (host time, notification) not yet batched
        self._host_to_stream: float | None = None      # stream t - host t, from the last frame
        self.heart_rate_available = False
        self.found: Found | None = None
        self.name = f"ble:{device}"
        self._client: Any = None
        self._link: _Link | None = None
        self._queue: asyncio.Queue = asyncio.Queue()
        self._notices: list[str] = []
        self._closing = False
        self._stop_asked = False

    def request_stop(self) -> None:
        """End the stream cleanly after the data already received (Ctrl-C in `coach run`)."""
        self._stop_asked = True
        self._queue.put_nowait(_STOP)

    # --- discovery ----------------------------------------------------------------------
    async def _find(self, timeout: float) -> Found | None:
        want = self.device.lower()
        for f in await scan(self.backend, timeout, all_devices=True):
            if f.address.lower() == want or f.name.lower() == want or \
                    (len(want) >= 3 and f.name.lower().startswith(want)):
                return f
        return None

    def _resolve_profile(self, found: Found) -> Profile:
        if self.profile is not None:
            return self.profile
        name = self._profile_arg if isinstance(self._profile_arg, str) else found.profile
        if name is None:
            raise CoachError(f"{found.name or found.address}: no profile knows this device; pass "
                             f"--profile ({', '.join(PROFILES)}), e.g. generic with config.toml")
        return get_profile(name, self._options)

    # --- connection ---------------------------------------------------------------------
    def _say(self, msg: str) -> None:
        self._notices.append(msg)
        self.notify(msg)

    def _on_disconnect(self, _client: Any = None) -> None:
        if not self._closing:
            self._queue.put_nowait(_DROP)

    def _on_data(self, data: bytes) -> None:
        self._queue.put_nowait((self.backend.clock(), data))

    def _on_hr(self, data: bytes) -> None:
        self._hr.append((self.backend.clock(), data))

    def _heart_rate(self) -> list[dict[str, Any]]:
        """The heart rate readings since the last batch, in stream time."""
        out = []
        items, self._hr = self._hr, []
        for host_t, data in items:
            try:
                hr = parse_heart_rate(data)
            except DecodeError as e:
                log.debug("skipped a heart rate notification: %s", e)
                continue
            if hr.bpm == 0 or self._host_to_stream is None:
                continue   # no contact yet / before the first accelerometer frame
            out.append({"t_s": round(host_t + self._host_to_stream, 3), "bpm": hr.bpm, "rr_ms": hr.rr_ms})
        return out

    def _connection(self, up: bool) -> None:
        if self.on_connection is not None:
            try:
                self.on_connection(up)
            except Exception:   # an output's hook must not end the session (logged)
                log.exception("on_connection hook failed")

    async def _connect_once(self, found: Found) -> Any:
        assert self.profile is not None
        if self.backend.establish is not None and found.device is not None:
            client = await self.backend.establish(found.device, found.name, self._on_disconnect)
        else:
            client = self.backend.client(found.device or found.address,
                                         disconnected_callback=self._on_disconnect)
            await client.connect()
        try:
            link = self._link = _Link(client)
            self.profile.reset()
            await link.subscribe(self.profile.notify_uuid, self._on_data)
            await self.profile.start(link)
            if self.profile.heart_rate:
                try:
                    await link.subscribe(HR_MEASUREMENT, self._on_hr)
                    self.heart_rate_available = True
                except self.backend.errors as e:   # no Heart Rate service: accelerometer only
                    log.info("no heart rate from %s: %s", found.name or found.address, e)
        except BaseException:
            try:
                await client.disconnect()
            except self.backend.errors:
                pass
            raise
        return client

    async def _connect(self, found: Found, attempts: int) -> Any:
        """Connect with exponential backoff (0.25 s, 0.5 s, 1 s, ... at most 8 s)."""
        delay = 0.25
        last: BaseException | None = None
        for i in range(attempts):
            try:
                return await self._connect_once(found)
            except CoachError:
                raise
            except self.backend.errors as e:
                last = e
                log.info("connect attempt %d to %s failed: %s", i + 1, found.address, e)
                if i + 1 < attempts:
                    await self.backend.sleep(delay)
                    delay = min(8.0, delay * 2)
        raise CoachError(f"could not connect to {found.name or found.address} after {attempts} "
                         f"attempts ({last or 'no answer'})")

    def _stop_requested(self) -> bool:
        return self._stop_asked

    async def _reconnect(self) -> Any | None:
        """After a drop: look for the device again and reconnect, until reconnect_timeout."""
        clk = self.backend.clock
        t_drop = clk()
        delay = 0.25
        while clk() - t_drop < self.reconnect_timeout:
            if self._stop_requested():
                return None
            try:
                found = await self._find(min(5.0, self.scan_timeout))
            except CoachError as e:      # the adapter went away: keep trying until the timeout
                log.info("scan during reconnect failed: %s", e)
                found = None
            if found is not None:
                try:
                    client = await self._connect(found, 2)
                    self.stats.reconnects += 1
                    self._say(f"sensor back after {clk() - t_drop:.1f} s; the gap is marked, "
                              "the session goes on")
                    return client
                except CoachError as e:
                    log.info("reconnect failed: %s", e)
            await self.backend.sleep(delay)
            delay = min(8.0, delay * 2)
        self._say(f"sensor gone for {self.reconnect_timeout:.0f} s; ending the session")
        return None

    # --- the stream ---------------------------------------------------------------------
    async def stream(self) -> AsyncIterator[SampleBatch]:
        found = await self._find(self.scan_timeout)
        if found is None:
            raise CoachError(f"no device {self.device!r} found in {self.scan_timeout:g} s "
                             "(is it on, worn, and not connected to another app? try `coach scan`)")
        self.found = found
        self.profile = self._resolve_profile(found)
        self.name = f"{self.profile.name}:{found.name or found.address}"
        self._client = await self._connect(found, self.connect_attempts)
        clock = StreamClock(self.profile.rate_hz, self.stats)
        pend_t: list[np.ndarray] = []
        pend_a: list[np.ndarray] = []
        pend_gap = False
        try:
            while True:
                stalled = False
                try:
                    item = await asyncio.wait_for(self._queue.get(), self.stall_timeout)
                except TimeoutError:
                    item, stalled = _DROP, True
                    self._say(f"no data for {self.stall_timeout:g} s; reconnecting")
                    await self._disconnect()
                items = [item]
                while not self._queue.empty() and len(items) < 256:
                    items.append(self._queue.get_nowait())
                dropped = stop = False
                for it in items:
                    if it is _DROP:
                        dropped = True
                        continue
                    if it is _STOP:
                        stop = True
                        continue
                    host_t, data = it
                    if self.on_raw:
                        self.on_raw(host_t, data)
                    try:
                        fr = self.profile.decode(data)
                    except DecodeError as e:
                        self.stats.decode_errors += 1
                        if self.stats.decode_errors <= 3:
                            log.warning("skipped a bad packet: %s", e)
                        continue
                    except Exception as e:  # noqa: BLE001 - a decoder bug must not end a session
                        self.stats.decode_errors += 1
                        log.debug("decoder failed on %s: %r", data.hex(), e)
                        continue
                    m = clock.map(fr, host_t)
                    if m is None:
                        continue
                    self._host_to_stream = float(m.t[-1]) - host_t
                    if m.gap and pend_t:                    # a gap always starts a batch
                        yield self._batch(pend_t, pend_a, pend_gap)
                        pend_t, pend_a = [], []
                    if not pend_t:
                        pend_gap = m.gap
                    pend_t.append(m.t)
                    pend_a.append(m.acc)
                if pend_t:
                    t_last = float(pend_t[-1][-1])
                    done = self.duration_s is not None and t_last >= self.duration_s
                    due = (t_last - float(pend_t[0][0]) + 1.0 / self.profile.rate_hz >= self.batch_s
                           or done or stop or dropped or bool(self._notices))
                    if due:
                        if done:
                            t = np.concatenate(pend_t)
                            keep = t <= self.duration_s
                            pend_t, pend_a = [t[keep]], [np.concatenate(pend_a)[keep]]
                        if len(pend_t[0]) or len(pend_t) > 1:
                            yield self._batch(pend_t, pend_a, pend_gap)
                        pend_t, pend_a = [], []
                        if done:
                            return
                if stop:
                    return
                if dropped:
                    if not stalled:
                        self._say("sensor connection lost; reconnecting")
                    self._connection(False)
                    self._client = None
                    self._client = await self._reconnect()
                    if self._client is None:
                        return
                    self._connection(True)
                    clock.mark_reconnect()
        finally:
            await self._close()

    def _batch(self, ts: list[np.ndarray], accs: list[np.ndarray], gap: bool) -> SampleBatch:
        assert self.profile is not None and self.found is not None
        meta = {"profile": self.profile.name, "device": self.found.address,
                "rate_hz": self.profile.rate_hz, **self.stats.to_dict()}
        if self._notices:
            meta["notice"] = "; ".join(self._notices)
            self._notices.clear()
        hr = self._heart_rate()
        if hr:
            meta["heart_rate"] = hr
        return SampleBatch(np.concatenate(ts), np.concatenate(accs), gap_before=gap, meta=meta)

    async def _disconnect(self) -> None:
        c, self._client = self._client, None
        if c is not None:
            self._closing = True
            try:
                await c.disconnect()
            except self.backend.errors:
                pass
            finally:
                self._closing = False

    async def _close(self) -> None:
        """Stop the device's stream (best effort) and disconnect."""
        c = self._client
        if c is None:
            return
        self._closing = True
        if self.profile is not None:
            # best effort: the link may already be gone. The stop runs as its own task so that
            # its failure is always collected, also when this wait is cancelled at shutdown (it
            # had printed "Task exception was never retrieved" and a traceback at a session's end)
            stop = asyncio.ensure_future(self.profile.stop(self._link or _Link(c)))
            stop.add_done_callback(_stop_failed)
            done, _ = await asyncio.wait({stop}, timeout=2.0)
            if not done:
                stop.cancel()
        try:
            await c.disconnect()
        except self.backend.errors:
            pass
        self._client = None
