"""Sub-commands of the sources layer: scan, run, devices, decode, record."""
from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import sys
from pathlib import Path
from typing import Any

from coach.cli import argtypes
from coach.constants import WORN_PLACEMENTS
from coach.errors import CoachError
from coach.types import TakesNotices

log = logging.getLogger(__name__)


def _err(msg: str) -> None:
    print(f"coach: {msg}", file=sys.stderr, flush=True)


# --- building sources ---------------------------------------------------------------------
def device_options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    for kv in getattr(args, "opt", None) or []:
        k, sep, v = kv.partition("=")
        if not sep or not k:
            raise CoachError(f"--opt wants key=value (got {kv!r})")
        opts[k.strip()] = v.strip()
    if getattr(args, "rate", None):
        opts["rate"] = args.rate
    if getattr(args, "range", None):
        opts["range"] = args.range
    return opts


SIM_RECORD_MIN, SIM_RUN_MIN = 1.0, 3.0   # a simulated sensor's session without --minutes
SIM_SPARE_S = 3.0
# what the simulated wearer does under `coach record --label L` (other: each kind in turn)
_RECORD_ACTS = {"forward": ["forward"], "backward": ["backward"], "still": ["still"], "run": ["run"],
                "other": ["turn", "sidestep", "torso", "gesture"]}


def sim_world(spec: str, minutes: float | None, drop_at: float | None,
              placement: str = "chest", label: str | None = None, bouts: list | None = None,
              seed: int = 7) -> Any:
    """`sim:PROFILE`: a simulated walker inside a simulated sensor (no hardware needed) ->
    (world, device name). It walks the demo program, or, recording a label, does only what the
    label says, or walks the bouts given (a guided calibration)."""

    from coach.simulate.ble import MODELS, FakeDevice, FakeWorld
    from coach.simulate.gait import Bout, demo_program, worn_sensor_session

    prof = spec.split(":", 1)[1] or "polar_h10"
    if prof not in MODELS:
        raise CoachError(f"sim:{prof}: no such simulated device (try {', '.join(MODELS)})")
    rate = MODELS[prof].rate_hz
    if bouts is None:
        if label is not None:
            acts = _RECORD_ACTS[label]
            each = (minutes or SIM_RECORD_MIN) * 60 / len(acts)
            bouts = [Bout(a, each) for a in acts]
        else:
            bouts = demo_program(minutes or SIM_RUN_MIN)
        # a few seconds more than the session's length, which ends it (build_source): had the
        # simulated sensor fallen silent first, that read as a lost link ("sensor gone for 120
        # s; ending the session" after every clean simulated recording)
        bouts = bouts + [Bout(bouts[-1].activity, SIM_SPARE_S)]
    sess = worn_sensor_session(bouts, placement, rate, seed=seed)
    drops = [(1000.05 + drop_at, 5.0)] if drop_at else []
    return FakeWorld([FakeDevice(prof, sess.acc, rate_hz=rate, drops=drops)]), MODELS[prof].name


def build_source(args: argparse.Namespace, notify: Any = None) -> Any:
    """The Source for --device/--phone."""
    from coach.sources import ble

    minutes = getattr(args, "minutes", None)
    duration = minutes * 60 if minutes else None
    if (getattr(args, "phone", False) or getattr(args, "phone_mqtt", None)) and args.device:
        raise CoachError("give one sensor: --device NAME or --phone, not both")
    if getattr(args, "phone", False) or getattr(args, "phone_mqtt", None):
        from coach.sources.phone import SensorLoggerSource
        return SensorLoggerSource(getattr(args, "host", None), port=args.port, duration_s=duration, notify=notify,
                                  mqtt_url=getattr(args, "phone_mqtt", None))
    if not args.device:
        raise CoachError("say which sensor: --device NAME|ADDRESS (see `coach scan`), or --phone")
    device, backend = args.device, None
    if device.startswith("sim:"):
        if duration is None:
            duration = 60 * (SIM_RECORD_MIN if getattr(args, "label", None) else SIM_RUN_MIN)
        world, device = sim_world(device, minutes, getattr(args, "sim_drop_at", None),
                                   getattr(args, "placement", None) or "chest",
                                   label=getattr(args, "label", None))
        backend = world.backend()
    opts = device_options(args)
    if args.profile is not None:
        from coach.sources.profiles import get_profile
        get_profile(args.profile, opts)   # check the profile and its options before scanning
    return ble.BleSource(device, args.profile, options=opts,
                         backend=backend or ble.bleak_backend(),
                         scan_timeout=args.scan_timeout, duration_s=duration, notify=notify,
                         batch_s=getattr(args, "batch_seconds", None) or 0.25)


# --- observers ------------------------------------------------------------------------------
class StatusLine:
    """Prints the live state once a second of stream time (and every notice at once)."""

    def __init__(self, quiet: bool = False) -> None:
        self.next_t = 0.0
        self.quiet = quiet

    async def on_batch(self, batch: Any, state: Any, events: list) -> None:
        if self.quiet or not len(batch):
            return
        t = float(batch.t[-1])
        if t >= self.next_t:
            self.next_t = t + 1.0
            tl = state.tallies
            m = batch.meta
            print(f"{int(t // 60):02d}:{t % 60:04.1f}  {state.direction:<8} "
                  f"{state.cadence_spm:5.0f} spm  retro {tl.retro_steps} steps "
                  f"{tl.retro_seconds / 60:4.1f} min  lost {m.get('lost_samples', 0)}",
                  file=sys.stderr, flush=True)

    async def on_end(self, result: Any) -> None:
        pass


def _extend(p: argparse.ArgumentParser, command: str) -> None:
    from coach.cli.wiring import extend_parser

    extend_parser(p, command)


def _observers(args: argparse.Namespace, command: str) -> list:
    from coach.cli.wiring import observers_for

    return observers_for(args, command)


def _live_display() -> Any:
    try:
        from coach.outputs.display import LiveDisplay  # owned by the outputs layer
        return LiveDisplay()
    except Exception as e:  # noqa: BLE001 - fall back to the plain status line
        log.debug("no live display (%s); printing a status line", e)
        return None


# --- commands -------------------------------------------------------------------------------
def cmd_devices(args: argparse.Namespace) -> int:
    from coach.sources.profiles import PROFILES
    rows = [cls.describe() for cls in PROFILES.values()]
    rows.append({"name": "sensorlogger", "title": "Phone: Sensor Logger HTTP Push (coach run --phone)",
                 "service": None, "notify": None, "timestamps": True,
                 "options": [{"name": "port", "default": 8000, "choices": None,
                              "help": "TCP port to receive HTTP Push on"}]})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        opts = ", ".join(f"{o['name']}={o['default']}" + (f" ({'/'.join(map(str, o['choices']))})"
                         if o["choices"] else "") for o in r["options"])
        print(f"{r['name']:<13} {r['title']}\n{'':13} options: {opts or '-'}")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    from coach.sources.profiles import get_profile
    from coach.sources.profiles.witmotion import WitMotion
    text = "".join(args.hex).replace(":", "").replace(" ", "").replace("0x", "")
    try:
        payload = bytes.fromhex(text)
    except ValueError:
        raise CoachError("payload is not hex (expected e.g. 02 00 94 35 77 ...)") from None
    if not payload:
        raise CoachError("empty payload")
    prof = get_profile(args.profile, device_options(args))
    fr = WitMotion.decode_one(payload) if isinstance(prof, WitMotion) else prof.decode(payload)
    rows = [{"t_s": None if fr.t_sensor is None else round(float(fr.t_sensor[i]), 6),
             "ax": round(float(a[0]), 6), "ay": round(float(a[1]), 6), "az": round(float(a[2]), 6)}
            for i, a in enumerate(fr.acc)]
    if args.json:
        print(json.dumps(rows))
    else:
        for r in rows:
            ts = "-" if r["t_s"] is None else f"{r['t_s']:.6f}"
            print(f"{ts:>18}  {r['ax']:+9.4f} {r['ay']:+9.4f} {r['az']:+9.4f} g")
        print(f"{len(rows)} sample{'' if len(rows) == 1 else 's'}", file=sys.stderr)
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    from coach.sources import ble
    backend = ble.bleak_backend()

    async def go() -> list:
        found = await ble.scan(backend, args.timeout, all_devices=args.all)
        if args.battery:
            for f in found:
                f.battery = await ble.read_battery(backend, f)
        return found

    found = asyncio.run(go())
    if args.json:
        print(json.dumps([f.to_json() for f in found], indent=2))
        return 0
    if not found:
        _err(f"no supported sensor seen in {args.timeout:g} s (is it on and worn? "
             "Polar straps wake up when the electrodes touch moist skin)")
        return 1
    for f in found:
        bat = f"{f.battery}%" if f.battery is not None else "-"
        print(f"{f.name or '?':<28} {f.address:<38} {f.rssi if f.rssi is not None else '?':>4} dBm  "
              f"{f.profile or '-':<13} battery {bat}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from coach.cli.wiring import check_outputs, run_session, until_stopped
    from coach.detect.pipeline import DirectionPipeline

    observers: list = []
    display: Any = None

    def tell(msg: str) -> None:
        """Tell the wearer about the link: stderr, the live display, and any observer that
        takes notices (e.g. the spoken coach: `on_notice(text)`)."""
        _err(msg)
        if display is not None and hasattr(display, "set_connection"):
            display.set_connection("connected" if "back after" in msg else
                                   "reconnecting" if "reconnect" in msg else
                                   "disconnected" if "ending" in msg else "connected")
        for ob in observers:
            if isinstance(ob, TakesNotices):
                try:
                    ob.on_notice(msg)
                except Exception as e:  # noqa: BLE001 - a notice must never end a session
                    log.debug("on_notice failed: %s", e)

    # `--web` without --device/--phone: the phone's page is the sensor (DeviceMotion)
    web_sensor = bool(getattr(args, "web", None)) and not (args.device or args.phone or args.phone_mqtt)
    if not web_sensor:
        source = build_source(args, notify=tell)     # bad options fail here, before anything opens
    observers = _observers(args, "run")
    if web_sensor:
        from coach.cli.web_options import web_companion
        source = web_companion(observers).motion_source(
            duration_s=args.minutes * 60 if args.minutes else None)
    from coach.detect.reference_store import load_calibration

    key = f"{source.name}|{args.placement or 'unknown'}"
    cal = load_calibration(key)
    if cal is not None:
        _err(f"using your calibration for {source.name} at the {args.placement}")
    # a live coached walk: its first backward bout may refine the wearer's backward reference
    pipeline = DirectionPipeline(source_name=source.name, placement=args.placement,
                                 device_key=key, calibration=cal, refine_backward=True)
    if hasattr(source, "on_connection"):   # a sensor drop shows at once (MQTT `connected`)
        source.on_connection = lambda up: [o.set_connected(up) for o in observers
                                           if hasattr(o, "set_connected") and not getattr(o, "is_display", False)]
    if args.json:   # stdout is for the JSON: no live panel
        observers = [o for o in observers if not getattr(o, "is_display", False)]
    display = next((o for o in observers if getattr(o, "is_display", False)), None)
    if display is None and not args.json:
        display = _live_display()
        observers.insert(0, display if display is not None else StatusLine())
    if args.json:   # stdout carries only the JSON: whatever observers print goes to stderr
        import contextlib
        with contextlib.redirect_stdout(sys.stderr):
            result = asyncio.run(until_stopped(source, run_session(source, pipeline, observers)))
    else:
        result = asyncio.run(until_stopped(source, run_session(source, pipeline, observers)))
    stats = getattr(source, "stats", None)
    if args.json:
        from coach.cli.wiring import result_document

        out = result_document(result, observers)
        out["link"] = stats.to_dict() if stats else {}
        print(json.dumps(out))
    else:
        tl = result.tallies
        print(f"session {result.duration_s / 60:.1f} min: {tl.retro_steps} retro steps "
              f"({tl.retro_seconds / 60:.1f} min), {tl.forward_steps} forward steps")
        if stats and (stats.reconnects or stats.lost_samples or stats.decode_errors):
            print(f"link: {stats.reconnects} reconnects, {stats.lost_samples} samples lost, "
                  f"{stats.dup_samples} duplicated, {stats.decode_errors} bad packets skipped")
    check_outputs(observers)
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    out = Path(args.out)
    argtypes.check_out(out)
    if out.exists() and not args.force:
        raise CoachError(f"{out} exists (use --force to overwrite)")
    source = build_source(args, notify=lambda m: _err(m))
    n = 0

    async def go() -> None:
        nonlocal n
        next_report = 0.0
        f = None        # opened with the first samples: a sensor that never came leaves no file
        try:
            async for b in source.stream():
                if not len(b):
                    continue
                if f is None:
                    f = out.open("w", newline="")
                    w = csv.writer(f)
                    w.writerow(["t", "ax", "ay", "az", "label"])
                for t, a in zip(b.t, b.acc):
                    w.writerow([f"{t:.4f}", f"{a[0]:.5f}", f"{a[1]:.5f}", f"{a[2]:.5f}", args.label])
                n += len(b)
                if b.t[-1] >= next_report:
                    next_report = float(b.t[-1]) + 10
                    _err(f"recording {args.label}: {b.t[-1]:.0f} s, {n} samples")
                f.flush()
        finally:
            if f is not None:
                f.close()

    from coach.cli.wiring import until_stopped
    try:
        asyncio.run(until_stopped(source, go()))
    except KeyboardInterrupt:
        pass
    if not n:
        raise CoachError(f"no samples came from the sensor: nothing written to {out}")
    _err(f"saved {n} samples labelled {args.label} to {out}")
    return 0


# --- registration -------------------------------------------------------------------------
def _device_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", help="sensor name, name prefix or address (see `coach scan`); "
                                    "sim:PROFILE for a simulated sensor")
    p.add_argument("--profile", help="device profile (default: recognised from the name)")
    p.add_argument("--rate", type=float, help="sample rate, Hz (profile default if omitted)")
    p.add_argument("--range", type=int, help="accelerometer range, g (where the device has one)")
    p.add_argument("--opt", action="append", metavar="KEY=VALUE", help="a profile option")
    p.add_argument("--phone", action="store_true",
                   help="receive a phone's Sensor Logger HTTP Push instead of a BLE sensor")
    p.add_argument("--port", type=int, default=8000, help="port for --phone (default 8000)")
    p.add_argument("--host", metavar="ADDRESS",
                   help="interface for --phone and --web to listen on (default: this machine's "
                        "address on the local network; 127.0.0.1: this machine only; 0.0.0.0: all)")
    p.add_argument("--phone-mqtt", metavar="URL",
                   help="take Sensor Logger's MQTT publishing from a broker: "
                        "mqtt[s]://[user:pass@]host[:port]/topic")
    p.add_argument("--minutes", type=argtypes.minutes, help="stop after this many minutes")
    p.add_argument("--scan-timeout", type=argtypes.seconds, default=10.0, help="seconds to look for the device")
    p.add_argument("--sim-drop-at", type=float, help=argparse.SUPPRESS)
    p.add_argument("--batch-seconds", type=float, help=argparse.SUPPRESS)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this layer's sub-commands."""
    p = sub.add_parser("scan", help="list nearby sensors a profile supports")
    p.add_argument("--timeout", type=argtypes.seconds, default=5.0, help="seconds to scan (default 5)")
    p.add_argument("--all", action="store_true", help="list every BLE device, supported or not")
    p.add_argument("--battery", action="store_true", help="connect briefly to read battery levels")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("run", help="stream a sensor live into the coach")
    _device_args(p)
    p.add_argument("--placement", choices=WORN_PLACEMENTS, default="chest",
                   help="where the sensor is worn (default chest)")
    p.add_argument("--json", action="store_true", help="print the session result as JSON")
    _extend(p, "run")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("devices", help="the supported device profiles and their options")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser("decode", help="decode one sensor payload (hex) into samples")
    p.add_argument("--profile", required=True)
    p.add_argument("--rate", type=float)
    p.add_argument("--range", type=int)
    p.add_argument("--opt", action="append", metavar="KEY=VALUE")
    p.add_argument("--json", action="store_true")
    p.add_argument("hex", nargs="+", help="the payload as hex (spaces allowed)")
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("record", help="record labelled data for a personal model (CSV)")
    _device_args(p)
    p.add_argument("--label", required=True, choices=["forward", "backward", "still", "other", "run"],
                   help="what you will do while it records (coach train learns these labels)")
    p.add_argument("--out", required=True, help="CSV file (t,ax,ay,az,label)")
    p.add_argument("--force", action="store_true", help="overwrite --out")
    p.set_defaults(func=cmd_record)
