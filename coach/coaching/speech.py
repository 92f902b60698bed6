"""Offline speech: espeak-ng renders each prompt to WAV, a player plays it.

The Coach engine already decided what is said and when (on stream time); SpeechTask just
plays prompts in its own asyncio task: a priority queue (safety first), stale prompts
dropped, one utterance at a time, at least min_gap_s between starts, and a safety prompt or
a direction cue cuts off a less important utterance (prompts.may_cut, as in the engine). Mute silences audio; with no working audio device
(no aplay/paplay/play that succeeds) each prompt is printed instead.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from coach.coaching.config import SpeechSettings
from coach.coaching.prompts import Prompt, may_cut
from coach.errors import CoachError

log = logging.getLogger(__name__)

PLAYERS: dict[str, list[str]] = {
    "aplay": ["aplay", "-q"],
    "paplay": ["paplay"],
    "play": ["play", "-q"],     # sox
}


def espeak_binary() -> str:
    """Path of espeak-ng (or espeak); CoachError if neither is installed."""
    for name in ("espeak-ng", "espeak"):
        path = shutil.which(name)
        if path:
            return path
    raise CoachError("espeak-ng not found: install it (apt install espeak-ng) to hear the coach")


def espeak_args(text: str, settings: SpeechSettings | None = None) -> list[str]:
    s = settings or SpeechSettings()
    amp = max(0, min(200, int(round(s.volume * 100))))
    return [espeak_binary(), "-v", s.voice, "-s", str(int(s.rate_wpm)), "-p", str(int(s.pitch)),
            "-a", str(amp), "--", text]


def render_wav(text: str, out: str | Path, settings: SpeechSettings | None = None) -> Path:
    """Render `text` to a WAV file with espeak-ng; return the path."""
    text = text.strip()
    if not text:
        raise CoachError("nothing to say (empty text)")
    out = Path(out)
    args = espeak_args(text, settings)
    args[1:1] = ["-w", str(out)]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise CoachError("espeak-ng timed out") from None
    except OSError as e:
        raise CoachError(f"cannot write {out}: {e.strerror or e}") from None
    if proc.returncode != 0 or not out.is_file():
        msg = (proc.stderr or "").strip().splitlines()
        raise CoachError(f"espeak-ng failed: {msg[-1] if msg else 'exit ' + str(proc.returncode)}")
    return out


def player_candidates(pref: str = "auto") -> list[list[str]]:
    """Installed audio players to try, in order ("none": no audio)."""
    if pref == "none":
        return []
    names = [pref] if pref in PLAYERS else list(PLAYERS)
    return [PLAYERS[n] for n in names if shutil.which(n)]


def play_wav_blocking(path: Path, pref: str = "auto") -> bool:
    """Play a WAV with the first player that works; False if none does (no audio device)."""
    for cmd in player_candidates(pref):
        try:
            r = subprocess.run([*cmd, str(path)], capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if r.returncode == 0:
            return True
    return False


def speak_blocking(text: str, settings: SpeechSettings | None = None, out: TextIO | None = None) -> bool:
    """Say one prompt now (for `coach say`); print it if there is no audio. True if heard."""
    s = settings or SpeechSettings()
    with tempfile.TemporaryDirectory(prefix="coach-say-") as d:
        wav = render_wav(text, Path(d) / "say.wav", s)
        if not s.mute and play_wav_blocking(wav, s.player):
            return True
    print(text, file=out or sys.stdout)
    return False


class TextSpeaker:
    """Prints prompts (the fallback, and handy in tests and logs)."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out
        self.said: list[Prompt] = []
        self.text_elsewhere = False      # a live display shows the text: do not print it twice

    async def say(self, prompt: Prompt) -> None:
        self.said.append(prompt)
        if self.text_elsewhere:
            return
        print(prompt_line(prompt), file=self.out or sys.stdout, flush=True)


def prompt_line(prompt: Prompt) -> str:
    """A prompt printed as text, with its stream time like the live status lines: a fast demo
    or a file prints a batch's prompts after that batch's status line, and the time says when
    each was said."""
    return f"[{prompt.t_s:7.1f} s] {prompt.kind}: {prompt.text}"


class SpeechTask:
    """Plays prompts through espeak-ng in a background task (see module doc).

    Use as `async with SpeechTask(settings) as speaker:` and pass `speaker` to
    CoachObserver; `say()` never blocks.
    """

    def __init__(self, settings: SpeechSettings | None = None, out: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.s = settings or SpeechSettings()
        self.out = out
        self.clock = clock
        self.queue: asyncio.PriorityQueue[tuple[int, int, float, Prompt]] = asyncio.PriorityQueue()
        self._seq = itertools.count()
        self._task: asyncio.Task | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._current: Prompt | None = None
        self._last_start = -1e9
        self._players = player_candidates(self.s.player)
        self._tmp = tempfile.TemporaryDirectory(prefix="coach-speech-")
        self.audio = bool(self._players) and self.s.enabled and not self.s.mute
        self.spoken: list[Prompt] = []
        self.dropped: list[Prompt] = []
        self.text_elsewhere = False      # a live display shows the text: do not print it
        if self.audio:
            espeak_binary()

    # -- public
    async def say(self, prompt: Prompt) -> None:
        """Queue a prompt; it cuts off the one being spoken if the engine's rule allows."""
        await self.queue.put((-prompt.priority, next(self._seq), self.clock(), prompt))
        cur = self._current
        if cur is not None and self._proc is not None and may_cut(prompt.kind, prompt.priority, cur):
            with contextlib.suppress(ProcessLookupError):
                self._proc.terminate()

    def set_mute(self, mute: bool) -> None:
        self.s.mute = mute
        self.audio = bool(self._players) and self.s.enabled and not mute

    def set_volume(self, volume: float) -> None:
        self.s.volume = max(0.0, min(2.0, volume))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="coach-speech")

    async def close(self, drain: bool = True) -> None:
        """Stop (after saying what is queued, if drain)."""
        if self._task is None:
            return
        if drain:
            await self.queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        self._tmp.cleanup()

    async def __aenter__(self) -> "SpeechTask":
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close(drain=exc[0] is None)

    # -- the task
    async def _run(self) -> None:
        while True:
            _, _, queued_at, prompt = await self.queue.get()
            try:
                if self.clock() - queued_at > self.s.stale_after_s and prompt.kind != "safety":
                    self.dropped.append(prompt)
                    continue
                wait = self._last_start + self.s.min_gap_s - self.clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._last_start = self.clock()
                self._current = prompt
                await self._speak(prompt)
                self.spoken.append(prompt)
            except Exception as e:  # noqa: BLE001 - speech must never stop the session
                log.warning("speech failed: %s", e)
                self._echo(prompt)
            finally:
                self._current = None
                self.queue.task_done()

    async def _speak(self, prompt: Prompt) -> None:
        if self.s.echo_text or not self.audio:
            self._echo(prompt)
        if not self.audio:
            return
        wav = Path(self._tmp.name) / f"p{next(self._seq)}.wav"
        await asyncio.to_thread(render_wav, prompt.text, wav, self.s)
        while self._players:
            if self._cut_by_waiting(prompt):
                break
            cmd = self._players[0]
            self._proc = await asyncio.create_subprocess_exec(
                *cmd, str(wav), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            try:   # a hung audio device must not hold the prompts behind this one
                rc = await asyncio.wait_for(self._proc.wait(), self.play_timeout_s(prompt))
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self._proc.kill()
                await self._proc.wait()
                log.warning("audio player %s hung; trying the next (prompts are printed)", cmd[0])
                rc = 1
            self._proc = None
            if rc == 0 or rc < 0:            # done, or cut off by a more urgent prompt
                break
            log.info("audio player %s failed (exit %s); trying the next", cmd[0], rc)
            self._players.pop(0)
        if not self._players:
            self.audio = False
            # once: say why the coach goes quiet (no sound card, no audio service)
            log.warning("no audio player could play here (no audio device?): prompts are "
                        "printed as text from now on")
            if not self.s.echo_text:
                self._echo(prompt)
        wav.unlink(missing_ok=True)

    @staticmethod
    def play_timeout_s(prompt: Prompt) -> float:
        """How long one utterance may play before the player counts as hung."""
        return 5.0 + 0.15 * len(prompt.text)

    def _cut_by_waiting(self, prompt: Prompt) -> bool:
        """A prompt queued while this one was being rendered may cut it before it starts."""
        waiting = getattr(self.queue, "_queue", [])
        return bool(waiting) and may_cut(waiting[0][3].kind, waiting[0][3].priority, prompt)

    def _echo(self, prompt: Prompt) -> None:
        if self.text_elsewhere:
            return
        print(prompt_line(prompt), file=self.out or sys.stdout, flush=True)


def make_speaker(settings: SpeechSettings | None = None, out: TextIO | None = None) -> SpeechTask:
    """A SpeechTask for live use; without espeak-ng it warns once and prints prompts instead."""
    s = settings or SpeechSettings()
    try:
        return SpeechTask(s, out)
    except CoachError as e:
        log.warning("%s; printing prompts instead", e)
        return SpeechTask(SpeechSettings(**{**{f: getattr(s, f) for f in s.__slots__}, "player": "none"}), out)
