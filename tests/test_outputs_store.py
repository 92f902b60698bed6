"""Session store: written as it goes, crash (kill -9) then recovery, history, CLI."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from coach.cli import main
from coach.errors import CoachError
from coach.outputs.store import SCHEMA_VERSION, SessionMeta, SessionStore
from tests.outputs_broker import FakePipeline, FakeSource

ROOT = Path(__file__).resolve().parents[1]


async def _run(observers, duration_s: float = 24.0, speed: float = 0.0):
    p, s = FakePipeline(), FakeSource(duration_s=duration_s, speed=speed)
    async for b in s.stream():
        ev = p.feed(b)
        for o in observers:
            await o.on_batch(b, p.state, ev)
    r = p.finish()
    for o in observers:
        await o.on_end(r)
    return r


def test_store_result_and_history(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db")
    assert store.schema_version == SCHEMA_VERSION
    r = asyncio.run(_run([]))
    sid = store.store_result(r, SessionMeta(kind="walk", source="walk.csv", program="Week 1",
                                            weekly_goal_s=600))
    h = store.history()
    (row,) = h["sessions"]
    summary = r.to_json()["summary"]
    assert row["session_id"] == sid
    assert row["retro_seconds"] == summary["retro_seconds"]
    assert row["retro_steps"] == summary["retro_steps"] and row["forward_steps"] == summary["forward_steps"]
    assert row["program"] == "Week 1"
    (week,) = h["weeks"]
    assert week["goal_seconds"] == 600 and week["progress"] == pytest.approx(summary["retro_seconds"] / 600, abs=1e-3)
    full = store.session(sid)
    assert [s["direction"] for s in full["segments"]] == [s.direction for s in r.segments]
    assert len(full["steps"]) == len(r.steps)
    store.close()


def test_live_observer_writes_as_it_goes(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db")
    obs = store.open_session({"kind": "demo", "device": "sim", "placement": "ankle"}, commit_interval_s=0.0)
    reader = sqlite3.connect(tmp_path / "s.db")

    class Peek:
        seen: list[float] = []

        async def on_batch(self, b, state, ev):
            row = reader.execute("SELECT last_t_s FROM sessions WHERE id=?", (obs.session_id,)).fetchone()
            self.seen.append(row[0])

        async def on_end(self, r):
            pass

    obs.publish_prompt({"t_s": 7.0, "kind": "cue", "text": "Small steps"})
    obs.publish_interval({"index": 0, "direction": "backward", "planned_s": 10, "start_s": 6,
                          "end_s": 12, "done_s": 6, "status": "short"})
    r = asyncio.run(_run([obs, Peek()]))
    assert max(Peek.seen) > 20.0          # another connection saw it grow while running
    assert obs.session_id is not None
    s = store.session(obs.session_id)
    assert s["status"] == "closed" and s["device"] == "sim" and s["placement"] == "ankle"
    assert s["retro_steps"] == r.tallies.retro_steps
    assert s["prompts"][0]["text"] == "Small steps"
    assert s["completion"] == pytest.approx(0.6)
    assert len(s["states"]) >= 20
    assert reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


CHILD = textwrap.dedent("""
    import asyncio, sys
    sys.path.insert(0, {root!r})
    from coach.outputs.store import SessionStore
    from tests.outputs_broker import FakePipeline, FakeSource

    async def main():
        obs = SessionStore({db!r}).open_session({{"kind": "run", "device": "dev1"}})
        p = FakePipeline()
        async for b in FakeSource(duration_s=60, batch=10, speed=2.0).stream():
            ev = p.feed(b)
            await obs.on_batch(b, p.state, ev)
            print(p.state.t_s, flush=True)
    asyncio.run(main())
""")


def test_kill_9_then_recovery(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    code = CHILD.format(root=str(ROOT), db=str(db))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    last = 0.0
    assert proc.stdout is not None
    for line in proc.stdout:
        last = float(line)
        if last >= 8.0:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the dead process's session is still "open" until the next start
    raw = sqlite3.connect(db).execute("SELECT status, last_t_s FROM sessions").fetchone()
    assert raw[0] == "open"
    store = SessionStore(db)
    assert store.recovered == [1]
    s = store.session(1)
    assert s["status"] == "recovered" and s["ended_at"]
    assert s["duration_s"] >= last - 2.0 * 1.0 - 0.5    # lost at most ~1 s of wall time (speed 2)
    assert s["retro_steps"] > 0 and s["forward_steps"] > 0
    dirs = [seg["direction"] for seg in s["segments"]]
    assert dirs[:2] == ["forward", "backward"]
    assert SessionStore(db).recovered == []               # recovered once


def test_live_session_of_a_running_process_is_not_recovered(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "s.db")
    obs = store.open_session({"kind": "run"})
    obs.flush()
    assert SessionStore(tmp_path / "s.db").recovered == []   # same (live) pid


def test_newer_schema_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "s.db"
    SessionStore(db).close()
    c = sqlite3.connect(db)
    c.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    c.commit()
    c.close()
    assert main(["history", "--db", str(db)]) == 2
    assert "newer than this retro-coach" in capsys.readouterr().err


def test_history_cli_json_and_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "s.db"
    store = SessionStore(db)
    sids = [store.store_result(asyncio.run(_run([])), {"kind": "run", "source": f"w{i}.csv"}) for i in range(2)]
    store.close()
    assert main(["history", "--db", str(db), "--json"]) == 0
    h = json.loads(capsys.readouterr().out)
    assert sorted(s["session_id"] for s in h["sessions"]) == sids
    assert h["weeks"][0]["sessions"] == 2
    assert main(["history", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "week " in out and "retro min" in out


@dataclass
class _Failing(FakeSource):
    """A sensor that fails after `after_s` of data (0: never found)."""

    after_s: float = 0.0

    async def stream(self):
        async for b in FakeSource(duration_s=self.after_s).stream():
            yield b
        raise CoachError("Bluetooth is not available here")


def test_a_run_that_fails_before_any_data_leaves_no_session(tmp_path: Path) -> None:
    from coach.detect.pipeline import DirectionPipeline
    from coach.detect.session import run_session
    db = tmp_path / "s.db"
    for after_s in (0.0, 6.0):
        store = SessionStore(db)
        obs = store.open_session({"kind": "run"})
        obs.owns_store = True
        assert obs.session_id is not None             # the row exists as the run starts
        with pytest.raises(CoachError):
            asyncio.run(run_session(_Failing(after_s=after_s), DirectionPipeline(), [obs]))
    with SessionStore(db, recover=False) as store:
        rows = store.sessions()
    # the sensor that was never found left nothing; the one that failed after 6 s kept its
    # session, open for the next start to recover
    assert [(r["kind"], r["status"]) for r in rows] == [("walk", "open")]
    assert rows[0]["duration_s"] > 0


def test_reading_a_store_that_does_not_exist_creates_nothing(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "not" / "yet" / "s.db"
    assert main(["history", "--db", str(db)]) == 0
    assert f"no sessions yet in {db}" in capsys.readouterr().out
    assert main(["report", "--week", "--db", str(db), "--out", str(tmp_path / "w"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sessions"] == []
    assert main(["export", "--format", "csv", "--db", str(db), "--out", str(tmp_path / "x.csv")]) == 0
    assert main(["report", "--db", str(db)]) == 2
    assert not (tmp_path / "not").exists()


def test_default_db_in_xdg_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("COACH_DB", raising=False)
    monkeypatch.delenv("COACH_CONFIG", raising=False)
    store = SessionStore()
    assert store.path == tmp_path / "xdg" / "retro-coach" / "sessions.sqlite3"
    store.close()
    (tmp_path / "c.toml").write_text('[store]\npath = "%s"\n' % (tmp_path / "x.db"))
    monkeypatch.setenv("COACH_CONFIG", str(tmp_path / "c.toml"))
    assert SessionStore().path == tmp_path / "x.db"


def test_analyze_save_observer_adds_session_id(tmp_path: Path) -> None:
    from coach.cli.output_options import SaveOnEnd
    obs = SaveOnEnd(str(tmp_path / "s.db"), SessionMeta(source="x.csv"))
    asyncio.run(_run([obs]))
    assert obs.json_extra() == {"session_id": 1}
    assert SessionStore(tmp_path / "s.db").history()["sessions"][0]["source"] == "x.csv"


def test_bad_db_path_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f").write_text("x")
    assert main(["history", "--db", str(tmp_path / "f" / "s.db")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    _ = os, time


def test_heart_rate_migration_and_storage(tmp_path: Path) -> None:
    """A v1 store upgrades in place (its sessions kept); heart rate in batch.meta is stored."""
    from coach.outputs.store import MIGRATIONS
    path = tmp_path / "old.db"
    c = sqlite3.connect(path)
    c.executescript(MIGRATIONS[0])
    c.execute("INSERT INTO sessions(kind, started_at) VALUES ('analyze', '2026-05-01T07:30:00+00:00')")
    c.execute("PRAGMA user_version=1")
    c.commit()
    c.close()
    store = SessionStore(path)
    assert store.schema_version == SCHEMA_VERSION >= 2
    assert store.session(1)["heart_rate"] == []
    obs = store.open_session({"kind": "run"}, commit_interval_s=0.0)

    class HrSource(FakeSource):
        async def stream(self):
            async for b in super().stream():
                b.meta["heart_rate"] = [{"t_s": float(b.t[0]), "bpm": 100 + int(b.t[0]) % 20,
                                         "rr_ms": [600.0]}]
                yield b

    async def go():
        p = FakePipeline()
        async for b in HrSource(duration_s=10.0).stream():
            await obs.on_batch(b, p.state, p.feed(b))
        await obs.on_end(p.finish())
    asyncio.run(go())
    assert obs.session_id is not None
    hr = store.session(obs.session_id)["heart_rate"]
    assert hr and all(100 <= h["bpm"] < 120 and h["rr_ms"] == [600.0] for h in hr)
    store.close()


def test_a_recovered_session_counts_steps_as_the_detector_does(tmp_path: Path) -> None:
    # killed during a walk with a 6 s stop whose sway the live count took for steps: the
    # recovered segments, like a finished session's, hold none in that stop (Segment.counts_step)
    from coach.detect.types import Event, LiveState

    db = tmp_path / "s.db"
    store = SessionStore(db)
    obs = store.open_session({"kind": "walk", "device": "dev1"}, commit_interval_s=0.0)
    state = LiveState()
    events = [Event(2.0, "state", {"direction": "forward", "since_s": 0.0}),
              Event(11.0, "state", {"direction": "still", "since_s": 10.0}),
              Event(17.0, "state", {"direction": "backward", "since_s": 16.0})]
    events += [Event(t, "step", {"direction": "forward"}) for t in (1.0, 3.0, 5.0, 10.0)]
    events += [Event(t, "step", {"direction": "other"}) for t in (12.0, 13.0, 14.5)]
    events += [Event(t, "step", {"direction": "backward"}) for t in (17.0, 18.0)]
    state.t_s = 19.0
    asyncio.run(obs.on_batch(None, state, sorted(events, key=lambda e: e.t_s)))
    sid = obs.session_id
    assert sid is not None
    store.conn.execute("UPDATE sessions SET pid=? WHERE id=?", (2 ** 22 + 12345, sid))
    store.conn.commit()
    store.close()
    again = SessionStore(db)
    assert again.recovered == [sid]
    segs = again.session(sid)["segments"]
    assert [(s["direction"], s["steps"]) for s in segs] == [("forward", 3), ("still", 1), ("backward", 2)]
