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


@dataclass
class SensorLoggerParser:
    """Sensor Logger messages -> (time ns, acc in g) with gravity included."""

    gravity: tuple[float, float, float] | None = None
    warned: set[str] = field(default_factory=set)

    def parse(self, body: bytes | str | dict) -> tuple[np.ndarray, np.ndarray, dict]:
        try:
            msg = json.loads(body) if isinstance(body, (bytes, str)) else body
            payload = msg["payload"]
            if not isinstance(payload, list):
                raise TypeError("payload is not a list")
        except (ValueError, KeyError, TypeError) as err:
            raise CoachError(f"not a Sensor Logger message ({type(err).__name__}: {err})") from None
        total, user, grav = [], [], []
        for e in payload:
            if not isinstance(e, dict):
                continue
            name = str(e.get("name", "")).lower()
            try:
                if name == "totalacceleration":
                    total.append((int(e["time"]), *_xyz(e)))
                elif name == "accelerometer":
                    user.append((int(e["time"]), *_xyz(e)))
                elif name == "gravity":
                    grav.append((int(e["time"]), *_xyz(e)))
            except (KeyError, TypeError, ValueError):
                continue
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
    broker, with mqtt_url) and streams it as SampleBatches."""

    def __init__(self, host: str = "0.0.0.0", port: int = 8000, *,
                 duration_s: float | None = None, idle_timeout: float = 120.0,
                 notify: Callable[[str], None] | None = None,
                 mqtt_url: str | None = None, mqtt_client: Any = None) -> None:
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
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.server: asyncio.AbstractServer | None = None

    def request_stop(self) -> None:
        """End the stream cleanly (Ctrl-C in `coach run`)."""
        self._queue.put_nowait(b"")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in
                           (ln.partition(":") for ln in lines[1:] if ln)}
                n = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(n) if n else b""
                if lines[0].startswith("POST") and body:
                    self._queue.put_nowait(body)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def start(self) -> None:
        try:
            self.server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as e:
            raise CoachError(f"cannot listen on {self.host}:{self.port} ({e.strerror or e})") from None
        self.port = self.server.sockets[0].getsockname()[1]

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
                    self._queue.put_nowait(payload if isinstance(payload, bytes) else str(payload).encode())
        except Exception as e:  # noqa: BLE001 - reported once, the stream ends on idle
            self.notify(f"MQTT broker {m['hostname']}:{m['port']}: {e}")

    async def stream(self) -> AsyncIterator[SampleBatch]:
        if self.mqtt is not None:
            self.name = f"phone:sensorlogger@mqtt/{self.mqtt['topic']}"
            self._mqtt_task = asyncio.create_task(self._mqtt_pump())
            self.notify(f"waiting for Sensor Logger on MQTT topic {self.mqtt['topic']!r} at "
                        f"{self.mqtt['hostname']}:{self.mqtt['port']}")
        elif self.server is None:
            await self.start()
        if self.mqtt is None:
            self.notify(f"waiting for Sensor Logger on port {self.port} (HTTP Push URL: "
                        f"http://<this computer's address>:{self.port}/)")
        t0_ns: int | None = None
        last_t = -np.inf
        last_msg: int | None = None
        try:
            while True:
                try:
                    body = await asyncio.wait_for(self._queue.get(), self.idle_timeout)
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
                if t0_ns is None:
                    t0_ns = int(tns[0])
                t = (tns - t0_ns) / 1e9 + 1e-3
                keep = t > last_t
                self.stats.dup_samples += int((~keep).sum())
                t, acc = t[keep], acc[keep]
                if not len(t):
                    continue
                gap = bool(np.isfinite(last_t) and t[0] - last_t > 1.0)
                if gap:
                    self.stats.gaps += 1
                    self.stats.gap_seconds += float(t[0] - last_t)
                # equal stamps inside a message: keep order strictly increasing
                t = np.maximum.accumulate(t)
                t = t + np.cumsum(np.diff(t, prepend=-np.inf) <= 0) * 1e-6
                last_t = float(t[-1])
                self.stats.samples += len(t)
                done = self.duration_s is not None and last_t >= self.duration_s
                yield SampleBatch(t, acc, gap_before=gap,
                                  meta={"profile": "sensorlogger", **self.stats.to_dict()})
                if done:
                    return
        finally:
            if self.server is not None:
                self.server.close()
            if self._mqtt_task is not None:
                self._mqtt_task.cancel()
