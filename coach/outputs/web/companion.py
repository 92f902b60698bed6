"""The web companion's server and session Observer.

    GET  /?token=T            the page (coach/outputs/web/page.html)
    GET  /api/state?token=T   a JSON snapshot: direction, retro_steps, retro_seconds, interval,
                              connected, ... (for scripts and tests)
    GET  /api/events?token=T  Server-Sent Events: "snapshot" first (the state and the recent
                              prompts, so a page that reconnects after a Wi-Fi drop catches up),
                              then "state" (about twice a second and on changes) and "prompt"
    POST /api/motion?token=T  the page's DeviceMotion samples when the phone is the sensor

Every route wants the session token (401 without it); bodies are limited (413); the motion
stream goes through a bounded queue (a full one makes the page wait, then 503). See
coach.sources.http_server for the timeouts and the connection cap.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from importlib import resources
from typing import Any

import numpy as np

from coach.constants import G
from coach.errors import CoachError
from coach.outputs.store import session_kind
from coach.types import AnalysisResult, Event, LiveState, SampleBatch

log = logging.getLogger(__name__)

# Same order as the terminal coach: safety first; a prompt not yet spoken after stale_s is dropped.
PRIORITY = {"safety": 3, "cue": 2, "interval": 1, "info": 0}
STALE_S = {"safety": 30.0, "cue": 5.0, "interval": 10.0, "info": 15.0}
WALK_KINDS = ("walk",)            # "today" counts walks (not demos, replays, analyses) + this session
MAX_MOTION_SAMPLES = 2000          # per POST (the page sends about 0.5 s, ~30 samples)


def _r(x: float, nd: int = 1) -> float:
    return round(float(x), nd) + 0.0


class WebCompanion:
    """A session Observer and Sink that serves the live state to the walker's phone."""

    is_web = True

    def __init__(self, host: str | None, port: int, *, tls: bool = False, token: str | None = None,
                 print_qr: bool = True, notify: Callable[[str], None] | None = None,
                 max_body: int = 256 * 1024, header_timeout_s: float = 10.0,
                 motion_queue: int = 64, linger_s: float = 2.0) -> None:
        from coach.sources.http_server import Backpressure, make_token

        self.host, self.port, self.tls = host, port, tls
        self.token = token or make_token()
        self.print_qr = print_qr
        self.notify = notify or (lambda m: print(m, flush=True))
        self.max_body = max_body
        self.header_timeout_s = header_timeout_s
        self.linger_s = linger_s
        self.url: str | None = None
        self.runner: Any = None
        self._starting: asyncio.Lock | None = None
        self.motion = Backpressure(motion_queue)
        self.motion_wanted = False           # the page offers "use this phone as the sensor"
        self.clients: set[asyncio.Queue[str | None]] = set()
        self.max_clients = 16
        self.prompts: deque[dict[str, Any]] = deque(maxlen=30)
        self.seq = 0
        self.state: dict[str, Any] = {
            "direction": "still", "t_s": 0.0, "retro_steps": 0, "retro_seconds": 0.0,
            "forward_steps": 0, "forward_seconds": 0.0, "cadence": 0.0, "interval": None,
            "next_prompt": None, "connected": False, "battery": None,
            "bout": {"direction": "backward", "seconds": 0.0, "steps": 0},
            "today": {"retro_seconds": 0.0, "retro_steps": 0}, "program": None,
            "active": True, "alert": None, "source": "", "motion_wanted": False}
        self._interval: dict[str, Any] | None = None
        self._coach: Any = None
        self._today0 = (0.0, 0)
        self._bout_steps0 = 0
        self._bout_since: float | None = None
        self._last_push = 0.0
        self._last_direction = "still"

    # --- wiring ---------------------------------------------------------------------------
    def attach_observers(self, observers: list[Any]) -> None:
        """Find the coach (next prompt, program) and the store (today's figures)."""
        for o in observers:
            if hasattr(o, "coach") and hasattr(o, "prompts_json"):
                self._coach = o.coach
        for o in observers:
            store, sid = getattr(o, "store", None), getattr(o, "session_id", None)
            if store is not None and hasattr(store, "sessions"):
                try:
                    midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
                    rows = [r for r in store.sessions(since=midnight)
                            if r.get("id") != sid and session_kind(r.get("kind")) in WALK_KINDS]
                    self._today0 = (sum(float(r.get("retro_seconds") or 0) for r in rows),
                                    sum(int(r.get("retro_steps") or 0) for r in rows))
                except Exception as e:  # noqa: BLE001 - today's figures are a nicety
                    log.debug("today's totals unavailable: %s", e)

    def on_notice(self, text: str) -> None:
        """The sensor link's news ("reconnecting...", "back after 4 s"): shown on the page."""
        low = text.lower()
        if "reconnect" in low or "lost" in low or "ending" in low:
            self.state["connected"] = False
        elif "back after" in low or "connected" in low:
            self.state["connected"] = True
        self.state["link_notice"] = text
        if self.runner is not None:
            self._push_state()

    def set_program(self, name: str | None, session_goal_s: float | None = None, *a: Any, **kw: Any) -> None:
        self.state["program"] = name

    # --- the server -----------------------------------------------------------------------
    async def start(self) -> None:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self.runner is not None:
                return
            await self._start()

    async def start_before_session(self) -> None:
        await self.start()

    async def _start(self) -> None:

        from coach.sources.http_server import choose_host, make_app, print_address, start_app

        where = choose_host(self.host)
        ssl_ctx = None
        if self.tls:
            from coach.outputs.web.tls import ensure_cert, server_context

            cert, key, made = ensure_cert(where.public)
            if made:
                self.notify(f"made a self-signed certificate for {where.public} ({cert})")
            ssl_ctx = server_context(cert, key)
        app = make_app(self.token, max_body=self.max_body, header_timeout_s=self.header_timeout_s)
        app.router.add_get("/", self._page)
        app.router.add_get("/api/state", self._api_state)
        app.router.add_get("/api/events", self._api_events)
        app.router.add_post("/api/motion", self._api_motion)
        self.runner, self.port = await start_app(app, where.host, self.port, ssl_context=ssl_ctx)
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://{_host_in_url(where.public)}:{self.port}/?token={self.token}"
        self.notify(f"web companion: {where.why}")
        if self.print_qr:
            print_address(self.url, "open on your phone")

    async def stop(self) -> None:
        for q in list(self.clients):
            _offer(q, None, force=True)      # every open page's stream ends, even a backed-up one
        if self.runner is not None:
            runner, self.runner = self.runner, None
            await runner.cleanup()

    async def _page(self, request: Any) -> Any:
        from aiohttp import web

        html = resources.files("coach.outputs.web").joinpath("page.html").read_text(encoding="utf-8")
        return web.Response(text=html, content_type="text/html", headers={
            "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff"})

    async def _api_state(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response(self.snapshot(with_prompts=False), headers={"Cache-Control": "no-store"})

    async def _api_events(self, request: Any) -> Any:
        from aiohttp import web

        if len(self.clients) >= self.max_clients:
            return web.json_response({"error": "too many pages open"}, status=503, headers={"Retry-After": "5"})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        q: asyncio.Queue[str | None] = asyncio.Queue(maxsize=200)
        self.clients.add(q)
        try:
            await resp.write(b"retry: 1500\n\n" + _sse("snapshot", self.snapshot(with_prompts=True)))
            while True:
                try:
                    msg = await asyncio.wait_for(q.get(), 15.0)
                except TimeoutError:
                    msg = ": keep-alive\n\n"
                if msg is None:
                    break
                await resp.write(msg.encode())
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.clients.discard(q)
        return resp

    async def _api_motion(self, request: Any) -> Any:
        from aiohttp import web

        from coach.sources.http_server import read_body
        body = await read_body(request, 10.0)
        try:
            msg = json.loads(body)
            t = np.asarray(msg["t"], dtype=np.float64).reshape(-1)
            a = np.asarray(msg["a"], dtype=np.float64).reshape(-1, 3)
            page = str(msg.get("page", ""))[:64]
            if len(t) != len(a) or len(t) > MAX_MOTION_SAMPLES:
                raise ValueError("t and a differ in length, or too many samples")
        except (ValueError, TypeError, KeyError, RecursionError, OverflowError) as e:
            return web.json_response({"error": f"bad motion message: {e}"}, status=400)
        if not self.motion_wanted:
            return web.json_response({"error": "this session has another sensor"}, status=409)
        await self.motion.put((page, t, a))
        return web.json_response({"ok": True, "n": len(t)})

    # --- what the page shows ----------------------------------------------------------------
    def snapshot(self, with_prompts: bool = True) -> dict[str, Any]:
        d = dict(self.state)
        d["server_ms"] = int(time.time() * 1000)
        d["motion_wanted"] = self.motion_wanted
        if with_prompts:
            d["prompts"] = list(self.prompts)
        return d

    def _broadcast(self, event: str, data: dict[str, Any]) -> None:
        msg = _sse(event, data).decode()
        for q in list(self.clients):
            if not _offer(q, msg):        # a page that cannot keep up is dropped; it reconnects
                self.clients.discard(q)
                _offer(q, None, force=True)

    def _push_state(self) -> None:
        self._broadcast("state", self.snapshot(with_prompts=False))
        self._last_push = time.monotonic()

    # --- Observer ---------------------------------------------------------------------------
    async def on_batch(self, batch: SampleBatch, state: LiveState, events: list[Event]) -> None:
        if self.runner is None:
            await self.start()
        tl = state.tallies
        s = self.state
        changed = False
        if state.direction != self._last_direction:
            changed = True
            if self._last_direction == "backward":
                self._bout_steps0 = tl.retro_steps      # retro steps only accrue in backward bouts
            self._last_direction = state.direction
            if state.direction == "backward":
                self._bout_since = state.since_s
        if self._bout_since is not None:
            bout_end = state.t_s if state.direction == "backward" else s["bout"].get("_end", state.t_s)
            if state.direction == "backward":
                s["bout"] = {"direction": "backward", "seconds": _r(bout_end - self._bout_since),
                             "steps": tl.retro_steps - self._bout_steps0, "active": True}
            elif s["bout"].get("active"):
                s["bout"] = {**s["bout"], "active": False}
        meta = batch.meta or {}
        s.update({
            "direction": state.direction, "t_s": _r(state.t_s, 2), "retro_steps": tl.retro_steps,
            "retro_seconds": _r(tl.retro_seconds), "forward_steps": tl.forward_steps,
            "forward_seconds": _r(tl.forward_seconds), "cadence": _r(state.cadence_spm, 0),
            "connected": bool(meta.get("connected", True)), "link_notice": None,
            "today": {"retro_seconds": _r(self._today0[0] + tl.retro_seconds),
                      "retro_steps": self._today0[1] + tl.retro_steps}})
        if "battery" in meta:
            s["battery"] = meta["battery"]
        self._update_interval(state)
        if changed or time.monotonic() - self._last_push >= 0.5:
            self._push_state()

    def _update_interval(self, state: LiveState) -> None:
        iv = self._interval
        if iv is not None and iv.get("status") == "running":
            remaining = iv["start_s"] + iv["planned_s"] - state.t_s
            self.state["interval"] = {"label": iv.get("label"), "direction": iv.get("direction"),
                                      "index": iv.get("index"), "planned_s": iv["planned_s"],
                                      "remaining_s": _r(max(0.0, remaining))}
        else:
            self.state["interval"] = None
        self.state["next_prompt"] = self._next_prompt(state)

    def _next_prompt(self, state: LiveState) -> dict[str, Any] | None:
        c = self._coach
        if c is None:
            return None
        try:
            now = getattr(c, "now", state.t_s)
            pending = [p for p in getattr(c.queue, "pending", []) if p.due_s >= now - 1]
            if pending:
                p = min(pending, key=lambda p: p.due_s)
                return {"text": p.text, "in_s": _r(max(0.0, p.due_s - now))}
            prog, st = c.program, c.session_s
            i = prog.index_at(st)
            if i is not None and i + 1 < len(prog.intervals):
                nxt = prog.intervals[i + 1]
                verb = "Turn around: walk backward" if nxt.direction == "backward" else "Turn around: walk forward"
                return {"text": f"{verb} ({nxt.label})" if nxt.label else verb,
                        "in_s": _r(max(0.0, prog.intervals[i].end_s - st))}
        except (AttributeError, TypeError) as e:
            log.debug("no next prompt: %s", e)
        return None

    async def on_end(self, result: AnalysisResult) -> None:
        tl = result.tallies
        self.state.update({"active": False, "retro_steps": tl.retro_steps,
                           "retro_seconds": _r(tl.retro_seconds), "interval": None, "next_prompt": None})
        self._push_state()
        await asyncio.sleep(self.linger_s)     # let the pages get the summary before we go
        await self.stop()

    # --- Sink -------------------------------------------------------------------------------
    def publish_prompt(self, prompt: dict[str, Any]) -> None:
        kind = str(prompt.get("kind", "info"))
        self.seq += 1
        p = {"seq": self.seq, "t_s": prompt.get("t_s"), "kind": kind, "text": prompt.get("text", ""),
             "priority": PRIORITY.get(kind, 0), "stale_s": STALE_S.get(kind, 10.0),
             "wall_ms": int(time.time() * 1000)}
        self.prompts.append(p)
        self._broadcast("prompt", p)

    def publish_alert(self, alert: dict[str, Any]) -> None:
        self.state["alert"] = {k: alert.get(k) for k in ("t_s", "kind", "text")}
        self._push_state()

    def publish_interval(self, interval: dict[str, Any]) -> None:
        if isinstance(interval, dict):
            self._interval = dict(interval)

    # --- the phone as the sensor ----------------------------------------------------------
    def motion_source(self, duration_s: float | None = None, idle_timeout: float = 120.0) -> "WebMotionSource":
        self.motion_wanted = True
        return WebMotionSource(self, duration_s=duration_s, idle_timeout=idle_timeout)


class WebMotionSource:
    """A Source: the page's DeviceMotion (accelerationIncludingGravity, m/s^2) as SampleBatches.

    Sample times are the page's event timestamps (ms); a reloaded page (a new page id) continues
    the stream after a gap. Out-of-range times are dropped and counted (DeviceClock)."""

    def __init__(self, web: WebCompanion, duration_s: float | None = None, idle_timeout: float = 120.0) -> None:
        from coach.sources.device_clock import DeviceClock

        self.web = web
        self.name = "phone:web-devicemotion"
        self.duration_s = duration_s
        self.idle_timeout = idle_timeout
        self.clock = DeviceClock()
        self.samples = 0
        self._page: str | None = None
        self._stop = False

    def request_stop(self) -> None:
        self._stop = True
        q = self.web.motion.queue
        while q.full():
            q.get_nowait()
        q.put_nowait(None)

    async def stream(self) -> AsyncIterator[SampleBatch]:
        await self.web.start()
        self.web.notify("waiting for the phone: open the page and tap 'Use this phone as the sensor'")
        q = self.web.motion.queue
        started = False
        while not self._stop:
            try:
                item = await asyncio.wait_for(q.get(), self.idle_timeout if started else None)
            except TimeoutError:
                self.web.notify(f"no motion from the phone for {self.idle_timeout:g} s; ending")
                return
            if item is None:
                return
            page, t_ms, acc = item
            if self._page is not None and page != self._page:
                self.clock.reanchor()
            self._page = page
            m = self.clock.map(t_ms / 1000.0)
            a = acc[m.keep]
            fin = np.all(np.isfinite(a), axis=1)
            t, a = m.t[fin], a[fin]
            if not len(t):
                continue
            started = True
            self.samples += len(t)
            yield SampleBatch(t, a / G, gap_before=m.gap,
                              meta={"profile": "web-devicemotion", "connected": True,
                                    "dropped_bad_time": self.clock.out_of_range,
                                    "dup_samples": self.clock.duplicates})
            if self.duration_s is not None and t[-1] >= self.duration_s:
                return


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _offer(q: asyncio.Queue[str | None], msg: str | None, force: bool = False) -> bool:
    try:
        q.put_nowait(msg)
        return True
    except asyncio.QueueFull:
        if force:
            try:
                q.get_nowait()
                q.put_nowait(msg)
            except (asyncio.QueueEmpty, asyncio.QueueFull):
                pass
        return False


def _host_in_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def check_web_spec(spec: str) -> tuple[str | None, int]:
    from coach.sources.http_server import parse_hostport

    host, port = parse_hostport(spec)
    if port == 0 and spec.strip() not in ("0", ":0"):
        raise CoachError("--web wants [HOST:]PORT")
    return host, port
