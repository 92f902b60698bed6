"""How analyze/demo/run (and replay) pick up this layer: options and observers.

    add_args(parser, command)       # --save/--db, --mqtt/--device-id/--base-topic
    observers(args, command) -> [store observer, MQTT publisher, live display]
Observers here may offer json_extra() -> {"session_id": N} for the analyze JSON.
Live sessions (run, demo, replay) are always stored; analyze only with --save.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from coach.outputs.mqtt import MqttPublisher
from coach.outputs.store import SessionMeta, SessionStore, StoreObserver
from coach.types import AlertSink, AnalysisResult, Event, IntervalSink, LiveState, Sink, TakesSinks

LIVE = ("run", "demo", "replay")


def add_args(parser: argparse.ArgumentParser, command: str) -> None:
    """Attach this layer's options to `command`'s parser."""
    if command == "analyze":
        add_store_args(parser)
    else:
        add_store_args(parser, save_flag=False)
        parser.add_argument("--no-save", action="store_true",
                            help="do not store this session in the session store")
    add_mqtt_args(parser)
    if command in LIVE:
        parser.add_argument("--plain", action="store_true",
                            help="plain status lines instead of the live panel")


@dataclass(frozen=True, slots=True)
class OutputOptions:
    """What the store, MQTT and the display need from one command run."""

    command: str
    save: bool = False           # analyze --save
    no_save: bool = False        # live sessions are stored unless --no-save
    db: str | None = None
    mqtt: str | None = None      # None: no MQTT; "": the [mqtt] url from config
    device_id: str | None = None
    base_topic: str | None = None
    display: bool = False        # a live panel (live commands at live pace)
    plain: bool = False
    meta: SessionMeta = field(default_factory=SessionMeta)

    @classmethod
    def from_args(cls, args: argparse.Namespace, command: str) -> "OutputOptions":
        return cls(command=command, save=bool(getattr(args, "save", False)),
                   no_save=bool(getattr(args, "no_save", False)),
                   db=getattr(args, "db", None) or os.environ.get("COACH_DB"),
                   mqtt=getattr(args, "mqtt", None), device_id=getattr(args, "device_id", None),
                   base_topic=getattr(args, "base_topic", None),
                   display=command in LIVE and getattr(args, "speed", 1.0) != 0
                   and not getattr(args, "fast", False),
                   plain=bool(getattr(args, "plain", False)), meta=meta_from_args(args, command))


def add_store_args(parser: argparse.ArgumentParser, save_flag: bool = True) -> None:
    """Add --db (and --save unless save_flag is False) to an argparse parser."""
    if save_flag:
        parser.add_argument("--save", action="store_true", help="store the session (adds session_id)")
    parser.add_argument("--db", metavar="PATH", default=None,
                        help="session store (default: [store] path in config.toml, else the user's "
                             "data directory)")



def add_mqtt_args(parser: argparse.ArgumentParser) -> None:
    """Add --mqtt [URL] and --device-id to an argparse parser."""
    parser.add_argument("--mqtt", metavar="URL", nargs="?", const="", default=None,
                        help="publish state/events to an MQTT broker: mqtt[s]://[user:pass@]host[:port] "
                             "(no URL: [mqtt] url from config.toml)")
    parser.add_argument("--device-id", metavar="ID", default=None,
                        help="topic id under the base topic (default: [mqtt] device_id or host name)")
    parser.add_argument("--base-topic", metavar="TOPIC", default=None,
                        help="MQTT base topic (default: [mqtt] base_topic or 'coach')")


def publisher(opts: OutputOptions) -> MqttPublisher | None:
    """An MqttPublisher if --mqtt was given, else None."""
    if opts.mqtt is None:
        return None
    totals = None
    if opts.command in LIVE and not opts.no_save:   # today's/this week's retro minutes, retained
        with SessionStore(opts.db, recover=False) as store:
            totals = store.retro_totals()
    return MqttPublisher(opts.mqtt or None, opts.device_id, opts.base_topic, totals_base=totals)


def meta_from_args(args: argparse.Namespace, command: str) -> SessionMeta:
    src = getattr(args, "path", None) or getattr(args, "file", None) or ""
    if command == "run" and str(getattr(args, "device", None) or "").startswith("sim:"):
        # a simulated walker's session is a demo: it does not count as the wearer's walking
        # (weekly totals, the progression)
        command = "demo"
    return SessionMeta(
        kind=command, source=str(src),
        device=getattr(args, "device", None) or getattr(args, "address", None)
        or ("simulator" if command == "demo" else None),
        placement=getattr(args, "placement", None),
        program=getattr(args, "program", None),
        extra={k: getattr(args, k) for k in ("seed", "minutes", "speed")
               if isinstance(getattr(args, k, None), (int, float, str))})


class SaveOnEnd:
    """Stores a finished analysis in one transaction (`coach analyze --save`). A store that is
    locked or full does not lose the result: it is kept in a journal beside the database and
    written by the next command that opens it (see output_note)."""

    def __init__(self, db: str | None, meta: SessionMeta) -> None:
        self.db = db
        self.meta = meta
        self.session_id: int | None = None
        self.failure: str | None = None
        self.obs: StoreObserver | None = None

    async def on_batch(self, batch: Any, state: LiveState, events: list[Event]) -> None:
        return None

    async def on_end(self, result: AnalysisResult) -> None:
        from datetime import timedelta

        from coach.errors import CoachError
        meta = self.meta
        meta.sample_rate_hz = meta.sample_rate_hz or result.sample_rate_hz
        meta.source = meta.source or result.source
        try:
            store = SessionStore(self.db)
        except CoachError as e:
            self.failure = f"session not saved: {e}"
            return
        started = meta.started_at or (datetime.now().astimezone() - timedelta(seconds=result.duration_s))
        obs = self.obs = StoreObserver(store, None, meta, started=started)
        obs.owns_store = True
        await obs.on_end(result)
        self.session_id = obs.session_id if not obs.pending else None

    def json_extra(self) -> dict[str, Any]:
        if self.obs is None:
            return {}
        extra = self.obs.json_extra()
        if self.session_id is None:
            extra.pop("session_id", None)
        return extra

    def output_note(self) -> str | None:
        return self.obs.output_note() if self.obs is not None else None

    def output_failure(self) -> str | None:
        return self.failure or (self.obs.output_failure() if self.obs is not None else None)


def open_live_store(db: str | None, meta: SessionMeta) -> StoreObserver:
    """A StoreObserver on its own store connection (closed when the session ends)."""
    meta.started_at = meta.started_at or datetime.now().astimezone()
    obs = SessionStore(db).open_session(meta)
    obs.owns_store = True
    return obs


def observers(args: argparse.Namespace, command: str) -> list[Any]:
    """The observers this layer adds for one command run."""
    return output_observers(OutputOptions.from_args(args, command))


def output_observers(opts: OutputOptions) -> list[Any]:
    """The observers this layer adds for one command run."""
    obs: list[Any] = []
    pub = publisher(opts)      # first: a bad --mqtt URL is refused before a session is opened
    if opts.command == "analyze":
        if opts.save:
            obs.append(SaveOnEnd(opts.db, opts.meta))
    elif not opts.no_save:
        obs.append(open_live_store(opts.db, opts.meta))
    if pub is not None:
        obs.append(pub)
    if opts.display:
        from coach.outputs.display import LiveDisplay

        d = LiveDisplay(plain=True if opts.plain else None)
        d.is_display = True  # type: ignore[attr-defined]
        obs.append(d)
    return obs


def connect_sinks(observers: list[Any]) -> list[Any]:
    """Hand every observer that publishes prompts (publish_prompt / publish_alert /
    publish_interval: the store, MQTT, the display) to every observer that makes them and takes
    sinks (add_sink: the coach). Call once the command's observer list is complete."""
    sinks = [o for o in observers if isinstance(o, (Sink, AlertSink, IntervalSink))]
    for o in observers:
        if not isinstance(o, TakesSinks):
            continue
        for s in sinks:
            if s is not o and s not in o.sinks:
                o.add_sink(s)
    # a treadmill program's sessions export as indoor walking (FIT sub_sport)
    programs = [getattr(getattr(o, "coach", None), "program", None) for o in observers]
    if any(getattr(p, "treadmill", False) for p in programs):
        for o in observers:
            if isinstance(o, StoreObserver):
                o.set_extra(treadmill=True)
    return observers
