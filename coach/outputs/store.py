"""The session store: SQLite (WAL), written as a session goes, recovered after a crash.

    store = SessionStore(path)                       # migrates, recovers interrupted sessions
    obs = store.open_session(SessionMeta(kind="run", device="wt901", placement="ankle"))
    await run_session(source, pipeline, [obs, ...])  # commits at least every second
    sid = store.store_result(result, SessionMeta(kind="analyze", source="walk.csv"))

Tables: sessions (one row per session, with live tallies and a heartbeat), devices, segments,
steps, events, prompts, intervals, states (the live state once per stream second) and
heart_rate (bpm and RR intervals when the sensor streams them: batch.meta["heart_rate"]).
A killed process loses at most its last second; the next SessionStore(path) closes the
session as "recovered" from what was committed.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from coach.detect.types import AnalysisResult, Event, LiveState, Segment
from coach.errors import CoachError
from coach.outputs.config import default_db_path, load_section

log = logging.getLogger(__name__)

# Each entry upgrades the schema by one version (PRAGMA user_version). Append, never edit.
MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE devices (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        address TEXT,
        model TEXT
    );
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        source TEXT,
        device_id INTEGER REFERENCES devices(id),
        placement TEXT,
        program TEXT,
        session_goal_s REAL,
        weekly_goal_s REAL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        status TEXT NOT NULL DEFAULT 'open',
        duration_s REAL NOT NULL DEFAULT 0,
        sample_rate_hz REAL,
        retro_steps INTEGER NOT NULL DEFAULT 0,
        retro_seconds REAL NOT NULL DEFAULT 0,
        forward_steps INTEGER NOT NULL DEFAULT 0,
        forward_seconds REAL NOT NULL DEFAULT 0,
        direction_changes INTEGER NOT NULL DEFAULT 0,
        completion REAL,
        last_t_s REAL NOT NULL DEFAULT 0,
        heartbeat_at TEXT,
        pid INTEGER,
        host TEXT,
        extra_json TEXT
    );
    CREATE INDEX sessions_started ON sessions(started_at);
    CREATE TABLE segments (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        start_s REAL NOT NULL, end_s REAL NOT NULL, direction TEXT NOT NULL, steps INTEGER NOT NULL
    );
    CREATE INDEX segments_session ON segments(session_id);
    CREATE TABLE steps (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        t_s REAL NOT NULL, direction TEXT NOT NULL
    );
    CREATE INDEX steps_session ON steps(session_id);
    CREATE TABLE events (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        t_s REAL NOT NULL, type TEXT NOT NULL, data_json TEXT
    );
    CREATE INDEX events_session ON events(session_id);
    CREATE TABLE prompts (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        t_s REAL NOT NULL, kind TEXT, text TEXT
    );
    CREATE INDEX prompts_session ON prompts(session_id);
    CREATE TABLE intervals (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        direction TEXT,
        planned_s REAL,
        start_s REAL,
        end_s REAL,
        done_s REAL,
        steps INTEGER,
        status TEXT,
        PRIMARY KEY (session_id, idx)
    );
    CREATE TABLE states (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        t_s REAL NOT NULL, direction TEXT, cadence_spm REAL,
        retro_steps INTEGER, retro_seconds REAL, forward_steps INTEGER, forward_seconds REAL
    );
    CREATE INDEX states_session ON states(session_id);
    """,
    # 2: sessions.kind says what a session was (walk, demo, replay, analysis), not which
    # command made it: totals, the progression and "today" count walks only
    """
    UPDATE sessions SET kind = CASE kind WHEN 'run' THEN 'walk' WHEN 'serve' THEN 'walk'
        WHEN 'analyze' THEN 'analysis' ELSE kind END;
    CREATE INDEX sessions_kind ON sessions(kind, started_at);
    """,
    # 3: heart rate (standard Heart Rate service, beside the accelerometer), one row per reading
    """
    CREATE TABLE heart_rate (
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        t_s REAL NOT NULL, bpm INTEGER NOT NULL, rr_json TEXT
    );
    CREATE INDEX heart_rate_session ON heart_rate(session_id);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


# What a session was, by the command that made it (sessions.kind, schema v2 on).
SESSION_KINDS = ("walk", "demo", "replay", "analysis")
_KIND_OF_COMMAND = {"run": "walk", "serve": "walk", "analyze": "analysis"}


def session_kind(kind: str | None) -> str:
    """'run' / 'serve' -> 'walk', 'analyze' -> 'analysis'; walk, demo, replay, analysis as is."""
    k = str(kind or "analysis")
    return _KIND_OF_COMMAND.get(k, k)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds")


def parse_iso(s: str) -> datetime:
    dt = datetime.fromisoformat(s)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass
class SessionMeta:
    """What is known about a session before it starts (all optional)."""

    kind: str = "analyze"            # the command: analyze | run | demo | replay | serve (stored
                                     # as the session's kind: see session_kind)
    source: str = ""
    device: str | None = None        # device name or id (one devices row per name)
    device_address: str | None = None
    device_model: str | None = None
    placement: str | None = None     # ankle, shin, pocket, wrist...
    program: str | None = None       # coaching program name
    session_goal_s: float | None = None  # retro seconds planned for this session
    weekly_goal_s: float | None = None   # the program's weekly retro goal
    started_at: datetime | None = None
    sample_rate_hz: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def coerce(cls, meta: "SessionMeta | dict[str, Any] | None") -> "SessionMeta":
        if meta is None:
            return cls()
        if isinstance(meta, SessionMeta):
            return meta
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in meta.items() if k in known}
        extra = {k: v for k, v in meta.items() if k not in known}
        m = cls(**kw)
        m.extra.update(extra)
        return m


def _held(e: sqlite3.Error) -> bool:
    """SQLite's error for a database another connection holds (locked or busy), not a damaged one."""
    return "locked" in str(e) or "busy" in str(e)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _could_be_made(path: Path) -> bool:
    """Whether a file could be made there: the nearest existing folder above it is a folder."""
    p = path.parent
    while not p.exists() and p != p.parent:
        p = p.parent
    return p.is_dir()


class SessionStore:
    """A SQLite session store. Opening it migrates the schema and recovers interrupted sessions."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, recover: bool = True,
                 readonly: bool | None = None, check: bool = True, create: bool = True) -> None:
        """create=False (the commands that only read): a store that does not exist yet reads as
        an empty one, and reading it creates no file or folder."""
        self.path = Path(path) if path else default_db_path()
        # nothing there, nothing pending beside it: an empty store held in memory
        self.ephemeral = (not create and not self.path.exists() and _could_be_made(self.path)
                          and not self.pending_journals())
        if readonly is None:   # history stays readable from a directory we cannot write to
            readonly = self.path.is_file() and not (os.access(self.path.parent, os.W_OK)
                                                    and os.access(self.path, os.W_OK))
        self.readonly = readonly
        try:
            if readonly:
                if not self.path.is_file():
                    raise CoachError(f"no session store at {self.path}")
                # immutable: no -wal/-shm files are needed (or created) beside it
                uri = f"{self.path.resolve().as_uri()}?mode=ro&immutable=1"
                self.conn = sqlite3.connect(uri, uri=True, timeout=10.0, isolation_level=None,
                                            check_same_thread=False)
            else:
                if not self.ephemeral:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                self.conn = sqlite3.connect(":memory:" if self.ephemeral else str(self.path),
                                            timeout=10.0, isolation_level=None,
                                            check_same_thread=False)
            self.conn.row_factory = sqlite3.Row
            if check:
                self._quick_check()
            if not readonly:
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            if readonly:
                self._check_version()
            else:
                self._migrate()
        except sqlite3.DatabaseError as e:
            held = " (another program holds it; nothing was written: try again when it is done)" \
                if _held(e) else ""
            raise CoachError(f"cannot open session store {self.path}: {e}{held}") from e
        except OSError as e:
            raise CoachError(f"cannot open session store {self.path}: {e.strerror}") from e
        self.replayed: list[int] = []
        self.recovered: list[int] = []
        if not readonly and not self.ephemeral:
            try:   # housekeeping: a locked store only postpones it (and waits 1 s at most)
                self.conn.execute("PRAGMA busy_timeout=1000")
                self.replayed = self.replay_journals()
                if recover:
                    self.recovered = self.recover_interrupted()
            except sqlite3.Error as e:
                log.warning("session store %s: housekeeping postponed (%s)", self.path, e)
            finally:
                self.conn.execute("PRAGMA busy_timeout=10000")

    def _quick_check(self) -> None:
        """Refuse a damaged database before anything is written to it."""
        try:
            rows = [r[0] for r in self.conn.execute("PRAGMA quick_check(5)").fetchall()]
        except sqlite3.OperationalError as e:
            if _held(e):
                raise         # held by another program, not damaged: said as such by the caller
            rows = [str(e)]
        except sqlite3.DatabaseError as e:
            rows = [str(e)]
        if rows != ["ok"]:
            self.conn.close()
            raise CoachError(f"session store {self.path} is damaged ({'; '.join(rows)[:200]}); "
                             "nothing was written to it: move it aside (or restore a backup) and "
                             "run again")

    def _check_version(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise CoachError(f"session store {self.path} has schema v{version} and is read-only "
                             f"here (this retro-coach reads v{SCHEMA_VERSION})")

    # -- schema ---------------------------------------------------------------------------
    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0 and self.conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE name='sessions'").fetchone()[0]:
            raise CoachError(f"session store {self.path} has tables but no schema version; "
                             "refusing to touch it")
        if version > SCHEMA_VERSION:
            raise CoachError(f"session store {self.path} has schema v{version}, newer than this "
                             f"retro-coach (v{SCHEMA_VERSION}); upgrade retro-coach")
        for v in range(version, SCHEMA_VERSION):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                for stmt in _split_sql(MIGRATIONS[v]):
                    self.conn.execute(stmt)
                self.conn.execute(f"PRAGMA user_version={v + 1}")
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "SessionStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing --------------------------------------------------------------------------
    def _device_id(self, meta: SessionMeta) -> int | None:
        if not meta.device:
            return None
        self.conn.execute(
            "INSERT INTO devices(name, address, model) VALUES (?,?,?) ON CONFLICT(name) DO UPDATE "
            "SET address=coalesce(excluded.address, address), model=coalesce(excluded.model, model)",
            (meta.device, meta.device_address, meta.device_model))
        return int(self.conn.execute("SELECT id FROM devices WHERE name=?", (meta.device,)).fetchone()[0])

    def _insert_session(self, meta: SessionMeta, started_at: datetime, status: str) -> int:
        dev = self._device_id(meta)
        cur = self.conn.execute(
            "INSERT INTO sessions(kind, source, device_id, placement, program, session_goal_s, "
            "weekly_goal_s, started_at, status, sample_rate_hz, heartbeat_at, pid, host, extra_json) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (session_kind(meta.kind), meta.source, dev, meta.placement, meta.program, meta.session_goal_s,
             meta.weekly_goal_s, iso(started_at), status, meta.sample_rate_hz, iso(utcnow()),
             os.getpid(), socket.gethostname(), json.dumps(meta.extra, default=str)))
        assert cur.lastrowid is not None   # an INSERT just ran
        return int(cur.lastrowid)

    def open_session(self, meta: SessionMeta | dict[str, Any] | None = None,
                     commit_interval_s: float = 0.5) -> "StoreObserver":
        """Start a live session; the returned Observer writes it as it goes."""
        meta = SessionMeta.coerce(meta)
        started = meta.started_at or utcnow()
        obs = StoreObserver(self, None, meta, commit_interval_s, started=started)
        obs.flush()        # creates the session row now, or keeps it pending (store locked, full)
        return obs

    def store_result(self, result: AnalysisResult, meta: SessionMeta | dict[str, Any] | None = None) -> int:
        """Store a finished analysis (e.g. `coach analyze --save`) in one go; return its id."""
        meta = SessionMeta.coerce(meta)
        if meta.sample_rate_hz is None:
            meta.sample_rate_hz = result.sample_rate_hz
        if not meta.source:
            meta.source = result.source
        started = meta.started_at or (utcnow() - timedelta(seconds=result.duration_s))
        with self.transaction():
            sid = self._insert_session(meta, started, "closed")
            self._write_result(sid, result, started)
        return sid

    def _write_result(self, sid: int, result: AnalysisResult, started: datetime) -> None:
        for sql, params in result_ops(result, started):
            self.conn.execute(sql, [sid if p == SID else p for p in params])

    def _update_completion(self, sid: int) -> None:
        self.conn.execute(COMPLETION_SQL, (sid, sid, sid))

    # -- pending writes (journals) ----------------------------------------------------------
    def journal_path(self, tag: str) -> Path:
        return self.path.with_name(f"{self.path.name}.pending-{tag}.jsonl")

    def pending_journals(self) -> list[Path]:
        """Journals of sessions not written yet, beside the database (see journal_path)."""
        return sorted(self.path.parent.glob(f"{self.path.name}.pending-*.jsonl"))

    def replay_journals(self) -> list[int]:
        """Write sessions that an earlier run could not (store locked, disk full); return ids."""
        done: list[int] = []
        host = socket.gethostname()
        for jp in self.pending_journals():
            try:
                head, ops = read_journal(jp)
            except (OSError, ValueError) as e:
                log.warning("cannot read pending session %s: %s", jp, e)
                continue
            pid = head.get("pid")
            if not head.get("ended") and head.get("host") == host and pid and \
                    (pid == os.getpid() or _pid_alive(int(pid))):
                continue      # still being written by a live process
            try:
                sid = self._apply_journal(head, ops)
            except sqlite3.Error as e:
                log.warning("pending session %s not written yet: %s", jp, e)
                continue
            jp.unlink(missing_ok=True)
            log.warning("wrote pending session %s from %s", sid, jp)
            done.append(sid)
        return done

    def _apply_journal(self, head: dict[str, Any], ops: list[tuple[str, list[Any]]]) -> int:
        token = head.get("token")
        if token:   # its writer committed it after all (and died before removing the journal)
            row = self.conn.execute("SELECT id FROM sessions WHERE json_extract(extra_json, "
                                    "'$._journal') = ?", (token,)).fetchone()
            if row is not None:
                return int(row[0])
        with self.transaction():
            sid = head.get("session_id")
            if sid is None or self.conn.execute("SELECT 1 FROM sessions WHERE id=?",
                                                (sid,)).fetchone() is None:
                meta = SessionMeta.coerce(head.get("meta") or {})
                sid = self._insert_session(meta, parse_iso(head["started_at"]),
                                           str(head.get("status", "open")))
                if not head.get("ended") and head.get("pid"):
                    # its writer's, not this process's: a session its dead writer left open is
                    # then recovered by this same start (recover_interrupted), not the next one
                    self.conn.execute("UPDATE sessions SET pid=?, host=? WHERE id=?",
                                      (int(head["pid"]), str(head.get("host", "")), sid))
            for sql, params in ops:
                self.conn.execute(sql, [sid if p == SID else p for p in params])
            if token:
                self.conn.execute(MARK_JOURNAL_SQL, (token, sid))
        return int(sid)

    class _Tx:
        """BEGIN IMMEDIATE..COMMIT, or a savepoint inside an open transaction."""

        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn
            self.nested = False

        def __enter__(self) -> None:
            self.nested = self.conn.in_transaction
            self.conn.execute("SAVEPOINT tx" if self.nested else "BEGIN IMMEDIATE")

        def __exit__(self, et: object, *exc: object) -> None:
            if self.nested:
                if et:
                    self.conn.execute("ROLLBACK TO tx")
                self.conn.execute("RELEASE tx")
            else:
                self.conn.execute("ROLLBACK" if et else "COMMIT")

    def transaction(self) -> "_Tx":
        return SessionStore._Tx(self.conn)

    # -- recovery -------------------------------------------------------------------------
    def recover_interrupted(self, stale_after_s: float = 120.0) -> list[int]:
        """Close sessions left open by a process that died; return their ids."""
        host = socket.gethostname()
        done: list[int] = []
        for row in self.conn.execute("SELECT * FROM sessions WHERE status='open'").fetchall():
            if row["pid"] == os.getpid() and row["host"] == host:
                continue
            if row["host"] == host and row["pid"] and _pid_alive(int(row["pid"])):
                continue
            if row["host"] != host and row["heartbeat_at"] and \
                    (utcnow() - parse_iso(row["heartbeat_at"])).total_seconds() < stale_after_s:
                continue
            self._close_recovered(row)
            done.append(int(row["id"]))
            log.warning("recovered interrupted session %s", row["id"])
        return done

    def _close_recovered(self, row: sqlite3.Row) -> None:
        sid = int(row["id"])
        end = float(row["last_t_s"] or 0.0)
        # the live state timeline ('state' events: still and other too); sessions stored
        # before those existed have only their direction changes
        events = self.conn.execute(
            "SELECT t_s, data_json FROM events WHERE session_id=? AND type='state' "
            "ORDER BY t_s", (sid,)).fetchall() or self.conn.execute(
            "SELECT t_s, data_json FROM events WHERE session_id=? AND type='direction_change' "
            "ORDER BY t_s", (sid,)).fetchall()
        steps = self.conn.execute("SELECT t_s FROM steps WHERE session_id=? ORDER BY t_s",
                                  (sid,)).fetchall()
        bounds: list[tuple[float, str]] = []
        for e in events:
            data = json.loads(e["data_json"] or "{}")
            bounds.append((float(data.get("since_s", e["t_s"])), str(data.get("direction", "other"))))
        segs = []
        for i, (start, d) in enumerate(bounds):
            stop = bounds[i + 1][0] if i + 1 < len(bounds) else end
            if stop > start:
                # as the detector's own answer counts them (a long still stretch holds none)
                seg = Segment(start, stop, d)
                n = sum(1 for s in steps if start <= s["t_s"] < stop and seg.counts_step(s["t_s"]))
                segs.append((sid, start, stop, d, n))
        with self.transaction():
            self.conn.execute("DELETE FROM segments WHERE session_id=?", (sid,))
            self.conn.executemany("INSERT INTO segments VALUES (?,?,?,?,?)", segs)
            self.conn.execute(
                "UPDATE sessions SET status='recovered', duration_s=?, ended_at=? WHERE id=?",
                (end, iso(parse_iso(row["started_at"]) + timedelta(seconds=end)), sid))
            self._update_completion(sid)

    # -- reading --------------------------------------------------------------------------
    def sessions(self, since: datetime | date | None = None, session_id: int | None = None
                 ) -> list[dict[str, Any]]:
        """Session rows (oldest first) as plain dicts."""
        q = ("SELECT s.*, d.name AS device FROM sessions s LEFT JOIN devices d ON d.id = s.device_id "
             "WHERE 1=1")
        args: list[Any] = []
        if session_id is not None:
            q += " AND s.id=?"
            args.append(session_id)
        if since is not None:
            if not isinstance(since, datetime):
                since = datetime(since.year, since.month, since.day, tzinfo=UTC)
            q += " AND s.started_at >= ?"
            args.append(iso(since))
        q += " ORDER BY s.started_at, s.id"
        out = []
        for r in self.conn.execute(q, args).fetchall():
            d = dict(r)
            d.pop("pid", None), d.pop("host", None), d.pop("device_id", None)
            d["extra"] = json.loads(d.pop("extra_json") or "{}")
            d["extra"].pop("_journal", None)
            out.append(d)
        return out

    def last_id(self) -> int:
        """'last' everywhere (report, export, the web view): the session stored most recently
        (the highest id), whatever its start time (an old recording stored today is the last)."""
        row = self.conn.execute("SELECT max(id) FROM sessions").fetchone()
        if row is None or row[0] is None:
            raise CoachError(f"no sessions in {self.path}")
        return int(row[0])

    def session(self, session_id: int | str) -> dict[str, Any]:
        """One session with its segments, steps, events, prompts, intervals and states."""
        if isinstance(session_id, str):
            if session_id in ("last", "latest"):
                session_id = self.last_id()
            else:
                try:
                    session_id = int(session_id)
                except ValueError:
                    raise CoachError(f"session id must be a number or 'last', not {session_id!r}") from None
        rows = self.sessions(session_id=session_id)
        if not rows:
            raise CoachError(f"no session {session_id} in {self.path}")
        s = rows[0]
        c = self.conn
        s["segments"] = [dict(r) for r in c.execute(
            "SELECT start_s, end_s, direction, steps FROM segments WHERE session_id=? ORDER BY start_s",
            (session_id,))]
        s["steps"] = [(r[0], r[1]) for r in c.execute(
            "SELECT t_s, direction FROM steps WHERE session_id=? ORDER BY t_s", (session_id,))]
        s["events"] = [{"t_s": r[0], "type": r[1], **json.loads(r[2] or "{}")} for r in c.execute(
            "SELECT t_s, type, data_json FROM events WHERE session_id=? ORDER BY t_s", (session_id,))]
        s["prompts"] = [dict(r) for r in c.execute(
            "SELECT t_s, kind, text FROM prompts WHERE session_id=? ORDER BY t_s", (session_id,))]
        s["intervals"] = [dict(r) for r in c.execute(
            "SELECT idx, direction, planned_s, start_s, end_s, done_s, steps, status FROM intervals "
            "WHERE session_id=? ORDER BY idx", (session_id,))]
        s["states"] = [dict(r) for r in c.execute(
            "SELECT t_s, direction, cadence_spm, retro_steps, retro_seconds, forward_steps, "
            "forward_seconds FROM states WHERE session_id=? ORDER BY t_s", (session_id,))]
        s["heart_rate"] = [{"t_s": r[0], "bpm": r[1], "rr_ms": json.loads(r[2] or "[]")} for r in c.execute(
            "SELECT t_s, bpm, rr_json FROM heart_rate WHERE session_id=? ORDER BY t_s", (session_id,))]
        return s

    def retro_totals(self, now: datetime | None = None) -> tuple[float, float]:
        """Retro seconds walked (kind 'walk') today and this ISO week (local time): the retained
        MQTT totals."""
        now = (now or datetime.now().astimezone()).astimezone()
        week_start = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        today = week = 0.0
        for r in self.conn.execute("SELECT started_at, retro_seconds FROM sessions WHERE started_at >= ? "
                                   "AND kind = 'walk'", (iso(week_start - timedelta(days=1)),)):
            started = parse_iso(r[0])
            if week_start <= started <= now:
                week += r[1] or 0.0
                if started >= day_start:
                    today += r[1] or 0.0
        return today, week

    def history(self, weekly_goal_s: float | None = None, all_kinds: bool = False) -> dict[str, Any]:
        """Sessions and ISO-week totals (UTC weeks) against the program's weekly goal.

        Week totals count walks only (not demos, replays or analyses) unless all_kinds."""
        if weekly_goal_s is None:
            minutes = load_section("store").get("weekly_goal_minutes")
            weekly_goal_s = float(minutes) * 60 if minutes else None
        sessions = []
        weeks: dict[str, dict[str, Any]] = {}
        for s in self.sessions():
            started = parse_iso(s["started_at"])
            sessions.append({
                "session_id": s["id"], "started_at": s["started_at"], "kind": s["kind"],
                "status": s["status"], "source": s["source"], "device": s["device"],
                "placement": s["placement"], "duration_s": round(s["duration_s"], 2),
                "retro_seconds": round(s["retro_seconds"], 2), "retro_steps": s["retro_steps"],
                "forward_seconds": round(s["forward_seconds"], 2), "forward_steps": s["forward_steps"],
                "direction_changes": s["direction_changes"], "program": s["program"],
                "completion": None if s["completion"] is None else round(s["completion"], 3),
            })
            if not all_kinds and s["kind"] != "walk":
                continue
            y, w, _ = started.isocalendar()
            key = f"{y}-W{w:02d}"
            wk = weeks.setdefault(key, {
                "week": key, "week_start": date.fromisocalendar(y, w, 1).isoformat(), "sessions": 0,
                "retro_seconds": 0.0, "retro_steps": 0, "forward_steps": 0, "goal_seconds": None})
            wk["sessions"] += 1
            wk["retro_seconds"] += s["retro_seconds"]
            wk["retro_steps"] += s["retro_steps"]
            wk["forward_steps"] += s["forward_steps"]
            if s["weekly_goal_s"]:
                wk["goal_seconds"] = s["weekly_goal_s"]
        for wk in weeks.values():
            wk["goal_seconds"] = wk["goal_seconds"] or weekly_goal_s
            wk["retro_seconds"] = round(wk["retro_seconds"], 2)
            wk["retro_minutes"] = round(wk["retro_seconds"] / 60, 1)
            wk["progress"] = (round(wk["retro_seconds"] / wk["goal_seconds"], 3)
                              if wk["goal_seconds"] else None)
        return {"db": str(self.path), "sessions": sessions, "weeks": list(weeks.values()),
                "counted": "all" if all_kinds else "walk"}

    def coach_history(self, all_kinds: bool = False) -> list[dict[str, Any]]:
        """Past sessions as the coach's progression reads them (oldest first): date (local),
        retro_seconds, completed, stumbles, falls, cadence_held, program. Walks only unless
        all_kinds; the coach's own summary where it left one, else the store's completion."""
        out = []
        for s in self.sessions():
            if (not all_kinds and s["kind"] != "walk") or s["status"] == "open":
                continue
            coach = s["extra"].get("coach") or {}
            completion = s["completion"]
            out.append({
                "session_id": s["id"], "kind": s["kind"], "program": s["program"],
                "date": parse_iso(s["started_at"]).astimezone().date().isoformat(),
                "retro_seconds": float(s["retro_seconds"] or 0.0),
                "completed": bool(coach.get("completed", completion is not None and completion >= 0.8)),
                "stumbles": int(coach.get("stumbles", 0)), "falls": int(coach.get("falls", 0)),
                "cadence_held": bool(coach.get("cadence_held", True)),
                "coached": bool(coach),
            })
        return out

    def today(self, all_kinds: bool = False, day: date | None = None) -> dict[str, Any]:
        """Today's (local) retro totals: walks only unless all_kinds."""
        day = day or date.today()
        rows = [h for h in self.coach_history(all_kinds) if h["date"] == day.isoformat()]
        steps = {s["id"]: s["retro_steps"] for s in self.sessions()}
        return {"date": day.isoformat(), "sessions": len(rows),
                "retro_seconds": round(sum(h["retro_seconds"] for h in rows), 2),
                "retro_steps": sum(steps.get(h["session_id"], 0) for h in rows)}


def _split_sql(script: str) -> Iterable[str]:
    for stmt in script.split(";"):
        if stmt.strip():
            yield stmt


SID = "$sid"    # stands for the session id in pending writes (not known while the store is locked)

COMPLETION_SQL = (
    "UPDATE sessions SET completion = (SELECT CASE "
    "WHEN iv.p IS NOT NULL AND iv.p != 0 THEN min(1.0, coalesce(iv.d, 0) / iv.p) "
    "WHEN s.session_goal_s IS NOT NULL AND s.session_goal_s != 0 "
    "THEN min(1.0, s.retro_seconds / s.session_goal_s) ELSE NULL END "
    "FROM (SELECT sum(planned_s) AS p, sum(min(coalesce(done_s, 0), planned_s)) AS d "
    "FROM intervals WHERE session_id=? AND planned_s > 0) AS iv, sessions AS s WHERE s.id=?) "
    "WHERE id=?")

Op = tuple[str, list[Any]]

# marks a session with the journal whose records it holds (in the same transaction)
MARK_JOURNAL_SQL = ("UPDATE sessions SET extra_json = json_set(coalesce(extra_json, '{}'), "
                    "'$._journal', ?) WHERE id=?")


def result_ops(result: AnalysisResult, started: datetime) -> list[Op]:
    """The writes that store a finished analysis in session SID."""
    ops: list[Op] = [(f"DELETE FROM {table} WHERE session_id=?", [SID])
                     for table in ("segments", "steps", "events")]
    ops += [("INSERT INTO segments VALUES (?,?,?,?,?)", [SID, s.start_s, s.end_s, s.direction, s.steps])
            for s in result.segments]
    ops += [("INSERT INTO steps VALUES (?,?,?)", [SID, float(t), str(d)]) for t, d in result.steps]
    ops += [("INSERT INTO events VALUES (?,?,?,?)", [SID, e.t_s, e.type, json.dumps(e.data, default=float)])
            for e in result.events if e.type != "step"]
    t = result.tallies
    ops.append((
        "UPDATE sessions SET status='closed', ended_at=?, duration_s=?, sample_rate_hz=?, "
        "retro_steps=?, retro_seconds=?, forward_steps=?, forward_seconds=?, direction_changes=?, "
        "last_t_s=?, heartbeat_at=? WHERE id=?",
        [iso(started + timedelta(seconds=result.duration_s)), result.duration_s,
         result.sample_rate_hz, t.retro_steps, t.retro_seconds, t.forward_steps,
         t.forward_seconds, t.direction_changes, result.duration_s, iso(utcnow()), SID]))
    ops.append((COMPLETION_SQL, [SID, SID, SID]))
    return ops


def meta_json(meta: SessionMeta) -> dict[str, Any]:
    d = {f.name: getattr(meta, f.name) for f in fields(meta)}
    d["started_at"] = iso(meta.started_at) if meta.started_at else None
    d.pop("started_at")
    return d


def write_journal(path: Path, head: dict[str, Any] | None, ops: list[Op]) -> None:
    """Append pending writes to a journal (JSON lines; the first line describes the session)."""
    with path.open("a", encoding="utf-8") as fh:
        if head is not None:
            fh.write(json.dumps(head, default=str) + "\n")
        for sql, params in ops:
            fh.write(json.dumps([sql, params], default=float) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_journal(path: Path) -> tuple[dict[str, Any], list[Op]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        raise ValueError("empty")
    head = json.loads(lines[0])
    ops: list[Op] = []
    for line in lines[1:]:
        try:
            item = json.loads(line)
            if isinstance(item, dict) and item.get("end"):
                head["ended"] = True   # its writer is done with it
                continue
            sql, params = item
        except ValueError:
            break          # a torn last line (the writer was killed mid-line)
        ops.append((str(sql), list(params)))
    return head, ops


class StoreObserver:
    """An Observer that writes one live session as it goes (commits at least every second).

    Writes are queued and committed together every commit_interval_s. When the store cannot
    take them (locked by another program, disk full, I/O error) the session goes on: they are
    kept in memory and in a journal beside the database (<db>.pending-<id>.jsonl), retried at
    the next commit without blocking the live loop, and written by the next process that opens
    the store if this one never could (see output_note)."""

    live_wait_s = 0.05     # how long a live commit may wait for a lock
    end_wait_s = 5.0       # how long the final commit may wait

    def __init__(self, store: SessionStore, session_id: int | None, meta: SessionMeta,
                 commit_interval_s: float = 0.5, started: datetime | None = None) -> None:
        self.store = store
        self.session_id = session_id
        self.meta = meta
        self.commit_interval_s = commit_interval_s
        self._last_commit = time.monotonic()
        self._last_state_sec: int | None = None
        self._started = started or meta.started_at or utcnow()
        self._ops: list[Op] = []          # not committed yet
        self._journaled = 0               # how many of _ops are in the journal
        self._tallies: LiveState | None = None
        self.journal: Path | None = None
        self._journal_token = uuid.uuid4().hex
        self.journal_failed = False
        self.error: str | None = None     # the store's last error while this session ran
        self.failed_commits = 0
        self.closed = False
        self.owns_store = False      # close the store when the session ends
        self._saw_data = False       # a batch of samples has come

    @property
    def conn(self) -> sqlite3.Connection:
        return self.store.conn

    @property
    def pending(self) -> int:
        """Writes not in the database yet."""
        return len(self._ops) + (self.session_id is None)

    def _op(self, sql: str, *params: Any) -> None:
        self._ops.append((sql, list(params)))

    async def on_batch(self, batch: Any, state: LiveState, events: list[Event]) -> None:
        # (the serve worker passes no batch, only the state its samples made)
        self._saw_data = self._saw_data or (len(batch) > 0 if batch is not None else state.t_s > 0)
        for e in events:
            if e.type == "step":
                self._op("INSERT INTO steps VALUES (?,?,?)", SID, e.t_s,
                         str(e.data.get("direction", state.direction)))
            else:
                self._op("INSERT INTO events VALUES (?,?,?,?)", SID, e.t_s, e.type,
                         json.dumps(e.data, default=float))
        for hr in (getattr(batch, "meta", None) or {}).get("heart_rate", ()):
            self._op("INSERT INTO heart_rate VALUES (?,?,?,?)", SID, float(hr["t_s"]), int(hr["bpm"]),
                     json.dumps(list(hr.get("rr_ms") or [])))
        sec = int(state.t_s)
        if sec != self._last_state_sec:
            self._last_state_sec = sec
            t = state.tallies
            self._op("INSERT INTO states VALUES (?,?,?,?,?,?,?,?)", SID, state.t_s, state.direction,
                     state.cadence_spm, t.retro_steps, t.retro_seconds, t.forward_steps,
                     t.forward_seconds)
        self._tallies = state
        if time.monotonic() - self._last_commit >= self.commit_interval_s:
            self.flush()

    def flush(self, wait_s: float | None = None) -> bool:
        """Write the queued records, the live tallies and the heartbeat in one transaction;
        False (and the records kept) if the store cannot take them now."""
        if self.closed:
            return not self._ops
        self._last_commit = time.monotonic()
        st = self._tallies
        if st is not None:
            t = st.tallies
            self._op("UPDATE sessions SET retro_steps=?, retro_seconds=?, forward_steps=?, "
                     "forward_seconds=?, direction_changes=?, last_t_s=?, duration_s=?, "
                     "heartbeat_at=? WHERE id=?",
                     t.retro_steps, t.retro_seconds, t.forward_steps, t.forward_seconds,
                     t.direction_changes, st.t_s, st.t_s, iso(utcnow()), SID)
            self._tallies = None
        if not self._ops and self.session_id is not None:
            return True
        return self._commit_ops(self.live_wait_s if wait_s is None else wait_s)

    def _commit_ops(self, wait_s: float) -> bool:
        conn = self.conn
        sid = self.session_id
        try:
            conn.execute(f"PRAGMA busy_timeout={max(0, int(wait_s * 1000))}")
            conn.execute("BEGIN IMMEDIATE")
            if sid is None:
                sid = self.store._insert_session(self.meta, self._started, "open")
            for sql, params in self._ops:
                conn.execute(sql, [sid if p == SID else p for p in params])
            if self.journal is not None:   # with the records it holds: never written twice
                conn.execute(MARK_JOURNAL_SQL, (self._journal_token, sid))
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            self._keep(e)
            return False
        finally:
            try:
                conn.execute("PRAGMA busy_timeout=10000")
            except sqlite3.Error:
                pass
        self.session_id = sid
        self._ops.clear()
        self._journaled = 0
        if self.error is not None:
            log.warning("session store %s writable again: %s session records written",
                        self.store.path, "pending")
            self.error = None
        if self.journal is not None:
            self.journal.unlink(missing_ok=True)
            self.journal = None
        return True

    def _keep(self, e: sqlite3.Error) -> None:
        """The store refused a commit: keep the records (memory and journal); say so once."""
        self.failed_commits += 1
        if self.error is None:
            log.warning("session store %s cannot be written (%s); the session goes on and its "
                        "records are kept", self.store.path, e)
        self.error = str(e)
        new = self._ops[self._journaled:]
        if (not new and self.journal is not None) or self.journal_failed:
            return
        head = None
        if self.journal is None:
            head = {"v": 1, "meta": meta_json(self.meta), "started_at": iso(self._started),
                    "session_id": self.session_id, "status": "open", "pid": os.getpid(),
                    "host": socket.gethostname(), "db": str(self.store.path),
                    "token": self._journal_token}
        for candidate in ([self.journal] if self.journal is not None else
                          [self.store.journal_path(f"{os.getpid()}-{id(self) & 0xffffff:x}"),
                           Path(tempfile.gettempdir()) / f"retro-coach-{self.store.path.name}"
                           f".pending-{os.getpid()}-{id(self) & 0xffffff:x}.jsonl"]):
            try:
                write_journal(candidate, head, new)
            except OSError as oe:
                log.debug("journal %s: %s", candidate, oe)
                if self.journal is not None:
                    break
                continue
            self.journal = candidate
            self._journaled = len(self._ops)
            return
        self.journal_failed = True
        log.warning("session records cannot be written anywhere; keeping them in memory")

    def publish_prompt(self, prompt: dict[str, Any]) -> None:
        """Record a coach prompt or safety alert ({"t_s", "kind", "text"})."""
        self._op("INSERT INTO prompts VALUES (?,?,?,?)", SID, float(prompt.get("t_s", 0.0)),
                 prompt.get("kind"), prompt.get("text"))

    def publish_alert(self, alert: dict[str, Any]) -> None:
        """Record a safety alert (kept with the prompts, kind "safety:<kind>")."""
        kind = str(alert.get("kind") or "alert")
        self.publish_prompt({**alert, "kind": kind if kind.startswith("safety") else f"safety:{kind}"})

    def publish_interval(self, interval: dict[str, Any]) -> None:
        """Record a planned/done interval: {"index", "direction", "planned_s", "start_s", "end_s",
        "done_s", "steps", "status"} (later calls with the same index update it)."""
        self._op("INSERT OR REPLACE INTO intervals VALUES (?,?,?,?,?,?,?,?,?)",
                 SID, int(interval.get("index", interval.get("idx", 0))),
                 interval.get("direction"), interval.get("planned_s"), interval.get("start_s"),
                 interval.get("end_s"), interval.get("done_s"), interval.get("steps"),
                 interval.get("status"))

    def publish_summary(self, summary: dict[str, Any]) -> None:
        """Keep the coach's session summary (completed, stumbles, falls...) for the progression."""
        if self.closed:
            return
        self._op("UPDATE sessions SET extra_json = json_set(coalesce(extra_json, '{}'), "
                 "'$.coach', json(?)) WHERE id=?", json.dumps(summary, default=str), SID)

    def set_program(self, name: str | None, session_goal_s: float | None = None,
                    weekly_goal_s: float | None = None) -> None:
        self._op("UPDATE sessions SET program=?, session_goal_s=coalesce(?, session_goal_s), "
                 "weekly_goal_s=coalesce(?, weekly_goal_s) WHERE id=?",
                 name, session_goal_s, weekly_goal_s, SID)

    def set_extra(self, **extra: Any) -> None:
        """Merge keys into the session's extra JSON (e.g. treadmill=True: FIT indoor_walking)."""
        self.meta.extra.update(extra)
        self._op("UPDATE sessions SET extra_json=? WHERE id=?", json.dumps(self.meta.extra, default=str), SID)

    async def on_end(self, result: AnalysisResult) -> None:
        if self.closed:
            return
        self._tallies = None
        self._ops += result_ops(result, self._started)
        if self.meta.kind in ("run", "demo", "serve"):  # live: ends now
            self._op("UPDATE sessions SET ended_at=? WHERE id=?", iso(utcnow()), SID)
        if not self._commit_ops(self.end_wait_s) and self.journal is not None:
            try:      # mark it finished: the next process (or store) that opens the db writes it
                with self.journal.open("a", encoding="utf-8") as fh:
                    fh.write('{"end": true}\n')
            except OSError as e:
                log.debug("journal %s: %s", self.journal, e)
        self.closed = True
        if self.owns_store:
            self.store.close()

    def json_extra(self) -> dict[str, Any]:
        """Adds "session_id" to the analyze JSON (and where it waits when not stored yet)."""
        out: dict[str, Any] = {"session_id": self.session_id}
        if self.pending:
            out["save_pending"] = str(self.journal) if self.journal else "memory"
        return out

    def output_note(self) -> str | None:
        """One line for the end of the command when the session is not (all) in the store."""
        if not self.pending:
            return None
        if self.journal is not None and not self.journal_failed:
            return (f"session not stored yet ({self.error}): its {self.pending} records are kept "
                    f"in {self.journal}; the next coach command that opens {self.store.path} "
                    "writes them")
        return None

    def output_failure(self) -> str | None:
        if self.pending and (self.journal is None or self.journal_failed):
            return (f"session store {self.store.path}: {self.error}; {self.pending} session "
                    "records could not be kept")
        return None

    def abort(self) -> None:
        """Commit what we have and leave the session open (the next start recovers it)."""
        if not self.closed:
            self.flush(self.end_wait_s)
            self.closed = True

    def on_abort(self) -> None:
        """The session failed before its end. Not one sample came (a sensor never found): there
        is no walk to keep, so its row goes. Otherwise what was counted is committed and the
        session left open, for the next start to recover (as after a killed process)."""
        if self.closed:
            return
        if self._saw_data:
            self.abort()
        else:
            self.closed = True
            self._ops.clear()
            try:
                if self.session_id is not None:
                    with self.store.transaction():
                        self.conn.execute("DELETE FROM sessions WHERE id=?", (self.session_id,))
                if self.journal is not None:
                    self.journal.unlink(missing_ok=True)
            except (sqlite3.Error, OSError) as e:
                log.warning("could not remove the empty session %s: %s", self.session_id, e)
        if self.owns_store:
            self.store.close()


def session_json(s: dict[str, Any]) -> dict[str, Any]:
    """A stored session in the analyze JSON shape (plus session_id)."""
    return {
        "session_id": s["id"], "source": s["source"], "duration_s": round(s["duration_s"], 3),
        "sample_rate_hz": round(s["sample_rate_hz"] or 0.0, 2),
        "segments": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in seg.items()}
                     for seg in s.get("segments", [])],
        "events": [{"t_s": round(e["t_s"], 3), "type": e["type"], "direction": e.get("direction")}
                   for e in s.get("events", []) if e["type"] == "direction_change"],
        "summary": {"retro_steps": s["retro_steps"], "retro_seconds": round(s["retro_seconds"], 2),
                    "forward_steps": s["forward_steps"],
                    "forward_seconds": round(s["forward_seconds"], 2),
                    "direction_changes": s["direction_changes"]},
    }

