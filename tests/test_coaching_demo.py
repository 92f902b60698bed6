"""The demo: the simulated walker follows the very program the coach speaks (one timeline),
and each prompt is printed once, with or without the live display."""
from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest

from coach.cli.coach_options import CoachOptions, coach_observers
from coach.coaching import phrases as say
from coach.coaching.engine import CoachObserver
from coach.coaching.programs import build_program, demo_program
from coach.coaching.speech import TextSpeaker
from coach.config import BUILTIN_PROGRAMS
from coach.detect.pipeline import DirectionPipeline
from coach.detect.session import run_session
from coach.outputs.display import LiveDisplay
from coach.simulate.gait import STOP_S, SimulatedWalker, program_bouts
from coach.simulate.gait import demo_program as walker_bouts


@pytest.mark.parametrize("program", [demo_program(4), demo_program(7),
                                     build_program(BUILTIN_PROGRAMS["treadmill"])])
def test_walker_follows_the_program(program) -> None:
    bouts = program_bouts(program)
    assert sum(b.duration_s for b in bouts) == pytest.approx(program.total_s + STOP_S)
    ends = np.cumsum([b.duration_s for b in bouts])
    for iv in program.intervals:          # mid-interval, the walker walks the interval's way
        mid = (iv.start_s + iv.end_s) / 2
        assert bouts[int(np.searchsorted(ends, mid))].activity == iv.direction
    assert bouts[-1].activity == "still"  # and stops once the program is over
    assert walker_bouts(4) == program_bouts(demo_program(4))


def test_program_complete_is_said_once_the_walker_has_stopped() -> None:
    (ob,) = coach_observers(CoachOptions("demo", mute=True, realtime=False, minutes=3))
    ob.speaker.out = io.StringIO()
    program = ob.coach.program
    walker = SimulatedWalker(minutes=3, speed=0, batch_s=0.2, bouts=program_bouts(program))
    asyncio.run(run_session(walker, DirectionPipeline(source_name="sim"), [ob]))
    (done,) = [p for p in ob.prompts if p.text == say.PROGRAM_DONE]
    labels, t = walker.session.labels, walker.session.t
    assert done.t_s >= program.total_s
    assert labels[int(np.searchsorted(t, done.t_s))] == "still"
    # every switch the coach announces is one the walker makes
    for iv in program.intervals[1:]:
        assert labels[int(np.searchsorted(t, iv.start_s + 3.0))] == iv.direction


def test_plain_display_prints_each_prompt_once() -> None:
    out = io.StringIO()
    speaker = TextSpeaker(out=out)
    display = LiveDisplay(stream=out, plain=True)
    display.is_display = True  # type: ignore[attr-defined]
    ob = CoachObserver("free", speaker=speaker, first_run=False, sinks=[display])
    asyncio.run(ob._emit([ob.coach.say_now("info", "Hello there", 10)], 0))
    assert out.getvalue().count("Hello there") == 1


def test_demo_plain_prints_every_prompt_once(capsys: pytest.CaptureFixture[str]) -> None:
    from coach.cli import main

    assert main(["demo", "--plain", "--mute", "--speed", "40", "--minutes", "1", "--no-save"]) == 0
    out = capsys.readouterr().out
    assert out.count(say.PROGRAM_DONE) == 1
    assert out.count("Session done:") == 1
    assert out.count("interval: 40 seconds backward") == 1


def test_the_fast_demo_prints_in_time_order(capsys: pytest.CaptureFixture[str]) -> None:
    """A new user's find: `coach demo --fast` reads 5 s at a time, and the status line at a
    batch's end came before the prompts that fell due within it ('[35.0 s] backward ...' then
    '[30.2 s] interval: 40 seconds backward')."""
    import re

    from coach.cli import main

    assert main(["demo", "--fast", "--mute", "--minutes", "2", "--no-save"]) == 0
    times = [float(m) for m in re.findall(r"^\[\s*([\d.]+) s\]", capsys.readouterr().out, re.M)]
    assert len(times) > 20 and times == sorted(times)
