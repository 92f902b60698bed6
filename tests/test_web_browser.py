"""The web companion in a real browser: Debian's headless Chromium driven by Playwright.

The coach runs as a real process (`coach replay --web`, `coach run --web`); the page is opened
at phone size (390x844). speechSynthesis is stubbed by an init script that records what the
page asks it to say. Set COACH_SCREENSHOT=docs/web-companion.png to refresh the README's
screenshot.
"""
from __future__ import annotations

import asyncio
import csv
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "test-token-123"
COACH = [sys.executable, "-m", "coach"]

# quickstart.sh installs chromium; in CI a missing browser is a failure, not a skip
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                reason="needs Debian's chromium (bash quickstart.sh test installs it)")

SPEECH_STUB = """
(() => {
  window.__spoken = [];
  const stub = {
    speaking: false, pending: false, paused: false,
    speak(u) { window.__spoken.push(u.text); setTimeout(() => { u.onend && u.onend(); }, 30); },
    cancel() {}, pause() {}, resume() {}, getVoices() { return []; },
    addEventListener() {}, removeEventListener() {},
  };
  Object.defineProperty(window, "speechSynthesis", { value: stub, configurable: true });
  window.__dirs = [];
  // the last prompt the page had seen when voice was tapped (captured before the page's own handler)
  window.__seqAtVoice = null;
  window.addEventListener("click", (e) => {
    if (e.target && e.target.id === "voice" && window.__seqAtVoice === null)
      window.__seqAtVoice = Number(sessionStorage.getItem("coachSeq") || 0);
  }, true);
  document.addEventListener("DOMContentLoaded", () => {
    const w = document.getElementById("word");
    new MutationObserver(() => {
      const d = w.textContent;
      if (window.__dirs[window.__dirs.length - 1] !== d) window.__dirs.push(d);
    }).observe(w, { childList: true, characterData: true, subtree: true });
  });
})();
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def coach_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ, COACH_TOKEN=TOKEN, XDG_DATA_HOME=str(tmp / "data"),
               XDG_CONFIG_HOME=str(tmp / "cfg"), COACH_DB=str(tmp / "s.sqlite3"))
    env.pop("COACH_CONFIG", None)
    return env


def wait_http(url: str, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def status_of(req: urllib.request.Request | str) -> int:
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def demo_csv(path: Path, minutes: float = 2.0) -> None:
    from coach.simulate.gait import SimulatedWalker

    s = SimulatedWalker(seed=3, minutes=minutes).session
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t", "ax", "ay", "az"])
        for t, a in zip(s.t, s.acc):
            w.writerow([f"{t:.3f}", f"{a[0]:.5f}", f"{a[1]:.5f}", f"{a[2]:.5f}"])


def phone_page(browser):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                              is_mobile=True, has_touch=True)
    ctx.add_init_script(SPEECH_STUB)
    return ctx, ctx.new_page()


def test_page_follows_a_replay_and_speaks_the_coachs_prompts(browser, tmp_path: Path) -> None:
    rec = tmp_path / "walk.csv"
    demo_csv(rec)
    port = free_port()
    proc = subprocess.Popen([*COACH, "replay", str(rec), "--speed", "6", "--mute", "--no-save", "--json",
                             "--program", "free", "--web", f"127.0.0.1:{port}"],
                            env=coach_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ctx, page = phone_page(browser)
    errors: list = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/api/state?token={TOKEN}")
        page.goto(f"{base}/?token={TOKEN}", wait_until="domcontentloaded")
        t_click = time.monotonic()
        page.click("#voice")
        click_s = time.monotonic() - t_click
        shot = os.environ.get("COACH_SCREENSHOT")
        took = False
        while proc.poll() is None:
            if shot and not took and page.evaluate("document.getElementById('word').textContent") == "backward" \
                    and page.evaluate("window.__spoken.length") >= 3:
                time.sleep(2.5)
                page.screenshot(path=shot)
                took = True
            time.sleep(0.2)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        doc = json.loads(out.strip().splitlines()[-1])   # (the text coach's lines may come first)
        dirs = page.evaluate("window.__dirs")
        spoken = page.evaluate("window.__spoken")
        seq_at_voice = page.evaluate("window.__seqAtVoice")
    finally:
        if proc.poll() is None:
            proc.kill()
        ctx.close()
    assert not errors, errors
    # the page followed the session: forward, then backward, then forward again
    seq = [d for d in dirs if d in ("forward", "backward")]
    collapsed = [d for i, d in enumerate(seq) if i == 0 or seq[i - 1] != d]
    assert collapsed[:3] == ["forward", "backward", "forward"], dirs
    # what the phone said is what the coach said (after "Voice on"), in order
    said = [s for s in spoken if s != "Voice on"]
    texts = [p["text"] for p in doc["prompts"]]
    # every prompt after the tap, in order (those before were shown, not spoken)
    assert seq_at_voice is not None, "the voice button never took the tap"
    why = f"voice on after prompt {seq_at_voice} of {len(texts)}; the tap took {click_s:.1f} s"
    assert said == texts[seq_at_voice:], (why, said, texts)
    assert "Backward" in said and len(said) >= len(texts) // 2, (why, said, texts)


def test_phone_as_the_sensor_and_the_servers_locks(browser, tmp_path: Path) -> None:
    from coach.constants import G
    from coach.simulate.gait import Bout, simulate

    sess = simulate(np.random.default_rng(5), [Bout("forward", 30.0)], placement="chest", rate_hz=100.0,
                    mounting="upright")
    acc = (sess.acc * G).round(3).tolist()
    port = free_port()
    proc = subprocess.Popen([*COACH, "run", "--web", f"127.0.0.1:{port}", "--minutes", "0.2", "--mute",
                             "--no-save", "--json", "--placement", "chest"],
                            env=coach_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ctx, page = phone_page(browser)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/api/state?token={TOKEN}")
        # no token: 401, and nothing is used
        for path in ("/", "/api/state", "/api/events", f"/api/state?token={TOKEN}x"):
            assert status_of(base + path) == 401, path
        body = json.dumps({"page": "x", "t": [0.0], "a": [[0, 0, 9.8]]}).encode()
        assert status_of(urllib.request.Request(base + "/api/motion", data=body, method="POST")) == 401
        big = json.dumps({"page": "x", "t": [0.0] * 60000, "a": [[0, 0, 9.8]] * 60000}).encode()
        assert status_of(urllib.request.Request(f"{base}/api/motion?token={TOKEN}", data=big, method="POST")) == 413
        page.goto(f"{base}/?token={TOKEN}")
        page.wait_for_selector("#sensor", state="visible", timeout=5000)
        page.click("#sensor")
        # synthetic DeviceMotion at the time it is dispatched (the walker's data, 100 Hz)
        page.evaluate("""(acc) => {
          const t0 = performance.now();
          const tick = () => {
            const k = Math.floor((performance.now() - t0) / 10);
            if (k >= acc.length) return;
            const [x, y, z] = acc[k];
            window.dispatchEvent(new DeviceMotionEvent("devicemotion",
              { accelerationIncludingGravity: { x, y, z }, interval: 10 }));
          };
          window.__motion = setInterval(tick, 8);
        }""", acc)
        out, err = proc.communicate(timeout=40)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
        ctx.close()
    doc = json.loads(out.strip().splitlines()[-1])
    assert doc["duration_s"] >= 10
    assert doc["summary"]["forward_steps"] > 10, doc["summary"]
    assert doc["summary"]["forward_seconds"] > 5 and doc["summary"]["retro_seconds"] < 3


# --- speech rules and Wi-Fi drops, against an in-process server ------------------------------
SPEECH_HELD = """
(() => {
  window.__spoken = []; window.__cancels = 0; window.__current = null;
  const stub = {
    speak(u) { window.__spoken.push(u.text); window.__current = u;
               if (u.text === "Voice on") setTimeout(() => u.onend && u.onend(), 10); },
    cancel() { window.__cancels++; }, pause() {}, resume() {}, getVoices() { return []; },
  };
  window.__finish = () => { const u = window.__current; window.__current = null; u && u.onend && u.onend(); };
  Object.defineProperty(window, "speechSynthesis", { value: stub, configurable: true });
})();
"""


class ServerThread:
    """A WebCompanion served by an event loop in a thread; call(coro_fn) runs code on it."""

    def __init__(self) -> None:
        import asyncio
        import threading

        from coach.outputs.web.companion import WebCompanion

        self.loop = asyncio.new_event_loop()
        self.web = WebCompanion("127.0.0.1", 0, token=TOKEN, print_qr=False, notify=lambda m: None)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.call(self.web.start)

    def call(self, fn, *a):
        import asyncio

        async def run():
            r = fn(*a)
            if hasattr(r, "__await__"):
                r = await r
            return r
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def close(self) -> None:
        self.call(self.web.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_speech_priorities_staleness_and_catching_up_after_a_drop(browser) -> None:
    from coach.types import LiveState, SampleBatch, Tallies

    srv = ServerThread()
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    ctx.add_init_script(SPEECH_HELD)
    page = ctx.new_page()
    web = srv.web
    spoken = lambda: page.evaluate("window.__spoken")

    def wait(pred, timeout=5.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():
                return True
            time.sleep(0.05)
        raise AssertionError("timed out")

    def state(t, d, steps=0):
        st = LiveState(t_s=t, direction=d, since_s=t, tallies=Tallies(retro_steps=steps, retro_seconds=t / 2))
        return web.on_batch(SampleBatch(np.array([t]), np.array([[0, 0, 1.0]])), st, [])

    try:
        srv.call(state, 1.0, "forward")
        page.goto(f"http://127.0.0.1:{web.port}/?token={TOKEN}")
        wait(lambda: page.evaluate("document.getElementById('link').textContent") == "live")
        page.click("#voice")
        wait(lambda: spoken() == ["Voice on"])
        srv.call(web.publish_prompt, {"t_s": 2, "kind": "cue", "text": "Backward"})
        wait(lambda: spoken()[-1:] == ["Backward"])                  # being spoken (held)
        srv.call(web.publish_prompt, {"t_s": 3, "kind": "info", "text": "Two minutes so far"})
        srv.call(web.publish_prompt, {"t_s": 3, "kind": "safety", "text": "Look over your shoulder"})
        wait(lambda: spoken()[-1:] == ["Look over your shoulder"])   # safety cut in
        assert page.evaluate("window.__cancels") >= 1
        page.evaluate("window.__finish()")
        wait(lambda: spoken()[-1:] == ["Two minutes so far"])        # then the rest, in turn
        page.evaluate("window.__finish()")
        # a Wi-Fi drop: the page is offline while the session goes on
        ctx.set_offline(True)

        def drop_stream(q: asyncio.Queue[str | None]) -> None:
            web.clients.discard(q)
            q.put_nowait(None)

        for q in list(web.clients):                                   # and its stream is gone
            srv.call(drop_stream, q)
        srv.call(state, 40.0, "backward", 33)
        old = {"seq": web.seq + 1, "t_s": 30, "kind": "cue", "text": "Forward", "priority": 2,
               "stale_s": 5.0, "wall_ms": int(time.time() * 1000) - 60_000}

        def add_old() -> None:
            web.seq += 1
            web.prompts.append(old)

        srv.call(add_old)
        srv.call(web.publish_prompt, {"t_s": 40, "kind": "interval", "text": "One minute backward"})
        time.sleep(1.0)
        ctx.set_offline(False)
        wait(lambda: page.evaluate("document.getElementById('word').textContent") == "backward", 15)
        wait(lambda: spoken()[-1:] == ["One minute backward"], 5)     # caught up
        assert "Forward" not in spoken()                              # stale: shown, not spoken
        assert page.evaluate("document.getElementById('boutsteps').textContent").startswith("33")
    finally:
        ctx.close()
        srv.close()
