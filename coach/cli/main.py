"""The `coach` command line.

Each layer registers its own sub-commands (see COMMAND_MODULES), so the CLI stays one thin
file. Every CoachError (and a file that cannot be read or written) becomes one line on stderr
and exit 2, an unexpected error one line naming it and exit 1;
with `--json` it is also a JSON object on stdout ({"error": ..., "exit_status": N}), so a
script reading stdout always gets JSON. `-v` works before or after the sub-command.
"""
from __future__ import annotations

import argparse
import importlib
import json
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
    "coach.cli.calibrate",  # calibrate
    "coach.cli.say",    # say
    "coach.cli.sessions",     # history, report, export, replay, serve
]


_json_errors = False   # --json on the command line: errors are JSON on stdout too


def report_error(message: str, status: int, as_json: bool) -> int:
    """One line on stderr; with --json also {"error", "exit_status"} on stdout."""
    print(f"coach: error: {message}", file=sys.stderr)
    if as_json:
        sys.stdout.write(json.dumps({"error": message, "exit_status": status}) + "\n")
        sys.stdout.flush()
    return status


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, like every other error
        raise SystemExit(report_error(message, 2, _json_errors))


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
    for sp in sub.choices.values():   # -v after the sub-command too (default: what came before)
        sp.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log debug details")
    return p


class _PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"coach: {record.levelname.lower()}: {record.getMessage()}"


def main(argv: list[str] | None = None) -> int:
    from coach.detect.model import one_thread

    global _json_errors
    one_thread()  # the CLI process predicts a few windows at a time: one native thread
    argv = list(sys.argv[1:] if argv is None else argv)
    _json_errors = "--json" in argv
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # a warning reads as the command's own ("coach: warning: ..."), as the readers' do;
        # -v keeps the logger names for debugging
        for h in logging.getLogger().handlers:
            if type(h) is logging.StreamHandler:      # ours, not a test harness's capture
                h.setFormatter(_PlainFormatter())
    from coach import config

    config.select(getattr(args, "config", None) or args.global_config)  # --config, for every layer
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    as_json = bool(getattr(args, "json", False))
    try:
        check_config()
        return int(args.func(args) or 0)
    except CoachError as e:
        return report_error(str(e), 2, as_json)
    except KeyboardInterrupt:
        return report_error("interrupted", 130, as_json) if as_json else _interrupted()
    except BrokenPipeError:
        return 0
    except OSError as e:     # a file or folder that cannot be read or written: say which
        where = f"{e.filename}: " if e.filename else ""
        return report_error(f"{where}{e.strerror or e}", 2, as_json)
    except Exception as e:
        if args.verbose:
            raise
        return report_error(f"{type(e).__name__}: {e}", 1, as_json)


def check_config() -> None:
    """Every section of the config in use, whichever command runs: a misspelt key is an error
    for all of them (a week report reads the weekly goal from [coach], and a typo there had
    changed its figures silently), not only for the command that reads its section."""
    from coach.coaching.config import load_coach_config
    from coach.outputs.config import load_section
    from coach.sources.profiles.generic import load_generic_config

    load_coach_config()
    load_section("store")
    load_section("mqtt")
    load_generic_config()


def _interrupted() -> int:
    print("coach: interrupted", file=sys.stderr)
    return 130
