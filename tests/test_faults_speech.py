"""A failing or hung speaker never holds back the prompts: each is still printed, in order,
and a player that hangs is killed and given up."""
from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import pytest

from coach.coaching import speech
from coach.coaching.config import SpeechSettings
from coach.coaching.prompts import P_CUE, P_LOOK_BACK, Prompt
from coach.coaching.speech import SpeechTask


@pytest.mark.parametrize("script", ["#!/bin/sh\nsleep 600\n", "#!/bin/sh\nexit 3\n"])
def test_hung_or_failing_player(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str,
                                caplog: pytest.LogCaptureFixture) -> None:
    player = tmp_path / "player.sh"
    player.write_text(script)
    player.chmod(0o755)
    monkeypatch.setattr(speech, "render_wav", lambda text, path, s: Path(path).write_bytes(b""))
    monkeypatch.setattr(SpeechTask, "play_timeout_s", staticmethod(lambda p: 0.5))
    buf = io.StringIO()
    s = SpeechSettings(player="none", min_gap_s=1.5, stale_after_s=60, echo_text=True)

    async def run() -> SpeechTask:
        task = SpeechTask(s, out=buf)
        task._players = [[str(player)]]
        task.audio = True
        async with task:
            await task.say(Prompt(0, "cue", "Backward", P_CUE))
            await task.say(Prompt(0, "safety", "Look over your shoulder", P_LOOK_BACK))
        return task

    t0 = time.monotonic()
    task = asyncio.run(run())
    assert time.monotonic() - t0 < 10
    assert not task.audio and not task._players               # the player was given up
    # ... and the wearer is told once why the coach went quiet
    assert sum("prompts are printed as text" in r.getMessage() for r in caplog.records) == 1
    assert sorted(buf.getvalue().splitlines()) == ["[    0.0 s] cue: Backward",
                                                   "[    0.0 s] safety: Look over your shoulder"]
