"""Sub-commands of the outputs layer: history, report, export, replay, serve."""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from coach.cli import argtypes
from coach.cli.output_options import add_mqtt_args, add_store_args
from coach.constants import WORN_PLACEMENTS
from coach.detect.model import one_thread
from coach.errors import CoachError


def register(sub: argparse._SubParsersAction) -> None:
    """Add this layer's sub-commands."""
    p = sub.add_parser("history", help="stored sessions and weekly retro totals")
    add_store_args(p, save_flag=False)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--all", action="store_true", dest="all_kinds",
                   help="weekly totals count demos, replays and analyses too (default: walks only)")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("report", help="a self-contained HTML page of one stored session, or of a week")
    p.add_argument("session", metavar="SESSION", nargs="?", default=None,
                   help="session id (or 'last', the default)")
    p.add_argument("--week", metavar="DATE", nargs="?", const="today", default=None,
                   help="the week (holding DATE, default today) against the program's weekly target")
    add_store_args(p, save_flag=False)
    p.add_argument("--out", metavar="DIR", default=".", help="output directory (default: .)")
    p.add_argument("--json", action="store_true", help="print JSON (the page's path and figures)")
    p.add_argument("--all", action="store_true", dest="all_kinds",
                   help="the week counts demos, replays and analyses too (default: walks only)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("export", help="export sessions as CSV, JSON, FIT or TCX")
    add_store_args(p, save_flag=False)
    p.add_argument("--format", choices=["csv", "json", "fit", "tcx"], required=True)
    p.add_argument("--session", metavar="ID", default=None,
                   help="one session (fit/tcx default: the latest)")
    p.add_argument("--since", metavar="DATE", default=None, help="sessions started on/after YYYY-MM-DD")
    p.add_argument("--out", metavar="FILE", required=True, help="output file ('-' for stdout)")
    p.add_argument("--json", action="store_true", help="print what was exported as JSON")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("replay", help="stream a recording through the live pipeline")
    p.add_argument("path", metavar="FILE", help="a recording (any format coach analyze reads)")
    p.add_argument("--speed", type=argtypes.speed, default=1.0,
                   help="x real time (default 1; 0 = as fast as possible)")
    p.add_argument("--units", choices=["auto", "g", "m/s2", "mg"], default="auto")
    p.add_argument("--allow-rate", action="store_true",
                   help="replay a recording sampled below the supported 25 Hz anyway")
    p.add_argument("--placement", choices=WORN_PLACEMENTS, default=None,
                   help="sensor placement hint for the detector")
    p.add_argument("--json", action="store_true", help="print the analyze JSON at the end")
    from coach.cli.wiring import extend_parser
    extend_parser(p, "replay")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("serve", help="run detectors for sensor streams published over MQTT")
    add_mqtt_args(p)
    p.add_argument("--group", default=None, help="shared-subscription group (default: coach)")
    p.add_argument("--worker-id", default=None, help="this worker's id (default: host-pid)")
    p.add_argument("--idle-timeout", type=argtypes.seconds, default=30.0,
                   help="close a stream after this many seconds without samples")
    add_store_args(p)
    p.set_defaults(func=cmd_serve)


def _store(args: argparse.Namespace):
    """The store, for the commands that only read it: one that does not exist is not created."""
    from coach.outputs.store import SessionStore
    return SessionStore(getattr(args, "db", None), create=False)


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        d = date.fromisoformat(text)
    except ValueError:
        try:
            return datetime.fromisoformat(text).astimezone(UTC)
        except ValueError:
            raise CoachError(f"--since must be a date YYYY-MM-DD, not {text!r}") from None
    return datetime(d.year, d.month, d.day).astimezone(UTC)


def cmd_history(args: argparse.Namespace) -> int:
    with _store(args) as store:
        # the same week's goal as the week report: [store] weekly_goal_minutes, else the program's
        h = store.history(weekly_goal_s=_weekly_goal_s(), all_kinds=args.all_kinds)
    if args.json:
        sys.stdout.write(json.dumps(h, indent=2) + "\n")
        return 0
    if not h["sessions"]:
        print(f"no sessions yet in {h['db']}")
        return 0
    print(f"{'id':>4}  {'start (UTC)':16}  {'kind':8}  {'min':>5}  {'retro s':>7}  {'retro':>5}  "
          f"{'fwd':>5}  {'program':12}  done")
    for s in h["sessions"]:
        comp = "-" if s["completion"] is None else f"{s['completion'] * 100:.0f}%"
        print(f"{s['session_id']:>4}  {s['started_at'][:16].replace('T', ' '):16}  {s['kind']:8}  "
              f"{s['duration_s'] / 60:5.1f}  {s['retro_seconds']:7.0f}  {s['retro_steps']:5d}  "
              f"{s['forward_steps']:5d}  {(s['program'] or '-')[:12]:12}  {comp}"
              + ("  (recovered)" if s["status"] == "recovered" else ""))
    print()
    if not h["weeks"]:
        print("no walks yet: weekly totals count walks only (--all counts every session)")
    for w in h["weeks"]:
        goal = (f" of {w['goal_seconds'] / 60:.0f} min goal ({w['progress'] * 100:.0f}%)"
                if w["goal_seconds"] else "")
        what = "session" if h.get("counted") == "all" else "walk"
        n = w["sessions"]
        print(f"week {w['week']}: {w['retro_minutes']:.1f} retro min{goal}, {w['retro_steps']} retro "
              f"steps in {n} {what}{'s' if n != 1 else ''}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from coach.outputs.report import week_summary, write_report, write_week_report
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise CoachError(f"--out {args.out} is a file; reports go in a folder")
    if args.week is not None:
        if args.session is not None:
            raise CoachError("give a SESSION or --week, not both")
        day = date.today() if args.week == "today" else _date(args.week)
        with _store(args) as store:
            # a week's retro minutes are walked ones, as in `coach history`
            sessions = [x for x in store.sessions() if args.all_kinds or x["kind"] == "walk"]
        w = week_summary(sessions, day, _weekly_goal_s())
        page = write_week_report(w, args.out)
        doc = {"report": str(page), **w}
    else:
        with _store(args) as store:
            s = store.session(args.session or "last")
        page = write_report(s, args.out)
        from coach.outputs.report import session_tiles
        doc = {"report": str(page), "session_id": s["id"],
               "tiles": {k: v for k, v, _ in session_tiles(s)}}
    if args.json:
        sys.stdout.write(json.dumps(doc) + "\n")
    else:
        print(page)
    return 0


def _weekly_goal_s() -> float | None:
    """The week's target when no session of the week stored one: [store] weekly_goal_minutes,
    else the configured program's backward minutes per session x its sessions per week."""
    from coach.outputs.config import load_section
    minutes = load_section("store").get("weekly_goal_minutes")
    if minutes:
        return float(minutes) * 60
    from coach.coaching.config import load_coach_config
    from coach.coaching.programs import build_program
    spec = load_coach_config().program()
    per_session = build_program(spec, history=[]).backward_target_s
    return per_session * spec.sessions_per_week if per_session else None


def _date(text: str) -> date:
    from coach.sources.readers import START_YEARS
    try:
        d = date.fromisoformat(text)
    except ValueError:
        raise CoachError(f"--week takes a date YYYY-MM-DD, not {text!r}") from None
    if not START_YEARS[0] <= d.year <= START_YEARS[1]:
        raise CoachError(f"--week {text}: the year must be from {START_YEARS[0]} to {START_YEARS[1]}")
    return d


def cmd_export(args: argparse.Namespace) -> int:
    from coach.outputs.export import export
    if args.json and args.out == "-":
        raise CoachError("--json prints to stdout: give --out FILE")
    with _store(args) as store:
        n = export(store, args.format, args.out, session_id=args.session, since=_since(args.since))
    if args.json:
        sys.stdout.write(json.dumps({"exported": n, "format": args.format, "out": str(args.out)}) + "\n")
    elif args.out != "-":
        print(f"exported {n} session(s) to {args.out}", file=sys.stderr)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from coach.cli.wiring import check_outputs, observers_for, result_document, run_session, until_stopped
    from coach.detect.pipeline import DirectionPipeline
    from coach.sources.csvfile import CsvSource

    source = CsvSource(args.path, units=args.units, speed=args.speed, allow_rate=args.allow_rate)
    pipeline = DirectionPipeline(source_name=str(args.path), placement=args.placement)
    obs = observers_for(args, "replay")
    import contextlib

    # with --json, stdout carries only the JSON: spoken-text fallbacks go to stderr
    quiet = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    with one_thread(), quiet:
        result = asyncio.run(until_stopped(source, run_session(source, pipeline, obs)))
    doc = result_document(result, obs)
    problem = None
    try:
        check_outputs(obs)   # notes on stderr; an output that lost something is an error
    except CoachError as e:
        problem = str(e)
    if args.json:   # one JSON object on stdout, the error in it when there is one
        if problem:
            doc.update(error=problem, exit_status=2)
            print(f"coach: error: {problem}", file=sys.stderr)
        sys.stdout.write(json.dumps(doc) + "\n")
        return 2 if problem else 0
    s = doc["summary"]
    print(f"replayed {doc['source']}: {s['retro_steps']} retro steps, "
          f"{s['retro_seconds'] / 60:.1f} retro min, {s['direction_changes']} direction changes"
          + (f" (session {doc['session_id']})" if "session_id" in doc else ""))
    if problem:
        raise CoachError(problem)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from coach.cli.serve import StreamWorker
    from coach.outputs.config import load_section
    from coach.outputs.mqtt import MqttSettings
    from coach.outputs.store import SessionStore

    settings = MqttSettings.from_url(args.mqtt or None,
                                     base_topic=args.base_topic.strip("/") if args.base_topic else None)
    cfg = load_section("mqtt")
    store = SessionStore(args.db) if (args.save or args.db) else None
    worker = StreamWorker(settings, worker_id=args.worker_id or cfg.get("worker_id"),
                          group=args.group or str(cfg.get("serve_group", "coach")),
                          idle_timeout_s=args.idle_timeout, store=store)
    print(f"coach serve: worker {worker.worker_id} on {settings.redacted()}, "
          f"ingest {settings.base_topic}/ingest/<sensor>/samples", file=sys.stderr)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        await worker.run(stop)

    with one_thread():
        asyncio.run(main())
    if store is not None:
        store.close()
    return 0


