"""The phone source: Sensor Logger's HTTP Push, in its documented JSON schema
(tszheichoi/awesome-sensor-logger PUSHING.md; units per UNITS.md: m/s^2, time in epoch ns)."""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest

from coach.constants import G
from coach.errors import CoachError
from coach.sources.phone import SensorLoggerParser, SensorLoggerSource
from coach.types import SampleBatch

T0 = 1698501144401773000


def message(mid: int, k0: int, n: int, *, total: bool = False, gravity: bool = True) -> dict:
    payload = []
    for k in range(k0, k0 + n):
        t = T0 + k * 10_000_000      # 100 Hz
        if total:
            payload.append({"name": "totalacceleration", "time": t,
                            "values": {"x": 0.0, "y": 0.1 * G, "z": G}})
        else:
            payload.append({"name": "accelerometer", "time": t,
                            "values": {"x": 0.05 * G, "y": 0.0, "z": 0.0}})
            if gravity:
                payload.append({"name": "gravity", "time": t, "values": {"x": 0.0, "y": 0.0, "z": G}})
    payload.append({"name": "location", "time": T0, "latitude": 0.0, "longitude": 0.0})
    return {"messageId": mid, "sessionId": "s1", "deviceId": "d1", "payload": payload}


def test_parser_adds_gravity_back_and_converts_to_g() -> None:
    t, acc, info = SensorLoggerParser().parse(json.dumps(message(0, 0, 5)))
    assert list(t - T0) == [0, 10_000_000, 20_000_000, 30_000_000, 40_000_000]
    assert np.allclose(acc, [[0.05, 0, 1]] * 5)
    t, acc, _ = SensorLoggerParser().parse(json.dumps(message(0, 0, 3, total=True)))
    assert np.allclose(acc, [[0, 0.1, 1]] * 3)
    for bad in (b"not json", b'{"payload": 3}', b"[]"):
        with pytest.raises(CoachError, match="not a Sensor Logger message"):
            SensorLoggerParser().parse(bad)


async def _post(port: int, body: bytes) -> bytes:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"POST /data?token=tok HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    await w.drain()
    resp = await r.read()
    w.close()
    return resp


async def _collecting(src: SensorLoggerSource) -> tuple[list[SampleBatch], asyncio.Task[None]]:
    """Start the source; its batches gather in the list until its stream ends (the task)."""
    await src.start()
    batches: list[SampleBatch] = []

    async def consume() -> None:
        async for b in src.stream():
            batches.append(b)

    return batches, asyncio.create_task(consume())


def test_http_push_stream_with_duplicate_junk_and_gap() -> None:
    src = SensorLoggerSource("127.0.0.1", 0, idle_timeout=1.0, notify=lambda m: None, token="tok",
                             print_qr=False)

    async def go() -> list:
        batches, task = await _collecting(src)
        bodies = [message(0, 0, 50), message(1, 50, 50), message(1, 50, 50),   # a resend
                  b"{garbage", message(3, 400, 50)]                            # 3 s later
        for body in bodies:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            assert (await _post(src.port, raw)).startswith(b"HTTP/1.1 200")
            await asyncio.sleep(0.01)
        await task
        return batches

    batches = asyncio.run(go())
    t = np.concatenate([b.t for b in batches])
    assert len(t) == 150 and np.all(np.diff(t) > 0)
    assert [b.gap_before for b in batches] == [False, False, True]
    st = src.stats
    assert st.dup_packets == 1 and st.dup_samples == 50 and st.decode_errors == 1
    assert st.lost_packets == 1
    assert t[100] - t[99] == pytest.approx(3.01, abs=1e-5)


def test_mqtt_ingest_with_a_client_double() -> None:
    """Sensor Logger's MQTT publishing has the HTTP schema; the source subscribes to the topic."""
    from coach.sources.phone import parse_mqtt_url

    assert parse_mqtt_url("mqtts://u:p%40ss@broker.example:8883/my/topic") == {
        "hostname": "broker.example", "port": 8883, "username": "u", "password": "p@ss",
        "topic": "my/topic", "tls": True, "transport": "tcp"}
    with pytest.raises(CoachError, match="--phone-mqtt wants"):
        parse_mqtt_url("http://x/y")

    class Msg:
        def __init__(self, body: bytes) -> None:
            self.payload = body

    class Client:
        def __init__(self, cfg: dict) -> None:
            self.cfg = cfg
            self.topics: list[str] = []

        async def __aenter__(self):
            return self

        async def __aexit__(self, *a):
            return False

        async def subscribe(self, topic: str) -> None:
            self.topics.append(topic)

        @property
        async def messages(self):
            for k in range(3):
                yield Msg(json.dumps(message(k, 50 * k, 50)).encode())
            await asyncio.sleep(10)

    made: list[Client] = []

    def make_client(cfg: dict) -> Client:
        made.append(Client(cfg))
        return made[-1]

    src = SensorLoggerSource(mqtt_url="mqtt://localhost/sensor-logger", idle_timeout=0.3,
                             notify=lambda m: None, mqtt_client=make_client)

    async def go() -> int:
        return sum([len(b) async for b in src.stream()])

    assert asyncio.run(go()) == 150
    assert made[0].topics == ["sensor-logger"] and src.stats.packets == 3


# --- a phone server fit for a home network (issue 12) -----------------------------------------
async def _raw(port: int, head: bytes, body: bytes = b"") -> bytes:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(head + body)
    await w.drain()
    try:
        return await asyncio.wait_for(r.read(), 5)
    finally:
        w.close()


def _head(path: str, extra: str = "", length: int | None = None) -> bytes:
    cl = f"Content-Length: {length}\r\n" if length is not None else ""
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{cl}{extra}"
            "Connection: close\r\n\r\n").encode()


def _serve(check: Callable[[SensorLoggerSource], Awaitable[None]],
           **kw: Any) -> tuple[SensorLoggerSource, list[SampleBatch]]:
    """Serve with `check` run against the source; the source and the batches it streamed."""
    src = SensorLoggerSource("127.0.0.1", 0, idle_timeout=20, notify=lambda m: None, token="s3cret",
                             print_qr=False, **kw)

    async def go() -> list[SampleBatch]:
        batches, task = await _collecting(src)
        await check(src)
        await asyncio.sleep(0.1)
        src.request_stop()
        await task
        return batches

    return src, asyncio.run(go())


def test_token_required_401_and_nothing_used() -> None:
    body = json.dumps(message(0, 0, 50)).encode()

    async def check(src: SensorLoggerSource) -> None:
        for path in ("/push", "/push?token=wrong", "/?token="):
            resp = await _raw(src.port, _head(path, length=len(body)), body)
            assert resp.startswith(b"HTTP/1.1 401"), resp[:40]
        resp = await _raw(src.port, _head("/", "Authorization: Bearer s3cret\r\n", len(body)), body)
        assert resp.startswith(b"HTTP/1.1 200")

    src, batches = _serve(check)
    assert sum(len(b) for b in batches) == 50 and src.stats.packets == 1


def test_body_limit_413_chunked_bodies_read_and_limited() -> None:
    body = json.dumps(message(0, 0, 50)).encode()

    def chunked(data: bytes, size: int = 1000) -> bytes:
        parts = [b"%x\r\n%s\r\n" % (len(data[i:i + size]), data[i:i + size]) for i in range(0, len(data), size)]
        return b"".join(parts) + b"0\r\n\r\n"

    async def check(src: SensorLoggerSource) -> None:
        resp = await _raw(src.port, _head("/?token=s3cret", length=4_000_000_000))
        assert resp.startswith(b"HTTP/1.1 413"), resp[:40]
        big = b"[" + b"0," * 40_000 + b"0]"
        resp = await _raw(src.port, _head("/?token=s3cret", "Transfer-Encoding: chunked\r\n"), chunked(big))
        assert resp.startswith(b"HTTP/1.1 413"), resp[:40]
        resp = await _raw(src.port, _head("/?token=s3cret", "Transfer-Encoding: chunked\r\n"), chunked(body))
        assert resp.startswith(b"HTTP/1.1 200"), resp[:40]

    _, batches = _serve(check, max_body=64_000)
    assert sum(len(b) for b in batches) == 50     # the chunked body was used


def test_header_timeout_closes_silent_connections() -> None:
    async def check(src: SensorLoggerSource) -> None:
        r, w = await asyncio.open_connection("127.0.0.1", src.port)
        w.write(b"POST / HTTP/1.1\r\nHost: x\r\n")      # never finishes its headers
        await w.drain()
        assert await asyncio.wait_for(r.read(), 3) == b""   # closed by the server
        w.close()

    _serve(check, header_timeout_s=0.3)


def test_future_and_absurd_times_are_dropped_and_counted() -> None:
    """A sample a year ahead, or "time": 1e30, is dropped and counted: the clock does not move."""
    year_ns = 365 * 24 * 3600 * 10**9

    async def check(src: SensorLoggerSource) -> None:
        m0 = message(0, 0, 50)
        m1 = message(1, 50, 50)
        m1["payload"][10]["time"] += year_ns       # one accelerometer sample a year ahead
        m1["payload"][12]["time"] = 1e30
        m1["payload"][14]["time"] = "nan"
        m2 = message(2, 100, 50)
        for m in (m0, m1, m2):
            body = json.dumps(m).encode()
            assert (await _raw(src.port, _head("/?token=s3cret", length=len(body)), body)).startswith(b"HTTP/1.1 200")
        bad = b'{"payload": [{"name": "totalacceleration", "time": 1e30, "values": {"x": 0, "y": 0, "z": 9.8}}]}'
        assert (await _raw(src.port, _head("/?token=s3cret", length=len(bad)), bad)).startswith(b"HTTP/1.1 200")

    src, batches = _serve(check)
    t = np.concatenate([b.t for b in batches])
    assert len(t) == 147 and t[-1] < 1.6 and np.all(np.diff(t) > 0)
    assert batches[-1].meta["dropped_bad_time"] == 3
    assert src.clock.out_of_range == 1 and src.parser.bad_times == 3   # the year-ahead one; 1e30 twice, "nan"


def test_backpressure_bounded_queue() -> None:
    from coach.sources.http_server import Backpressure

    async def go() -> tuple[int, int]:
        bp = Backpressure(maxsize=2, wait_s=0.1)
        await bp.put(1)
        await bp.put(2)
        from aiohttp import web
        with pytest.raises(web.HTTPServiceUnavailable):
            await bp.put(3)
        return bp.queue.qsize(), bp.rejected

    assert asyncio.run(go()) == (2, 1)


def test_coach_run_phone_prints_the_token_url_and_refuses_strangers(tmp_path) -> None:
    """`coach run --phone`: the push URL printed (address, port, token) is the one that works."""
    import os
    import re
    import signal
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    env = dict(os.environ, COACH_DB=str(tmp_path / "s.sqlite3"), XDG_DATA_HOME=str(tmp_path))
    env.pop("COACH_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "coach", "run", "--phone", "--port", "0", "--host", "127.0.0.1",
                             "--no-coach", "--json", "--no-save"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        url = None
        end = time.monotonic() + 30
        while url is None and time.monotonic() < end:
            line = proc.stderr.readline()
            m = re.search(r"(http://127\.0\.0\.1:\d+/push\?token=[\w-]{16,})", line)
            url = m.group(1) if m else None
        assert url, "no push URL printed"
        body = json.dumps(message(0, 0, 100, total=True)).encode()

        def post(u: str) -> int:
            try:
                with urllib.request.urlopen(urllib.request.Request(u, data=body, method="POST"), timeout=5) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code

        assert post(url.split("?")[0]) == 401
        assert post(url[:-1] + ("x" if url[-1] != "x" else "y")) == 401
        assert post(url) == 200
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    doc = json.loads(out.strip().splitlines()[-1])
    assert doc["link"]["samples"] == 100 and doc["duration_s"] == pytest.approx(0.99, abs=0.05)


def test_a_flood_of_idle_connections_is_capped_and_cleared() -> None:
    """Idle connections beyond the cap are closed at once, the rest after the header timeout;
    the server then serves the phone as before."""
    body = json.dumps(message(0, 0, 50)).encode()

    async def check(src: SensorLoggerSource) -> None:
        conns = [await asyncio.open_connection("127.0.0.1", src.port) for _ in range(120)]
        await asyncio.sleep(0.1)
        closed = 0
        for r, _w in conns:
            try:
                if await asyncio.wait_for(r.read(), 0.01) == b"":
                    closed += 1
            except TimeoutError:
                pass
        assert closed >= 120 - 64
        await asyncio.sleep(0.8)                    # the header timeout clears the others
        for r, w in conns:
            assert await asyncio.wait_for(r.read(), 1) == b""
            w.close()
        resp = await _raw(src.port, _head("/?token=s3cret", length=len(body)), body)
        assert resp.startswith(b"HTTP/1.1 200")

    _, batches = _serve(check, header_timeout_s=0.5)
    assert sum(len(b) for b in batches) == 50


# --- bad input from the network (found by attacking the phone push): the session goes on, the
# sender gets a 4xx, and nothing prints a traceback
def test_phone_push_survives_nesting_bad_encoding_and_malformed_http(caplog) -> None:
    src = SensorLoggerSource("127.0.0.1", 0, idle_timeout=1.0, notify=lambda m: None, token="tok",
                             print_qr=False)

    async def go() -> tuple[list, list[bytes]]:
        batches, task = await _collecting(src)
        replies = [await _post(src.port, json.dumps(message(0, 0, 50)).encode())]
        # nested 100,000 deep: json's recursion had ended the whole session
        replies.append(await _post(src.port, b'{"payload":' + b"[" * 100_000 + b"]" * 100_000 + b"}"))
        replies.append(await _raw(src.port, b"POST /data?token=tok HTTP/1.1\r\nHost: x\r\n"
                                  b"Content-Encoding: gzip\r\nContent-Length: 8\r\n"
                                  b"Connection: close\r\n\r\n\x00garbage"))
        for bad in (b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                    b"FOO / HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /" + b"x" * 9000 + b" HTTP/1.1\r\n\r\n"):
            replies.append(await _raw(src.port, bad))
        replies.append(await _post(src.port, json.dumps(message(1, 50, 50)).encode()))
        await task
        return batches, replies

    with caplog.at_level(logging.WARNING):
        batches, replies = asyncio.run(go())
    t = np.concatenate([b.t for b in batches])
    assert len(t) == 100 and np.all(np.diff(t) > 0)       # both good messages, none lost
    assert src.stats.decode_errors == 1
    assert replies[2].startswith(b"HTTP/1.1 400") and b"bad body" in replies[2]
    assert all(r.split(b"\r\n")[0].endswith(b" 400 Bad Request") for r in replies[3:6]), replies[3:6]
    # the malformed requests: one line each, no traceback
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    assert any("bad request from a client" in r.getMessage() for r in caplog.records)
    assert "Traceback" not in caplog.text
