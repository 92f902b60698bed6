"""How analyze/demo/run pick up the coach (see coach.cli.analyze._extend/_observers).

    add_args(parser, command)        # analyze: --coach, --config, --program
                                     # demo/run/replay: --program, --config, --mute, --no-coach
    observers(args, command) -> [CoachObserver]

`coach analyze --coach` adds "prompts" to the JSON (CoachObserver.json_extra). For exactly
the live prompts the source should be read in live-sized batches (<= 0.5 s); longer batches
are replayed in 0.2 s steps, which is close but not identical.
"""
from __future__ import annotations

import argparse
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
                            help="config.toml ([coach], [safety], [speech], [programs.*]); "
                                 "default ./config.toml if present")
    if not _has(parser, "--program"):
        parser.add_argument("--program", metavar="NAME",
                            help="classic, progression, free, treadmill or a [programs.NAME] "
                                 "(default: [coach] program; the demo: its own intervals)")


def demo_program(minutes: float) -> Any:
    """Intervals that match the simulated walker of `coach demo` (coach.sources.simulator)."""
    from coach.coaching.programs import interval_program

    return interval_program("demo", "Demo intervals", warmup_s=31.0, forward_s=61.0,
                            backward_s=41.0, total_s=max(60.0, minutes * 60.0))


def observers(args: argparse.Namespace, command: str) -> list[Any]:
    """The coach observer for one command run (none unless asked for, in analyze)."""
    from coach.coaching.config import load_coach_config
    from coach.coaching.engine import CoachObserver

    if command == "analyze":
        if not getattr(args, "coach", False):
            return []
        cfg = load_coach_config(getattr(args, "config", None))
        return [CoachObserver(getattr(args, "program", None), cfg)]
    if command not in LIVE or getattr(args, "no_coach", False):
        return []
    cfg = load_coach_config(getattr(args, "config", None))
    program: Any = getattr(args, "program", None)
    if program is None and command == "demo":
        program = demo_program(float(getattr(args, "minutes", 6.0) or 6.0))
    realtime = not getattr(args, "fast", False) and getattr(args, "speed", 1.0) != 0
    if getattr(args, "mute", False):
        cfg.speech.mute = True
    if realtime and cfg.speech.enabled and not cfg.speech.mute:
        from coach.coaching.speech import make_speaker

        speaker: Any = make_speaker(cfg.speech)
    else:
        from coach.coaching.speech import TextSpeaker

        speaker = TextSpeaker()
    return [CoachObserver(program, cfg, speaker)]
