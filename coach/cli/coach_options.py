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
from dataclasses import dataclass
from typing import Any

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
    if not _has(parser, "--config"):
        parser.add_argument("--config", metavar="FILE",
                            help="config.toml (default: $COACH_CONFIG, else "
                                 "$XDG_CONFIG_HOME/retro-coach/config.toml)")
    if not _has(parser, "--program"):
        parser.add_argument("--program", metavar="NAME",
                            help="classic, progression, free, treadmill or a [programs.NAME] "
                                 "(default: [coach] program; the demo: its own intervals)")


def demo_program(minutes: float) -> Any:
    """Intervals that match the simulated walker of `coach demo` (coach.simulate.gait)."""
    from coach.coaching.programs import interval_program

    return interval_program("demo", "Demo intervals", warmup_s=31.0, forward_s=61.0,
                            backward_s=41.0, total_s=max(60.0, minutes * 60.0))


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

    @classmethod
    def from_args(cls, args: argparse.Namespace, command: str) -> "CoachOptions":
        return cls(command=command, coach=bool(getattr(args, "coach", False)),
                   no_coach=bool(getattr(args, "no_coach", False)),
                   mute=bool(getattr(args, "mute", False)), config=getattr(args, "config", None),
                   program=getattr(args, "program", None),
                   minutes=float(getattr(args, "minutes", 6.0) or 6.0),
                   realtime=not getattr(args, "fast", False) and getattr(args, "speed", 1.0) != 0)


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
        return [CoachObserver(opts.program, load_coach_config(opts.config))]
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
    return [CoachObserver(program, cfg, speaker)]
