"""LiveDisplay: the live session on the terminal (rich Live), plain lines when not a TTY.

    display = LiveDisplay(extra=[program_panel])   # extra: renderables or zero-arg callables
    await run_session(source, pipeline, [display, ...])
Also: set_connection("connected"|"reconnecting"|...), set_battery(pct), publish_prompt(dict).
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from coach.detect.types import AnalysisResult, Event, LiveState

ARROWS = {"backward": "<< backward", "forward": "forward >>", "still": "still", "other": "other"}
STYLES = {"backward": "bold green", "forward": "bold yellow", "still": "dim", "other": "magenta"}


class LiveDisplay:
    """An Observer rendering direction, retro steps/minutes, forward steps, cadence, connection."""

    def __init__(self, title: str = "retro-coach", extra: list[Any] | None = None,
                 stream: TextIO | None = None, plain: bool | None = None,
                 min_interval_s: float = 1.0, refresh_per_second: float = 4.0) -> None:
        self.title = title
        self.extra: list[Any] = list(extra or [])
        self._stream = stream            # None: whatever sys.stdout is when writing (a --json
                                         # run sends it to stderr after this was made)
        self.plain = (not self.stream.isatty()) if plain is None else plain
        self.min_interval_s = min_interval_s
        self.refresh_per_second = refresh_per_second
        self.state: LiveState | None = None
        self.connection = "connected"
        self.battery: float | None = None
        self.heart_rate: int | None = None
        self.last_prompt: str | None = None
        self._live: Any = None
        self._last_line = -1e9
        self.lines_written = 0

    def add_renderable(self, renderable: Any | Callable[[], Any]) -> None:
        self.extra.append(renderable)

    def set_connection(self, state: str | bool) -> None:
        self.connection = ("connected" if state else "disconnected") if isinstance(state, bool) else state

    set_connected = set_connection

    def set_battery(self, pct: float | None) -> None:
        self.battery = pct

    def publish_prompt(self, prompt: dict[str, Any]) -> None:
        self.last_prompt = str(prompt.get("text") or "")
        if self.plain:
            self._write(f"[{prompt.get('t_s', 0):7.1f} s] {prompt.get('kind', 'prompt')}: {self.last_prompt}")

    publish_alert = publish_prompt

    # -- rendering ------------------------------------------------------------------------
    def line(self) -> str:
        s = self.state or LiveState()
        t = s.tallies
        bat = f" battery {self.battery:.0f}%" if self.battery is not None else ""
        return (f"[{s.t_s:7.1f} s] {s.direction:<8} retro {_steps(t.retro_steps)} "
                f"{t.retro_seconds / 60:.1f} min | forward {_steps(t.forward_steps)} | "
                f"cadence {s.cadence_spm:.0f}/min"
                + (f" | {self.heart_rate} bpm" if self.heart_rate else "") + f" | {self.connection}{bat}")

    def renderable(self) -> Any:
        from rich.console import Group
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        s = self.state or LiveState()
        t = s.tallies
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        grid.add_row("Direction", Text(ARROWS.get(s.direction, s.direction),
                                       style=STYLES.get(s.direction, "")))
        grid.add_row("Retro steps", f"{t.retro_steps}")
        grid.add_row("Retro minutes", f"{t.retro_seconds / 60:.1f}")
        grid.add_row("Forward steps", f"{t.forward_steps}")
        grid.add_row("Cadence", f"{s.cadence_spm:.0f} steps/min")
        if self.heart_rate:
            grid.add_row("Heart rate", f"{self.heart_rate} bpm")
        conn_style = "green" if self.connection == "connected" else "red"
        grid.add_row("Sensor", Text(self.connection + (f"  battery {self.battery:.0f}%"
                                                        if self.battery is not None else ""),
                                    style=conn_style))
        if self.last_prompt:
            grid.add_row("Coach", Text(self.last_prompt, style="italic"))
        parts: list[Any] = [Panel(grid, title=f"{self.title}  {s.t_s:6.0f} s")]
        for r in self.extra:
            parts.append(r() if callable(r) else r)
        return Group(*parts)

    def _write(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout
        self.lines_written += 1

    # -- Observer -------------------------------------------------------------------------
    async def on_batch(self, batch: Any, state: LiveState, events: list[Event]) -> None:
        self.state = state
        meta = getattr(batch, "meta", None) or {}
        if "battery" in meta:
            self.battery = meta["battery"]
        if meta.get("heart_rate"):
            self.heart_rate = int(meta["heart_rate"][-1]["bpm"])
        if "connected" in meta:
            self.set_connection(meta["connected"])
        if self.plain:
            now = time.monotonic()
            if now - self._last_line >= self.min_interval_s:
                self._last_line = now
                self._write(self.line())
            return
        if self._live is None:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self.renderable(), console=Console(file=self.stream),
                              refresh_per_second=self.refresh_per_second, transient=False)
            self._live.start()
        else:
            self._live.update(self.renderable())

    async def on_end(self, result: AnalysisResult) -> None:
        if self._live is not None:
            self._live.update(self.renderable())
            self._live.stop()
            self._live = None
        t = result.tallies
        self._write(f"session end: {result.duration_s / 60:.1f} min, retro {_steps(t.retro_steps)} "
                    f"{t.retro_seconds / 60:.1f} min, forward {_steps(t.forward_steps)}, "
                    f"{t.direction_changes} direction changes")


def _steps(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"
