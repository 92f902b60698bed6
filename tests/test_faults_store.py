"""The store never stops a session: a real SQLite database held locked by another connection
or process (longer than the 10 s busy timeout), a full database, a damaged file, a read-only
directory. Nothing already counted is lost: what could not be written waits in a journal and
is written as soon as the store takes it (or by the next command that opens it)."""
from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coach.cli import main
from coach.detect.types import AnalysisResult
from coach.errors import CoachError
from coach.outputs.store import SessionStore
from tests.outputs_broker import FakePipeline, FakeSource

ROOT = Path(__file__).resolve().parents[1]

HOLD = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA journal_mode=WAL")
c.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
c.execute("ROLLBACK")
"""


def hold_lock(db: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding the write lock of `db` for `seconds`."""
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(db), str(seconds)],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "locked"
    return p


async def _run(obs, duration_s: float = 24.0, on_batch=None) -> AnalysisResult:
    p = FakePipeline()
    i = 0
    async for b in FakeSource(duration_s=duration_s).stream():
        ev = p.feed(b)
        if on_batch:
            on_batch(i)
        await obs.on_batch(b, p.state, ev)
        i += 1
    r = p.finish()
    await obs.on_end(r)
    return r


def test_locked_then_released_mid_session_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    SessionStore(db).close()
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")                 # another program holds the write lock
    store = SessionStore(db)
    obs = store.open_session({"kind": "run", "device": "d1"}, commit_interval_s=0.0)
    assert obs.session_id is None and obs.journal is not None   # pending from the start
    worst = [0.0]

    def on_batch(i: int) -> None:
        if i == 30:
            other.execute("ROLLBACK")                # the lock goes away mid-session
    t0 = time.monotonic()

    class Timed:
        async def on_batch(self, b, s, e):
            nonlocal t0
            t = time.monotonic()
            await obs.on_batch(b, s, e)
            worst[0] = max(worst[0], time.monotonic() - t)

        async def on_end(self, r):
            await obs.on_end(r)
    obs.publish_prompt({"t_s": 1.0, "kind": "cue", "text": "Look back"})
    r = asyncio.run(_run(Timed(), on_batch=on_batch))
    assert worst[0] < 0.5                            # the live loop never waited for the lock
    assert obs.pending == 0 and obs.journal is None and obs.output_note() is None
    s = SessionStore(db).session(obs.session_id)
    assert s["status"] == "closed" and s["retro_steps"] == r.tallies.retro_steps
    assert len(s["steps"]) == len(r.steps) and s["prompts"][0]["text"] == "Look back"
    assert len(s["states"]) == len({int(x["t_s"]) for x in s["states"]})   # no duplicates
    assert not list(tmp_path.glob("*.pending-*"))


def test_locked_for_the_whole_session_is_written_by_the_next_open(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    SessionStore(db).close()
    holder = hold_lock(db, 60)
    try:
        store = SessionStore(db)
        obs = store.open_session({"kind": "run", "device": "d1"}, commit_interval_s=0.0)
        obs.end_wait_s = 0.2
        r = asyncio.run(_run(obs))
        assert obs.pending and obs.journal is not None and obs.journal.exists()
        assert str(obs.journal) in (obs.output_note() or "") and obs.output_failure() is None
        journal = obs.journal
    finally:
        holder.kill()
        holder.wait()
    store2 = SessionStore(db)              # the next command writes what was kept
    assert len(store2.replayed) == 1 and not journal.exists()
    s = store2.session(store2.replayed[0])
    assert s["status"] == "closed" and s["retro_steps"] == r.tallies.retro_steps
    assert len(s["steps"]) == len(r.steps) and s["device"] == "d1"
    assert SessionStore(db).replayed == []


def test_full_database_keeps_records_until_there_is_room(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = SessionStore(db)
    obs = store.open_session({"kind": "run"}, commit_interval_s=0.0)
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count={pages}")     # SQLITE_FULL from now on
    room = [False]

    def on_batch(i: int) -> None:
        if i == 1000:
            store.conn.execute("PRAGMA max_page_count=1073741823")
            room[0] = True
    r = asyncio.run(_run(obs, duration_s=800, on_batch=on_batch))
    assert obs.failed_commits > 0 and "full" in (obs.error or "full")
    assert room[0] and obs.pending == 0
    assert obs.session_id is not None
    s = SessionStore(db).session(obs.session_id)
    assert len(s["steps"]) == len(r.steps) and s["retro_steps"] == r.tallies.retro_steps


def test_demo_under_a_long_lock_still_coaches_and_keeps_the_session(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    SessionStore(db).close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # --safety-notice: the clearance notice both times (it is said once per data directory)
    cmd = [sys.executable, "-m", "coach", "demo", "--fast", "--minutes", "1", "--mute",
           "--safety-notice", "--db", str(db)]
    holder = hold_lock(db, 120)
    try:
        t0 = time.monotonic()
        locked = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
        took = time.monotonic() - t0
    finally:
        holder.kill()
        holder.wait()
    assert locked.returncode == 0, locked.stderr
    assert "demo finished" in locked.stdout and took < 60
    assert "Session done" in locked.stdout                      # the coach spoke to the end
    assert "not stored yet" in locked.stderr and ".pending-" in locked.stderr
    free = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert free.returncode == 0
    # the same session, coached the same way, both stored now
    assert locked.stdout.splitlines()[-1] == free.stdout.splitlines()[-1]
    store = SessionStore(db)
    sessions = store.sessions()
    assert len(sessions) == 2 and {s["status"] for s in sessions} == {"closed"}
    a, b = (store.session(s["id"]) for s in sessions)
    assert a["retro_steps"] == b["retro_steps"] and len(a["prompts"]) == len(b["prompts"]) > 0


def test_analyze_save_under_a_lock_prints_its_result(tmp_path: Path, capsys) -> None:
    db = tmp_path / "s.db"
    SessionStore(db).close()
    csv = tmp_path / "w.csv"
    csv.write_text("t,ax,ay,az\n" + "".join(f"{i / 50:.2f},0.01,0.02,1.0\n" for i in range(600)))
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    from coach.outputs.store import StoreObserver
    StoreObserver.end_wait_s = 0.2
    try:
        assert main(["analyze", str(csv), "--save", "--db", str(db), "--json"]) == 0
    finally:
        StoreObserver.end_wait_s = 5.0
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert doc["summary"] and "session_id" not in doc and ".pending-" in doc["save_pending"]
    assert "not stored yet" in out.err and out.err.count("\n") == 1
    other.execute("ROLLBACK")
    assert main(["history", "--db", str(db), "--json"]) == 0
    h = json.loads(capsys.readouterr().out)
    assert [s["source"] for s in h["sessions"]] == [str(csv)]


def _damage(db: Path) -> None:
    store = SessionStore(db)
    for i in range(30):
        asyncio.run(_run(store.open_session({"kind": "run", "source": f"s{i}"}), duration_s=6))
    store.close()
    c = sqlite3.connect(db)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    data = bytearray(db.read_bytes())
    page = 4096
    assert len(data) > 6 * page
    data[3 * page:5 * page] = os.urandom(2 * page)
    db.write_bytes(bytes(data))


def test_damaged_database_is_refused_before_anything_is_written(tmp_path: Path, capsys) -> None:
    db = tmp_path / "s.db"
    _damage(db)
    before = db.read_bytes()
    with pytest.raises(CoachError, match="damaged"):
        SessionStore(db)
    assert main(["history", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "damaged" in err and err.count("\n") == 1
    assert main(["demo", "--fast", "--minutes", "0.3", "--mute", "--db", str(db)]) == 2
    assert "damaged" in capsys.readouterr().err
    assert db.read_bytes() == before                         # untouched
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 300)
    assert main(["history", "--db", str(junk)]) == 2
    assert "junk.db" in capsys.readouterr().err


def test_history_from_a_read_only_directory(tmp_path: Path, capsys) -> None:
    d = tmp_path / "ro"
    d.mkdir()
    db = d / "s.db"
    store = SessionStore(db)
    asyncio.run(_run(store.open_session({"kind": "run", "source": "kept"})))
    store.close()
    assert not list(d.glob("*-wal"))
    ro = SessionStore(db, readonly=True)                     # what an unwritable dir gets
    assert [s["source"] for s in ro.sessions()] == ["kept"]
    assert ro.history()["sessions"][0]["retro_steps"] > 0
    ro.close()
    os.chmod(d, 0o555)
    try:
        if os.access(d, os.W_OK):
            pytest.skip("running as root: a 0555 directory is still writable")
        assert SessionStore(db).readonly
        assert main(["history", "--db", str(db), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["sessions"][0]["source"] == "kept"
        assert sorted(p.name for p in d.iterdir()) == ["s.db"]
    finally:
        os.chmod(d, 0o755)


def test_history_under_a_lock_with_pending_sessions_is_quick(tmp_path: Path, capsys) -> None:
    db = tmp_path / "s.db"
    store = SessionStore(db)
    asyncio.run(_run(store.open_session({"kind": "run", "source": "first"})))
    holder = hold_lock(db, 60)
    try:
        obs = SessionStore(db).open_session({"kind": "run", "source": "second"}, commit_interval_s=0.0)
        obs.end_wait_s = 0.1
        asyncio.run(_run(obs))
        assert obs.journal is not None and obs.journal.exists()
        t0 = time.monotonic()
        assert main(["history", "--db", str(db), "--json"]) == 0     # reads; writes later
        assert time.monotonic() - t0 < 5
        assert [s["source"] for s in json.loads(capsys.readouterr().out)["sessions"]] == ["first"]
    finally:
        holder.kill()
        holder.wait()
    assert main(["history", "--db", str(db), "--json"]) == 0
    assert [s["source"] for s in json.loads(capsys.readouterr().out)["sessions"]] == ["first", "second"]
    assert not list(tmp_path.glob("*.pending-*"))


def test_a_journal_already_committed_is_not_written_twice(tmp_path: Path) -> None:
    """The writer committed its kept records but died before removing the journal."""
    import shutil
    db = tmp_path / "s.db"
    SessionStore(db).close()
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    obs = SessionStore(db).open_session({"kind": "run"}, commit_interval_s=0.0)
    assert obs.journal is not None
    copy = tmp_path / "copy.jsonl"
    shutil.copy(obs.journal, copy)
    other.execute("ROLLBACK")
    r = asyncio.run(_run(obs))
    assert obs.journal is None
    lines = copy.read_text().splitlines()
    head = json.loads(lines[0])
    head["pid"] = 999_999_999                      # as if written by a process that died
    (tmp_path / "s.db.pending-dead.jsonl").write_text("\n".join([json.dumps(head), *lines[1:],
                                                                  '{"end": true}']) + "\n")
    store = SessionStore(db)
    assert store.replayed == [obs.session_id]
    assert len(store.sessions()) == 1 and store.sessions()[0]["extra"] == {}
    assert store.session(obs.session_id)["retro_steps"] == r.tallies.retro_steps


def test_a_session_killed_under_a_lock_is_written_and_recovered_by_one_start(tmp_path: Path) -> None:
    """Killed while the database was locked: its journal is written back, and the session its
    dead writer left open is closed by that same start (it had stayed open until a second)."""
    db = tmp_path / "s.db"
    SessionStore(db).close()
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    obs = SessionStore(db).open_session({"kind": "walk", "device": "d1"}, commit_interval_s=0.0)
    p = FakePipeline()

    async def part() -> None:
        async for b in FakeSource(duration_s=12.0).stream():
            await obs.on_batch(b, p.state, p.feed(b))
    asyncio.run(part())                                    # ... and no on_end: killed
    assert obs.journal is not None and obs.journal.exists()
    lines = obs.journal.read_text().splitlines()
    obs.journal.unlink()
    head = json.loads(lines[0])
    head["pid"] = 999_999_999                              # as if its writer had died
    (tmp_path / "s.db.pending-dead.jsonl").write_text("\n".join([json.dumps(head), *lines[1:]]) + "\n")
    other.execute("ROLLBACK")
    store = SessionStore(db)
    assert len(store.replayed) == 1 and store.recovered == store.replayed
    s = store.session(store.replayed[0])
    assert s["status"] == "recovered" and s["retro_steps"] == p.state.tallies.retro_steps


def test_a_store_another_program_holds_exclusively_is_said_locked_not_damaged(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    # a new database another program opened first and holds (no WAL: it is not ours yet)
    hold = HOLD.replace('c.execute("PRAGMA journal_mode=WAL")\n', "").replace("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")
    assert "WAL" not in hold and "EXCLUSIVE" in hold
    holder = subprocess.Popen([sys.executable, "-c", hold, str(db), "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(CoachError) as err:
            SessionStore(db)
        assert "locked" in str(err.value) and "damaged" not in str(err.value)
        assert "move it aside" not in str(err.value)
    finally:
        holder.kill()
        holder.wait()
    assert SessionStore(db).sessions() == []          # nothing was harmed
