"""How run/demo/replay pick up the web companion: `--web [HOST:]PORT`, `--web-tls`.

    add_args(parser, command)        # live commands only
    observers(args, command) -> [WebCompanion]
    motion_source(args, observers)   # coach run --web without --device/--phone: the phone's page
                                     # is the sensor (DeviceMotion)
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

LIVE = ("run", "demo", "replay")


def add_args(parser: argparse.ArgumentParser, command: str) -> None:
    if command not in LIVE:
        return
    parser.add_argument("--web", metavar="[HOST:]PORT",
                        help="serve a page for your phone (live state, spoken prompts"
                             + ("; without --device/--phone the phone is the sensor" if command == "run" else "")
                             + "); the address and a QR code are printed")
    parser.add_argument("--web-tls", action="store_true",
                        help="serve the page over https with a self-signed certificate (made on first "
                             "use; phones give motion sensors only to secure pages)")


def observers(args: argparse.Namespace, command: str) -> list[Any]:
    spec = getattr(args, "web", None)
    if command not in LIVE or not spec:
        return []
    from coach.outputs.web.companion import WebCompanion, check_web_spec

    host, port = check_web_spec(spec)
    host = host or getattr(args, "host", None)
    return [WebCompanion(host, port, tls=bool(getattr(args, "web_tls", False)),
                         notify=lambda m: print(m, file=sys.stderr, flush=True))]


def web_companion(observers: list[Any]) -> Any:
    return next((o for o in observers if getattr(o, "is_web", False)), None)
