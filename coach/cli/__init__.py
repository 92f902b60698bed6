"""The `coach` command line: every command and all the wiring between the layers.

    main.py            the parser, error handling, the one-thread rule; `coach` starts here
    analyze.py         analyze, train, demo
    live.py            scan, run, devices, decode, record   (live sensors)
    say.py             say
    sessions.py        history, report, export, replay, serve
    wiring.py          the session commands' options and observers, gathered from:
    coach_options.py   ... the coach (programs, cues, safety, speech)
    output_options.py  ... the store, MQTT, the display
"""
from coach.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
