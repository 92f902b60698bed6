"""Run one session: a source streams through the detector, observers react.

The same loop serves `coach analyze` (a CSV replayed as fast as it reads), `coach demo`
(the simulator), `coach run` (a BLE sensor) and `coach replay`, so what analyze reports is
what a wearer gets live. Observers (the spoken coach, the display, MQTT, the store) see each
batch with the detector's state and new events, and the finished result.
"""
from __future__ import annotations

import asyncio
import sys
from typing import Any

from coach.detect.session import run_session as _run_session
from coach.types import JsonExtra, Observer, ReadsObservers, StartsEarly

__all__ = ["Observer", "check_outputs", "extend_parser", "observers_for", "result_document",
           "run_session"]


# Layers that add options and observers to the session commands (analyze, demo, run, replay).
WIRING_MODULES = ("coach.cli.coach_options", "coach.cli.output_options", "coach.cli.web_options")


def extend_parser(parser, command: str) -> None:
    """Let each layer add its options (coaching, storage, MQTT, display) to `command`."""
    import importlib

    for name in WIRING_MODULES:
        importlib.import_module(name).add_args(parser, command)


def observers_for(args, command: str) -> list:
    """Every layer's observers for one run, with the coach's prompts wired to the sinks."""
    import importlib

    obs: list = []
    for name in WIRING_MODULES:
        obs += importlib.import_module(name).observers(args, command)
    from coach.cli.output_options import connect_sinks

    obs = connect_sinks(obs)
    for o in obs:                    # observers that read others (the web page: coach, store)
        if isinstance(o, ReadsObservers):
            o.attach_observers(obs)
    return obs


async def run_session(source, pipeline=None, observers=None, min_seconds: float = 0.0):
    """coach.detect.session.run_session, after starting the observers that serve something
    before the first batch (the web page: its address and QR code come before the live panel)."""
    for ob in observers or []:
        if isinstance(ob, StartsEarly):
            await ob.start_before_session()
    return await _run_session(source, pipeline, observers, min_seconds=min_seconds)


def result_document(result, observers: list) -> dict:
    """The analyze/replay JSON: the detector's contract plus what each observer adds to it."""
    doc = result.to_json()
    for ob in observers:
        if isinstance(ob, JsonExtra):
            doc.update(ob.json_extra())
    return doc


def check_outputs(observers: list) -> None:
    """After a command printed its result: notes of outputs that kept what they could not write
    (stderr), then a CoachError (exit 2) naming the first output that lost something."""
    import sys

    from coach.errors import CoachError
    for ob in observers:
        note = getattr(ob, "output_note", None)
        if note is not None and note():
            print(f"coach: {note()}", file=sys.stderr)
    for ob in observers:
        failure = getattr(ob, "output_failure", None)
        if failure is not None and failure():
            raise CoachError(failure())


async def until_stopped(source: Any, coro: Any) -> Any:
    """Run coro; the first Ctrl-C ends the source cleanly (the session is kept and stored, as
    at its end), a second one aborts. Every command that streams a session runs under it."""
    import signal
    loop = asyncio.get_running_loop()

    def first() -> None:
        print("coach: stopping: finishing the session (Ctrl-C again to abort)", file=sys.stderr)
        loop.remove_signal_handler(signal.SIGINT)
        stop = getattr(source, "request_stop", None)
        if stop:
            stop()

    try:
        loop.add_signal_handler(signal.SIGINT, first)
    except (NotImplementedError, RuntimeError, ValueError):   # Windows / not the main thread
        pass
    try:
        return await coro
    finally:
        try:
            loop.remove_signal_handler(signal.SIGINT)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
