"""`coach calibrate`: the wearer's own forward and backward walking, kept for every later run.

The coach guides by voice: walk forward until told to stop, then backward. The recording is
checked (steady walking, both directions, distinguishable) and the calibration is stored per
device and placement; `coach run` with that sensor worn that way uses it from then on.
`--out` also writes the labelled recording (t,ax,ay,az,label) for `coach analyze
--calibration`.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from coach.cli import argtypes
from coach.constants import WORN_PLACEMENTS
from coach.errors import CoachError

SETTLE_S = 3.0      # after each "start", before samples count: time to get going
PAUSE_S = 5.0       # between the two directions: stop, get ready to walk backward

FORWARD_TEXT = ("Calibration. Walk forward at your usual pace, on a clear, flat stretch, "
                "until I say stop.")
BACKWARD_TEXT = ("Stop. Stay facing the same way. Now walk backward, slowly, looking over your "
                 "shoulder, until I say stop.")
DONE_TEXT = "Stop. Thank you."


@dataclass
class Phase:
    label: str
    start_s: float
    end_s: float


@dataclass
class CalibrationPlan:
    """Stream-time timeline of one calibration (so a fast simulated sensor follows it too)."""

    seconds: float
    phases: list[Phase] = field(default_factory=list)

    def __post_init__(self) -> None:
        f0 = SETTLE_S
        b0 = f0 + self.seconds + PAUSE_S
        self.phases = [Phase("forward", f0, f0 + self.seconds),
                       Phase("backward", b0 + SETTLE_S, b0 + SETTLE_S + self.seconds)]

    @property
    def backward_prompt_s(self) -> float:
        return self.phases[0].end_s

    @property
    def total_s(self) -> float:
        return self.phases[1].end_s


class Voice:
    """Speaks (or prints, with --mute) without holding up the sensor stream."""

    def __init__(self, mute: bool) -> None:
        self.mute = mute
        self.tasks: list[asyncio.Future[Any]] = []

    def say(self, text: str) -> None:
        print(f"coach: {text}", file=sys.stderr, flush=True)
        if self.mute:
            return
        from coach.coaching.config import load_coach_config
        from coach.coaching.speech import speak_blocking

        settings = load_coach_config(None).speech
        loop = asyncio.get_running_loop()
        self.tasks.append(loop.run_in_executor(None, speak_blocking, text, settings, sys.stderr))

    async def drain(self) -> None:
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)


async def record_calibration(source: Any, plan: CalibrationPlan, voice: Voice
                             ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Stream the source through the plan; return (t, acc, labels) of the labelled samples."""
    ts: list[np.ndarray] = []
    accs: list[np.ndarray] = []
    labels: list[str] = []
    t0: float | None = None
    told_back = False
    async for batch in source.stream():
        if not len(batch):
            continue
        if t0 is None:
            t0 = float(batch.t[0])
            voice.say(FORWARD_TEXT)
        rel = batch.t - t0
        for ph in plan.phases:
            m = (rel >= ph.start_s) & (rel < ph.end_s)
            if m.any():
                ts.append(batch.t[m])
                accs.append(batch.acc[m])
                labels += [ph.label] * int(m.sum())
        if not told_back and rel[-1] >= plan.backward_prompt_s:
            told_back = True
            voice.say(BACKWARD_TEXT)
        if rel[-1] >= plan.total_s:
            break
    voice.say(DONE_TEXT)
    await voice.drain()
    if not ts:
        raise CoachError("calibration: no data came from the sensor")
    return np.concatenate(ts), np.concatenate(accs), labels


def _sim_source(args: argparse.Namespace, plan: CalibrationPlan) -> Any:
    """`--device sim:PROFILE`: a simulated walker who does as told (tests, demos): the same
    person as `coach run --device sim:PROFILE` (a calibration is of one wearer's gait)."""
    from coach.cli.live import device_options, sim_world
    from coach.simulate.gait import Bout
    from coach.sources import ble
    from coach.sources.profiles import get_profile

    f, b = plan.phases
    bouts = [Bout("forward", f.end_s + 1.0), Bout("still", b.start_s - f.end_s - 2.5),
             Bout("backward", b.end_s - b.start_s + 4.0)]
    world, name = sim_world(args.device, None, None, args.placement, bouts=bouts, seed=args.sim_seed)
    # the options are checked as for a real sensor (`run` and `record` refuse --rate 10 on a
    # Polar H10 too); the simulated one streams at its own rate
    get_profile(args.profile or args.device.split(":", 1)[1] or "polar_h10", device_options(args))
    return ble.BleSource(name, None, options={}, backend=world.backend(),
                         scan_timeout=args.scan_timeout, duration_s=plan.total_s + 2,
                         notify=lambda m: print(f"coach: {m}", file=sys.stderr))


def cmd_calibrate(args: argparse.Namespace) -> int:
    from coach.cli.live import build_source
    from coach.detect.reference_store import check_writable, save_calibration
    from coach.detect.session import load_calibration
    from coach.signal.calibration import calibrate

    if not 5.0 <= args.seconds <= 120.0:
        raise CoachError("--seconds must be between 5 and 120")
    if args.out is not None:
        argtypes.check_out(args.out)
    check_writable()
    plan = CalibrationPlan(args.seconds)
    if args.device and args.device.startswith("sim:"):
        source = _sim_source(args, plan)
    else:
        source = build_source(args, notify=lambda m: print(f"coach: {m}", file=sys.stderr))
    key = f"{source.name}|{args.placement or 'unknown'}"
    voice = Voice(args.mute)
    t, acc, labels = asyncio.run(record_calibration(source, plan, voice))
    if args.out is not None:
        out = Path(args.out)
        try:
            with out.open("w", newline="") as fh:
                w = csv.writer(fh, lineterminator="\n")
                w.writerow(["t", "ax", "ay", "az", "label"])
                for ti, a, lab in zip(t.tolist(), acc.tolist(), labels):
                    w.writerow([f"{ti - float(t[0]):.4f}", f"{a[0]:.5f}", f"{a[1]:.5f}", f"{a[2]:.5f}", lab])
        except OSError as e:      # a full disk says so only as the file is written: name it
            raise CoachError(f"{out}: cannot write ({e.strerror or e})") from None
    try:
        cal = calibrate(t, acc, labels)
    except CoachError as e:
        voice.mute = True
        raise CoachError(f"{e} (nothing stored; try again)") from None
    path = save_calibration(key, cal)
    _ = load_calibration  # the same check `coach analyze --calibration` applies to a file
    doc = {"device": source.name, "placement": args.placement, "stored_in": str(path),
           "forward_cadence_spm": round(60 * cal.forward.step_hz, 1),
           "backward_cadence_spm": round(60 * cal.backward.step_hz, 1),
           "separation": {k: round(v, 3) for k, v in cal.separation.items()}}
    if args.json:
        print(json.dumps(doc))
    else:
        print(f"calibration stored for {source.name} worn at the {args.placement} "
              f"(forward {doc['forward_cadence_spm']:.0f} spm, backward "
              f"{doc['backward_cadence_spm']:.0f} spm); `coach run` uses it from now on")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from coach.cli.live import _device_args

    p = sub.add_parser("calibrate", help="teach the coach your own forward and backward walking",
                       description="Guided by voice: walk forward until told to stop, then "
                                   "backward (about 20 s each). Stored per device and placement "
                                   "and used by every later `coach run` with that sensor.")
    _device_args(p)
    p.add_argument("--placement", choices=WORN_PLACEMENTS, default="chest",
                   help="where the sensor is worn (default chest)")
    p.add_argument("--seconds", type=float, default=20.0, help="seconds of each direction (default 20)")
    p.add_argument("--mute", action="store_true", help="print the instructions, do not speak them")
    p.add_argument("--out", help="also write the labelled recording (CSV t,ax,ay,az,label)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--sim-seed", type=argtypes.seed, default=11, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_calibrate)
