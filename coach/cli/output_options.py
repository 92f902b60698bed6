"""How analyze/demo/run (and replay) pick up this layer: options and observers.

    add_args(parser, command)       # --save/--db, --mqtt/--device-id/--base-topic
    observers(args, command) -> [store observer, MQTT publisher, live display]
Observers here may offer json_extra() -> {"session_id": N} for the analyze JSON.
Live sessions (run, demo, replay) are always stored; analyze only with --save.
"""
from __future__ import annotations

import argparse
import os
from datetime import datetime
from typing import Any

from coach.detect.types import AnalysisResult, Event, LiveState
from coach.outputs.mqtt import add_mqtt_args, publisher_from_args
from coach.outputs.store import SessionMeta, SessionStore, StoreObserver, add_store_args

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


def meta_from_args(args: argparse.Namespace, command: str) -> SessionMeta:
    src = getattr(args, "path", None) or getattr(args, "file", None) or ""
    return SessionMeta(
        kind=command, source=str(src),
        device=getattr(args, "device", None) or getattr(args, "address", None)
        or ("simulator" if command == "demo" else None),
        placement=getattr(args, "placement", None),
        program=getattr(args, "program", None),
        extra={k: getattr(args, k) for k in ("seed", "minutes", "speed")
               if isinstance(getattr(args, k, None), (int, float, str))})


class SaveOnEnd:
    """Stores a finished analysis in one transaction (`coach analyze --save`)."""

    def __init__(self, db: str | None, meta: SessionMeta) -> None:
        self.db = db
        self.meta = meta
        self.session_id: int | None = None

    async def on_batch(self, batch: Any, state: LiveState, events: list[Event]) -> None:
        return None

    async def on_end(self, result: AnalysisResult) -> None:
        with SessionStore(self.db) as store:
            self.session_id = store.store_result(result, self.meta)

    def json_extra(self) -> dict[str, Any]:
        return {"session_id": self.session_id} if self.session_id is not None else {}


def open_live_store(db: str | None, meta: SessionMeta) -> StoreObserver:
    """A StoreObserver on its own store connection (closed when the session ends)."""
    meta.started_at = meta.started_at or datetime.now().astimezone()
    obs = SessionStore(db).open_session(meta)
    obs.owns_store = True
    return obs


def observers(args: argparse.Namespace, command: str) -> list[Any]:
    """The observers this layer adds for one command run."""
    obs: list[Any] = []
    db = getattr(args, "db", None) or os.environ.get("COACH_DB")
    if command == "analyze":
        if getattr(args, "save", False):
            obs.append(SaveOnEnd(db, meta_from_args(args, command)))
    elif not getattr(args, "no_save", False):
        obs.append(open_live_store(db, meta_from_args(args, command)))
    pub = publisher_from_args(args)
    if pub is not None:
        obs.append(pub)
    if command in LIVE and getattr(args, "speed", 1.0) != 0 and not getattr(args, "fast", False):
        from coach.outputs.display import LiveDisplay

        d = LiveDisplay(plain=True if getattr(args, "plain", False) else None)
        d.is_display = True  # type: ignore[attr-defined]
        obs.append(d)
    return obs


def connect_sinks(observers: list[Any]) -> list[Any]:
    """Hand every observer that publishes prompts (publish_prompt / publish_alert /
    publish_interval: the store, MQTT, the display) to every observer that makes them and takes
    sinks (add_sink: the coach). Call once the command's observer list is complete."""
    sinks = [o for o in observers if any(hasattr(o, m) for m in
                                         ("publish_prompt", "publish_alert", "publish_interval"))]
    for o in observers:
        add = getattr(o, "add_sink", None)
        if add is None:
            continue
        have = getattr(o, "sinks", [])
        for s in sinks:
            if s is not o and s not in have:
                add(s)
    return observers
