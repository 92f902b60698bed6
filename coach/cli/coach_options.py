"""How analyze/demo/run pick up the coach (see coach.cli.analyze._extend/_observers).

    add_args(parser, command)        # analyze: --coach, --config, --program
                                     # demo/run/replay: --program, --config, --mute, --no-coach
    observers(args, command) -> [CoachObserver]   # via the typed CoachOptions

`coach analyze --coach` adds "prompts" to the JSON (CoachObserver.json_extra). For exactly
the live prompts the source should be read in live-sized batches (<= 0.5 s); longer batches
are replayed in 0.2 s steps, which is close but not identical.
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LIVE = ("run", "demo", "replay")


def _has(parser: argparse.ArgumentParser, option: str) -> bool:
    return option in parser._option_string_actions


def add_args(parser: argparse.ArgumentParser, command: str) -> None:
    """Attach the coach's options to `command`'s parser."""
    if command not in ("analyze", *LIVE):
        return
    if command == "analyze":
        parser.add_argument("--coach", action="store_true",
                            help='add "prompts": what the live coach would have said, and when')
    else:
        parser.add_argument("--no-coach", action="store_true", help="no spoken coach")
        parser.add_argument("--mute", action="store_true", help="coach in text only (no audio)")
        parser.add_argument("--safety-notice", action="store_true",
                            help="say the clearance notice again (it is said once per data directory)")
        if not _has(parser, "--all"):
            parser.add_argument("--all", action="store_true", dest="all_kinds",
                                help="the progression counts every stored session, not only walks")
    if not _has(parser, "--config"):
        parser.add_argument("--config", metavar="FILE",
                            help="config.toml (default: $COACH_CONFIG, else "
                                 "$XDG_CONFIG_HOME/retro-coach/config.toml)")
    if not _has(parser, "--program"):
        parser.add_argument("--program", metavar="NAME",
                            help="classic, progression, free, treadmill or a [programs.NAME] "
                                 "(default: [coach] program; the demo: its own intervals)")


def demo_program(minutes: float) -> Any:
    """The demo's program: the coach speaks it, the simulated walker walks it (one timeline)."""
    from coach.coaching.programs import demo_program as program

    return program(minutes)


@dataclass(frozen=True, slots=True)
class CoachOptions:
    """What the coach needs from one command run (read once from the command line)."""

    command: str
    coach: bool = False          # analyze --coach
    no_coach: bool = False
    mute: bool = False
    config: str | None = None
    program: str | None = None
    minutes: float = 6.0         # demo: how long the simulated session is
    realtime: bool = True        # live pace (not --fast / --speed 0)
    db: str | None = None        # the session store: history for the progression
    safety_notice: bool = False  # say the first-run clearance notice again
    all_kinds: bool = False      # the progression counts demos, replays, analyses too

    @classmethod
    def from_args(cls, args: argparse.Namespace, command: str) -> "CoachOptions":
        return cls(command=command, coach=bool(getattr(args, "coach", False)),
                   no_coach=bool(getattr(args, "no_coach", False)),
                   mute=bool(getattr(args, "mute", False)), config=getattr(args, "config", None),
                   program=getattr(args, "program", None),
                   minutes=float(getattr(args, "minutes", 6.0) or 6.0),
                   realtime=not getattr(args, "fast", False) and getattr(args, "speed", 1.0) != 0,
                   db=getattr(args, "db", None), safety_notice=bool(getattr(args, "safety_notice", False)),
                   all_kinds=bool(getattr(args, "all_kinds", False)))


def observers(args: argparse.Namespace, command: str) -> list[Any]:
    """The coach observer for one command run (none unless asked for, in analyze)."""
    return coach_observers(CoachOptions.from_args(args, command))


def coach_observers(opts: CoachOptions) -> list[Any]:
    """The coach observer for one command run (none unless asked for, in analyze)."""
    from coach.coaching.config import load_coach_config
    from coach.coaching.engine import CoachObserver

    if opts.command == "analyze":
        if not opts.coach:
            return []
        # what the live coach would have said: the clearance notice only if it was never said
        # in this data directory (read from its marker; an analysis opens no store for it)
        return [CoachObserver(opts.program, load_coach_config(opts.config),
                              first_run=opts.safety_notice or not first_run_marker(opts).exists())]
    if opts.command not in LIVE or opts.no_coach:
        return []
    cfg = load_coach_config(opts.config)
    program: Any = opts.program
    if program is None and opts.command == "demo":
        program = demo_program(opts.minutes)
    if opts.mute:
        cfg.speech.mute = True
    if opts.realtime and cfg.speech.enabled and not cfg.speech.mute:
        from coach.coaching.speech import make_speaker

        speaker: Any = make_speaker(cfg.speech)
    else:
        from coach.coaching.speech import TextSpeaker

        speaker = TextSpeaker()
    history, marker = remembered(opts)
    ob = CoachObserver(program, cfg, speaker, history=history,
                       first_run=opts.safety_notice or not marker.exists())
    ob.add_sink(FirstRunMarker(marker))
    return [ob]


def remembered(opts: CoachOptions) -> tuple[list[dict[str, Any]], Path]:
    """What the coach remembers: past sessions from the store (walks only unless --all) and
    the file that marks the clearance notice as said, in the store's data directory."""
    from coach.errors import CoachError
    from coach.outputs.store import SessionStore

    try:
        with SessionStore(opts.db, recover=False) as store:
            return store.coach_history(all_kinds=opts.all_kinds), store.path.parent / FIRST_RUN_MARKER
    except CoachError as e:
        log.warning("no session history for the coach: %s", e)
        return [], first_run_marker(opts)


FIRST_RUN_MARKER = "clearance-notice-said"


def first_run_marker(opts: CoachOptions) -> Path:
    """The file that marks the clearance notice as said: beside the store (--db, else the
    default one), whether or not the store exists."""
    from coach.outputs.config import default_db_path

    return Path(opts.db or default_db_path()).parent / FIRST_RUN_MARKER


class FirstRunMarker:
    """A prompt sink: once the clearance notice has been said, mark it in the data directory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def publish_prompt(self, prompt: dict[str, Any]) -> None:
        from coach.coaching import phrases

        if prompt.get("text") == phrases.FIRST_RUN and not self.path.exists():
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.path.write_text("The first-run clearance notice was said here.\n")
            except OSError as e:
                log.warning("cannot mark the clearance notice as said: %s", e)
