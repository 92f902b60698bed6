"""What the coach says, worded for the ear (numbers up to twenty as words)."""
from __future__ import annotations

from coach.types import Direction

_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
          "fifteen sixteen seventeen eighteen nineteen twenty").split()

LOOK_BACK = "Look over your shoulder"
SLOW_DOWN = "Slow down"
STUMBLE = "Stumble? Stop and steady yourself."
# Fall prompts follow first aid: ask, never tell a fallen person to get up; stay still if hurt.
FALL = "Are you OK? If you are hurt, stay still."
FALL_MOVED = "You moved. If anything hurts, stay where you are. If not, take your time getting up."
# No movement for a while after a fall: what is said depends on whether an alert went out.
FALL_NO_ALERT = "No movement. If you are hurt, stay still and call for help."
FALL_ALERT_SENT = "Alert sent. If you are hurt, stay still."
FIRST_RUN = ("First time: if you have had falls or balance problems, "
             "ask your doctor before walking backward.")
BASICS = "Look over your shoulder often. Go at half pace."
TREADMILL = "Hold the handrails. Start at the slowest speed."
SENSOR_LOST = "Sensor lost. Stop walking backward until it is back."
SENSOR_BACK = "Sensor back."
SENSOR_GONE = "Sensor gone: the session ends here."
STILL_FORWARD = "Still walking forward: turn around when ready"
STILL_BACKWARD = "Backward time is up: turn to face forward when ready"
SESSION_CAP = "That is enough backward walking for today: finish facing forward."
PROGRAM_DONE = "Program complete. Well done."
REST = "Keep it easy, or rest."


def number(n: int) -> str:
    return _WORDS[n] if 0 <= n <= 20 else str(n)


def count(n: int, noun: str, plural: str = "") -> str:
    """1, "second" -> "one second"; 2 -> "two seconds" (numbers over twenty as digits)."""
    return f"{number(n)} {noun if n == 1 else (plural or noun + 's')}"


def duration(seconds: float) -> str:
    """90 -> "90 seconds", 60 -> "one minute", 150 -> "two and a half minutes"."""
    s = int(round(seconds))
    if s < 60 or (s < 120 and s % 60):
        return count(s, "second")
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
    return f"Turn around in {count(int(round(seconds)), 'second')}"


def interval(seconds: float, direction: str, label: str = "") -> str:
    if label == "cool-down":
        return f"Cool-down: {duration(seconds)} forward"
    return f"{cap(duration(seconds))} {direction}"


def progress(retro_seconds: float, retro_steps: int) -> str:
    """A running total, worded as one."""
    m = int((retro_seconds + 0.5) // 60)
    return f"So far: {count(m, 'minute')} backward, {count(retro_steps, 'retro step')}"


def continuous_cap(seconds: float) -> str:
    return f"{cap(duration(seconds))} backward in a row: turn and walk forward for a while."


def intro(title: str, warmup_s: float, forward_s: float, backward_s: float, total_s: float,
          kind: str, total_backward_s: float = 0.0, standing: str = "") -> str:
    """The program in one breath (the whole opening talk stays within 10 s)."""
    if kind == "free":
        return "Free walk. I will call your direction as you go."
    if kind == "progression":
        head = f"{title}, {standing}" if standing else title
        return f"{head}: {duration(total_backward_s)} backward today."
    warm = "warm up forward, then " if warmup_s > 0 else ""
    return f"{title}: {warm}{duration(backward_s)} backward, {duration(forward_s)} forward."


def standing(level: int, levels: int, change: str) -> str:
    """Where the walker stands in the progression: "step two of nine, one up"."""
    where = f"step {number(level + 1)} of {number(levels)}"
    return where + {"up": ", one up", "back": ", one back"}.get(change, "")


def summary(retro_seconds: float, retro_steps: int, changes: int, stumbles: int) -> str:
    m, s = divmod(int(round(retro_seconds)), 60)
    back = count(m, "minute") + (f" {count(s, 'second')}" if m and s else "")
    if m == 0:
        back = count(s, "second")
    text = f"Session done: {back} backward, {count(retro_steps, 'retro step')}"
    if changes:
        text += f", {count(changes, 'direction change')}"
    text += "."
    if stumbles:
        text += f" {cap(count(stumbles, 'stumble'))}: take it easier next time."
    return text
