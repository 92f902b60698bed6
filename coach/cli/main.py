"""The `coach` command line.

Each layer registers its own sub-commands (see COMMAND_MODULES), so the CLI stays one thin
file. Every CoachError (and every unexpected error) becomes one line on stderr and exit 2.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import NoReturn

from coach import __version__
from coach.errors import CoachError

# Modules that expose `register(subparsers)`; each adds its sub-commands with
# `set_defaults(func=callable(args) -> int)`.
COMMAND_MODULES = [
    "coach.cli.analyze",      # analyze, train, demo
    "coach.cli.live",     # scan, run, devices, decode, record
    "coach.cli.say",    # say
    "coach.cli.sessions",     # history, report, export, replay, serve
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, like every other error
        print(f"coach: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="coach", description="retro-coach: a coach for backward walking")
    p.add_argument("--version", action="version", version=f"retro-coach {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    p.add_argument("--config", dest="global_config", metavar="FILE",
                   help="config.toml for every command (default: $COACH_CONFIG, else "
                        "$XDG_CONFIG_HOME/retro-coach/config.toml)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    from coach.detect.model import one_thread

    one_thread()  # the CLI process predicts a few windows at a time: one native thread
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from coach import config

    config.select(getattr(args, "config", None) or args.global_config)  # --config, for every layer
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CoachError as e:
        print(f"coach: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("coach: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:
        if args.verbose:
            raise
        print(f"coach: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
