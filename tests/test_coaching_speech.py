"""Speech: real espeak-ng renders prompts to WAV; they must be speech, not silence."""
from __future__ import annotations

import asyncio
import io
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from coach.cli import main
from coach.coaching import speech
from coach.coaching.config import SpeechSettings
from coach.coaching.prompts import P_CUE, P_FALL, P_INFO, P_LOOK_BACK, Prompt
from coach.coaching.speech import SpeechTask, TextSpeaker, render_wav, speak_blocking
from coach.errors import CoachError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None and shutil.which("espeak") is None,
                                  reason="espeak-ng is not installed (apt install espeak-ng)")

PROMPTS = ["Backward", "Forward", "Turn around in 10 seconds", "One minute backward",
           "Look over your shoulder", "Slow down", "Are you OK? If you are hurt, stay still.",
           "So far: four minutes backward, 380 retro steps"]


def wav_stats(path: Path) -> tuple[float, float, float]:
    """(duration s, RMS as a fraction of full scale, fraction of 20 ms frames that are voiced)."""
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2
        rate, n, ch = w.getframerate(), w.getnframes(), w.getnchannels()
        x = np.frombuffer(w.readframes(n), dtype="<i2").astype(np.float64).reshape(-1, ch)[:, 0] / 32768
    frame = int(0.02 * rate)
    frames = x[: len(x) // frame * frame].reshape(-1, frame)
    frms = np.sqrt((frames ** 2).mean(axis=1))
    return n / rate, float(np.sqrt((x ** 2).mean())), float((frms > 0.01).mean())


@needs_espeak
@pytest.mark.parametrize("text", PROMPTS)
def test_prompts_render_as_speech(tmp_path: Path, text: str) -> None:
    out = render_wav(text, tmp_path / "p.wav")
    dur, rms, voiced = wav_stats(out)
    words = len(text.split())
    assert 0.3 + 0.15 * words < dur < 1.0 + 0.8 * words + 1.5, dur   # as long as speech takes
    assert rms > 0.02, rms                                             # loud enough to hear
    assert voiced > 0.4, voiced                                        # mostly sound, not silence


@needs_espeak
def test_volume_changes_loudness(tmp_path: Path) -> None:
    quiet = wav_stats(render_wav("Look over your shoulder", tmp_path / "q.wav", SpeechSettings(volume=0.3)))[1]
    loud = wav_stats(render_wav("Look over your shoulder", tmp_path / "l.wav", SpeechSettings(volume=1.5)))[1]
    assert loud > 2 * quiet


@needs_espeak
def test_coach_say_out_writes_audible_wav(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "say.wav"
    assert main(["say", "--out", str(out), "Turn", "around", "in", "10", "seconds"]) == 0
    dur, rms, voiced = wav_stats(out)
    assert dur > 1.0 and rms > 0.02 and voiced > 0.4
    assert str(out) in capsys.readouterr().out


@needs_espeak
def test_coach_say_without_audio_prints_text(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(speech, "player_candidates", lambda pref="auto": [])
    assert main(["say", "Backward"]) == 0
    cap = capsys.readouterr()
    assert cap.out.strip() == "Backward"
    assert "no audio device" in cap.err


@needs_espeak
def test_failing_player_falls_back_to_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speech, "player_candidates", lambda pref="auto": [["false"]])
    buf = io.StringIO()
    assert speak_blocking("Slow down", SpeechSettings(), out=buf) is False
    assert buf.getvalue().strip() == "Slow down"


def test_missing_espeak_is_one_line_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    with pytest.raises(CoachError, match="espeak-ng not found"):
        render_wav("hello", tmp_path / "x.wav")
    assert main(["say", "--out", str(tmp_path / "x.wav"), "hello"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("coach: error: espeak-ng not found")


def test_say_rejects_bad_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["say", "--volume", "5", "hi"]) == 2
    assert main(["say", "--out", str(tmp_path / "no" / "x.wav"), "hi"]) == 2
    assert "error" in capsys.readouterr().err


def _p(t: float, kind: str, text: str, prio: int) -> Prompt:
    return Prompt(t, kind, text, prio)


def test_speech_task_text_fallback_priority_and_spacing() -> None:
    """No player: prompts are printed, safety first, spaced by min_gap_s, none overlap."""
    buf = io.StringIO()
    s = SpeechSettings(player="none", min_gap_s=0.05, stale_after_s=10, echo_text=False)

    async def run() -> SpeechTask:
        task = SpeechTask(s, out=buf)
        # queue before the task starts, so the queue decides the order
        await task.say(_p(0, "info", "info first queued", P_INFO))
        await task.say(_p(0, "cue", "Backward", P_CUE))
        await task.say(_p(0, "safety", "Look over your shoulder", P_LOOK_BACK))
        async with task:
            pass
        return task

    task = asyncio.run(run())
    assert [p.text for p in task.spoken] == ["Look over your shoulder", "Backward", "info first queued"]
    assert buf.getvalue().splitlines() == ["[    0.0 s] safety: Look over your shoulder",
                                           "[    0.0 s] cue: Backward",
                                           "[    0.0 s] info: info first queued"]


def test_speech_task_drops_stale_and_mute() -> None:
    clock = [0.0]
    s = SpeechSettings(player="none", min_gap_s=0.0, stale_after_s=4.0)

    async def run() -> SpeechTask:
        task = SpeechTask(s, out=io.StringIO(), clock=lambda: clock[0])
        await task.say(_p(0, "info", "old news", P_INFO))
        await task.say(_p(0, "safety", "Slow down", P_LOOK_BACK))
        clock[0] = 10.0          # both waited 10 s: the info prompt is stale, safety is kept
        async with task:
            pass
        return task

    task = asyncio.run(run())
    assert [p.text for p in task.spoken] == ["Slow down"]
    assert [p.text for p in task.dropped] == ["old news"]
    t2 = SpeechTask(SpeechSettings(player="none"), out=io.StringIO())
    t2.set_mute(True)
    assert not t2.audio
    t2.set_volume(7)
    assert t2.s.volume == 2.0


def test_text_speaker() -> None:
    buf = io.StringIO()
    sp = TextSpeaker(buf)
    asyncio.run(sp.say(_p(1.0, "cue", "Forward", P_CUE)))
    assert buf.getvalue() == "[    1.0 s] cue: Forward\n" and sp.said[0].text == "Forward"


@needs_espeak
def test_safety_cuts_off_a_playing_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    """A player that would take 5 s is stopped when a safety prompt arrives."""
    import time

    monkeypatch.setattr(speech, "player_candidates", lambda pref="auto": [["sh", "-c", "exec sleep 5", "player"]])
    s = SpeechSettings(min_gap_s=0.1, echo_text=False)

    async def run() -> tuple[SpeechTask, float]:
        t0 = time.monotonic()
        async with SpeechTask(s, out=io.StringIO()) as task:
            await task.say(_p(0, "info", "A long explanation of the program", P_INFO))
            await asyncio.sleep(0.5)
            await task.say(_p(1, "safety", "Look over your shoulder", P_LOOK_BACK))   # cuts the info
            await asyncio.sleep(0.5)
            await task.say(_p(2, "safety", "Are you OK?", P_FALL))                   # cuts the look-back
            await asyncio.sleep(0.5)
            await task.say(_p(3, "cue", "Forward", P_CUE))        # does not cut a fall check
            await asyncio.sleep(0.5)
            assert task._current is not None and task._current.text == "Are you OK?"
            task._proc.terminate() if task._proc else None
        return task, time.monotonic() - t0

    task, took = asyncio.run(run())
    assert [p.text for p in task.spoken] == ["A long explanation of the program", "Look over your shoulder",
                                             "Are you OK?", "Forward"]
    assert took < 12 and task.audio     # uncut, the four would take 20 s


def test_the_players_config_accepts_are_the_players_speech_knows() -> None:
    from coach.coaching.speech import PLAYERS
    from coach.config import PLAYER_CHOICES

    assert set(PLAYER_CHOICES) == {"auto", "none", *PLAYERS}
