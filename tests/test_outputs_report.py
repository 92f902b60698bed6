"""`coach report` (PNG + HTML) and the LiveDisplay (rich panel and plain-text fallback)."""
from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from coach.cli import main
from coach.outputs.display import LiveDisplay
from coach.outputs.store import SessionStore
from tests.outputs_broker import FakePipeline, FakeSource


async def _run(observers, speed: float = 0.0):
    p = FakePipeline()
    async for b in FakeSource(speed=speed).stream():
        ev = p.feed(b)
        for o in observers:
            await o.on_batch(b, p.state, ev)
    r = p.finish()
    for o in observers:
        await o.on_end(r)
    return r


def test_report_png_and_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = SessionStore(tmp_path / "s.db")
    obs = store.open_session({"kind": "demo", "program": "Week 2"})
    obs.publish_prompt({"t_s": 7.0, "kind": "cue", "text": "Reach back <with> your toes"})
    obs.publish_interval({"index": 0, "direction": "backward", "planned_s": 8, "start_s": 6,
                          "end_s": 12, "done_s": 6})
    asyncio.run(_run([obs]))
    store.close()
    out = tmp_path / "rep"
    assert main(["report", "last", "--db", str(tmp_path / "s.db"), "--out", str(out)]) == 0
    png, page = (Path(x) for x in capsys.readouterr().out.split())
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    html = page.read_text()
    assert png.name in html and "Reach back &lt;with&gt; your toes" in html and "Week 2" in html
    assert main(["report", "7", "--db", str(tmp_path / "s.db")]) == 2


def test_display_plain_fallback_at_most_once_a_second() -> None:
    buf = io.StringIO()              # not a TTY -> plain lines
    d = LiveDisplay(stream=buf)
    assert d.plain
    d.set_connection("connected")
    asyncio.run(_run([d]))           # 24 s of data in well under a second of wall time
    lines = buf.getvalue().splitlines()
    assert len(lines) <= 3 and lines[-1].startswith("session end:")
    assert "retro" in lines[0] and "cadence" in lines[0] and "connected" in lines[0]


def test_display_rich_panel_with_extra_renderable() -> None:
    from rich.console import Console
    from rich.text import Text
    d = LiveDisplay(stream=io.StringIO(), plain=False, extra=[lambda: Text("Program: week 1")])
    d.set_battery(77)
    asyncio.run(_run([d]))
    con = Console(file=io.StringIO(), width=80)
    con.print(d.renderable())
    out = con.file.getvalue()
    for word in ("Direction", "Retro steps", "Retro minutes", "Forward steps", "Cadence", "battery 77%",
                 "Program: week 1"):
        assert word in out
