"""Sub-commands of this layer (registered by coach.cli): `coach say`."""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from coach.errors import CoachError


def register(sub: argparse._SubParsersAction) -> None:
    """Add this layer's sub-commands."""
    p = sub.add_parser("say", help="speak one prompt (or render it to a WAV file)",
                       description="Speak TEXT with the coach's voice (espeak-ng). With --out, write "
                                   "a WAV file instead. Without an audio device, the text is printed.")
    p.add_argument("text", nargs="+", metavar="TEXT", help="what to say")
    p.add_argument("--out", "-o", metavar="FILE.wav", help="write a WAV file instead of playing")
    p.add_argument("--config", metavar="FILE", help="config.toml with a [speech] section")
    p.add_argument("--voice", help="espeak-ng voice (default: [speech] voice, 'en')")
    p.add_argument("--rate", type=int, metavar="WPM", help="words per minute (default 165)")
    p.add_argument("--volume", type=float, help="0..2 (default 1.0)")
    p.set_defaults(func=cmd_say)


def cmd_say(args: argparse.Namespace) -> int:
    from coach.coaching.config import load_coach_config
    from coach.coaching.speech import render_wav, speak_blocking

    s = load_coach_config(args.config).speech
    if args.voice:
        s = replace(s, voice=args.voice)
    if args.rate is not None:
        if not 60 <= args.rate <= 500:
            raise CoachError("--rate must be between 60 and 500 words per minute")
        s = replace(s, rate_wpm=args.rate)
    if args.volume is not None:
        if not 0 <= args.volume <= 2:
            raise CoachError("--volume must be between 0 and 2")
        s = replace(s, volume=args.volume)
    text = " ".join(args.text).strip()
    if not text:
        raise CoachError("nothing to say (empty text)")
    if args.out:
        out = Path(args.out)
        if out.parent and not out.parent.exists():
            raise CoachError(f"directory does not exist: {out.parent}")
        render_wav(text, out, s)
        print(out)
        return 0
    if not speak_blocking(text, s, out=sys.stdout):
        print("coach: no audio device; printed the text instead", file=sys.stderr)
    return 0
