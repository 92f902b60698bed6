"""MQTT failures are named, fast and final where retrying cannot help: bad credentials, an
untrusted CA, a hostname mismatch, a refused connection, a malformed URL. Real Mosquitto
(password file, TLS with openssl-made certificates); every command gives one line and exit 2."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from coach.errors import CoachError
from coach.outputs.mqtt import MqttSettings
from tests.outputs_broker import Broker, free_port, have_mosquitto, make_tls

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not have_mosquitto(), reason="mosquitto not installed")


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rec") / "walk.csv"
    t = np.arange(0, 12, 0.02)
    with path.open("w") as f:
        f.write("t,ax,ay,az\n")
        for ti in t:
            f.write(f"{ti:.3f},{0.1 * np.sin(11 * ti):.4f},{0.05 * np.cos(11 * ti):.4f},"
                    f"{1 + 0.2 * np.sin(11 * ti):.4f}\n")
    return path


def coach(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str, float]:
    import os
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "coach", *args], cwd=ROOT, capture_output=True,
                       text=True, timeout=timeout,
                       env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    return p.returncode, p.stderr.strip(), time.monotonic() - t0


def assert_one_line(rc: int, err: str, *needles: str) -> None:
    assert rc == 2, err
    assert err.count("\n") == 0, err
    for n in needles:
        assert n in err, err
    assert "Traceback" not in err


@pytest.mark.skipif(not shutil.which("mosquitto_passwd"), reason="mosquitto_passwd not installed")
def test_bad_credentials_are_named_and_final(tmp_path: Path, walk: Path) -> None:
    b = Broker(tmp_path, users={"coach": "s3cret-pw"})
    b.start()
    try:
        url = f"mqtt://coach:wrong@127.0.0.1:{b.port}"
        for cmd in (["replay", str(walk), "--speed", "0", "--no-save", "--mqtt", url],
                    ["analyze", str(walk), "--mqtt", url]):
            rc, err, took = coach(*cmd)
            assert_one_line(rc, err, "bad user name or password")
            assert "wrong" not in err and took < 20
        rc, err, _ = coach("replay", str(walk), "--speed", "0", "--no-save", "--mqtt",
                           f"mqtt://coach:s3cret-pw@127.0.0.1:{b.port}")
        assert rc == 0, err
    finally:
        b.stop()


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl CLI not installed")
def test_tls_unknown_ca_and_hostname_mismatch(tmp_path: Path, walk: Path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    ca, cert, key = make_tls(good)
    b = Broker(good, tls=(ca, cert, key))
    b.start()
    try:
        url = f"mqtts://127.0.0.1:{b.port}"
        rc, err, took = coach("analyze", str(walk), "--mqtt", url)          # no CA given
        assert_one_line(rc, err, "TLS certificate not trusted", "ca_file")
        assert took < 20
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[mqtt]\nca_file = "{ca}"\n')
        rc, err, _ = coach("analyze", str(walk), "--mqtt", url, "--config", str(cfg))
        assert rc == 0, err
    finally:
        b.stop()
    other = tmp_path / "other"
    other.mkdir()
    ca2, cert2, key2 = make_tls(other, san="DNS:broker.example")
    b = Broker(other, tls=(ca2, cert2, key2))
    b.start()
    try:
        cfg = tmp_path / "c2.toml"
        cfg.write_text(f'[mqtt]\nca_file = "{ca2}"\n')
        rc, err, took = coach("replay", str(walk), "--speed", "0", "--no-save", "--mqtt",
                              f"mqtts://127.0.0.1:{b.port}", "--config", str(cfg))
        assert_one_line(rc, err, "does not match host '127.0.0.1'")
        assert took < 20
    finally:
        b.stop()


def test_connection_refused_is_named_and_fast(walk: Path) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"
    for cmd in (["replay", str(walk), "--speed", "0", "--no-save", "--mqtt", url],
                ["analyze", str(walk), "--mqtt", url, "--json"]):
        rc, err, took = coach(*cmd)
        assert_one_line(rc, err, "refused the connection")
        assert took < 20


def test_serve_names_a_refused_login(tmp_path: Path) -> None:
    if not shutil.which("mosquitto_passwd"):
        pytest.skip("mosquitto_passwd not installed")
    b = Broker(tmp_path, users={"coach": "pw"})
    b.start()
    try:
        rc, err, took = coach("serve", "--mqtt", f"mqtt://coach:nope@127.0.0.1:{b.port}",
                              timeout=30)
        assert rc == 2 and took < 20, err
        assert err.splitlines()[-1].startswith("coach: error:") and "bad user name" in err
    finally:
        b.stop()


@pytest.mark.parametrize("url, needle", [
    ("mqtt://u:p@[::1", "bad MQTT URL"),
    ("mqtt://host:99999", "bad MQTT URL"),
    ("http://host", "must start with mqtt://"),
])
def test_bad_urls_are_one_line(url: str, needle: str, walk: Path) -> None:
    with pytest.raises(CoachError, match=needle):
        MqttSettings.from_url(url)
    rc, err, _ = coach("analyze", str(walk), "--mqtt", url)
    assert_one_line(rc, err, needle)
    assert ":p@" not in err


def test_broker_dying_mid_session_never_stops_the_coach(tmp_path: Path) -> None:
    """A live session whose broker is stopped mid-walk (and never comes back) coaches to the
    end, stores the session, then names the broker in one line (exit 2)."""
    import os

    from coach.outputs.store import SessionStore
    from tests.outputs_broker import Collector
    b = Broker(tmp_path)
    b.start()
    cfg = tmp_path / "c.toml"
    cfg.write_text("[mqtt]\ndrain_timeout_s = 1.0\n")
    db = tmp_path / "s.db"
    col = Collector(b.port)
    proc = subprocess.Popen([sys.executable, "-m", "coach", "demo", "--speed", "20", "--minutes", "1",
                             "--mute", "--plain", "--db", str(db), "--mqtt", b.url, "--device-id", "walker",
                             "--config", str(cfg)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 30
        while not col.payloads("coach/walker/state") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert col.payloads("coach/walker/state")
        col.close()
        b.stop()                                   # the broker dies mid-session
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
        b.stop()
    assert proc.returncode == 2, err
    assert "demo finished" in out and "Session done" in out      # coached to the end
    last = err.strip().splitlines()[-1]
    assert last.startswith("coach: error: MQTT broker") and "refused the connection" in last
    (s,) = SessionStore(db).history()["sessions"]
    assert s["status"] == "closed" and s["retro_steps"] > 0


@pytest.mark.parametrize("setting, content, needle", [
    ("ca_file", None, "ca_file"),
    ("ca_file", "not a certificate", "ca_file"),
    ("certfile", "garbage", "certfile"),
])
def test_tls_files_are_checked_before_the_session(tmp_path: Path, walk: Path, setting: str,
                                                  content: str | None, needle: str) -> None:
    f = tmp_path / "f.pem"
    if content is not None:
        f.write_text(content)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[mqtt]\n{setting} = "{f}"\n')
    rc, err, took = coach("analyze", str(walk), "--mqtt", f"mqtts://127.0.0.1:{free_port()}",
                          "--config", str(cfg))
    assert_one_line(rc, err, needle, str(f))
    assert took < 20
