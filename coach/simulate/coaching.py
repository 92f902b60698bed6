"""Scripted sessions for testing the coach without the detector: samples, state and events.

A script is a list of Seg(direction, seconds, ...). Each batch comes with the LiveState and
events a detector with `latency_s` would report (as coach.detect.pipeline does: an event
when the walking direction changes, back-dated to the true onset in data["since_s"]; none
for the first forward walk or for walking on the same way after a pause), and synthetic samples: gravity plus a step bounce while walking,
a jolt and a skipped step for a stumble, an impact then lying on the side for a fall.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from coach.detect.types import Event, LiveState, Tallies
from coach.sources.base import SampleBatch


@dataclass(frozen=True, slots=True)
class Seg:
    direction: str                 # forward | backward | still | other | fall
    seconds: float
    cadence_spm: float = 0.0       # 0: 110 forward, 80 backward
    stumble_at_s: float | None = None   # a stumble this far into the segment
    moves_after_s: float | None = None  # fall: start moving again after this long lying down


def simulate(script: list[Seg], fs: float = 50.0, batch_s: float = 0.2, latency_s: float = 1.0,
             forward_cadence_spm: float = 110.0, seed: int = 0
             ) -> Iterator[tuple[SampleBatch, LiveState, list[Event]]]:
    """Yield (batch, state, events) for a scripted session."""
    rng = np.random.default_rng(seed)
    n = int(round(sum(s.seconds for s in script) * fs))
    t = np.arange(n) / fs
    acc = np.zeros((n, 3))
    acc[:, 2] = 1.0
    truth = np.empty(n, dtype=object)
    steps: list[tuple[float, str]] = []
    cad = np.zeros(n)
    start = 0.0
    for seg in script:
        i0, i1 = int(round(start * fs)), int(round((start + seg.seconds) * fs))
        d = "still" if seg.direction == "fall" else seg.direction
        truth[i0:i1] = d
        if seg.direction in ("forward", "backward", "other"):
            spm = seg.cadence_spm or (110.0 if seg.direction != "backward" else 80.0)
            cad[i0:i1] = spm
            period = 60.0 / spm
            k = start + period / 2
            skip_done = False
            while k < start + seg.seconds:
                if seg.stumble_at_s is not None and not skip_done and k >= start + seg.stumble_at_s:
                    skip_done = True
                    j = int(round(k * fs))
                    acc[j:j + 3] += [2.0, 0.0, 0.8]   # the jolt (~2.5 g)
                    k += 0.6 * period               # a broken rhythm
                steps.append((k, seg.direction))
                k += period
            seg_t = t[i0:i1] - start
            acc[i0:i1, 2] += 0.25 * np.sin(2 * np.pi * seg_t / period)
            acc[i0:i1, 0] += 0.1 * np.cos(2 * np.pi * seg_t / period)
        elif seg.direction == "fall":
            j = i0 + int(0.5 * fs)
            acc[i0:j, :] += rng.normal(0, 0.3, (j - i0, 3))
            acc[j:j + 3] = [2.5, 0.5, 2.5]          # impact ~3.6 g
            rest = slice(j + 3, i1)
            acc[rest] = [1.0, 0.0, 0.05]            # lying on the side: gravity along x
            if seg.moves_after_s is not None:
                m = i0 + int(seg.moves_after_s * fs)
                acc[m:i1, 2] += 0.3 * np.sin(2 * np.pi * 1.5 * t[m:i1])
        start += seg.seconds
    acc += rng.normal(0, 0.004, acc.shape)

    # what a detector with latency_s reports
    tal = Tallies()
    state = LiveState(forward_cadence_spm=forward_cadence_spm, calibrated=True)
    reported, onset, walk = "still", 0.0, ""
    step_i = 0
    bs = max(1, int(round(batch_s * fs)))
    for b0 in range(0, n, bs):
        b1 = min(n, b0 + bs)
        now = float(t[b1 - 1])
        events: list[Event] = []
        # direction: the truth as of now - latency, onset back-dated
        lag_i = int(round((now - latency_s) * fs))
        if lag_i >= 0:
            d = truth[lag_i]
            if d != reported:
                j = lag_i
                while j > 0 and truth[j - 1] == d:
                    j -= 1
                reported, onset = d, float(t[j])
                # like the detector: an event when the walking direction changes (not for the
                # first forward walk, nor for walking on the same way after a pause)
                if d in ("forward", "backward") and d != walk:
                    if walk or d == "backward":
                        tal.direction_changes += 1
                        events.append(Event(now, "direction_change", {"direction": d, "since_s": onset}))
                    walk = d
        while step_i < len(steps) and steps[step_i][0] <= now - latency_s:
            ts, sd = steps[step_i]
            events.append(Event(ts + latency_s, "step", {"direction": sd}))
            if sd == "backward":
                tal.retro_steps += 1
            elif sd == "forward":
                tal.forward_steps += 1
            step_i += 1
        dt_b = (b1 - b0) / fs
        if reported == "backward":
            tal.retro_seconds += dt_b
        elif reported == "forward":
            tal.forward_seconds += dt_b
        seg_acc = acc[b0:b1]
        state = LiveState(t_s=now, direction=reported, since_s=onset,
                          cadence_spm=float(cad[max(0, lag_i)]) if reported in ("forward", "backward") else 0.0,
                          forward_cadence_spm=forward_cadence_spm, confidence=0.9, calibrated=True,
                          tallies=Tallies(**{k: getattr(tal, k) for k in tal.__slots__}),
                          jolt_g=float(np.abs(np.linalg.norm(seg_acc, axis=1) - 1).max()),
                          motion_g=float(np.linalg.norm(seg_acc, axis=1).std()))
        yield SampleBatch(t[b0:b1], seg_acc), state, events


def bouts(script: list[Seg], direction: str = "backward") -> list[tuple[float, float]]:
    """True (start, end) of each bout of `direction` in a script."""
    out: list[tuple[float, float]] = []
    t = 0.0
    for s in script:
        if s.direction == direction:
            if out and abs(out[-1][1] - t) < 1e-9:
                out[-1] = (out[-1][0], t + s.seconds)
            else:
                out.append((t, t + s.seconds))
        t += s.seconds
    return out
