"""Benchmark: how many 50 Hz sensor streams one `coach serve` worker keeps up with on one core.

    python -m coach.simulate.bench --streams 200 --seconds 60

Runs the worker's own code path (payload decoding, per-stream detectors with the shipped
model, state/event encoding) on one CPU core (sched_setaffinity) with a null MQTT link, so
the figure is the worker's, not the broker's. Streams are simulated walkers (a few distinct
recordings, each stream with its own phase) sending 0.5 s batches; the worker processes a
round every 0.1 s of stream time, as `coach serve` does. It keeps up when the CPU time it
needs is below the stream time it processed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np


class NullLink:
    """Stands in for MqttLink: counts what would be published; echoes claims back to `worker`
    like a broker would (the worker subscribes to the owner topics)."""

    def __init__(self) -> None:
        self.subscriptions: list[str] = []
        self.client = None
        self.messages = 0
        self.worker: Any = None
        self.sent: list[tuple[str, Any]] = []      # non-state messages, for tests

    def publish(self, topic: str, payload: Any, qos: int = 1, retain: bool = False,
                coalesce: bool = False) -> None:
        if isinstance(payload, dict):
            payload = json.dumps(payload, separators=(",", ":"))
        self.messages += 1
        if not topic.endswith("/state"):
            self.sent.append((topic, payload))
        if self.worker is not None and topic.endswith("/owner"):
            self.worker.handle(topic, payload.encode() if isinstance(payload, str) else payload)

    def start(self) -> None: ...


def recordings(n: int, seconds: float, seed: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    from coach.simulate.gait import Bout, simulate

    out = []
    rng = np.random.default_rng(seed)
    for _ in range(n):
        bouts, total = [], 0.0
        while total < max(seconds + 5, 45.0):  # the simulator wants >= ~40 s
            act = ["forward", "backward", "still"][int(rng.integers(0, 3))]
            dur = float(rng.uniform(8, 30))
            bouts.append(Bout(act, dur))
            total += dur
        sim = simulate(rng, bouts)
        keep = sim.t < seconds
        out.append((sim.t[keep], sim.acc[keep]))
    return out


def run(streams: int, seconds: float, batch_s: float = 0.5, tick_s: float = 0.1,
        batching: bool = True, distinct: int = 8, pin: bool = True) -> dict[str, Any]:
    from coach.cli.serve import StreamWorker
    from coach.detect.model import one_thread
    from coach.outputs.mqtt import MqttSettings

    if pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    recs = recordings(min(distinct, streams), seconds)
    rng = np.random.default_rng(1)
    phase = rng.uniform(0, batch_s, streams)
    msgs: list[tuple[float, str, bytes]] = []
    for i in range(streams):
        t, acc = recs[i % len(recs)]
        edges = np.arange(0, seconds + batch_s, batch_s)
        for a, b in zip(edges[:-1], edges[1:]):
            sel = (t >= a) & (t < b)
            if not sel.any():
                continue
            payload = json.dumps({"t": np.round(t[sel], 4).tolist(),
                                  "acc": np.round(acc[sel], 4).tolist()}).encode()
            msgs.append((b + phase[i], f"coach/ingest/s{i:04d}/samples", payload))
    msgs.sort(key=lambda m: m[0])

    link = NullLink()
    worker = StreamWorker(MqttSettings(), worker_id="bench", link=link,  # type: ignore[arg-type]
                          batching=batching, tick_s=tick_s, claim_grace_s=0.0)
    link.worker = worker
    with one_thread():
        cpu0, wall0 = time.process_time(), time.perf_counter()
        k = 0
        worst = 0.0
        t_round = tick_s
        while k < len(msgs) or worker.streams and t_round <= seconds + 2 * batch_s + tick_s:
            while k < len(msgs) and msgs[k][0] <= t_round:
                worker.handle(msgs[k][1], msgs[k][2])
                k += 1
            r0 = time.perf_counter()
            worker.process()
            worst = max(worst, time.perf_counter() - r0)
            t_round += tick_s
            if k >= len(msgs) and t_round > seconds + 2 * batch_s + tick_s:
                break
        for s in list(worker.streams):
            worker.finish(s)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    res = {
        "streams": streams, "stream_seconds": seconds, "rate_hz": 50, "batch_s": batch_s,
        "batching": batching, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
        "realtime_factor": round(seconds / max(wall, 1e-9), 2),
        "keeps_up": wall < seconds and worst < 1.0,
        "capacity_streams_per_core": int(streams * seconds / max(wall, 1e-9)),
        "capacity_by_cpu_time": int(streams * seconds / max(cpu, 1e-9)),  # robust on a busy machine
        "worst_round_s": round(worst, 3),
        "published_messages": link.messages,
    }
    if worker.model is not None and worker.model.calls:
        res["rows_per_predict"] = round(worker.model.rows / worker.model.calls, 1)
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m coach.simulate.bench", description=__doc__.split("\n")[0])
    p.add_argument("--streams", type=int, default=200)
    p.add_argument("--seconds", type=float, default=60.0, help="stream time per sensor")
    p.add_argument("--batch-s", type=float, default=0.5, help="seconds of samples per message")
    p.add_argument("--no-batching", action="store_true", help="one predict call per stream")
    p.add_argument("--no-pin", action="store_true", help="do not pin to one core")
    a = p.parse_args(argv)
    res = run(a.streams, a.seconds, a.batch_s, batching=not a.no_batching, pin=not a.no_pin)
    print(json.dumps(res, indent=2))
    return 0 if res["keeps_up"] else 1


if __name__ == "__main__":
    sys.exit(main())
