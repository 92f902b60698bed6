"""Sub-commands of the detector: analyze, train, demo."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from coach.cli import argtypes
from coach.constants import DEMO_PLACEMENTS, WORN_PLACEMENTS
from coach.errors import CoachError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="replay a recording through the live pipeline and report")
    p.add_argument("path", type=argtypes.file_path,
                   help="a recording: CSV t,ax,ay,az, a phyphox, Sensor Logger (folder or zip) or "
                        "Polar Sensor Logger export, or any of these gzipped")
    p.add_argument("--json", action="store_true", help="print the JSON contract")
    from coach.sources.readers import add_reader_args

    add_reader_args(p)
    p.add_argument("--model", type=Path, help="a model file (default: the shipped one)")
    p.add_argument("--placement", choices=WORN_PLACEMENTS, default=None)
    p.add_argument("--calibration", type=argtypes.file_path, metavar="CAL.csv",
                   help="your own forward and backward walking with the same sensor worn the same "
                        "way (header t,ax,ay,az,label; at least 5 s of each; see coach calibrate)")
    p.add_argument("--calibration-units", choices=["auto", "g", "m/s2", "mg"], default="auto",
                   help="the calibration's acceleration unit, if not g or m/s2 (--units is the "
                        "recording's)")
    _extend(p, "analyze")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("train", help="train the direction model (reproducible from a seed)")
    p.add_argument("--seed", type=argtypes.seed, default=1)
    p.add_argument("--sessions", type=argtypes.sessions, default=200, help="simulated sessions")
    p.add_argument("--minutes", type=argtypes.minutes, default=4.0, help="minutes per simulated session")
    p.add_argument("--recordings", type=Path, nargs="*", default=[],
                   help="real labelled CSVs (t,ax,ay,az,label) to add")
    p.add_argument("--sessions-dir", type=Path, nargs="*", default=[], metavar="DIR",
                   help="folders of labelled real sessions in the benchmark format (index.json, "
                        "NAME.csv[.gz], NAME.truth.json) to add, e.g. ../shared/data/oxford-optimisation")
    p.add_argument("--out", type=Path, required=True,
                   help="where to write the model (and its card beside it); never the shipped one "
                        "unless --replace-shipped")
    p.add_argument("--replace-shipped", action="store_true",
                   help="allow --out to be the shipped model (maintainers rebuilding models/)")
    p.add_argument("--json", action="store_true", help="print the model card as JSON")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("demo", help="a simulated interval session through the full pipeline")
    p.add_argument("--fast", action="store_true", help="as fast as possible, not real time")
    p.add_argument("--speed", type=argtypes.speed, default=1.0, help="x real time (default 1)")
    p.add_argument("--minutes", type=argtypes.minutes, default=6.0,
                   help="about how long the demo's own intervals last (default 6; whole intervals: "
                        "30 s warm-up, then 40 s backward and 60 s forward; a --program sets its own)")
    p.add_argument("--placement", choices=DEMO_PLACEMENTS, default="chest")
    p.add_argument("--seed", type=argtypes.seed, default=7)
    _extend(p, "demo")
    p.set_defaults(func=cmd_demo)


def _extend(p: argparse.ArgumentParser, command: str) -> None:
    from coach.cli.wiring import extend_parser

    extend_parser(p, command)


def _observers(args: argparse.Namespace, command: str) -> list:
    from coach.cli.wiring import observers_for

    return observers_for(args, command)


def cmd_analyze(args: argparse.Namespace) -> int:
    from coach.cli.wiring import check_outputs, result_document, run_session
    from coach.detect.model import DirectionModel
    from coach.detect.pipeline import DirectionPipeline
    from coach.sources.csvfile import CsvSource

    source = CsvSource(args.path, units=args.units, allow_rate=args.allow_rate)
    from coach.detect.session import MIN_RECORDING_S, load_calibration

    cal = (load_calibration(args.calibration, units=args.calibration_units)
           if args.calibration else None)
    model = DirectionModel.load(args.model) if args.model else None
    pipeline = DirectionPipeline(source_name=str(args.path), model=model, placement=args.placement,
                                 calibration=cal)
    observers = _observers(args, "analyze")
    start = args.start or source.start_time      # the recording's real start, for --save
    for ob in observers:
        if start is not None and hasattr(getattr(ob, "meta", None), "started_at"):
            ob.meta.started_at = start
    result = asyncio.run(run_session(source, pipeline, observers, min_seconds=MIN_RECORDING_S))
    doc = result_document(result, observers)
    if args.json:
        sys.stdout.write(json.dumps(doc) + "\n")
    else:
        s = doc["summary"]
        print(f"{doc['source']}: {doc['duration_s']:.1f} s at {doc['sample_rate_hz']:.0f} Hz")
        print(f"  backward: {s['retro_seconds'] / 60:.1f} min, {s['retro_steps']} retro steps")
        print(f"  forward:  {s['forward_seconds'] / 60:.1f} min, {s['forward_steps']} steps")
        print(f"  direction changes: {s['direction_changes']}")
        if doc.get("calibration"):     # used, or ignored (the warning above says why)
            print(f"  calibration: {doc['calibration']}")
        if doc["gaps"]:
            lost = sum(g["end_s"] - g["start_s"] for g in doc["gaps"])
            print(f"  sensor gaps: {len(doc['gaps'])}, {lost:.1f} s without data (shown as still)")
        if doc.get("session_id") is not None:       # --save: where to find it again
            print(f"  saved as session {doc['session_id']} (coach report {doc['session_id']})")
    check_outputs(observers)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from coach.detect.model import find_default_model
    from coach.detect.train import train

    for r in args.recordings:
        if not r.exists():
            raise CoachError(f"{r}: no such file")
    out = args.out
    argtypes.check_out(out)
    if out.resolve() == find_default_model().resolve() and not args.replace_shipped:
        raise CoachError(f"{out} is the shipped model; name another path "
                         "(or pass --replace-shipped to rebuild it on purpose)")
    for d in args.sessions_dir:
        if not (d / "index.json").exists():
            raise CoachError(f"{d}: not a session folder (no index.json)")
    from coach.detect import train as train_mod
    train_mod.progress_hook = _TrainProgress()
    try:
        model = train(seed=args.seed, sessions=args.sessions, minutes=args.minutes,
                      recordings=list(args.recordings), out=out, folders=list(args.sessions_dir) or None)
    finally:
        train_mod.progress_hook = None
    if args.json:
        sys.stdout.write(json.dumps({"out": str(out), **model.card}, default=str) + "\n")
    else:
        print(f"trained on {model.card['windows']} windows in {model.card['train_seconds']} s -> {out}")
    return 0


class _TrainProgress:
    """`coach train`'s progress on stderr: stage, done/total, elapsed and time left (a line
    redrawn in place on a terminal, a line every 10% otherwise)."""

    def __init__(self) -> None:
        import time
        self.t0 = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.last: tuple[str, int] = ("", -1)

    def __call__(self, stage: str, done: int, total: int) -> None:
        import time
        el = time.monotonic() - self.t0
        pct = int(100 * done / total) if total else 100
        if not self.tty and (stage, pct // 10) == self.last and done not in (0, total):
            return
        self.last = (stage, pct // 10)
        left = f", about {int(el / done * (total - done)) // 60}:{int(el / done * (total - done)) % 60:02d} left" \
            if 0 < done < total and stage.startswith("sim") else ""
        line = f"train: {stage} {done}/{total} ({pct}%), {int(el) // 60}:{int(el) % 60:02d} elapsed{left}"
        if self.tty:
            sys.stderr.write("\r" + line.ljust(79) + ("\n" if done == total else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def cmd_demo(args: argparse.Namespace) -> int:
    from coach.cli.coach_options import demo_program
    from coach.cli.wiring import check_outputs, run_session, until_stopped
    from coach.detect.pipeline import DirectionPipeline
    from coach.simulate.gait import SimulatedWalker, program_bouts

    speed = 0.0 if args.fast else args.speed
    observers = _observers(args, "demo")
    # the walker follows the very program the coach speaks (--program too): one timeline
    coach = next((o.coach for o in observers if hasattr(o, "coach")), None)
    program = coach.program if coach is not None else demo_program(args.minutes)
    source = SimulatedWalker(seed=args.seed, minutes=args.minutes, placement=args.placement,
                             speed=speed, batch_s=0.2 if speed else 5.0,
                             bouts=program_bouts(program) if program.intervals else None)
    pipeline = DirectionPipeline(source_name=source.name, placement=args.placement)
    if not any(getattr(o, "is_display", False) for o in observers):
        # last: a batch's prompts (printed by the coach as they fall due) come before the
        # status line at its end (--fast reads 5 s at a time, and had printed "[35.0 s] ..."
        # before "[30.2 s] interval: ...")
        observers.append(_TextDisplay(every_s=5.0 if speed == 0 else 1.0))
    result = asyncio.run(until_stopped(source, run_session(source, pipeline, observers)))
    t = result.tallies
    print(f"demo finished: {t.retro_seconds / 60:.1f} retro min, {t.retro_steps} retro steps, "
          f"{t.forward_steps} forward steps, {t.direction_changes} direction changes")
    check_outputs(observers)
    return 0


class _TextDisplay:
    """A plain status line now and then (used when no richer display is wired in)."""

    is_display = True

    def __init__(self, every_s: float = 1.0) -> None:
        self.every_s = every_s
        self._next = 0.0

    async def on_batch(self, batch, state, events) -> None:
        for e in events:
            if e.type == "direction_change":
                print(f"[{e.t_s:7.1f} s] now walking {e.data['direction'].upper()}")
        if state.t_s >= self._next:
            self._next = state.t_s + self.every_s
            t = state.tallies
            print(f"[{state.t_s:7.1f} s] {state.direction:8s} retro {t.retro_steps:4d} steps "
                  f"{t.retro_seconds / 60:4.1f} min | forward {t.forward_steps:4d} steps | "
                  f"{state.cadence_spm:3.0f} spm")

    async def on_end(self, result) -> None:
        return None
