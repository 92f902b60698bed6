"""`coach serve` without a broker: ingest format, one detector per stream, and the
cross-stream batching model giving exactly the results of separate detectors."""
from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from coach.cli.serve import StreamWorker
from coach.outputs.mqtt import MqttSettings
from coach.simulate.bench import NullLink
from coach.sources.mqtt_ingest import parse_samples
from tests.outputs_broker import FakePipeline


def test_parse_samples_formats() -> None:
    b, ex = parse_samples(b'{"t": [0, 0.02], "acc": [[0, 0, 1], [0, 0.1, 1]], "battery": 50}')
    assert b is not None and len(b) == 2 and ex == {"battery": 50}
    b, _ = parse_samples(b'{"t0": 10, "hz": 50, "acc": [[0,0,1],[0,0,1],[0,0,1]]}')
    assert b is not None and np.allclose(b.t, [10, 10.02, 10.04])
    b, ex = parse_samples(b'{"end": true}')
    assert b is None and ex == {"end": True}
    with pytest.raises(ValueError):
        parse_samples(b"[1, 2]")


def _payloads(n_s: float = 24.0, batch: int = 25) -> list[bytes]:
    n = int(n_s * 50)
    return [json.dumps({"t": [j / 50 for j in range(i, min(i + batch, n))],
                        "acc": [[0, 0, 1]] * (min(i + batch, n) - i)}).encode()
            for i in range(0, n, batch)]


def test_worker_runs_one_detector_per_stream_and_drops_duplicates() -> None:
    link = NullLink()
    w = StreamWorker(MqttSettings(), worker_id="w", link=link,  # type: ignore[arg-type]
                     pipeline_factory=lambda name: FakePipeline(), claim_grace_s=0.0)
    link.worker = w
    pay = _payloads()
    for p in pay:
        for s in ("a", "b"):
            w.handle(f"coach/ingest/{s}/samples", p)
            w.handle(f"coach/ingest/{s}/samples", p)     # shared + direct delivery
        w.process()
    w.handle("coach/ingest/a/samples", b'{"end": true}')
    w.handle("coach/ingest/zz/samples", b"not json")      # logged, ignored
    w.process()
    assert set(w.finished) == {"a"} and set(w.streams) == {"b"}
    assert w.finished["a"].tallies.direction_changes == 5
    sent = link.messages
    w.handle("coach/ingest/b/owner", b"late-claimer")     # a late competing claim loses...
    assert "b" in w.streams and link.messages == sent + 1  # ...and we re-assert ours
    w.handle("coach/ingest/c/owner", b"other")
    w.handle("coach/ingest/c/samples", pay[0])
    assert "c" not in w.streams and w.dropped == 1        # another worker runs c
    w.handle("coach/serve/other/availability", b"offline")
    w.handle("coach/ingest/c/samples", pay[1])
    w.process()
    assert "c" in w.streams                               # its worker died: claimed again


def test_concurrent_claim_hands_samples_to_the_winner() -> None:
    pay = _payloads(6.0)
    links = [NullLink(), NullLink()]
    ws = [StreamWorker(MqttSettings(), worker_id=n, link=lk,  # type: ignore[arg-type]
                       pipeline_factory=lambda name: FakePipeline(), claim_grace_s=0.0)
          for n, lk in zip(("w1", "w2"), links)]
    ws[0].handle("coach/ingest/x/samples", pay[0])        # both get a first batch before
    ws[1].handle("coach/ingest/x/samples", pay[1])        # either sees a claim
    ws[0].handle("coach/ingest/x/samples", pay[2])
    for w in ws:                                          # the broker's order: w2's claim first
        w.handle("coach/ingest/x/owner", b"w2")
        w.handle("coach/ingest/x/owner", b"w1")
    assert "x" not in ws[0].claims and ws[1].claims["x"].confirmed_at is not None
    handover = [p for p in links[0].sent if p[0].endswith("/handover")]
    assert len(handover) == 2
    for t, p in handover:
        ws[1].handle(t, p)
    for p in pay[3:]:
        ws[1].handle("coach/ingest/x/samples", p)
    ws[1].handle("coach/ingest/x/samples", b'{"end": true}')
    ws[1].process()
    ws[1].process()
    r = ws[1].finished["x"]
    assert r.duration_s == pytest.approx(6.0 - 0.02)       # every batch ran, in order


def test_batched_model_matches_separate_detectors() -> None:
    from coach.detect.pipeline import DirectionPipeline
    from coach.simulate.bench import recordings
    recs = recordings(2, 16.0, seed=3)
    from threadpoolctl import threadpool_limits

    from coach.sources.base import SampleBatch
    link = NullLink()
    w = StreamWorker(MqttSettings(), worker_id="w", link=link, claim_grace_s=0.0)  # type: ignore[arg-type]
    link.worker = w
    assert w.model is not None
    with threadpool_limits(limits=1):
        for k in range(0, 800, 25):
            for i, (t, acc) in enumerate(recs):
                if k < len(t):
                    w.handle(f"coach/ingest/s{i}/samples", json.dumps(
                        {"t": t[k:k + 25].tolist(), "acc": acc[k:k + 25].tolist()}).encode())
            w.process()
        for i in range(2):
            w.handle(f"coach/ingest/s{i}/samples", b'{"end": true}')
        w.process()
        assert w.model.rows / w.model.calls > 1.5          # windows of several streams per call
        for i, (t, acc) in enumerate(recs):
            p = DirectionPipeline(source_name="x")
            for k in range(0, min(800, len(t)), 25):
                p.feed(SampleBatch(t[k:k + 25] - t[0], acc[k:k + 25]))
            ref = p.finish().to_json()
            got = w.finished[f"s{i}"].to_json()
            assert got["summary"] == ref["summary"] and got["events"] == ref["events"]
    _ = asyncio
