"""`coach serve`: one detector per sensor stream published over MQTT; workers scale out with
MQTT 5 shared subscriptions.

Ingest format (gateways and phones publish; one topic per sensor, QoS 1 recommended):
  topic    <base>/ingest/<sensor_id>/samples
  payload  JSON {"t": [s, ...], "acc": [[ax, ay, az], ...]}     acceleration in g, t in seconds
           (any origin, strictly increasing), or {"t0": s, "hz": 50, "acc": [...]};
           optional "gap": true (samples were lost before this batch), "battery": 0-100,
           "placement": "ankle"; {"end": true} closes the session (so does idle_timeout_s).
Each sensor gets the same <base>/<sensor_id>/state, .../event and Home Assistant discovery as
`coach run --mqtt`.

Scaling out: every worker subscribes to $share/<group>/<base>/ingest/+/samples, so the broker
spreads messages over the workers. A detector keeps per-stream state, so the first worker that
gets a message of an unowned stream claims it (retained <base>/ingest/<sensor_id>/owner =
worker id) and subscribes to that stream directly; the others then drop what the shared
subscription hands them for it. Concurrent claims resolve to the smallest worker id. A worker
that dies (its last will on <base>/serve/<worker>/availability) frees its streams, and the next
message of such a stream is claimed again by a live worker.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from coach.detect.types import AnalysisResult
from coach.outputs.mqtt import DeviceChannel, DeviceTopics, MqttLink, MqttSettings, sanitize_id
from coach.sources.base import SampleBatch

log = logging.getLogger(__name__)


def parse_samples(payload: bytes) -> tuple[SampleBatch | None, dict[str, Any]]:
    """Decode one ingest payload into a batch (None for control-only messages) and its extras."""
    msg = json.loads(payload)
    if not isinstance(msg, dict):
        raise ValueError("payload must be a JSON object")
    acc = msg.get("acc")
    extras = {k: msg[k] for k in ("gap", "battery", "placement", "end") if k in msg}
    if not acc:
        return None, extras
    a = np.asarray(acc, dtype=np.float64).reshape(-1, 3)
    if "t" in msg:
        t = np.asarray(msg["t"], dtype=np.float64)
    else:
        t = float(msg["t0"]) + np.arange(len(a)) / float(msg.get("hz", 50.0))
    return SampleBatch(t, a, gap_before=bool(msg.get("gap", False))), extras


@dataclass
class Stream:
    sensor_id: str
    pipeline: Any
    channel: DeviceChannel
    t0: float | None = None
    last_t: float = -1e18
    last_seen: float = field(default_factory=time.monotonic)
    observer: Any = None     # optional StoreObserver


class StreamWorker:
    """Runs one detector per ingest stream it owns and publishes state/events per stream."""

    def __init__(self, settings: MqttSettings, worker_id: str | None = None, group: str = "coach",
                 pipeline_factory: Callable[[str], Any] | None = None, idle_timeout_s: float = 30.0,
                 store: Any = None, link: MqttLink | None = None) -> None:
        self.settings = settings
        self.worker_id = sanitize_id(worker_id or f"{socket.gethostname()}-{os.getpid()}")
        self.group = group
        self.idle_timeout_s = idle_timeout_s
        self.store = store
        if pipeline_factory is None:
            from coach.detect.pipeline import DirectionPipeline

            def pipeline_factory(name: str) -> Any:
                return DirectionPipeline(source_name=name)
        self.pipeline_factory = pipeline_factory
        base = settings.base_topic
        self.ingest_prefix = f"{base}/ingest/"
        self.availability = f"{base}/serve/{self.worker_id}/availability"
        self.link = link or MqttLink(
            settings, client_id=f"coach-serve-{self.worker_id}",
            will=(self.availability, b"offline", 1, True), on_connect=self._hello,
            subscriptions=[f"$share/{group}/{base}/ingest/+/samples", f"{base}/ingest/+/owner",
                           f"{base}/serve/+/availability"],
            on_message=self.handle)
        self.streams: dict[str, Stream] = {}
        self.owners: dict[str, str] = {}
        self.dead_workers: set[str] = set()
        self.finished: dict[str, AnalysisResult] = {}
        self.batches = 0
        self.dropped = 0

    # -- MQTT plumbing ------------------------------------------------------------------
    def _hello(self) -> list[tuple[str, bytes, int, bool]]:
        msgs = [(self.availability, b"online", 1, True)]
        for s in self.streams.values():
            msgs.append((f"{self.ingest_prefix}{s.sensor_id}/owner", self.worker_id.encode(), 1, True))
            msgs += s.channel.hello()
        # direct subscriptions of owned streams are re-made through link.subscriptions
        return msgs

    def _subscribe_direct(self, sensor_id: str) -> None:
        topic = f"{self.ingest_prefix}{sensor_id}/samples"
        if topic not in self.link.subscriptions:
            self.link.subscriptions.append(topic)
            client = self.link.client
            if client is not None:
                asyncio.get_running_loop().create_task(self._safe_sub(client, topic))

    def _unsubscribe_direct(self, sensor_id: str) -> None:
        topic = f"{self.ingest_prefix}{sensor_id}/samples"
        if topic in self.link.subscriptions:
            self.link.subscriptions.remove(topic)
            client = self.link.client
            if client is not None:
                asyncio.get_running_loop().create_task(self._safe_unsub(client, topic))

    @staticmethod
    async def _safe_sub(client: Any, topic: str) -> None:
        try:
            await client.subscribe(topic, qos=1)
        except Exception as e:  # noqa: BLE001 - the reconnect re-subscribes
            log.debug("subscribe %s failed: %s", topic, e)

    @staticmethod
    async def _safe_unsub(client: Any, topic: str) -> None:
        try:
            await client.unsubscribe(topic)
        except Exception as e:  # noqa: BLE001
            log.debug("unsubscribe %s failed: %s", topic, e)

    # -- message handling ---------------------------------------------------------------
    def handle(self, topic: str, payload: bytes) -> None:
        """Route one incoming message (samples, owner claims, worker availability)."""
        if topic.startswith(self.ingest_prefix):
            rest = topic[len(self.ingest_prefix):]
            sensor, _, kind = rest.rpartition("/")
            if kind == "samples":
                self._on_samples(sensor, payload)
            elif kind == "owner":
                self._on_owner(sensor, payload.decode(errors="replace").strip())
        elif topic.endswith("/availability") and "/serve/" in topic:
            worker = topic.split("/")[-2]
            if payload.strip() == b"offline":
                self.dead_workers.add(worker)
                for sid, w in list(self.owners.items()):
                    if w == worker:
                        del self.owners[sid]
            else:
                self.dead_workers.discard(worker)

    def _on_owner(self, sensor: str, worker: str) -> None:
        if not worker:
            self.owners.pop(sensor, None)
            return
        self.owners[sensor] = worker
        if worker != self.worker_id and sensor in self.streams:
            if worker < self.worker_id:  # a concurrent claim by a smaller id wins
                log.info("stream %s claimed by %s; dropping it", sensor, worker)
                self.streams.pop(sensor)
                self._unsubscribe_direct(sensor)
            else:                        # re-assert our claim
                self.owners[sensor] = self.worker_id
                self.link.publish(f"{self.ingest_prefix}{sensor}/owner", self.worker_id, 1, True)

    def _claim(self, sensor: str) -> Stream:
        sid = sanitize_id(sensor)
        topics = DeviceTopics(self.settings, sid)
        st = Stream(sensor, self.pipeline_factory(sensor), DeviceChannel(self.link, topics))
        if self.store is not None:
            st.observer = self.store.open_session({"kind": "serve", "source": f"mqtt:{sensor}",
                                                   "device": sensor})
        self.streams[sensor] = st
        self.owners[sensor] = self.worker_id
        self.link.publish(f"{self.ingest_prefix}{sensor}/owner", self.worker_id, 1, True)
        for m in st.channel.hello():
            self.link.publish(*m)
        self._subscribe_direct(sensor)
        log.info("worker %s now runs stream %s", self.worker_id, sensor)
        return st

    def _on_samples(self, sensor: str, payload: bytes) -> None:
        st = self.streams.get(sensor)
        if st is None:
            owner = self.owners.get(sensor)
            if owner and owner != self.worker_id and owner not in self.dead_workers:
                self.dropped += 1    # another worker runs it (and gets it directly)
                return
            try:
                batch, extras = parse_samples(payload)
            except (ValueError, TypeError, KeyError) as e:
                log.warning("bad ingest payload on %s: %s", sensor, e)
                return
            if batch is None and extras.get("end"):
                return
            st = self._claim(sensor)
        else:
            try:
                batch, extras = parse_samples(payload)
            except (ValueError, TypeError, KeyError) as e:
                log.warning("bad ingest payload on %s: %s", sensor, e)
                return
        st.last_seen = time.monotonic()
        if "battery" in extras:
            st.channel.battery = extras["battery"]
        if batch is not None and len(batch):
            if st.t0 is None:
                st.t0 = float(batch.t[0])
            if batch.t[-1] <= st.last_t:     # duplicate (shared + direct subscription) or replay
                return
            keep = batch.t > st.last_t
            batch = SampleBatch(batch.t[keep] - st.t0, batch.acc[keep], batch.gap_before)
            st.last_t = float(batch.t[-1]) + st.t0
            events = st.pipeline.feed(batch)
            self.batches += 1
            st.channel.on_live(st.pipeline.state, events)
            if st.observer is not None:
                _run_sync(st.observer.on_batch(batch, st.pipeline.state, events))
        if extras.get("end"):
            self.finish(sensor)

    def finish(self, sensor: str) -> AnalysisResult | None:
        """Close one stream: final state, session_end, free the claim."""
        st = self.streams.pop(sensor, None)
        if st is None:
            return None
        result = st.pipeline.finish()
        st.channel.on_end(result, st.pipeline.state)
        if st.observer is not None:
            _run_sync(st.observer.on_end(result))
        self.link.publish(f"{self.ingest_prefix}{sensor}/owner", b"", 1, True)  # clear the claim
        self.owners.pop(sensor, None)
        self._unsubscribe_direct(sensor)
        self.finished[sensor] = result
        return result

    def reap_idle(self) -> list[str]:
        now = time.monotonic()
        idle = [s for s, st in self.streams.items() if now - st.last_seen > self.idle_timeout_s]
        for s in idle:
            self.finish(s)
        return idle

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Serve until `stop` is set (or forever); then close every stream and disconnect."""
        stop = stop or asyncio.Event()
        self.link.start()
        try:
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                except asyncio.TimeoutError:
                    pass
                self.reap_idle()
        finally:
            for s in list(self.streams):
                self.finish(s)
            self.link.publish(self.availability, b"offline", 1, True)
            await self.link.stop(drain=True)


def _run_sync(coro: Any) -> None:
    """Drive an observer coroutine that never awaits anything (e.g. StoreObserver)."""
    try:
        coro.send(None)
    except StopIteration:
        return
    coro.close()
