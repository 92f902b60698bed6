"""`coach serve`: the runtime that wires an input (MQTT ingest, coach.sources.mqtt_ingest) to one
detector per sensor stream (batched, coach.detect.batching) published over MQTT; workers scale out with
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
subscription hands them for it. Claims are decided by the broker's order (the first claim every
worker sees wins); a claimer holds the stream's samples until its claim is confirmed and for
claim_grace_s more, and a worker that lost a concurrent claim hands what it held to the winner
(<base>/ingest/<sensor_id>/handover), so no batch is lost at the start of a stream. A worker
that dies (its last will on <base>/serve/<worker>/availability) frees its streams, and the next
message of such a stream is claimed again by a live worker.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from coach.detect.batching import BatchingModel
from coach.detect.model import one_thread
from coach.detect.types import AnalysisResult
from coach.errors import CoachError
from coach.outputs.mqtt import DeviceChannel, DeviceTopics, MqttLink, MqttSettings, sanitize_id
from coach.sources.mqtt_ingest import parse_samples
from coach.types import SampleBatch

log = logging.getLogger(__name__)


@dataclass
class _Claim:
    buffer: list[bytes]                 # raw payloads held until the claim is decided
    confirmed_at: float | None = None   # when our own claim came back first
    created: float = field(default_factory=time.monotonic)


@dataclass
class Stream:
    sensor_id: str
    pipeline: Any
    channel: DeviceChannel
    t0: float | None = None
    last_t: float = -1e18
    last_seen: float = field(default_factory=time.monotonic)
    observer: Any = None     # optional StoreObserver
    pending: list[SampleBatch] = field(default_factory=list)
    ending: bool = False
    budget: float = 0.0        # samples this stream may still send now (refilled with time)
    budget_at: float = field(default_factory=time.monotonic)
    rejected: int = 0
    recent_rejects: dict[int, float] = field(default_factory=dict)


# per-stream bounds (per-message bounds are in coach.sources.mqtt_ingest)
MAX_JUMP_S = 600.0             # a batch this far after the last one is off the stream's clock
MAX_STREAM_S = 2 * 86400.0     # a stream's time may not run beyond this from its first sample
MAX_STREAM_HZ = 1000.0         # sustained samples per wall-clock second
BURST_SAMPLES = 20_000         # ... with this much burst (a reconnecting gateway's backlog)
MAX_PENDING_SAMPLES = 100_000  # waiting for the detector
MAX_STREAMS = 1000             # streams one worker runs at once
MAX_SENSOR_ID = 128


class StreamWorker:
    """Runs one detector per ingest stream it owns and publishes state/events per stream."""

    def __init__(self, settings: MqttSettings, worker_id: str | None = None, group: str = "coach",
                 pipeline_factory: Callable[[str], Any] | None = None, idle_timeout_s: float = 30.0,
                 store: Any = None, link: MqttLink | None = None, tick_s: float = 0.1,
                 batching: bool = True, claim_grace_s: float = 0.3) -> None:
        self.settings = settings
        self.claim_grace_s = claim_grace_s
        self.tick_s = tick_s
        self.model: BatchingModel | None = None
        self.worker_id = sanitize_id(worker_id or f"{socket.gethostname()}-{os.getpid()}")
        self.group = group
        self.idle_timeout_s = idle_timeout_s
        self.store = store
        if pipeline_factory is None:
            from coach.detect import pipeline as _pl
            from coach.detect.pipeline import DirectionPipeline

            loader = getattr(_pl, "_default_model", None)   # shares the process-wide cache
            base_model = loader() if loader else _pl.DirectionModel.load()
            model: Any = base_model
            if batching:
                self.model = model = BatchingModel(base_model)

            def pipeline_factory(name: str) -> Any:
                return DirectionPipeline(source_name=name, model=model)
        self.pipeline_factory = pipeline_factory
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        base = settings.base_topic
        self.ingest_prefix = f"{base}/ingest/"
        self.availability = f"{base}/serve/{self.worker_id}/availability"
        self.link = link or MqttLink(
            settings, client_id=f"coach-serve-{self.worker_id}",
            will=(self.availability, b"offline", 1, True), on_connect=self._hello,
            subscriptions=[f"$share/{group}/{base}/ingest/+/samples", f"{base}/ingest/+/owner",
                           f"{base}/ingest/+/handover", f"{base}/serve/+/availability"],
            on_message=self.handle, fail_fast=True)
        self.streams: dict[str, Stream] = {}
        self.claims: dict[str, _Claim] = {}
        self.owners: dict[str, str] = {}
        self.dead_workers: set[str] = set()
        self.finished: dict[str, AnalysisResult] = {}
        self.batches = 0
        self.dropped = 0
        self.rejected = 0          # bad or out-of-bounds messages dropped
        self.handed_over = 0

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
        """Route one incoming message (samples, claims, hand-overs, worker availability); a
        message that cannot be used is dropped with one warning line."""
        try:
            self._route(topic, payload)
        except Exception as e:  # noqa: BLE001 - one message must never stop the worker
            self.rejected += 1
            log.warning("message on %s dropped: %s: %s", topic[:120], type(e).__name__, str(e)[:120])

    def _route(self, topic: str, payload: bytes) -> None:
        if topic.startswith(self.ingest_prefix):
            rest = topic[len(self.ingest_prefix):]
            sensor, _, kind = rest.rpartition("/")
            if kind == "samples":
                self._on_samples(sensor, payload)
            elif kind == "owner":
                self._on_owner(sensor, payload.decode(errors="replace").strip())
            elif kind == "handover":
                self._on_handover(sensor, payload)
        elif topic.endswith("/availability") and "/serve/" in topic:
            worker = topic.split("/")[-2]
            if payload.strip() == b"offline":
                self.dead_workers.add(worker)
                for sid, w in list(self.owners.items()):
                    if w == worker:
                        del self.owners[sid]
            else:
                self.dead_workers.discard(worker)

    def _owner_topic(self, sensor: str) -> str:
        return f"{self.ingest_prefix}{sensor}/owner"

    def _on_owner(self, sensor: str, worker: str) -> None:
        """Claims are decided by the broker's order: the first claim seen while a stream has no
        live owner wins, the same on every worker. Losers hand their samples to the winner."""
        if not worker:
            self.owners.pop(sensor, None)
            return
        cur = self.owners.get(sensor)
        if cur is not None and cur != worker and cur not in self.dead_workers:
            if cur == self.worker_id:     # a late competing claim: keep the retained value ours
                self.link.publish(self._owner_topic(sensor), self.worker_id, 1, True)
            return
        self.owners[sensor] = worker
        claim = self.claims.get(sensor)
        if claim is None:
            return
        if worker == self.worker_id:
            if claim.confirmed_at is None:
                claim.confirmed_at = time.monotonic()
        else:                             # lost the race: hand what we buffered to the winner
            del self.claims[sensor]
            self.handed_over += len(claim.buffer)
            for raw in claim.buffer:
                self.link.publish(f"{self.ingest_prefix}{sensor}/handover", raw, 1, False)
            self._unsubscribe_direct(sensor)
            log.info("stream %s claimed by %s; handed over %d batches", sensor, worker,
                     len(claim.buffer))

    def _on_handover(self, sensor: str, payload: bytes) -> None:
        claim = self.claims.get(sensor)
        if claim is not None:
            claim.buffer.append(payload)
        elif sensor in self.streams:
            self._on_samples(sensor, payload)   # late: kept if newer than what ran

    def _on_samples(self, sensor: str, payload: bytes) -> None:
        st = self.streams.get(sensor)
        if st is None:
            claim = self.claims.get(sensor)
            if claim is not None:
                claim.buffer.append(payload)
                return
            owner = self.owners.get(sensor)
            if owner and owner != self.worker_id and owner not in self.dead_workers:
                self.dropped += 1    # another worker runs it (and gets it directly)
                return
            try:
                batch, extras = parse_samples(payload)
            except ValueError as e:
                self.rejected += 1
                log.warning("ingest message on %s dropped: %s", sensor[:64], e)
                return
            if batch is None:               # an "end" (or empty) message of a stream not running
                return
            if len(sensor) > MAX_SENSOR_ID or len(self.streams) + len(self.claims) >= MAX_STREAMS:
                self.rejected += 1
                log.warning("ingest stream %s refused: sensor ids are at most %d characters and a "
                            "worker runs at most %d streams", sensor[:64], MAX_SENSOR_ID, MAX_STREAMS)
                return
            self.claims[sensor] = _Claim([payload])
            self._subscribe_direct(sensor)
            self.link.publish(self._owner_topic(sensor), self.worker_id, 1, True)
            return
        self._enqueue(st, payload)

    def _enqueue(self, st: Stream, payload: bytes) -> None:
        try:
            batch, extras = parse_samples(payload)
        except ValueError as e:
            self._reject(st, str(e), payload)
            return
        now = time.monotonic()
        st.last_seen = now
        if "battery" in extras:
            st.channel.battery = extras["battery"]
        if batch is not None and len(batch):
            if st.t0 is None:
                st.t0 = float(batch.t[0])
                st.budget = BURST_SAMPLES
            if batch.t[-1] <= st.last_t:     # duplicate (shared + direct subscription) or replay
                return
            if st.last_t > -1e17 and batch.t[0] - st.last_t > MAX_JUMP_S:
                self._reject(st, f"t jumps {batch.t[0] - st.last_t:.6g} s ahead of the stream "
                                 f"(at most {MAX_JUMP_S:g})", payload)
                return
            if batch.t[-1] - st.t0 > MAX_STREAM_S:
                self._reject(st, f"stream time beyond {MAX_STREAM_S:g} s", payload)
                return
            st.budget = min(BURST_SAMPLES, st.budget + (now - st.budget_at) * MAX_STREAM_HZ)
            st.budget_at = now
            queued = sum(len(b) for b in st.pending)
            if len(batch) > st.budget or queued + len(batch) > MAX_PENDING_SAMPLES:
                self._reject(st, f"more than {MAX_STREAM_HZ:g} samples/s", payload)
                return
            st.budget -= len(batch)
            keep = batch.t > st.last_t
            batch = SampleBatch(batch.t[keep] - st.t0, batch.acc[keep], batch.gap_before)
            st.last_t = float(batch.t[-1]) + st.t0
            st.pending.append(batch)
        if extras.get("end"):
            st.ending = True

    def _reject(self, st: Stream, why: str, payload: bytes = b"") -> None:
        """Drop one message of a running stream, with one warning line (once: an owned stream
        gets each message twice, directly and through the shared subscription)."""
        key = hash(payload)
        now = time.monotonic()
        if st.recent_rejects.get(key, -1e9) > now - 5.0:
            return
        st.recent_rejects[key] = now
        if len(st.recent_rejects) > 64:
            st.recent_rejects = {k: v for k, v in st.recent_rejects.items() if v > now - 5.0}
        st.rejected += 1
        self.rejected += 1
        log.warning("ingest message on %s dropped: %s", st.sensor_id[:64], why)

    def promote_claims(self) -> None:
        """Start the detectors of confirmed claims once hand-overs had claim_grace_s to arrive;
        their buffered batches run in time order."""
        now = time.monotonic()
        for sensor, claim in list(self.claims.items()):
            if claim.confirmed_at is None or now - claim.confirmed_at < self.claim_grace_s:
                continue
            del self.claims[sensor]
            st = self._start_stream(sensor)
            parsed = []
            for raw in claim.buffer:
                try:
                    b, _ = parse_samples(raw)
                except ValueError:
                    b = None
                parsed.append((float(b.t[0]) if b is not None and len(b) else float("inf"), raw))
            for _, raw in sorted(parsed, key=lambda x: x[0]):
                self._enqueue(st, raw)

    def _start_stream(self, sensor: str) -> Stream:
        topics = DeviceTopics(self.settings, sanitize_id(sensor))
        st = Stream(sensor, self.pipeline_factory(sensor), DeviceChannel(self.link, topics))
        if self.store is not None:
            st.observer = self.store.open_session({"kind": "serve", "source": f"mqtt:{sensor}",
                                                   "device": sensor})
        self.streams[sensor] = st
        for m in st.channel.hello():
            self.link.publish(*m)
        log.info("worker %s now runs stream %s", self.worker_id, sensor)
        return st

    # -- processing rounds ----------------------------------------------------------------
    def compute_round(self) -> list[tuple[Stream, list[Any]]]:
        """Feed every stream's pending batches to its detector (one thread per stream when the
        model batches, so their windows share predict calls); return (stream, events)."""
        work = [st for st in list(self.streams.values()) if st.pending]
        batches = {id(st): st.pending for st in work}
        for st in work:
            st.pending = []

        def feed(st: Stream) -> list[Any]:
            try:
                events: list[Any] = []
                for b in batches[id(st)]:
                    events += st.pipeline.feed(b)
                return events
            finally:
                if self.model is not None:
                    self.model.done()

        if self.model is not None and len(work) > 1:
            if self._pool is None or self._pool._max_workers < len(work):
                if self._pool is not None:
                    self._pool.shutdown(wait=False)
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=max(64, 2 * len(work)), thread_name_prefix="detector",
                    initializer=one_thread)
            self.model.begin(len(work))
            futures = [self._pool.submit(feed, st) for st in work]
            results = [f.result() for f in futures]
        else:
            if self.model is not None:
                self.model.begin(len(work))
            results = [feed(st) for st in work]
        self.batches += sum(len(batches[id(st)]) for st in work)
        return list(zip(work, results))

    def publish_round(self, done: list[tuple[Stream, list[Any]]]) -> None:
        """Publish state/events of a computed round; close streams that ended."""
        for st, events in done:
            st.channel.on_live(st.pipeline.state, events)
            if st.observer is not None:
                _run_sync(st.observer.on_batch(None, st.pipeline.state, events))
        for sensor in [s for s, st in self.streams.items() if st.ending and not st.pending]:
            self.finish(sensor)

    def process(self) -> None:
        """One round, synchronously (tests and benchmarks)."""
        self.promote_claims()
        self.publish_round(self.compute_round())

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
        for sensor, claim in list(self.claims.items()):   # a claim that never came back
            if claim.confirmed_at is None and now - claim.created > self.idle_timeout_s:
                del self.claims[sensor]
        idle = [s for s, st in self.streams.items() if now - st.last_seen > self.idle_timeout_s]
        for s in idle:
            self.finish(s)
        return idle

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Serve until `stop` is set (or forever); then close every stream and disconnect."""
        stop = stop or asyncio.Event()
        self.link.start()
        loop = asyncio.get_running_loop()
        compute = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="round",
                                                        initializer=one_thread)
        last_reap = time.monotonic()
        try:
            while not stop.is_set():
                if self.link.final:     # a refused login, an untrusted certificate...
                    raise CoachError(self.link.failure or "MQTT broker unreachable")
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.tick_s)
                except TimeoutError:
                    pass
                # detectors run off the event loop, which keeps receiving meanwhile
                self.promote_claims()
                self.publish_round(await loop.run_in_executor(compute, self.compute_round))
                if time.monotonic() - last_reap > 1.0:
                    last_reap = time.monotonic()
                    self.reap_idle()
        finally:
            self.claim_grace_s = 0.0
            self.promote_claims()
            self.publish_round(await loop.run_in_executor(compute, self.compute_round))
            for s in list(self.streams):
                self.finish(s)
            compute.shutdown(wait=False)
            if self._pool is not None:
                self._pool.shutdown(wait=False)
            self.link.publish(self.availability, b"offline", 1, True)
            await self.link.stop(drain=True)


def _run_sync(coro: Any) -> None:
    """Drive an observer coroutine that never awaits anything (e.g. StoreObserver)."""
    try:
        coro.send(None)
    except StopIteration:
        return
    coro.close()
