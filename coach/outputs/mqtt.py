"""MQTT output: live state, events and Home Assistant discovery (aiomqtt).

Topics, under a base topic (default "coach"):
  <base>/<id>/state         retained JSON: direction, retro_steps, retro_seconds, cadence, interval,
                            battery, connected, ... (at most once per stream second + on changes)
  <base>/<id>/event         JSON per direction change, gap, prompt, safety alert and session end;
                            "type" (and "event_type", for Home Assistant) as in EVENT_TYPES;
                            "seq" numbers them per session
  <base>/<id>/alert         JSON per suspected fall ("type"/"event_type" "fall"): the Fall alert entity
  <base>/<id>/totals        retained JSON: today_minutes, week_minutes (kept between sessions)
  <base>/<id>/availability  retained "online"/"offline" (also the connection's last will)
  homeassistant/...         retained discovery configs, re-sent on every (re)connect and when
                            Home Assistant announces itself on homeassistant/status

Messages wait in an in-memory queue until the broker acknowledges them (QoS 1), so a broker
outage only delays them: the link reconnects and resumes where it stopped. Credentials come
from the URL, $COACH_MQTT_USERNAME/$COACH_MQTT_PASSWORD or [mqtt] in config.toml and are
never logged.
"""
from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import logging
import os
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from coach import __version__
from coach.detect.types import AnalysisResult, Event, LiveState
from coach.errors import CoachError
from coach.outputs.config import load_section

log = logging.getLogger(__name__)

Message = tuple[str, bytes, int, bool]  # topic, payload, qos, retain

# the package's own version (one number with pyproject's, tested): importlib.metadata had cost
# 12 ms of every command's start-up, and a bare checkout had said 0.1.0
SW_VERSION = __version__
SUPPORT_URL = "https://github.com/retro-coach/retro-coach"
ORIGIN = {"name": "retro-coach", "sw_version": SW_VERSION, "support_url": SUPPORT_URL}
DIRECTION_OPTIONS = ("forward", "backward", "still", "other")
# the routine event entity's types: every type published on <base>/<id>/event
EVENT_TYPES = ("direction_change", "gap", "prompt", "safety_alert", "session_end")
# the fall alert entity's types, on <base>/<id>/alert (a suspected fall, nothing routine)
ALERT_TYPES = ("fall",)
EXPIRE_AFTER_S = 30   # live values (direction, cadence, heart rate, connected) go stale after this


@dataclass
class MqttSettings:
    """Where and how to connect; build with MqttSettings.from_url()."""

    host: str = "localhost"
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    tls_insecure: bool = False
    base_topic: str = "coach"
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    keepalive: int = 30
    drain_timeout_s: float = 60.0
    max_buffer: int = 100_000

    @classmethod
    def from_url(cls, url: str | None = None, **overrides: Any) -> "MqttSettings":
        """mqtt[s]://[user:pass@]host[:port][/base_topic]; [mqtt] config and env fill the gaps."""
        cfg = load_section("mqtt")
        url = url or cfg.get("url")
        if not url:
            raise CoachError("no MQTT broker: give --mqtt mqtt://host[:port] or set [mqtt] url")
        if not isinstance(url, str):
            raise CoachError(f"MQTT URL must be a string, not {url!r}")
        try:
            parts = urlsplit(url if "://" in url else f"mqtt://{url}")
            parts.port  # noqa: B018 - parses the port now: ValueError on a bad one
        except ValueError as e:
            raise CoachError(f"bad MQTT URL ({e}): expected mqtt[s]://[user:pass@]host[:port]"
                             "[/base_topic]") from None
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise CoachError(f"MQTT URL must start with mqtt:// or mqtts://, not {parts.scheme}://")
        tls = parts.scheme in ("mqtts", "ssl") or bool(cfg.get("tls", False))
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError:
            raise CoachError("MQTT URL has a bad port") from None
        if not parts.hostname:
            raise CoachError("MQTT URL has no host")
        s = cls(
            host=parts.hostname, port=port,
            username=unquote(parts.username) if parts.username else
            os.environ.get("COACH_MQTT_USERNAME") or cfg.get("username"),
            password=unquote(parts.password) if parts.password else
            os.environ.get("COACH_MQTT_PASSWORD") or cfg.get("password"),
            tls=tls, ca_file=cfg.get("ca_file"), certfile=cfg.get("certfile"),
            keyfile=cfg.get("keyfile"), tls_insecure=bool(cfg.get("tls_insecure", False)),
            base_topic=(parts.path.strip("/") or str(cfg.get("base_topic", "coach"))),
            discovery=bool(cfg.get("discovery", True)),
            discovery_prefix=str(cfg.get("discovery_prefix", "homeassistant")),
            keepalive=int(cfg.get("keepalive", 30)),
            drain_timeout_s=float(cfg.get("drain_timeout_s", 60.0)),
            max_buffer=int(cfg.get("max_buffer", 100_000)),
        )
        return replace(s, **{k: v for k, v in overrides.items() if v is not None})

    def redacted(self) -> str:
        """The broker address for logs and messages, never the credentials."""
        user = f"{self.username}:***@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        try:
            ctx = ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as e:
            raise CoachError(f"MQTT TLS: [mqtt] ca_file {self.ca_file}: "
                             f"{getattr(e, 'strerror', None) or e}") from None
        if self.certfile:
            try:
                ctx.load_cert_chain(self.certfile, self.keyfile)
            except (OSError, ssl.SSLError) as e:
                raise CoachError(f"MQTT TLS: [mqtt] certfile {self.certfile} / keyfile "
                                 f"{self.keyfile}: {getattr(e, 'strerror', None) or e}") from None
        if self.tls_insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


def describe_failure(exc: BaseException, settings: MqttSettings) -> tuple[str, bool]:
    """A one-line cause for a failed connection, and whether retrying cannot help (bad
    credentials, TLS verification): (message, final). Never contains the credentials."""
    where = settings.redacted()
    rc = getattr(exc, "rc", None)
    code = getattr(rc, "value", rc)
    if code in (4, 5, 134, 135):   # Mosquitto answers a wrong password with 135 too
        if settings.username:
            return (f"MQTT broker {where} refused the login: bad user name or password "
                    "(or that user is not authorised)"), True
        return (f"MQTT broker {where} refused the connection: not authorised (give a user name "
                "and password in the URL, $COACH_MQTT_USERNAME/PASSWORD or [mqtt])"), True
    if code is not None and getattr(exc, "__class__", type).__name__ == "MqttConnectError":
        return f"MQTT broker {where} refused the connection: {exc}", True
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        if cause.verify_code == 62 or "hostname" in str(cause.verify_message).lower() \
                or "match" in str(cause.verify_message).lower():
            return (f"MQTT broker {where}: TLS certificate does not match host {settings.host!r} "
                    f"({cause.verify_message})"), True
        return (f"MQTT broker {where}: TLS certificate not trusted ({cause.verify_message}); "
                "give the broker's CA with [mqtt] ca_file"), True
    if isinstance(cause, ssl.SSLError):
        return f"MQTT broker {where}: TLS handshake failed ({cause.reason or cause})", True
    if isinstance(cause, ConnectionRefusedError):
        return f"MQTT broker {where} refused the connection (is it running on that port?)", False
    if isinstance(cause, socket.gaierror):
        return f"MQTT broker {where}: unknown host {settings.host!r}", False
    if isinstance(cause, (TimeoutError, socket.timeout)):
        return f"MQTT broker {where} did not answer (timed out)", False
    if cause is not None:
        return f"MQTT broker {where} unreachable: {cause.strerror or cause}", False
    return f"MQTT broker {where} unreachable: {exc}", False


def sanitize_id(s: str) -> str:
    """A topic- and Home-Assistant-safe id. Letters beyond ASCII cannot be kept: a short hash of
    the original keeps two such ids apart ("é☃" and "ü" had both become "coach")."""
    out = re.sub(r"[^A-Za-z0-9_-]+", "_", s).strip("_")
    if not s.isascii():
        tag = hashlib.sha1(s.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        out = f"{out}_{tag}" if out else f"id_{tag}"
    return out or "coach"


def default_device_id() -> str:
    return sanitize_id(str(load_section("mqtt").get("device_id") or socket.gethostname()))


class MqttLink:
    """One broker connection with a lossless outgoing queue and automatic reconnects.

    publish() never blocks; messages leave the queue only when the broker acknowledged them.
    Retained messages published with coalesce=True replace a not-yet-sent one on the same topic.
    """

    def __init__(self, settings: MqttSettings, *, client_id: str | None = None,
                 will: Message | None = None,
                 on_connect: Callable[[], Iterable[Message]] | None = None,
                 subscriptions: Iterable[str] = (),
                 on_message: Callable[[str, bytes], Awaitable[None] | None] | None = None,
                 window: int = 64, fail_fast: bool = False) -> None:
        self.settings = settings
        self.client_id = client_id or f"coach-{socket.gethostname()}-{os.getpid()}-{id(self) & 0xffff:x}"
        self.will = will
        self.on_connect = on_connect
        self.subscriptions = list(subscriptions)
        self.on_message = on_message
        self.window = window
        self.queue: collections.deque[list[Any]] = collections.deque()
        self._coalesce: dict[str, list[Any]] = {}
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight = 0
        self.connected = asyncio.Event()
        self.connects = 0
        self.sent = 0
        self.dropped = 0
        self.client: Any = None
        self._stopping = False
        self.failure: str | None = None   # the last connection failure, one line
        self.final = False                # that failure cannot be cured by retrying
        self.fail_fast = fail_fast        # give up if the very first connection fails
        settings.tls_context()            # a missing or unreadable CA/certificate: say so now

    # -- API --------------------------------------------------------------------------
    def publish(self, topic: str, payload: bytes | str | dict[str, Any], qos: int = 1,
                retain: bool = False, coalesce: bool = False) -> None:
        if isinstance(payload, dict):
            payload = json.dumps(payload, separators=(",", ":"))
        if isinstance(payload, str):
            payload = payload.encode()
        if coalesce and topic in self._coalesce:
            self._coalesce[topic][1] = payload
            return
        item = [topic, payload, qos, retain]
        if coalesce:
            self._coalesce[topic] = item
        if len(self.queue) >= self.settings.max_buffer:
            old = self.queue.popleft()
            if self._coalesce.get(old[0]) is old:
                del self._coalesce[old[0]]
            self.dropped += 1
            if self.dropped == 1:
                log.warning("MQTT buffer full (%d); dropping oldest messages", self.settings.max_buffer)
        self.queue.append(item)
        self._wakeup.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="mqtt-link")

    @property
    def pending(self) -> int:
        return len(self.queue) + self._inflight

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until every queued message is acknowledged; False on timeout."""
        self.start()
        deadline = time.monotonic() + (self.settings.drain_timeout_s if timeout is None else timeout)
        while self.pending:
            if self._task is not None and self._task.done():
                break
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return not self.pending

    async def stop(self, drain: bool = True) -> bool:
        ok = await self.drain() if drain and self._task else not self.pending
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._task = None
        return ok

    # -- connection loop ----------------------------------------------------------------
    def _client(self) -> Any:
        import aiomqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        s = self.settings
        will = None
        if self.will:
            will = aiomqtt.Will(self.will[0], self.will[1], self.will[2], self.will[3])
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0
        client = aiomqtt.Client(
            s.host, s.port, username=s.username, password=s.password, identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5, will=will, keepalive=s.keepalive,
            tls_context=s.tls_context(), tls_insecure=s.tls_insecure if s.tls else None,
            timeout=10.0, logger=logging.getLogger("coach.outputs.mqtt.paho"),
            max_queued_incoming_messages=0)
        client.pending_calls_threshold = 10 * self.window  # we window publishes ourselves
        return client

    async def _run(self) -> None:
        import aiomqtt

        backoff = 0.1
        while not self._stopping:
            reader: asyncio.Task[None] | None = None
            try:
                async with self._client() as client:
                    self.client = client
                    self.connects += 1
                    self.failure = None
                    backoff = 0.1
                    # back after a loss: said as plainly as the loss was
                    log.log(logging.WARNING if self.connects > 1 else logging.INFO,
                            "MQTT %s %s", "back at" if self.connects > 1 else "connected to",
                            self.settings.redacted())
                    for topic in self.subscriptions:
                        await client.subscribe(topic, qos=1)
                    # the reader also notices a lost connection (the message iterator ends)
                    reader = asyncio.get_running_loop().create_task(self._read(client))
                    if self.on_connect:
                        first = [[t, p if isinstance(p, bytes) else p.encode(), q, r]
                                 for t, p, q, r in self.on_connect()]
                        self.queue.extendleft(reversed(first))
                    self.connected.set()
                    await self._send_loop(client, reader)
            except (aiomqtt.MqttError, OSError) as e:
                msg, final = describe_failure(e, self.settings)
                if msg != self.failure:
                    # a broker lost mid-session is said without -v (nothing is lost: messages
                    # wait, up to max_buffer); a first connection's failure is the caller's
                    log.log(logging.WARNING if self.connects else logging.INFO,
                            "MQTT link to %s lost: %s%s", self.settings.redacted(), msg,
                            "; retrying, messages wait" if self.connects else "")
                self.failure = msg
                # a refused login or an untrusted certificate stays so: do not retry it (and
                # neither an unreachable broker before the first connection: say so at once)
                if final or (self.connects == 0 and self.fail_fast):
                    self.final = True
                    log.debug("MQTT link gives up: %s", msg)
                    break
            finally:
                self.connected.clear()
                self.client = None
                if reader is not None:
                    reader.cancel()
            if self._stopping:
                break
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _send_loop(self, client: Any, reader: asyncio.Task[None] | None) -> None:
        assert reader is not None
        while True:
            if reader.done():
                reader.result()      # the reason the connection ended, if any
                raise OSError("disconnected")
            if not self.queue:
                self._wakeup.clear()
                wake = asyncio.ensure_future(self._wakeup.wait())
                await asyncio.wait([wake, reader], return_when=asyncio.FIRST_COMPLETED)
                wake.cancel()
                continue
            batch = [self.queue.popleft() for _ in range(min(self.window, len(self.queue)))]
            for item in batch:
                if self._coalesce.get(item[0]) is item:
                    del self._coalesce[item[0]]
            self._inflight = len(batch)
            results: list[Any] = []
            try:
                sends = asyncio.gather(*(client.publish(t, p, qos=q, retain=r, timeout=10.0)
                                         for t, p, q, r in batch), return_exceptions=True)
                waiting: set[asyncio.Future[Any]] = {sends, reader}
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if sends in done:
                    results = sends.result()
                else:
                    sends.cancel()
                    results = [OSError("disconnected")] * len(batch)
            finally:
                if len(results) < len(batch):
                    failed = batch
                else:
                    failed = [it for it, r in zip(batch, results) if isinstance(r, BaseException)]
                self.sent += len(batch) - len(failed)
                self.queue.extendleft(reversed(failed))
                self._inflight = 0
            if failed:
                raise OSError(f"{len(failed)} publishes not acknowledged")

    async def _read(self, client: Any) -> None:
        async for msg in client.messages:
            if self.on_message is None:
                continue
            payload = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload or "").encode()
            try:
                res = self.on_message(str(msg.topic), payload)
                if asyncio.iscoroutine(res):
                    await res
            except Exception as e:  # noqa: BLE001 - one bad message must not deafen the link
                log.warning("MQTT message on %s dropped: %s: %s", msg.topic, type(e).__name__,
                            str(e)[:200])


def interval_text(interval: Any) -> str:
    """The interval as a readable state ("2: backward 1:00 (running)"), "" when none."""
    if interval is None or interval == "":
        return "none"
    if not isinstance(interval, dict):
        return str(interval)[:255]
    idx = interval.get("index")
    of = interval.get("of")
    what = interval.get("label") or interval.get("direction") or "interval"
    head = f"{idx + 1}/{of}" if isinstance(idx, int) and of else f"{idx + 1}" if isinstance(idx, int) else ""
    planned = interval.get("planned_s")
    dur = f" {int(planned) // 60}:{int(planned) % 60:02d}" if isinstance(planned, (int, float)) else ""
    status = f" ({interval['status']})" if interval.get("status") else ""
    return (f"{head}: " if head else "") + f"{what}{dur}{status}"


def state_payload(state: LiveState | None, *, interval: Any = None, battery: float | None = None,
                  connected: bool = True, active: bool = True, tallies: Any = None,
                  heart_rate: int | None = None) -> dict[str, Any]:
    """The retained state JSON (every field is also an attribute of the direction sensor)."""
    t = tallies if tallies is not None else (state.tallies if state else None)
    return {
        "t_s": round(state.t_s, 3) if state else None,
        "direction": state.direction if state else "still",
        "retro_steps": t.retro_steps if t else 0,
        "retro_seconds": round(t.retro_seconds, 2) if t else 0.0,
        "retro_minutes": round(t.retro_seconds / 60, 2) if t else 0.0,
        "forward_steps": t.forward_steps if t else 0,
        "forward_seconds": round(t.forward_seconds, 2) if t else 0.0,
        "direction_changes": t.direction_changes if t else 0,
        "cadence": round(state.cadence_spm, 1) if state else 0.0,
        "heart_rate": heart_rate,
        "interval": interval,
        "interval_text": interval_text(interval),
        "battery": battery,
        "connected": connected,
        "active": active,
    }


@dataclass
class DeviceTopics:
    """The topics and Home Assistant discovery of one coached wearer/sensor."""

    settings: MqttSettings
    device_id: str
    name: str | None = None

    @property
    def root(self) -> str:
        return f"{self.settings.base_topic}/{self.device_id}"

    @property
    def state(self) -> str:
        return f"{self.root}/state"

    @property
    def event(self) -> str:
        return f"{self.root}/event"

    @property
    def availability(self) -> str:
        return f"{self.root}/availability"

    @property
    def alert(self) -> str:
        return f"{self.root}/alert"

    @property
    def totals(self) -> str:
        return f"{self.root}/totals"

    def discovery(self) -> list[Message]:
        """Retained Home Assistant MQTT discovery configs, current schema: `default_entity_id`
        (not the deprecated `object_id`), an `origin` block, `sw_version` on the device, the
        direction an `enum` sensor, state fields as attributes, diagnostics marked, values that
        go stale with `expire_after`; one event entity for routine events and one for falls."""
        if not self.settings.discovery:
            return []
        p, uid = self.settings.discovery_prefix, f"retro_coach_{self.device_id}"
        device = {"identifiers": [uid], "name": self.name or f"Retro coach {self.device_id}",
                  "manufacturer": "retro-coach", "model": "backward-walking coach",
                  "sw_version": SW_VERSION}
        common = {"state_topic": self.state, "availability_topic": self.availability,
                  "device": device, "origin": ORIGIN}
        stale = {"expire_after": EXPIRE_AFTER_S}
        sensors: list[tuple[str, str, dict[str, Any]]] = [
            ("sensor", "direction", {"name": "Direction", "icon": "mdi:swap-vertical",
                                     "device_class": "enum", "options": list(DIRECTION_OPTIONS),
                                     "value_template": "{{ value_json.direction }}",
                                     "json_attributes_topic": self.state, **stale}),
            ("sensor", "retro_steps", {"name": "Retro steps", "icon": "mdi:shoe-print",
                                       "unit_of_measurement": "steps", "state_class": "total_increasing",
                                       "value_template": "{{ value_json.retro_steps }}"}),
            ("sensor", "retro_minutes", {"name": "Retro minutes", "device_class": "duration",
                                         "unit_of_measurement": "min", "state_class": "total_increasing",
                                         "value_template": "{{ value_json.retro_minutes }}"}),
            ("sensor", "forward_steps", {"name": "Forward steps", "icon": "mdi:walk",
                                         "unit_of_measurement": "steps",
                                         "state_class": "total_increasing",
                                         "value_template": "{{ value_json.forward_steps }}"}),
            ("sensor", "cadence", {"name": "Cadence", "unit_of_measurement": "steps/min",
                                   "state_class": "measurement", "icon": "mdi:metronome",
                                   "value_template": "{{ value_json.cadence }}", **stale}),
            ("sensor", "heart_rate", {"name": "Heart rate", "unit_of_measurement": "bpm",
                                      "state_class": "measurement", "icon": "mdi:heart-pulse",
                                      "value_template": "{{ value_json.heart_rate }}", **stale}),
            ("sensor", "interval", {"name": "Interval", "icon": "mdi:timer-outline",
                                    "value_template": "{{ value_json.interval_text }}",
                                    "json_attributes_topic": self.state,
                                    "json_attributes_template":
                                        "{{ (value_json.interval if value_json.interval is mapping "
                                        "else {}) | tojson }}"}),
            ("sensor", "battery", {"name": "Battery", "device_class": "battery",
                                   "unit_of_measurement": "%", "state_class": "measurement",
                                   "entity_category": "diagnostic",
                                   "value_template": "{{ value_json.battery }}"}),
            ("binary_sensor", "connected", {"name": "Sensor connected", "device_class": "connectivity",
                                            "entity_category": "diagnostic",
                                            "payload_on": "True", "payload_off": "False",
                                            "value_template": "{{ value_json.connected }}", **stale}),
        ]
        out: list[Message] = []
        for component, key, cfg in sensors:
            body = {**common, **cfg, "unique_id": f"{uid}_{key}",
                    "default_entity_id": f"{component}.{uid}_{key}"}
            out.append((f"{p}/{component}/{uid}/{key}/config", _j(body), 1, True))
        # today's and this week's retro minutes: retained, kept between sessions (no
        # availability topic: they stay valid while no session runs)
        for key, name, field_ in (("retro_minutes_today", "Retro minutes today", "today_minutes"),
                                  ("retro_minutes_week", "Retro minutes this week", "week_minutes")):
            body = {"name": name, "unique_id": f"{uid}_{key}", "default_entity_id": f"sensor.{uid}_{key}",
                    "state_topic": self.totals, "value_template": f"{{{{ value_json.{field_} }}}}",
                    "json_attributes_topic": self.totals, "device_class": "duration",
                    "unit_of_measurement": "min", "state_class": "measurement",
                    "icon": "mdi:calendar-week" if "week" in key else "mdi:calendar-today",
                    "device": device, "origin": ORIGIN}
            out.append((f"{p}/sensor/{uid}/{key}/config", _j(body), 1, True))
        ev = {"name": "Coach event", "unique_id": f"{uid}_event", "default_entity_id": f"event.{uid}_event",
              "state_topic": self.event, "availability_topic": self.availability, "device": device,
              "origin": ORIGIN, "event_types": list(EVENT_TYPES)}
        out.append((f"{p}/event/{uid}/event/config", _j(ev), 1, True))
        fall = {"name": "Fall alert", "unique_id": f"{uid}_fall", "default_entity_id": f"event.{uid}_fall",
                "state_topic": self.alert, "availability_topic": self.availability, "device": device,
                "origin": ORIGIN, "event_types": list(ALERT_TYPES), "icon": "mdi:alert-octagon"}
        out.append((f"{p}/event/{uid}/fall/config", _j(fall), 1, True))
        return out


def _j(d: dict[str, Any]) -> bytes:
    return json.dumps(d, separators=(",", ":"), default=float).encode()


def event_payload(e: Event, device_id: str, seq: int) -> dict[str, Any]:
    """An event message; `event_type` is what Home Assistant's event entity reads (the other
    keys become the event's attributes), `type` the same for other consumers."""
    data = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in e.data.items()}
    return {"event_type": e.type, "type": e.type, "t_s": round(e.t_s, 3), **data,
            "device_id": device_id, "seq": seq}


class DeviceChannel:
    """State/event publishing for one device over a shared MqttLink (used by the publisher and
    by `coach serve`)."""

    def __init__(self, link: MqttLink, topics: DeviceTopics,
                 totals_base: tuple[float, float] | None = None) -> None:
        self.link = link
        self.topics = topics
        self.seq = 0
        self.direction_changes_sent = 0
        self.interval: Any = None
        self.battery: float | None = None
        self.heart_rate: int | None = None
        self.connected = True
        # retro seconds today and this week before this session (None: totals not published)
        self.totals_base = totals_base
        self._last_state_t: float | None = None
        self._last_state: dict[str, Any] | None = None
        self._last_totals: dict[str, Any] | None = None

    def hello(self) -> list[Message]:
        """What to (re)send on every connect: discovery, availability and the last state."""
        msgs = list(self.topics.discovery())
        msgs.append((self.topics.availability, b"online", 1, True))
        if self._last_state is not None:
            msgs.append((self.topics.state, _j(self._last_state), 1, True))
        if self.totals_base is not None:
            msgs.append((self.topics.totals, _j(self._totals(self._last_state)), 1, True))
        return msgs

    def _totals(self, st: dict[str, Any] | None) -> dict[str, Any]:
        today_s, week_s = self.totals_base or (0.0, 0.0)
        now = (st or {}).get("retro_seconds") or 0.0
        day = datetime.now().astimezone().date()
        y, w, _ = day.isocalendar()
        return {"today_minutes": round((today_s + now) / 60, 1),
                "week_minutes": round((week_s + now) / 60, 1),
                "session_minutes": round(now / 60, 2),
                "date": day.isoformat(), "week": f"{y}-W{w:02d}"}

    def send_event(self, payload: dict[str, Any], topic: str | None = None) -> None:
        self.seq += 1
        payload.setdefault("device_id", self.topics.device_id)
        payload.setdefault("event_type", payload.get("type"))
        payload["seq"] = self.seq
        self.link.publish(topic or self.topics.event, payload, qos=1)

    def send_state(self, payload: dict[str, Any]) -> None:
        self._last_state = payload
        self.link.publish(self.topics.state, payload, qos=1, retain=True, coalesce=True)
        if self.totals_base is not None:
            tot = self._totals(payload)
            if tot != self._last_totals:
                self._last_totals = tot
                self.link.publish(self.topics.totals, tot, qos=1, retain=True, coalesce=True)

    def _state(self, state: LiveState | None, **kw: Any) -> dict[str, Any]:
        return state_payload(state, interval=self.interval, battery=self.battery,
                             connected=self.connected, heart_rate=self.heart_rate, **kw)

    def on_live(self, state: LiveState, events: list[Event]) -> None:
        changed = False
        for e in events:
            if e.type == "direction_change":
                self.direction_changes_sent += 1
                changed = True
                self.seq += 1
                self.link.publish(self.topics.event, event_payload(e, self.topics.device_id, self.seq))
            elif e.type == "gap":
                self.seq += 1
                self.link.publish(self.topics.event, event_payload(e, self.topics.device_id, self.seq))
        if changed or self._last_state_t is None or state.t_s - self._last_state_t >= 1.0:
            self._last_state_t = state.t_s
            self.send_state(self._state(state))

    def prompt(self, prompt: dict[str, Any], alert: bool = False) -> None:
        """A spoken prompt (look-back reminders and stumble cues included: kind says which) is a
        routine `prompt` event with its text; an alert is a `fall` on the alert topic (the Fall
        alert entity) when it is one, else a `safety_alert`."""
        kind = str(prompt.get("kind") or "")
        body = {k: v for k, v in prompt.items() if k not in ("type", "event_type")}
        if alert or prompt.get("type") in ALERT_TYPES + ("safety_alert",):
            if kind in ALERT_TYPES or prompt.get("type") in ALERT_TYPES:
                self.send_event({"type": "fall", **body}, topic=self.topics.alert)
            else:
                self.send_event({"type": "safety_alert", **body})
        else:
            self.send_event({"type": "prompt", **body})

    def on_end(self, result: AnalysisResult, state: LiveState | None) -> None:
        # what the live stream did not announce but the final analysis counts (e.g. a change
        # confirmed only when the stream ended) goes out now, so counts match `coach analyze`
        final = [e for e in result.events if e.type == "direction_change"]
        for e in final[self.direction_changes_sent:]:
            self.direction_changes_sent += 1
            self.seq += 1
            self.link.publish(self.topics.event, event_payload(e, self.topics.device_id, self.seq))
        last_dir = result.segments[-1].direction if result.segments else "still"
        st = self._state(state, active=False, tallies=result.tallies)
        st["direction"] = last_dir
        st["t_s"] = round(result.duration_s, 3)
        self.send_state(st)
        self.send_event({"type": "session_end", "t_s": round(result.duration_s, 3),
                         "summary": result.to_json()["summary"]})


class MqttPublisher:
    """An Observer publishing one session's state and events (and HA discovery).

        pub = MqttPublisher("mqtt://user:pw@host", device_id="alice")
        await run_session(source, pipeline, [pub])     # on_end flushes and disconnects
    Also: publish_prompt(dict), publish_alert(dict), publish_interval(x), set_battery(pct),
    set_connected(bool) (a BLE source calls it on a drop: `connected` goes false at once).
    totals_base=(today_s, week_s): retro seconds stored today and this week before this
    session; then <base>/<id>/totals (retained) carries today's and this week's retro minutes.
    """

    is_alert_path = True     # alerts published here reach someone (the coach says "Alert sent")

    def __init__(self, url: str | MqttSettings | None, device_id: str | None = None,
                 base_topic: str | None = None, *, name: str | None = None,
                 discovery: bool | None = None,
                 totals_base: tuple[float, float] | None = None) -> None:
        settings = url if isinstance(url, MqttSettings) else MqttSettings.from_url(url)
        if base_topic:
            settings = replace(settings, base_topic=base_topic.strip("/"))
        if discovery is not None:
            settings = replace(settings, discovery=discovery)
        self.settings = settings
        self.device_id = sanitize_id(device_id) if device_id else default_device_id()
        self.topics = DeviceTopics(settings, self.device_id, name)
        self.link = MqttLink(settings, will=(self.topics.availability, b"offline", 1, True),
                             on_connect=self._hello,
                             subscriptions=[f"{settings.discovery_prefix}/status"]
                             if settings.discovery else [],
                             on_message=self._on_message,
                             client_id=f"coach-{self.device_id}-{os.getpid()}",
                             fail_fast=True)
        self.channel = DeviceChannel(self.link, self.topics, totals_base)
        self._state: LiveState | None = None
        self.delivered: bool | None = None

    def _hello(self) -> list[Message]:
        return self.channel.hello()

    def _on_message(self, topic: str, payload: bytes) -> None:
        if topic.endswith("/status") and payload.strip() == b"online":  # Home Assistant restarted
            for m in self.channel.hello():
                self.link.publish(*m)

    async def start(self) -> None:
        self.link.start()

    async def on_batch(self, batch: Any, state: LiveState, events: list[Event]) -> None:
        self.link.start()
        self._state = state
        meta = getattr(batch, "meta", None) or {}
        if "battery" in meta:
            self.channel.battery = meta["battery"]
        if "connected" in meta:
            self.channel.connected = bool(meta["connected"])
        elif len(getattr(batch, "t", ())):
            self.channel.connected = True    # samples flow: the sensor is back
        hr = meta.get("heart_rate")
        if hr:
            self.channel.heart_rate = int(hr[-1]["bpm"])
        self.channel.on_live(state, events)

    def publish_prompt(self, prompt: dict[str, Any]) -> None:
        self.channel.prompt(prompt)

    def publish_alert(self, alert: dict[str, Any]) -> None:
        self.channel.prompt(alert, alert=True)

    async def alert_delivered(self, timeout_s: float) -> bool:
        """True once everything published so far (the alert too) is acknowledged by the broker."""
        return await self.link.drain(timeout=timeout_s)

    def publish_interval(self, interval: Any) -> None:
        self.channel.interval = interval

    def set_battery(self, pct: float | None) -> None:
        self.channel.battery = pct

    def set_program(self, name: str | None, session_goal_s: float | None = None,
                    weekly_goal_s: float | None = None) -> None:
        """Accepted for symmetry with the store; the program shows in the `interval` field."""
        self.program = name

    def set_connected(self, connected: bool) -> None:
        self.channel.connected = connected
        if self._state is not None:
            self.link.start()
            self.channel.send_state(self.channel._state(self._state))

    async def on_end(self, result: AnalysisResult) -> None:
        self.link.start()
        self.channel.on_end(result, self._state)
        self.link.publish(self.topics.availability, b"offline", 1, True)
        await self.close()

    async def close(self) -> None:
        """Deliver what is queued (waits through an outage up to drain_timeout_s), disconnect."""
        self.delivered = await self.link.stop(drain=True)
        if not self.delivered:
            self.failure = (f"{self.link.failure or 'MQTT broker ' + self.settings.redacted() + ' unreachable'}"
                            f" ({self.link.pending} messages not delivered)")
            log.info("%s", self.failure)

    def output_failure(self) -> str | None:
        """What went wrong with this output, one line (None: everything was delivered)."""
        return getattr(self, "failure", None) if self.delivered is False else None
