"""A coach that remembers: the session store's history reaches the coach (real SQLite), the
progression advances by its settings, sessions record their kind, totals count walks only,
and the clearance notice is said once per data directory."""
from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from coach.cli import main
from coach.cli.coach_options import FIRST_RUN_MARKER, CoachOptions, coach_observers
from coach.coaching import phrases as say
from coach.coaching.config import config_from_dict
from coach.coaching.engine import CoachObserver
from coach.outputs.store import MIGRATIONS, SCHEMA_VERSION, SessionMeta, SessionStore
from coach.simulate.coaching import Seg, simulate
from coach.types import AnalysisResult, Segment

# the built-in progression's rule (start 5 min, +2.5 min after 2 sessions done as planned),
# with a short warm-up and recoveries so a session simulates quickly
CFG = {"programs": {"progression": {"warmup_s": 30, "recovery_forward_s": 30}}}


def _walk(ob: CoachObserver, store: SessionStore, started: dt.datetime, kind: str = "run") -> None:
    """One session that follows the coach's program, written to the store as it goes."""
    prog = ob.coach.program
    script = [Seg(iv.direction, iv.duration_s) for iv in prog.intervals]
    so = store.open_session(SessionMeta(kind=kind, program=prog.name, started_at=started),
                            commit_interval_s=0.0)
    ob.add_sink(so)

    async def run() -> None:
        state = None
        for b, s, e in simulate(script):
            await ob.on_batch(b, s, e)
            await so.on_batch(b, s, e)
            state = s
        assert state is not None
        res = AnalysisResult("sim", state.t_s, 50.0, [Segment(0.0, state.t_s, "forward")], [],
                             state.tallies)
        await ob.on_end(res)
        await so.on_end(res)

    asyncio.run(run())


def test_three_progression_sessions_in_a_row_advance_as_the_settings_say(tmp_path: Path) -> None:
    cfg = config_from_dict(CFG)
    spec = cfg.program("progression")
    assert spec.start_backward_min == 5 and spec.step_backward_min == 2.5 and spec.advance_after == 2
    db = tmp_path / "sessions.sqlite3"
    now = dt.datetime.now().astimezone()
    planned, intros = [], []
    for i in range(3):
        with SessionStore(db) as store:
            ob = CoachObserver("progression", cfg, history=store.coach_history(), first_run=False)
            planned.append(ob.coach.program.backward_target_s / 60)
            _walk(ob, store, now - dt.timedelta(days=6 - 2 * i))
            intros.append(next(p.text for p in ob.prompts if p.key == "intro"))
            assert ob.coach.summary()["completed"]
    # 2 sessions done as planned at 5 min, then one step up
    assert planned == [5.0, 5.0, 7.5]
    assert intros[0].startswith("Progression, step one of nine: five minutes backward today")
    assert intros[2].startswith("Progression, step two of nine, one up: seven and a half minutes")
    with SessionStore(db) as store:
        hist = store.coach_history()
        assert [h["completed"] for h in hist] == [True, True, True]
        assert all(0.9 * 60 * m <= h["retro_seconds"] <= 60 * m + 5 for h, m in zip(hist, planned))
        # the next one: a demo and an analysis in between change nothing
        store.store_result(AnalysisResult("x.csv", 600, 50, [], [], _tallies(900)),
                           SessionMeta(kind="analyze"))
        nxt = CoachObserver("progression", cfg, history=store.coach_history(), first_run=False)
        assert nxt.coach.program.backward_target_s == pytest.approx(7.5 * 60)


def _tallies(retro_s: float):
    from coach.types import Tallies

    return Tallies(retro_steps=int(retro_s * 1.3), retro_seconds=retro_s)


def _v1_store(path: Path) -> None:
    c = sqlite3.connect(path)
    c.executescript(MIGRATIONS[0])
    for i, kind in enumerate(("run", "serve", "analyze", "demo", "replay")):
        c.execute("INSERT INTO sessions(kind, started_at, status, retro_seconds) VALUES (?,?,?,?)",
                  (kind, f"2026-11-{10 + i:02d}T10:00:00.000+00:00", "closed", 60.0 * (i + 1)))
    c.execute("PRAGMA user_version=1")
    c.commit()
    c.close()


def test_session_kind_migration(tmp_path: Path) -> None:
    _v1_store(tmp_path / "s.db")
    with SessionStore(tmp_path / "s.db") as store:
        assert store.schema_version == SCHEMA_VERSION >= 2
        assert [s["kind"] for s in store.sessions()] == ["walk", "walk", "analysis", "demo", "replay"]
        # new sessions record their kind, whichever command made them
        for command, kind in (("run", "walk"), ("demo", "demo"), ("replay", "replay"),
                              ("analyze", "analysis"), ("serve", "walk")):
            obs = store.open_session({"kind": command})
            assert store.sessions(session_id=obs.session_id)[0]["kind"] == kind
            obs.abort()


def test_weekly_report_counts_walks_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "s.db"
    with SessionStore(db) as store:
        for kind, minutes in (("run", 10), ("demo", 3), ("replay", 4), ("analyze", 5), ("run", 2)):
            store.store_result(AnalysisResult("x", 900, 50, [], [], _tallies(minutes * 60)),
                               SessionMeta(kind=kind, started_at=dt.datetime(2026, 11, 18, 9, tzinfo=dt.UTC)))
        (week,) = store.history()["weeks"]
        assert week["sessions"] == 2 and week["retro_minutes"] == 12.0
        (week,) = store.history(all_kinds=True)["weeks"]
        assert week["sessions"] == 5 and week["retro_minutes"] == 24.0
        assert len(store.history()["sessions"]) == 5          # every session is still listed
        today = store.today(day=dt.date(2026, 11, 18))
        assert today["sessions"] == 2 and today["retro_seconds"] == 720
        assert store.today(all_kinds=True, day=dt.date(2026, 11, 18))["sessions"] == 5
    assert main(["history", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "12.0 retro min" in out and "in 2 walks" in out and "demo" in out
    assert main(["history", "--db", str(db), "--all"]) == 0
    assert "24.0 retro min" in capsys.readouterr().out


def test_clearance_notice_once_per_data_directory(tmp_path: Path) -> None:
    db = str(tmp_path / "data" / "sessions.sqlite3")

    def first_said(**kw) -> bool:
        (ob,) = coach_observers(CoachOptions("run", mute=True, realtime=False, db=db, **kw))
        ob.speaker.out = open("/dev/null", "w")
        for b, s, e in simulate([Seg("forward", 10)]):
            asyncio.run(ob.on_batch(b, s, e))
        return any(p.text == say.FIRST_RUN for p in ob.prompts)

    assert first_said()
    assert (tmp_path / "data" / FIRST_RUN_MARKER).exists()
    assert not first_said()
    assert first_said(safety_notice=True)             # again when asked
    assert not first_said()
