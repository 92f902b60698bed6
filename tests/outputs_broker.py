"""Test helpers for the outputs layer: a real Mosquitto broker on a free port, a fake
deterministic detector and a synthetic source (so tests do not depend on the trained model)."""
from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from coach.detect.types import AnalysisResult, Event, LiveState, Segment, Tallies
from coach.sources.base import SampleBatch

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """A mosquitto process on 127.0.0.1:<free port>; restartable on the same port."""

    def __init__(self, workdir: Path, users: dict[str, str] | None = None,
                 persist: bool = True, tls: tuple[Path, Path, Path] | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        conf = [f"listener {self.port} 127.0.0.1"]
        if tls:  # (ca, cert, key)
            conf += [f"cafile {tls[0]}", f"certfile {tls[1]}", f"keyfile {tls[2]}"]
        if os.geteuid() == 0:  # mosquitto drops root to "mosquitto", which cannot read tmp dirs
            conf.append("user root")
        if persist:  # sessions and retained messages survive a restart (saved on SIGTERM)
            conf += ["persistence true", f"persistence_location {workdir}/"]
        else:
            conf.append("persistence false")
        if users:
            pw = workdir / "passwd"
            pw.write_text("")
            for u, p in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(pw), u, p], check=True,
                               capture_output=True)
            conf += ["allow_anonymous false", f"password_file {pw}"]
        else:
            conf.append("allow_anonymous true")
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text("\n".join(conf) + "\n")

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


class Collector:
    """A persistent-session QoS 1 subscriber (paho, own thread) that records every message."""

    def __init__(self, port: int, topics: tuple[str, ...] = ("#",), client_id: str = "collector",
                 username: str | None = None, password: str | None = None) -> None:
        import threading

        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        if username:
            c.username_pw_set(username, password)
        # paho annotates the delays as int, but they are seconds compared with time.monotonic()
        c.reconnect_delay_set(0.05, 0.2)  # type: ignore[arg-type]

        def on_connect(client, userdata, flags, rc, props=None):
            for t in topics:
                client.subscribe(t, qos=1)

        def on_subscribe(*a):
            self.subscribed.set()

        def on_message(client, userdata, msg):
            with self.lock:
                self.messages.append((msg.topic, msg.payload, bool(msg.retain)))

        c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
        self.client = c
        c.connect("127.0.0.1", port, keepalive=5)
        c.loop_start()
        if not self.subscribed.wait(5):
            raise RuntimeError("collector could not subscribe")

    def payloads(self, suffix: str) -> list[dict]:
        import json

        with self.lock:
            return [json.loads(p) for t, p, _ in self.messages if t.endswith(suffix) and p]

    def topics(self) -> set[str]:
        with self.lock:
            return {t for t, _, _ in self.messages}

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def make_tls(workdir: Path, san: str = "IP:127.0.0.1,DNS:localhost") -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 (openssl CLI); `san` names the
    hosts the certificate is for."""
    ca_key, ca, key, csr, cert = (workdir / n for n in ("ca.key", "ca.crt", "srv.key", "srv.csr", "srv.crt"))
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", str(ca_key), "-out", str(ca))
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(key), "-out", str(csr))
    ext = workdir / "ext.cnf"
    ext.write_text(f"subjectAltName={san}\n")
    run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert))
    return ca, cert, key


def have_mosquitto() -> bool:
    return os.path.exists(MOSQUITTO) and os.access(MOSQUITTO, os.X_OK)


# -- a fake detector --------------------------------------------------------------------------
SCRIPT = [(0.0, "still"), (2.0, "forward"), (6.0, "backward"), (12.0, "forward"),
          (15.0, "backward"), (20.0, "still")]


@dataclass
class FakePipeline:
    """Plays a fixed direction script against stream time; a step every 0.5 s while walking."""

    source_name: str = "fake"
    script: list[tuple[float, str]] = field(default_factory=lambda: list(SCRIPT))
    placement: str | None = None

    def __post_init__(self) -> None:
        self.state = LiveState()
        self.events: list[Event] = []
        self.steps: list[tuple[float, str]] = []
        self._next_step = 0.0
        self._dir = "still"
        self._since = 0.0
        self.segments: list[Segment] = []

    def _direction_at(self, t: float) -> tuple[str, float]:
        cur = self.script[0]
        for s in self.script:
            if s[0] <= t:
                cur = s
        return cur[1], cur[0]

    def feed(self, batch: SampleBatch) -> list[Event]:
        new: list[Event] = []
        for t in batch.t:
            d, since = self._direction_at(float(t))
            if d != self._dir:
                self.segments.append(Segment(self._since, since, self._dir,
                                             sum(1 for s in self.steps if self._since <= s[0] < since)))
                self._dir, self._since = d, since
                if d in ("forward", "backward"):
                    self._next_step = float(t) + 0.25
                e = Event(float(t), "direction_change", {"direction": d, "since_s": since})
                new.append(e)
                self.events.append(e)
                self.state.tallies.direction_changes += 1
            if d in ("forward", "backward") and t >= self._next_step:
                self._next_step += 0.5
                self.steps.append((float(t), d))
                new.append(Event(float(t), "step", {"direction": d}))
                if d == "backward":
                    self.state.tallies.retro_steps += 1
                else:
                    self.state.tallies.forward_steps += 1
            dt = 0.02
            if d == "backward":
                self.state.tallies.retro_seconds += dt
            elif d == "forward":
                self.state.tallies.forward_seconds += dt
        self.state.t_s = float(batch.t[-1])
        self.state.direction = self._dir
        self.state.since_s = self._since
        self.state.cadence_spm = 120.0 if self._dir in ("forward", "backward") else 0.0
        return new

    def finish(self) -> AnalysisResult:
        end = self.state.t_s
        segs = list(self.segments) + [Segment(self._since, end, self._dir,
                                              sum(1 for s in self.steps if s[0] >= self._since))]
        segs = [s for s in segs if s.end_s > s.start_s]
        t = self.state.tallies
        return AnalysisResult(self.source_name, end, 50.0, segs, list(self.events),
                              Tallies(**{k: getattr(t, k) for k in Tallies.__slots__}),
                              list(self.steps))


@dataclass
class FakeSource:
    """duration_s of 50 Hz samples in batches of `batch` samples; speed 0 = as fast as possible."""

    duration_s: float = 24.0
    batch: int = 25
    speed: float = 0.0
    name: str = "fake.csv"

    async def stream(self) -> AsyncIterator[SampleBatch]:
        n = int(self.duration_s * 50)
        t = np.arange(n) / 50.0
        acc = np.zeros((n, 3))
        acc[:, 2] = 1.0
        for i in range(0, n, self.batch):
            if self.speed:
                await asyncio.sleep(self.batch / 50.0 / self.speed)
            else:
                await asyncio.sleep(0)
            yield SampleBatch(t[i:i + self.batch], acc[i:i + self.batch])
