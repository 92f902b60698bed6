"""Personal calibration: both walking directions of one wearer, with one sensor worn one way.

Without calibration the detector knows only the forward warm-up, and takes backward walking
to be forward walking reversed in time (its polarisation pseudo-vector the forward one
negated). Real people are only roughly so. A calibration records about 20 s of each
direction; the reference the detector compares every window with becomes the *difference*
of the two directions' mean pseudo-vectors (per stride harmonic): the axis that best tells
this wearer's two walks apart. For an exact time reversal it equals the forward reference,
so the model needs no retraining to use it.

A calibration is refused (one-line error) when a direction is missing or too short, when it
is not steady walking, or when its two directions cannot be told apart.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from coach.errors import CoachError
from coach.signal.features import (
    EVEN_NAMES,
    FEATURES_VERSION,
    HOP,
    K_BANDS,
    CadenceTrack,
    RawFeatures,
    Reference,
    check_features_version,
    check_stored_values,
    raw_features,
    recording_windows,
)
from coach.signal.resample import FS

MIN_SECONDS = 5.0          # of each direction (about 8 steps)
MIN_WALK_WINDOWS = 8       # walking windows of each direction (2 s long, 0.2 s apart; a 5 s
                           # recording holds 16)
MIN_SIGN_SHARE = 0.6       # share of each direction's windows on its own side of the axis
MIN_PERIODICITY = 0.6      # autocorrelation at the stride of a steady walk
MIN_RMS_G = 0.08           # movement (g, RMS) of even a slow walk
MIN_GAP = 0.4              # mean similarity forward minus mean similarity backward
# A slow or gentle walk (a frail or tired walker: under 1.2 steps/s no whole stride fits a
# window, and backward steps may move the trunk only 0.03-0.07 g) is taken at the detector's
# own walking level, but only if its two directions are then clearly apart: on simulated
# people such walks separate by 1.1-2.0, while standing labelled as walking reached 0.43
GENTLE_PERIODICITY = 0.35
GENTLE_RMS_G = 0.03
GENTLE_MIN_GAP = 1.0
GENTLE_MIN_SHARE = 0.9
MAX_STEP_HZ = 2.8          # a brisk walk (the detector's own walking flag stops at 2.4)
CADENCE_TOL = 1.3          # a window whose cadence is this far off the bout's (_bout_cadence): an octave
                           # slip, whose stride-synchronous polarisation is of another period


@dataclass
class DirectionStats:
    """Mean window statistics of one direction's walking."""

    odd: np.ndarray            # (K_BANDS, 3) mean polarisation pseudo-vector per harmonic
    skew: np.ndarray           # (3,) mean jerk skewness
    gravity: np.ndarray        # (3,) unit gravity in sensor axes
    step_hz: float
    log_rms: float
    windows: int
    seconds: float


@dataclass
class Calibration:
    """Forward and backward walking of one wearer; gives the detector its reference."""

    forward: DirectionStats
    backward: DirectionStats
    separation: dict[str, float] = field(default_factory=dict)

    def reference(self) -> Reference:
        """The reference for the detector: the axis between the two directions, ready to use."""
        ref = Reference()
        sk = (self.forward.skew - self.backward.skew) / 2
        ref._blend_list(1.0, self.forward.odd.reshape(-1).tolist(), sk.tolist(),
                        self.forward.step_hz, self.forward.log_rms, self.forward.gravity.tolist())
        ref.set_axis(self.forward.odd, self.backward.odd)
        ref.n = ref.warmup_windows
        ref.verdict = "calibrated"
        ref.pace_follow = (self.backward.step_hz / max(self.forward.step_hz, 0.1),
                           self.backward.log_rms - self.forward.log_rms)
        return ref

    def to_dict(self) -> dict[str, Any]:
        def one(s: DirectionStats) -> dict[str, Any]:
            return {"odd": s.odd.reshape(-1).tolist(), "skew": s.skew.tolist(),
                    "gravity": s.gravity.tolist(), "step_hz": s.step_hz, "log_rms": s.log_rms,
                    "windows": s.windows, "seconds": s.seconds}
        return {"forward": one(self.forward), "backward": one(self.backward),
                "separation": self.separation, "features": FEATURES_VERSION}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Calibration":
        check_features_version(d)
        def one(x: dict[str, Any]) -> DirectionStats:
            odd = np.asarray(x["odd"], dtype=float)
            if odd.size != K_BANDS * 3 or len(x["skew"]) != 3 or len(x["gravity"]) != 3:
                raise ValueError("calibration of another shape")
            check_stored_values([float(v) for v in odd.ravel()], [float(v) for v in x["skew"]],
                                [float(v) for v in x["gravity"]], float(x["step_hz"]),
                                float(x["log_rms"]))
            return DirectionStats(odd.reshape(K_BANDS, 3), np.asarray(x["skew"], dtype=float),
                                  np.asarray(x["gravity"], dtype=float), float(x["step_hz"]),
                                  float(x["log_rms"]), int(x["windows"]), float(x["seconds"]))
        return cls(one(d["forward"]), one(d["backward"]), dict(d.get("separation", {})))


def _direction_windows(t: np.ndarray, acc: np.ndarray) -> RawFeatures | None:
    track = CadenceTrack()      # read as the live stream reads it (restarted after a gap)
    outs = [raw_features(wins, track) for wins, _ in recording_windows(t, acc, None, track)]
    if not outs:
        return None
    return RawFeatures.concat(outs)


def steady_odd(raw: RawFeatures, near_hz: float | None = None) -> np.ndarray | None:
    """The mean polarisation of raw's steady walking at one cadence, chosen as a calibration
    chooses its own (steady, else gentle walking; one bout's cadence), or None with fewer than
    MIN_WALK_WINDOWS such windows: what a session's warm-up is compared with a calibration by.
    near_hz: prefer the windows read at this cadence (the calibration's), if there are enough.
    Why: the detector's own reference learns from any walking, and a brisk walker's windows read
    now at the cadence, now at half of it (a polarisation spanning two strides, of another
    period): compared unlike with like, a brisk walker's own calibration was set aside."""
    for periodicity, rms_g in ((MIN_PERIODICITY, MIN_RMS_G), (GENTLE_PERIODICITY, GENTLE_RMS_G)):
        walk = _walking(raw, periodicity, rms_g, near_hz)
        if walk.sum() >= MIN_WALK_WINDOWS:
            return raw.odd[walk].mean(axis=0)
    return None


def _walking(raw: RawFeatures, periodicity: float, rms_g: float,
             near_hz: float | None = None) -> np.ndarray:
    """Windows of steady walking at one bout's cadence (near_hz's, if enough are)."""
    # (a brisk walker at 2.4-2.5 steps/s had kept only the windows read at half cadence,
    # whose polarisation spans two strides: a forward of another period than the walking)
    walk = (raw.gait & (raw.even[:, EVEN_NAMES.index("periodicity")] > periodicity)
            & (raw.even[:, 0] > np.log(rms_g)) & (raw.step_hz < MAX_STEP_HZ))
    if near_hz:
        near = walk & (np.abs(np.log(raw.step_hz / near_hz)) < np.log(CADENCE_TOL))
        if near.sum() >= MIN_WALK_WINDOWS:
            return near
    if walk.any():
        walk &= np.abs(np.log(raw.step_hz / _bout_cadence(raw.step_hz[walk]))) < np.log(CADENCE_TOL)
    return walk


def _bout_cadence(hz: np.ndarray) -> float:
    """One bout's cadence from its windows' own. A brisk walker's windows read now at the
    cadence, now at half of it (their autocorrelation finds two strides), about as often: the
    median had then fallen between the two, near no window, and the simulated sensors' wearer
    (2.34 steps/s) was refused 3 times in 96 calibrations, or calibrated at half cadence 12
    times (now 0 and 1). A third or more of the windows at twice the cadence found is the
    cadence. Over 390 simulated people the calibration's cadence was more than 30 % off the
    walker's steps in 18 of 772 directions, against 22 with the median
    (benchmarks/calibration_cadence.py)."""
    tol = np.log(CADENCE_TOL)
    med = float(np.median(hz))
    if (np.abs(np.log(hz / med)) < tol).mean() < 0.5:      # between two readings of it
        med = float(np.median(hz[hz < med]))
    double = np.abs(np.log(hz / (2 * med))) < tol
    if double.mean() >= 1 / 3:
        med = float(np.median(hz[double]))
    return med


def _held_seconds(t: np.ndarray) -> float:
    """What the samples hold: a 5 s recording at 50 Hz is 250 samples, 4.98 s first to last."""
    return float(t[-1] - t[0]) * len(t) / (len(t) - 1) if len(t) > 1 else 0.0


def _short(seconds: float) -> bool:
    return round(seconds, 2) < MIN_SECONDS       # (to the report's precision: 4.999 is 5 s)


def _stats(name: str, t: np.ndarray, acc: np.ndarray) -> tuple[DirectionStats, np.ndarray, bool]:
    """The direction's statistics, its walking windows' polarisation, and whether it was only
    a gentle walk (which the caller holds to a clearer separation)."""
    seconds = _held_seconds(t)
    if _short(seconds):
        raise CoachError(f"calibration: {seconds:.2f} s of {name} walking; record at least "
                         f"{MIN_SECONDS:g} s (about 8 steps) of each direction")
    raw = _direction_windows(t, acc)
    # steady walking: clearly periodic and clearly moving (stricter than the detector's own
    # walking flag, which must also catch the first and last steps of a bout); else a gentle walk
    walk, gentle = np.zeros(0, bool), False
    if raw is not None:
        walk = _walking(raw, MIN_PERIODICITY, MIN_RMS_G)
        if walk.sum() < MIN_WALK_WINDOWS:
            walk, gentle = _walking(raw, GENTLE_PERIODICITY, GENTLE_RMS_G), True
    if raw is None or walk.sum() < MIN_WALK_WINDOWS:
        got = int(walk.sum()) * HOP / FS
        raise CoachError(f"calibration: the {name} part is not steady walking (about {got:.0f} s "
                         f"of it looks like walking); walk steadily for at least {MIN_SECONDS:g} s")
    odd = raw.odd[walk]
    g = raw.gravity[walk].mean(axis=0)
    stats = DirectionStats(
        odd=odd.mean(axis=0), skew=raw.skew[walk].mean(axis=0),
        gravity=g / max(float(np.linalg.norm(g)), 1e-9),
        step_hz=float(np.median(raw.step_hz[walk])), log_rms=float(np.median(raw.even[walk, 0])),
        windows=int(walk.sum()), seconds=seconds)
    return stats, odd, gentle


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The cosine between two polarisation vectors (any shape, compared element by element)."""
    return float((a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def _cos(z: np.ndarray, d: np.ndarray) -> np.ndarray:
    zf = z.reshape(len(z), -1)
    df = d.reshape(-1)
    return zf @ df / (np.linalg.norm(zf, axis=1) * np.linalg.norm(df) + 1e-12)


def _found(lab: np.ndarray) -> str:
    """The labels other than forward and backward that a refused calibration holds (a typo
    such as 'forwrd' had read as no forward walking at all), most rows first; or nothing."""
    names, counts = np.unique(lab[(lab != "forward") & (lab != "backward") & (lab != "")],
                              return_counts=True)
    if not len(names):
        return ""
    order = np.argsort(-counts, kind="stable")[:4]
    listed = ", ".join(f"'{names[i]}' ({counts[i]} rows)" for i in order)
    return f"; other labels in it: {listed}{', ...' if len(names) > 4 else ''}"


def calibrate(t: np.ndarray, acc: np.ndarray, labels: list[str]) -> Calibration:
    """Build a calibration from a labelled recording (label forward/backward per sample).

    Each direction's samples are taken as their own recording (so the windows do not straddle
    the turn); other labels are ignored.
    """
    lab = np.asarray(labels)
    parts: dict[str, tuple[DirectionStats, np.ndarray, bool]] = {}
    for name in ("forward", "backward"):
        m = lab == name
        if not m.any():
            raise CoachError(f"calibration: no {name} walking in it (labels must be 'forward' "
                             f"and 'backward', at least 5 s of each){_found(lab)}")
        idx = np.nonzero(m)[0]
        # the longest run of this label (a calibration is one bout of each direction)
        cuts = np.nonzero(np.diff(idx) > 1)[0]
        starts = np.concatenate([[0], cuts + 1])
        ends = np.concatenate([cuts + 1, [len(idx)]])
        k = int(np.argmax([t[idx[e - 1]] - t[idx[s]] for s, e in zip(starts, ends)]))
        sel = idx[starts[k]:ends[k]]
        if len(starts) > 1 and _short(run_s := _held_seconds(t[sel])):
            raise CoachError(f"calibration: the longest unbroken stretch of {name} walking is "
                             f"{run_s:.2f} s (of {m.sum()} samples labelled {name}, in "
                             f"{len(starts)} stretches); record at least {MIN_SECONDS:g} s in one go"
                             f"{_found(lab)}")
        parts[name] = _stats(name, t[sel], acc[sel])
    (fs, fodd, fgentle), (bs, bodd, bgentle) = parts["forward"], parts["backward"]
    angle = math.degrees(math.acos(float(np.clip(fs.gravity @ bs.gravity, -1, 1))))
    if angle > 45:
        raise CoachError(f"calibration: the sensor moved between the two directions (gravity "
                         f"turned {angle:.0f} degrees); keep it worn the same way throughout")
    d = (fs.odd - bs.odd) / 2
    sf, sb = _cos(fodd, d), _cos(bodd, d)
    sep = {"forward_share": float((sf > 0).mean()), "backward_share": float((sb < 0).mean()),
           "gap": float(sf.mean() - sb.mean())}
    gentle = fgentle or bgentle
    share, gap = (GENTLE_MIN_SHARE, GENTLE_MIN_GAP) if gentle else (MIN_SIGN_SHARE, MIN_GAP)
    if min(sep["forward_share"], sep["backward_share"]) < share or sep["gap"] < gap:
        if gentle:
            which = "forward and backward parts are" if fgentle and bgentle else \
                f"{'forward' if fgentle else 'backward'} part is"
            raise CoachError(f"calibration: the {which} not steady walking, and at so gentle a "
                             f"pace the two directions cannot be told apart (separation "
                             f"{sep['gap']:.2f}); walk steadily for at least {MIN_SECONDS:g} s each way")
        raise CoachError("calibration: the forward and backward parts cannot be told apart "
                         f"(separation {sep['gap']:.2f}); walk clearly forward, then clearly backward")
    return Calibration(fs, bs, sep)


__all__ = ["Calibration", "DirectionStats", "calibrate", "cosine", "steady_odd"]
