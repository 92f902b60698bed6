"""Honest, natural speech: numbers and plurals, running totals, no promises, the sensor's
drops spoken, and an opening talk short enough to listen to (espeak-ng renders it)."""
from __future__ import annotations

import asyncio
import inspect
import shutil
import wave
from pathlib import Path

import pytest

from coach.coaching import phrases as say
from coach.coaching.engine import Coach, CoachObserver
from coach.coaching.prompts import Prompt
from coach.coaching.speech import TextSpeaker, render_wav
from coach.detect.types import Event, LiveState

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None and shutil.which("espeak") is None,
                                  reason="espeak-ng is not installed (apt install espeak-ng)")


def test_plurals_and_numbers() -> None:
    assert say.duration(1) == "one second" and say.duration(2) == "two seconds"
    assert say.duration(60) == "one minute" and say.duration(150) == "two and a half minutes"
    assert say.turn_in(1) == "Turn around in one second"
    assert say.summary(1, 1, 1, 1) == ("Session done: one second backward, one retro step, "
                                       "one direction change. One stumble: take it easier next time.")
    assert say.summary(61, 2, 2, 0) == ("Session done: one minute one second backward, two retro "
                                        "steps, two direction changes.")
    assert say.progress(60, 1) == "So far: one minute backward, one retro step"


def test_running_totals_are_worded_as_totals() -> None:
    assert say.progress(240, 380).startswith("So far:")


def test_no_promise_the_coach_cannot_keep() -> None:
    words = inspect.getsource(say).lower()
    for promise in ("keep you safe", "safe with me", "i will catch", "nothing can go wrong"):
        assert promise not in words
    assert "stand up" not in say.FALL.lower() and "stay still" in say.FALL
    assert "sending" not in words


def test_sensor_drop_and_return_are_spoken() -> None:
    spoken: list[str] = []

    class Speaker(TextSpeaker):
        async def say(self, prompt: Prompt) -> None:
            spoken.append(prompt.text)

    async def run() -> CoachObserver:
        ob = CoachObserver("free", speaker=Speaker(), first_run=False)
        ob.coach.update(LiveState(t_s=1.0), [])
        ob.on_notice("sensor connection lost; reconnecting")
        ob.on_notice("no data for 5 s; reconnecting")        # once, not per notice
        await asyncio.sleep(0.01)
        ob.on_notice("sensor back after 4.2 s; the gap is marked, the session goes on")
        said = ob.coach.update(LiveState(t_s=6.0), [Event(6.0, "gap", {"duration_s": 4.2})])
        said += ob.coach.update(LiveState(t_s=8.0), [])
        spoken.extend(p.text for p in said)
        return ob

    asyncio.run(run())
    assert spoken.count(say.SENSOR_LOST) == 1
    assert spoken.count(say.SENSOR_BACK) == 1
    assert spoken.index(say.SENSOR_LOST) < spoken.index(say.SENSOR_BACK)


def test_short_glitch_is_not_spoken_a_long_drop_is() -> None:
    c = Coach("free", first_run=False)
    c.update(LiveState(t_s=0.0), [])
    out = []
    for t in range(1, 40):
        out += c.update(LiveState(t_s=float(t)), [Event(t, "gap", {"duration_s": 0.7})] if t == 20 else [])
    assert say.SENSOR_BACK not in [p.text for p in out]
    out = []
    for t in range(40, 60):
        out += c.update(LiveState(t_s=float(t)), [Event(t, "gap", {"duration_s": 8.0})] if t == 45 else [])
    assert say.SENSOR_BACK in [p.text for p in out]


def _opening(program: str, **kw) -> list[str]:
    c = Coach(program, first_run=False, **kw)
    said = c.update(LiveState(t_s=0.0), [])
    return [p.text for p in said] + [p.text for p in sorted(c.queue.pending, key=lambda p: -p.priority)
                                     if p.due_s <= 1.0 and p.kind == "info"]


@needs_espeak
@pytest.mark.parametrize("program", ["classic", "progression", "free", "treadmill"])
def test_opening_talk_takes_ten_seconds_or_less(tmp_path: Path, program: str) -> None:
    import datetime as dt

    # the progression at a later level, with rest advised: its longest opening
    hist = [{"date": (dt.date.today() - dt.timedelta(days=d)).isoformat(), "retro_seconds": 1500,
             "completed": True, "stumbles": 0} for d in (0, 2, 4)]
    texts = _opening(program, history=hist if program == "progression" else None)
    assert texts
    total = 0.0
    for i, text in enumerate(texts):
        out = render_wav(text, tmp_path / f"{i}.wav")
        with wave.open(str(out), "rb") as w:
            total += w.getnframes() / w.getframerate()
    total += 0.3 * (len(texts) - 1)       # the pause between prompts
    assert total <= 10.0, (total, texts)
