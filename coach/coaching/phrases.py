"""What the coach says, worded for the ear (numbers up to twenty as words)."""
from __future__ import annotations

from coach.types import Direction

_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
          "fifteen sixteen seventeen eighteen nineteen twenty").split()

LOOK_BACK = "Look over your shoulder"
SLOW_DOWN = "Slow down"
STUMBLE = "Stumble? Stop and steady yourself."
FALL = "Are you OK? Move, or stand up if you can."
FALL_MOVED = "Good. Take a moment before you go on."
FALL_ALERT = "No movement. Sending an alert."
FIRST_RUN = ("Before you start: if you have a history of falls or balance problems, "
             "get clearance from your doctor first.")
BASICS = ("Walking backward: look over your shoulder often, go at about half your forward pace, "
          "and use a flat stretch you know, or a treadmill.")
TREADMILL = ("Treadmill mode: hold the handrails, start at the slowest speed, "
             "and walk backward at about half your forward pace.")
STILL_FORWARD = "Still walking forward: turn around when ready"
STILL_BACKWARD = "Backward time is up: turn to face forward when ready"
SESSION_CAP = "That is enough backward walking for today: finish facing forward."
PROGRAM_DONE = "Program complete. Well done."
REST = "You have walked enough this week, or already today: keep this one easy, or rest."


def number(n: int) -> str:
    return _WORDS[n] if 0 <= n <= 20 else str(n)


def duration(seconds: float) -> str:
    """90 -> "90 seconds", 60 -> "one minute", 150 -> "two and a half minutes"."""
    s = int(round(seconds))
    if s < 60 or (s < 120 and s % 60):
        return f"{number(s)} seconds"
    m, r = divmod(s, 60)
    if r == 0:
        return f"{number(m)} minute{'s' if m != 1 else ''}"
    if 25 <= r <= 35:
        return f"{number(m)} and a half minutes"
    return f"{number(m)} minutes {number(r)}" if r >= 10 else f"{number(m)} minutes"


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def cue(direction: str) -> str:
    return "Backward" if direction == Direction.BACKWARD else "Forward"


def turn_in(seconds: float) -> str:
    return f"Turn around in {int(round(seconds))} seconds"


def interval(seconds: float, direction: str, label: str = "") -> str:
    if label == "cool-down":
        return f"Cool-down: {duration(seconds)} forward"
    return f"{cap(duration(seconds))} {direction}"


def progress(retro_seconds: float, retro_steps: int) -> str:
    m = int((retro_seconds + 0.5) // 60)
    return f"{cap(number(m))} minute{'s' if m != 1 else ''} backward, {retro_steps} retro steps"


def continuous_cap(seconds: float) -> str:
    return f"{cap(duration(seconds))} backward in a row: turn and walk forward for a while."


def intro(title: str, warmup_s: float, forward_s: float, backward_s: float, total_s: float,
          kind: str, total_backward_s: float = 0.0) -> str:
    if kind == "free":
        return "Free walk. I will call your direction and keep you safe."
    if kind == "progression":
        n = max(1, int(round(total_backward_s / backward_s))) if backward_s else 0
        return (f"{title}: {duration(total_backward_s)} backward today, {number(n)} bouts of "
                f"{duration(backward_s)} with {duration(forward_s)} forward between, after "
                f"warming up forward for {duration(warmup_s)}.")
    parts = [f"{title}."]
    if warmup_s > 0:
        parts.append(f"Warm up forward for {duration(warmup_s)}, then")
    parts.append(f"{duration(forward_s)} forward and {duration(backward_s)} backward,"
                 f" about {int(round(total_s / 60))} minutes in all.")
    return " ".join(parts)


def summary(retro_seconds: float, retro_steps: int, changes: int, stumbles: int) -> str:
    m, s = divmod(int(round(retro_seconds)), 60)
    back = f"{number(m)} minute{'s' if m != 1 else ''}" + (f" {number(s)} seconds" if m and s else "")
    if m == 0:
        back = f"{number(s)} seconds"
    text = f"Session done: {back} backward, {retro_steps} retro steps"
    if changes:
        text += f", {changes} direction changes"
    text += "."
    if stumbles:
        text += f" {cap(number(stumbles))} stumble{'s' if stumbles != 1 else ''}: take it easier next time."
    return text
