"""`coach report` (PNG + HTML) and the LiveDisplay (rich panel and plain-text fallback)."""
from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC
from pathlib import Path

import numpy as np
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


def _stored(tmp_path: Path) -> Path:
    store = SessionStore(tmp_path / "s.db")
    obs = store.open_session({"kind": "demo", "program": "Week 2", "weekly_goal_s": 1200})
    obs.publish_prompt({"t_s": 7.0, "kind": "cue", "text": "Reach back <with> your toes"})
    obs.publish_alert({"t_s": 9.0, "kind": "fall", "text": "Possible fall"})
    obs.publish_interval({"index": 0, "direction": "backward", "planned_s": 8, "start_s": 6,
                          "end_s": 12, "done_s": 6})
    with store.transaction():
        store.conn.executemany("INSERT INTO heart_rate VALUES (?,?,?,?)",
                               [(obs.session_id, t + 0.5, 95 + t, "[]") for t in range(24)])
    asyncio.run(_run([obs]))
    store.close()
    return tmp_path / "s.db"


def test_report_is_one_self_contained_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import base64
    import re
    db = _stored(tmp_path)
    out = tmp_path / "rep"
    assert main(["report", "last", "--db", str(db), "--out", str(out)]) == 0
    (page,) = (Path(x) for x in capsys.readouterr().out.split())
    assert sorted(p.name for p in out.iterdir()) == [page.name]          # nothing beside it
    html = page.read_text()
    (img,) = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    png = base64.b64decode(img)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert not re.search(r'(src|href)="(?!data:)', html)                  # no other resource
    assert "Reach back &lt;with&gt; your toes" in html and "Week 2" in html
    for tile in ("duration", "retro minutes", "retro steps", "forward steps", "cadence", "heart rate"):
        assert f"<span>{tile}" in html
    assert "<h2>Laps</h2>" in html and "<b>0:24</b><span>duration" in html   # m:ss
    assert re.search(r"<td class=n>0:06</td>", html)                     # lap times in m:ss
    assert main(["report", "--db", str(db), "--out", str(out), "--json"]) == 0   # 'last' by default
    doc = json.loads(capsys.readouterr().out)
    assert doc["report"] == str(page) and doc["tiles"]["heart rate avg / max, bpm"] == "106 / 118"
    assert main(["report", "7", "--db", str(db)]) == 2


def test_last_is_the_session_stored_last(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An old recording stored today (an earlier start time) is still 'last' for report,
    export and history alike."""
    from datetime import datetime
    db = _stored(tmp_path)
    with SessionStore(db) as store:
        p = FakePipeline()

        async def go():
            async for b in FakeSource(duration_s=5).stream():
                p.feed(b)
        asyncio.run(go())
        old = store.store_result(p.finish(), {"source": "old.csv",
                                              "started_at": datetime(2020, 1, 1, tzinfo=UTC)})
        assert store.session("last")["id"] == old == store.last_id()
    assert main(["report", "last", "--db", str(db), "--out", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["session_id"] == old
    assert main(["export", "--db", str(db), "--format", "json", "--session", "last",
                 "--out", str(tmp_path / "x.json"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["exported"] == 1
    assert json.loads((tmp_path / "x.json").read_text())["sessions"][0]["session_id"] == old


def test_week_report_against_the_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = _stored(tmp_path)
    # the stored session is a demo: a week counts walks only, as `coach history` does ...
    assert main(["report", "--week", "--db", str(db), "--out", str(tmp_path / "w0"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["retro_minutes"] == 0 and doc["sessions"] == []
    # ... unless asked for every session
    assert main(["report", "--week", "--all", "--db", str(db), "--out", str(tmp_path / "w"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["days"]) == 7 and doc["goal_minutes"] == 20
    assert doc["retro_minutes"] > 0
    assert sum(d["retro_minutes"] for d in doc["days"]) == pytest.approx(doc["retro_minutes"], abs=0.02)
    html = Path(doc["report"]).read_text()
    assert "data:image/png;base64," in html and "week target" in html
    assert main(["report", "--week", "not-a-date", "--db", str(db), "--json"]) == 2
    err = json.loads(capsys.readouterr().out)
    assert "YYYY-MM-DD" in err["error"] and err["exit_status"] == 2


def _chromium() -> str | None:
    import shutil
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="chromium not installed (apt-get install chromium)")
@pytest.mark.parametrize("which", ["session", "week"])
def test_report_renders_alone_in_headless_chromium(tmp_path: Path, which: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The page opens alone (no network, no side files) and renders: a non-blank screenshot."""
    import subprocess
    db = _stored(tmp_path)
    args = ["report", "--db", str(db), "--out", str(tmp_path / "r"), "--json"]
    assert main(args + (["--week"] if which == "week" else [])) == 0
    page = Path(json.loads(capsys.readouterr().out)["report"])
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / page.name).write_bytes(page.read_bytes())
    shot = tmp_path / "shot.png"
    chromium = _chromium()
    assert chromium is not None
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", f"--user-data-dir={tmp_path / 'profile'}",
                    "--window-size=1100,1400", f"--screenshot={shot}", (alone / page.name).as_uri()],
                   check=True, capture_output=True, timeout=120)
    import matplotlib.image as mpimg
    px = mpimg.imread(shot)
    assert px.shape[0] >= 1000 and px.shape[1] >= 1000
    assert px[..., :3].std() > 0.05            # not a blank page: text, tiles and the picture


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
    from coach.types import SampleBatch
    assert d.state is not None
    asyncio.run(d.on_batch(SampleBatch(np.array([30.0]), np.array([[0, 0, 1]]),
                                       meta={"heart_rate": [{"t_s": 30.0, "bpm": 101}]}),
                           d.state, []))
    buf = io.StringIO()
    con = Console(file=buf, width=80)
    con.print(d.renderable())
    out = buf.getvalue()
    for word in ("Direction", "Retro steps", "Retro minutes", "Forward steps", "Cadence", "battery 77%", "101 bpm",
                 "Program: week 1"):
        assert word in out


def test_week_without_sessions_uses_the_programs_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from coach.coaching.config import load_coach_config
    from coach.coaching.programs import build_program
    db = _stored(tmp_path)
    assert main(["report", "--week", "2020-01-08", "--db", str(db), "--out", str(tmp_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    spec = load_coach_config().program()
    expect = build_program(spec, history=[]).backward_target_s * spec.sessions_per_week / 60
    assert doc["week"] == "2020-W02" and doc["retro_minutes"] == 0 and doc["sessions"] == []
    assert doc["goal_minutes"] == pytest.approx(expect, abs=0.06) and expect > 0


def test_week_minutes_are_rounded_once() -> None:
    # 117.2 s is 1.953 min: rounded to 0.01 and then to 0.1 it showed as 1.9, elsewhere 2.0
    from datetime import date

    from coach.outputs.report import render_week_html, week_summary
    s = {"id": 1, "started_at": "2026-12-02T10:00:00+00:00", "retro_seconds": 117.2, "retro_steps": 260,
         "program": "demo", "weekly_goal_s": None}
    w = week_summary([s], date(2026, 12, 2), None)
    page = render_week_html(w, b"")
    assert "<td class=n>2.0</td>" in page and ">2.0<" in page and ">1.9<" not in page


def test_the_page_says_what_the_session_was() -> None:
    """An analysed recording is not a "free walk" (history and export call it analysis)."""
    from coach.outputs.report import _subtitle

    assert _subtitle({"program": None, "kind": "analysis"}) == "analysis"
    assert _subtitle({"program": "", "kind": "walk"}) == "free walk"
    assert _subtitle({"program": "classic", "kind": "walk"}) == "classic"
