"""A small HTTP server fit for a home network, shared by the phone push input and the web page.

Built on aiohttp. What every server here does (issue 12):

* a per-session secret token (``?token=`` in the URL, or ``Authorization: Bearer``); a request
  without it gets 401 before its body is read, and nothing from it is used;
* one interface chosen on purpose (``--host``): by default the machine's own address on the local
  network (the interface of its default route), not every interface, so the phone on the same
  Wi-Fi reaches it and other networks of the machine (VPNs, containers) do not;
* a body size limit (413), a header timeout (headers complete within ``header_timeout_s`` of
  connecting, else the connection is closed), an idle keep-alive timeout, a body read timeout,
  a cap on open connections; chunked bodies are read like any other (and limited the same).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from coach.errors import CoachError

log = logging.getLogger(__name__)

TOKEN_ENV = "COACH_TOKEN"     # a fixed token for scripts and tests (else a new one per session)


def make_token() -> str:
    """The session's secret: $COACH_TOKEN if set (scripts, tests), else 128 random bits."""
    fixed = os.environ.get(TOKEN_ENV, "").strip()
    return fixed or secrets.token_urlsafe(16)


def lan_address() -> str | None:
    """This machine's address on its local network: the source address of its default route
    (a UDP connect sends nothing). None without a network."""
    for target in ("192.0.2.1", "10.255.255.255"):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect((target, 9))
                addr = s.getsockname()[0]
                if addr and not addr.startswith("0."):
                    return str(addr)
        except OSError:
            continue
    return None


@dataclass(frozen=True, slots=True)
class Listen:
    """Where to listen, and the address to print for the phone."""

    host: str          # what we bind
    public: str        # what the phone opens
    why: str           # said to the user


def choose_host(host: str | None) -> Listen:
    """The interface to bind. Default: the LAN address (the phone must reach it; other
    interfaces need not); with no network, this machine only."""
    if host:
        public = lan_address() or "127.0.0.1" if host in ("0.0.0.0", "::") else host
        return Listen(host, public, f"listening on {host} (as asked)")
    lan = lan_address()
    if lan is None or lan.startswith("127."):
        return Listen("127.0.0.1", "127.0.0.1",
                      "no local network found: listening on this machine only (127.0.0.1)")
    return Listen(lan, lan, f"listening on {lan}, this machine's address on the local network, so "
                            "a phone on the same Wi-Fi can reach it (--host 127.0.0.1: this machine "
                            "only; --host 0.0.0.0: every interface)")


def parse_hostport(spec: str, default_port: int = 8080) -> tuple[str | None, int]:
    """`[HOST:]PORT` (HOST may be [v6]) -> (host or None, port)."""
    spec = spec.strip()
    host: str | None = None
    port_s = spec
    if spec.startswith("["):
        h, _, rest = spec[1:].partition("]")
        host, port_s = h, rest.lstrip(":")
    elif ":" in spec:
        host, _, port_s = spec.rpartition(":")
    if not port_s and host is not None:
        raise CoachError(f"--web wants [HOST:]PORT: no port after {spec!r}")
    try:
        port = int(port_s) if port_s else default_port
    except ValueError:
        raise CoachError(f"--web wants [HOST:]PORT (got {spec!r})") from None
    if not 0 <= port <= 65535:
        raise CoachError(f"port {port} is out of range (0-65535)")
    return host or None, port


def token_ok(request: web.Request, token: str) -> bool:
    got = request.query.get("token") or ""
    auth = request.headers.get("Authorization", "")
    if not got and auth.lower().startswith("bearer "):
        got = auth[7:].strip()
    return bool(got) and secrets.compare_digest(got.encode(), token.encode())


def token_middleware(token: str, public: tuple[str, ...] = ()) -> Any:
    """401 (before any body is read) for requests without the session token."""

    @web.middleware
    async def check(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                    ) -> web.StreamResponse:
        _mark_request(request)
        if request.path not in public and not token_ok(request, token):
            resp = web.json_response({"error": "missing or wrong token"}, status=401)
            resp.force_close()    # the body (if any) is not read: close rather than drain it
            return resp
        try:
            return await handler(request)
        except (web.HTTPRequestEntityTooLarge, web.HTTPRequestTimeout, web.HTTPServiceUnavailable) as e:
            resp = web.json_response({"error": e.text}, status=e.status, headers={
                k: v for k, v in e.headers.items() if k == "Retry-After"})
            if e.status != 503:
                resp.force_close()   # the rest of the body is not wanted
            return resp

    return check


async def read_body(request: web.Request, timeout_s: float) -> bytes:
    """The whole body (chunked or not) within timeout_s; 413 over the app's client_max_size."""
    limit = request.app[MAX_BODY]
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    from aiohttp.http_exceptions import HttpProcessingError
    from aiohttp.web_protocol import RequestPayloadError
    try:
        return await asyncio.wait_for(request.read(), timeout_s)
    except TimeoutError:
        raise web.HTTPRequestTimeout(text="body too slow") from None
    except (HttpProcessingError, RequestPayloadError) as e:   # a body that does not decode
        why = str(e).strip().splitlines()[-1].strip() if str(e).strip() else type(e).__name__
        raise web.HTTPBadRequest(text=json.dumps({"error": f"bad body: {why}"}),
                                 content_type="application/json") from None


# --- connection-level limits ----------------------------------------------------------------
def _mark_request(request: web.Request) -> None:
    proto = request.protocol
    timer = getattr(proto, "_coach_header_timer", None)
    if timer is not None:
        timer.cancel()
        proto._coach_header_timer = None  # type: ignore[attr-defined]


class _ConnectionGuard:
    """Wraps aiohttp's Server (the protocol factory): a header timeout per connection and a cap
    on open connections. Everything else is aiohttp's."""

    def __init__(self, server: web.Server, header_timeout_s: float, max_connections: int) -> None:
        self._server = server
        self.header_timeout_s = header_timeout_s
        self.max_connections = max_connections
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)

    def __call__(self) -> RequestHandler:
        srv = self._server
        return _GuardedHandler(srv, self, loop=srv._loop, **srv._kwargs)


class _GuardedHandler(RequestHandler):
    """aiohttp's RequestHandler, closed if no complete request head arrives in time."""

    def __init__(self, manager: web.Server, guard: _ConnectionGuard, **kw: Any) -> None:
        super().__init__(manager, **kw)
        self._coach_guard = guard
        self._coach_header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        guard = self._coach_guard
        if len(guard._server.connections) > guard.max_connections:
            guard.refused += 1
            transport.close()
            return
        self._coach_header_timer = asyncio.get_running_loop().call_later(
            guard.header_timeout_s, self._coach_no_request, transport)

    def _coach_no_request(self, transport: asyncio.BaseTransport) -> None:
        if self._coach_header_timer is not None:
            log.debug("closing a connection that sent no complete request in time")
            transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._coach_header_timer is not None:
            self._coach_header_timer.cancel()
            self._coach_header_timer = None
        super().connection_lost(exc)


MAX_BODY = web.AppKey("max_body", int)
HEADER_TIMEOUT = web.AppKey("header_timeout_s", float)
MAX_CONNECTIONS = web.AppKey("max_connections", int)


def make_app(token: str, *, max_body: int, header_timeout_s: float = 10.0, max_connections: int = 64,
             public: tuple[str, ...] = ()) -> web.Application:
    app = web.Application(client_max_size=max_body, middlewares=[token_middleware(token, public)])
    app[MAX_BODY] = max_body
    app[HEADER_TIMEOUT] = float(header_timeout_s)
    app[MAX_CONNECTIONS] = max_connections
    return app


class _OneLine(logging.Filter):
    """aiohttp's server logs a malformed request (a negative Content-Length, a line over 8 KB,
    an unknown method) with a traceback, before any token is checked: anyone on the network
    could fill the terminal. One line instead (the full traceback with -v)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and not logging.getLogger().isEnabledFor(logging.DEBUG):
            said = " ".join(str(exc).split())
            record.msg, record.args = "bad request from a client: %s: %s", (type(exc).__name__, said[:200])
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


async def start_app(app: web.Application, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None,
                    keepalive_timeout_s: float = 15.0) -> tuple[web.AppRunner, int]:
    """Bind and serve; returns the runner and the port actually bound."""
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _OneLine) for f in server_log.filters):
        server_log.addFilter(_OneLine())
    runner = web.AppRunner(app, keepalive_timeout=keepalive_timeout_s, access_log=None,
                           max_line_size=8190, max_field_size=8190, max_headers=64,
                           handler_cancellation=True, lingering_time=2.0)
    await runner.setup()
    assert runner._server is not None
    runner._server = _ConnectionGuard(runner._server, app[HEADER_TIMEOUT],  # type: ignore[assignment]
                                      app[MAX_CONNECTIONS])
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context, backlog=64)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise CoachError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None
    return runner, site.port


class Backpressure:
    """A bounded queue between HTTP handlers and the session: a full queue makes the sender
    wait (up to wait_s), then answers 503 with Retry-After; nothing piles up in memory."""

    def __init__(self, maxsize: int = 64, wait_s: float = 5.0) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=maxsize)
        self.wait_s = wait_s
        self.rejected = 0

    async def put(self, item: Any) -> None:
        try:
            await asyncio.wait_for(self.queue.put(item), self.wait_s)
        except TimeoutError:
            self.rejected += 1
            raise web.HTTPServiceUnavailable(text="busy: retry", headers={"Retry-After": "1"}) from None


def print_address(url: str, what: str, file: Any = None) -> None:
    """The full address and a QR code of it, on the terminal (stderr)."""
    out = file or sys.stderr
    print(f"{what}: {url}", file=out, flush=True)
    try:
        import segno

        segno.make(url, error="m").terminal(out=out, compact=True)
    except Exception as e:  # noqa: BLE001 - the QR code is a convenience; the address is printed
        log.debug("no QR code: %s", e)
    out.flush()
