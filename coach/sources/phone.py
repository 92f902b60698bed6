"""A phone as the sensor: Sensor Logger's live stream (HTTP Push), in its own JSON format.

Sensor Logger (Kelvin Choi; Android and iOS; https://www.tszheichoi.com/sensorlogger) pushes,
once per batch period, a JSON message to a URL you give it (Settings > Data Streaming > HTTP
Push). The format is documented in tszheichoi/awesome-sensor-logger (PUSHING.md, UNITS.md):

    {"messageId": 0, "sessionId": "...", "deviceId": "...",
     "payload": [{"name": "accelerometer", "time": 1698501144401773000,
                  "values": {"x": ..., "y": ..., "z": ...}}, ...]}

time is UTC epoch ns; accelerometer/gravity/totalacceleration are m/s^2. "accelerometer"
excludes gravity (user acceleration); Android also sends "totalacceleration" (with gravity);
otherwise gravity is added back from the "gravity" sensor. So enable Accelerometer and
Gravity (Android: also Total Acceleration) in Sensor Logger.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from coach.constants import G
from coach.errors import CoachError
from coach.sources.base import SampleBatch
from coach.sources.timing import LinkStats

log = logging.getLogger(__name__)


def _xyz(entry: dict) -> tuple[float, float, float]:
    v = entry.get("values", entry)
    return float(v["x"]), float(v["y"]), float(v["z"])


INT64_MAX = 2**63 - 1


def _time_ns(e: dict) -> int:
    """A sample's time (epoch ns) as an int64; ValueError for anything else (1e30, NaN, ...)."""
    v = e["time"]
    if isinstance(v, bool):
        raise ValueError("time is a boolean")
    n = int(v)    # ValueError for NaN, OverflowError for inf
    if not 0 <= n <= INT64_MAX:
        raise ValueError("time out of range")
    return n


@dataclass
class SensorLoggerParser:
    """Sensor Logger messages -> (time ns, acc in g) with gravity included."""

    gravity: tuple[float, float, float] | None = None
    warned: set[str] = field(default_factory=set)
    bad_times: int = 0          # samples dropped: a time that is not an epoch-ns int64

    def parse(self, body: bytes | str | dict) -> tuple[np.ndarray, np.ndarray, dict]:
        try:
            msg = json.loads(body) if isinstance(body, (bytes, str)) else body
            payload = msg["payload"]
            if not isinstance(payload, list):
                raise TypeError("payload is not a list")
        except (ValueError, KeyError, TypeError, RecursionError) as err:
            # (nested 100,000 deep, json's recursion had ended the whole session)
            raise CoachError(f"not a Sensor Logger message ({type(err).__name__}: {err})") from None
        total: list[tuple] = []
        user: list[tuple] = []
        grav: list[tuple] = []
        for e in payload:
            if not isinstance(e, dict):
                continue
            name = str(e.get("name", "")).lower()
            if name not in ("totalacceleration", "accelerometer", "gravity"):
                continue
            try:
                row = (_time_ns(e), *_xyz(e))
            except (KeyError, TypeError, ValueError, OverflowError):
                self.bad_times += 1
                continue
            if not all(np.isfinite(row[1:])):
                self.bad_times += 1
                continue
            {"totalacceleration": total, "accelerometer": user, "gravity": grav}[name].append(row)
        info = {"messageId": msg.get("messageId"), "sessionId": msg.get("sessionId"),
                "deviceId": msg.get("deviceId")}
        def arrays(rows: list) -> tuple[np.ndarray, np.ndarray]:
            rows = sorted(rows, key=lambda r: r[0])
            return (np.array([r[0] for r in rows], dtype=np.int64),
                    np.array([r[1:] for r in rows], dtype=np.float64).reshape(-1, 3))

        if total:
            t, a = arrays(total)
            return t, a / G, info
        if not user:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 3)), info
        tu, au = arrays(user)
        if grav:
            tg, ag = arrays(grav)
            ref = int(tu[0])   # interpolate on small numbers (ns since epoch overflow float)
            gi = np.column_stack([np.interp((tu - ref).astype(np.float64),
                                            (tg - ref).astype(np.float64), ag[:, k]) for k in range(3)])
            self.gravity = tuple(ag[-1])
        elif self.gravity is not None:
            gi = np.tile(self.gravity, (len(tu), 1))
        else:
            if "nogravity" not in self.warned:
                self.warned.add("nogravity")
                log.warning("Sensor Logger sends no gravity: enable the Gravity sensor "
                            "(or Total Acceleration on Android)")
            gi = np.zeros((len(tu), 3))
        return tu, (au + gi) / G, info


def parse_mqtt_url(url: str) -> dict[str, Any]:
    """mqtt[s]://[user:pass@]host[:port]/topic (ws[s]:// for a websocket listener)."""
    from urllib.parse import unquote, urlsplit
    u = urlsplit(url)
    if u.scheme not in ("mqtt", "mqtts", "ws", "wss") or not u.hostname:
        raise CoachError(f"--phone-mqtt wants mqtt://[user:pass@]host[:port]/topic (got {url!r})")
    topic = unquote(u.path.lstrip("/")) or "sensor-logger"
    tls = u.scheme in ("mqtts", "wss")
    ws = u.scheme in ("ws", "wss")
    port = u.port or {("mqtt"): 1883, ("mqtts"): 8883, ("ws"): 8000, ("wss"): 8884}[u.scheme]
    return {"hostname": u.hostname, "port": port, "username": unquote(u.username) if u.username else None,
            "password": unquote(u.password) if u.password else None, "topic": topic, "tls": tls,
            "transport": "websockets" if ws else "tcp"}


class SensorLoggerSource:
    """Receives Sensor Logger's HTTP Push on host:port (or its MQTT publishing, through a
    broker, with mqtt_url) and streams it as SampleBatches.

    The HTTP server (coach.sources.http_server, aiohttp) wants the session's token in the push
    URL (401 without it, nothing used), limits bodies to max_body bytes (413), times out slow
    headers, bodies and idle connections, and puts messages on a bounded queue (a full queue
    makes the phone wait, then 503)."""

    def __init__(self, host: str | None = None, port: int = 8000, *,
                 duration_s: float | None = None, idle_timeout: float = 120.0,
                 notify: Callable[[str], None] | None = None,
                 mqtt_url: str | None = None, mqtt_client: Any = None,
                 token: str | None = None, max_body: int = 1 << 20, queue_size: int = 32,
                 header_timeout_s: float = 10.0, body_timeout_s: float = 20.0,
                 print_qr: bool = True) -> None:
        from coach.sources.device_clock import DeviceClock
        from coach.sources.http_server import make_token

        self.host, self.port = host, port
        self.mqtt = parse_mqtt_url(mqtt_url) if mqtt_url else None
        self._mqtt_client_factory = mqtt_client
        self._mqtt_task: asyncio.Task | None = None
        self.duration_s = duration_s
        self.idle_timeout = idle_timeout
        self.name = f"phone:sensorlogger@{port}"
        self.stats = LinkStats()
        self.notify = notify or (lambda m: log.warning(m))
        self.parser = SensorLoggerParser()
        self.clock = DeviceClock()
        self.token = token or make_token()
        self.max_body = max_body
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        self.print_qr = print_qr
        self.queue_size = queue_size
        self._queue: asyncio.Queue[bytes] | None = None
        self._bp: Any = None
        self.runner: Any = None
        self.url: str | None = None

    @property
    def queue(self) -> asyncio.Queue[bytes]:
        if self._queue is None:
            if self.mqtt is None:
                from coach.sources.http_server import Backpressure
                self._bp = Backpressure(self.queue_size)
                self._queue = self._bp.queue
            else:
                self._queue = asyncio.Queue(maxsize=256)
        return self._queue

    def request_stop(self) -> None:
        """End the stream cleanly (Ctrl-C in `coach run`)."""
        q = self.queue
        while q.full():
            q.get_nowait()
        q.put_nowait(b"")

    async def _push(self, request: Any) -> Any:
        from aiohttp import web

        from coach.sources.http_server import read_body
        if request.method != "POST":
            return web.Response(text="retro-coach: POST Sensor Logger's HTTP Push here\n")
        body = await read_body(request, self.body_timeout_s)
        if body:
            await self._bp.put(body)
        return web.Response(status=200)

    async def start(self) -> None:
        from coach.sources.http_server import choose_host, make_app, start_app
        _ = self.queue
        where = choose_host(self.host)
        app = make_app(self.token, max_body=self.max_body, header_timeout_s=self.header_timeout_s)
        app.router.add_route("*", "/{tail:.*}", self._push)   # any path: the token is what counts
        self.runner, self.port = await start_app(app, where.host, self.port)
        self.name = f"phone:sensorlogger@{self.port}"
        self.url = f"http://{where.public}:{self.port}/push?token={self.token}"
        self.notify(where.why)
        if self.print_qr:
            from coach.sources.http_server import print_address
            print_address(self.url, "Sensor Logger > Settings > Data Streaming > HTTP Push URL")

    async def stop(self) -> None:
        if self.runner is not None:
            runner, self.runner = self.runner, None
            await runner.cleanup()

    async def _mqtt_pump(self) -> None:
        """Subscribe to the Sensor Logger topic; every message goes to the queue."""
        m = self.mqtt
        assert m is not None
        if self._mqtt_client_factory is not None:
            client = self._mqtt_client_factory(m)
        else:
            import ssl

            import aiomqtt
            client = aiomqtt.Client(m["hostname"], m["port"], username=m["username"],
                                    password=m["password"], transport=m["transport"],
                                    tls_context=ssl.create_default_context() if m["tls"] else None)
        try:
            async with client:
                await client.subscribe(m["topic"])
                async for msg in client.messages:
                    payload = msg.payload
                    body = payload if isinstance(payload, bytes) else str(payload).encode()
                    if len(body) > self.max_body:     # as the HTTP push's limit (413)
                        self.stats.decode_errors += 1
                        log.warning("skipped an MQTT message of %d bytes (the limit is %d)",
                                    len(body), self.max_body)
                        continue
                    await self.queue.put(body)
        except Exception as e:  # noqa: BLE001 - reported once, the stream ends on idle
            self.notify(f"MQTT broker {m['hostname']}:{m['port']}: {e}")

    async def stream(self) -> AsyncIterator[SampleBatch]:
        if self.mqtt is not None:
            self.name = f"phone:sensorlogger@mqtt/{self.mqtt['topic']}"
            self._mqtt_task = asyncio.create_task(self._mqtt_pump())
            self.notify(f"waiting for Sensor Logger on MQTT topic {self.mqtt['topic']!r} at "
                        f"{self.mqtt['hostname']}:{self.mqtt['port']}")
        elif self.runner is None:
            await self.start()
        if self.mqtt is None:
            self.notify(f"waiting for Sensor Logger on port {self.port}")
        last_msg: int | None = None
        queue = self.queue
        try:
            while True:
                try:
                    body = await asyncio.wait_for(queue.get(), self.idle_timeout)
                except TimeoutError:
                    self.notify(f"no data from the phone for {self.idle_timeout:g} s; ending")
                    return
                if body == b"":
                    return
                try:
                    tns, acc, info = self.parser.parse(body)
                except CoachError as e:
                    self.stats.decode_errors += 1
                    if self.stats.decode_errors <= 3:
                        log.warning("skipped a bad message: %s", e)
                    continue
                self.stats.packets += 1
                mid = info.get("messageId")
                if isinstance(mid, int) and last_msg is not None:
                    if mid <= last_msg:
                        self.stats.dup_packets += 1
                    elif mid > last_msg + 1:
                        self.stats.lost_packets += mid - last_msg - 1
                if isinstance(mid, int):
                    last_msg = max(mid, last_msg if last_msg is not None else mid)
                if not len(tns):
                    continue
                before = self.clock.out_of_range
                m = self.clock.map(tns.astype(np.float64) / 1e9)
                if self.clock.out_of_range > before:
                    log.warning("dropped %d phone samples with a time far outside the stream's clock",
                                self.clock.out_of_range - before)
                self.stats.dup_samples = self.clock.duplicates
                t, acc = m.t, acc[m.keep]
                if not len(t):
                    continue
                if m.gap:
                    self.stats.gaps += 1
                    self.stats.gap_seconds += 0.0
                self.stats.gap_seconds = self.clock.gap_seconds
                self.stats.samples += len(t)
                done = self.duration_s is not None and t[-1] >= self.duration_s
                yield SampleBatch(t, acc, gap_before=m.gap,
                                  meta={"profile": "sensorlogger", **self.stats.to_dict(),
                                        "dropped_bad_time": self.clock.out_of_range + self.parser.bad_times})
                if done:
                    return
        finally:
            await self.stop()
            if self._mqtt_task is not None:
                self._mqtt_task.cancel()
