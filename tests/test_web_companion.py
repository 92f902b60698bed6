"""The web companion's server in-process, through a real HTTP client (aiohttp's): the token,
the snapshot on (re)connect, prompts with their priority and staleness, the state document,
the motion stream's limits and times, --web-tls, and the address rules."""
from __future__ import annotations

import asyncio
import json
import ssl
import time
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from coach.errors import CoachError
from coach.outputs.web.companion import WebCompanion
from coach.sources.device_clock import DeviceClock
from coach.sources.http_server import choose_host, parse_hostport
from coach.types import LiveState, SampleBatch, Tallies

TOKEN = "tkn"


def companion(**kw) -> WebCompanion:
    return WebCompanion("127.0.0.1", 0, token=TOKEN, print_qr=False, notify=lambda m: None, linger_s=0, **kw)


async def read_events(resp: aiohttp.ClientResponse, n: int, timeout: float = 5.0) -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = []
    event = None
    async def go() -> None:
        nonlocal event
        async for raw in resp.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                out.append((event or "", json.loads(line[6:])))
                if len(out) >= n:
                    return
    await asyncio.wait_for(go(), timeout)
    return out


def state_at(t: float, direction: str, retro_steps: int = 0, retro_s: float = 0.0) -> LiveState:
    return LiveState(t_s=t, direction=direction, since_s=t, tallies=Tallies(retro_steps=retro_steps,
                                                                           retro_seconds=retro_s))


def batch(t: float) -> SampleBatch:
    return SampleBatch(np.array([t]), np.array([[0.0, 0.0, 1.0]]), meta={"battery": 80})


def test_state_snapshot_on_reconnect_and_prompts() -> None:
    web = companion()

    async def go() -> None:
        await web.start()
        base = f"http://127.0.0.1:{web.port}"
        async with aiohttp.ClientSession() as http:
            for path in ("/", "/api/state", "/api/events"):
                async with http.get(base + path) as r:
                    assert r.status == 401
            await web.on_batch(batch(10.0), state_at(10.0, "forward"), [])
            web.publish_interval({"index": 1, "label": "backward 1", "direction": "backward",
                                  "planned_s": 60.0, "start_s": 12.0, "status": "running"})
            await web.on_batch(batch(12.0), state_at(12.0, "backward", 0, 0.0), [])
            web.publish_prompt({"t_s": 12.0, "kind": "cue", "text": "Backward"})
            await web.on_batch(batch(30.0), state_at(30.0, "backward", 25, 18.0), [])
            async with http.get(f"{base}/api/state?token={TOKEN}") as r:
                s = await r.json()
            assert s["direction"] == "backward" and s["retro_steps"] == 25 and s["retro_seconds"] == 18.0
            assert s["interval"]["remaining_s"] == 42.0 and s["connected"] is True and s["battery"] == 80
            assert s["bout"]["steps"] == 25 and s["bout"]["seconds"] == 18.0
            # a page that (re)connects gets a snapshot with the recent prompts, then live events
            async with http.get(f"{base}/api/events?token={TOKEN}") as r:
                assert r.headers["Content-Type"].startswith("text/event-stream")
                (kind, snap), = await read_events(r, 1)
                assert kind == "snapshot" and snap["direction"] == "backward"
                assert [p["text"] for p in snap["prompts"]] == ["Backward"]
                web.publish_prompt({"t_s": 31.0, "kind": "safety", "text": "Look over your shoulder"})
                await web.on_batch(batch(31.0), state_at(31.0, "still", 25, 18.0), [])
                evs = await read_events(r, 2)
            assert evs[0][0] == "prompt" and evs[0][1]["priority"] == 3 and evs[0][1]["seq"] == 2
            assert abs(evs[0][1]["wall_ms"] / 1000 - time.time()) < 5
            assert evs[1][0] == "state" and evs[1][1]["direction"] == "still"
            assert evs[1][1]["bout"]["active"] is False
        await web.stop()

    asyncio.run(go())


def test_motion_stream_limits_and_times() -> None:
    web = companion(max_body=20_000)
    src = web.motion_source(idle_timeout=5)

    async def go() -> list[SampleBatch]:
        got: list[SampleBatch] = []

        async def consume() -> None:
            async for b in src.stream():
                got.append(b)
                if sum(len(x) for x in got) >= 150:
                    return

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.3)
        url = f"http://127.0.0.1:{web.port}/api/motion"
        async with aiohttp.ClientSession() as http:
            def body(page: str, t0: float, n: int, **extra) -> dict:
                return {"page": page, "t": [t0 + 20 * k for k in range(n)], "a": [[0, 0, 9.81]] * n, **extra}
            async with http.post(url, json=body("p1", 1000, 50)) as r:
                assert r.status == 401
            async with http.post(f"{url}?token={TOKEN}", json=body("p1", 1000, 2000)) as r:
                assert r.status == 413
            async with http.post(f"{url}?token={TOKEN}", data=b"{not json") as r:
                assert r.status == 400
            # a time too large for a float, a body whose gzip does not decode: 400, not 500
            huge = b'{"page": "p1", "t": [1' + b"0" * 400 + b'], "a": [[0, 0, 9.8]]}'
            async with http.post(f"{url}?token={TOKEN}", data=huge) as r:
                assert r.status == 400 and "bad motion message" in (await r.json())["error"]
            rd, wr = await asyncio.open_connection("127.0.0.1", web.port)
            wr.write(f"POST /api/motion?token={TOKEN} HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
                     "Content-Length: 8\r\nConnection: close\r\n\r\n".encode() + b"\x00garbage")
            reply = await rd.read()
            wr.close()
            assert reply.startswith(b"HTTP/1.1 400") and b"bad body" in reply
            async with http.post(f"{url}?token={TOKEN}", json=body("p1", 1000, 50)) as r:
                assert r.status == 200
            bad = body("p1", 2000, 50)
            bad["t"][5] = 1e30          # far in the future: dropped, counted
            async with http.post(f"{url}?token={TOKEN}", json=bad) as r:
                assert r.status == 200
            async with http.post(f"{url}?token={TOKEN}", json=body("p2", 0, 51)) as r:   # a reloaded page
                assert r.status == 200
        await asyncio.wait_for(task, 10)
        await web.stop()
        return got

    got = asyncio.run(go())
    t = np.concatenate([b.t for b in got])
    assert len(t) == 150 and np.all(np.diff(t) > 0) and t[-1] < 4
    assert np.allclose(got[0].acc, [0, 0, 1], atol=1e-3)        # m/s^2 -> g
    assert got[-1].gap_before and got[-1].meta["dropped_bad_time"] == 1


def test_web_tls_makes_a_certificate_and_serves_https(tmp_path: Path, monkeypatch) -> None:
    import shutil
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl")
    from coach.outputs.web import tls
    monkeypatch.setattr(tls, "cert_dir", lambda: tmp_path / "web-tls")
    cert, key, made = tls.ensure_cert("127.0.0.1")
    assert made and cert.exists() and (key.stat().st_mode & 0o777) == 0o600
    assert tls.ensure_cert("127.0.0.1")[2] is False          # kept
    web = companion(tls=True)

    async def go() -> tuple[int, int]:
        await web.start()
        assert web.url and web.url.startswith("https://127.0.0.1:")
        ctx = ssl.create_default_context(cafile=str(cert))    # the self-signed cert names 127.0.0.1
        async with aiohttp.ClientSession() as http:
            async with http.get(f"https://127.0.0.1:{web.port}/api/state", ssl=ctx) as r:
                a = r.status
            async with http.get(f"https://127.0.0.1:{web.port}/?token={TOKEN}", ssl=ctx) as r:
                b = r.status
                assert "Use this phone as the sensor" in await r.text()
        await web.stop()
        return a, b

    assert asyncio.run(go()) == (401, 200)


def test_addresses() -> None:
    assert parse_hostport("8080") == (None, 8080)
    assert parse_hostport("127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert parse_hostport("[::1]:9000") == ("::1", 9000)
    with pytest.raises(CoachError):
        parse_hostport("host:http")
    with pytest.raises(CoachError):
        parse_hostport("70000")
    where = choose_host(None)
    assert where.host != "0.0.0.0" and where.public == where.host and where.why
    assert choose_host("127.0.0.1").host == "127.0.0.1"


def test_device_clock_rules() -> None:
    now = [100.0]
    c = DeviceClock(tolerance_s=30, now=lambda: now[0])
    m = c.map(np.array([5.0, 5.02, np.nan, 5.04, 1e30]))
    assert list(np.round(m.t, 3)) == [0.001, 0.021, 0.041] and c.out_of_range == 2
    now[0] += 1
    m = c.map(np.array([5.04, 5.06, 5.0 + 3600]))            # a repeat, a good one, an hour ahead
    assert len(m.t) == 1 and c.duplicates == 1 and c.out_of_range == 3
    now[0] += 5
    m = c.map(np.array([9.0]))
    assert m.gap and c.gaps == 1
    c.reanchor()                                             # the sender's clock restarted
    m = c.map(np.array([0.5, 0.52]))
    assert m.t[0] > 4 and np.all(np.diff(m.t) > 0)


def test_device_clock_cannot_be_set_or_moved_by_stray_times() -> None:
    """Found by attacking the phone inputs: one stray time had anchored the clock (a time 20 s
    early put 20 s of standing that never happened at the start; a tiny epoch first stalled
    every later sample), and a page that changed its id with every message moved the stream a
    second ahead each time."""
    now = [100.0]
    c = DeviceClock(tolerance_s=30, now=lambda: now[0])
    first = np.r_[1000.0 - 20, 1000 + np.arange(50) * 0.02]        # one sample 20 s early
    m = c.map(first)
    assert len(m.t) == 50 and m.t[0] < 0.01 and c.out_of_range == 1
    # a stray epoch first, then the phone's real clock: after a few batches it re-anchors
    c = DeviceClock(tolerance_s=30, now=lambda: now[0])
    c.map(np.array([1e-6]))
    kept = []
    for k in range(6):
        now[0] += 1
        kept.append(len(c.map(1.7e9 + k + np.arange(50) * 0.02).t))
    assert kept[:2] == [0, 0] and all(n == 50 for n in kept[2:]) and c.reanchors == 1
    # re-anchors (new page ids) follow real time, never further
    c = DeviceClock(tolerance_s=30, now=lambda: now[0])
    c.map(np.arange(50) * 0.02)
    for k in range(40):
        c.reanchor()
        m = c.map(np.array([5.0 + k]))
        assert m.gap
    assert c.last_t < 1.1            # no real time passed: the stream stayed within a second


def test_today_counts_earlier_walks_today_not_demos(tmp_path: Path) -> None:
    from coach.outputs.store import SessionMeta, SessionStore
    from coach.types import AnalysisResult

    def result(steps: int, secs: float) -> AnalysisResult:
        return AnalysisResult("x", secs, 50.0, [], [], Tallies(retro_steps=steps, retro_seconds=secs))

    store = SessionStore(tmp_path / "s.sqlite3")
    store.store_result(result(100, 120.0), SessionMeta(kind="run"))
    store.store_result(result(999, 999.0), SessionMeta(kind="demo"))

    class Live:        # the live store observer of this session
        def __init__(self) -> None:
            self.store, self.session_id = store, -1

    web = companion()
    web.attach_observers([Live()])

    async def go() -> dict:
        await web.on_batch(batch(5.0), state_at(5.0, "backward", 10, 5.0), [])
        snap = web.snapshot()
        await web.stop()
        return snap

    snap = asyncio.run(go())
    assert snap["today"] == {"retro_seconds": 125.0, "retro_steps": 110}
    store.close()
