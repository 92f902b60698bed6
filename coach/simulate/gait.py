"""A gait simulator: the built-in walker for the demo and the training data for the model.

There is no public backward-walking dataset to download here, so the detector is trained on
motion synthesised from published gait biomechanics:

* The trunk (pelvis) moves like an inverted pendulum: it rises to mid-stance and falls into
  double support twice per stride (vertical bounce of about 2-3 cm), slows down in the first
  half of each stance and speeds up in the second (anterior-posterior), and sways once per
  stride from side to side. The trunk also rolls, pitches and yaws a few degrees per stride.
* The thigh (a phone in a front trouser pocket) follows the hip flexion curve (about +30 deg
  at heel strike to -10 deg at toe-off; Winter, Biomechanics and Motor Control of Human
  Movement), which swings gravity across the sensor's axes.
* Backward walking is close to the kinematic time reversal of forward walking
  (Thorstensson 1986; Grasso et al. 1998): the smooth kinematics are played backwards. It is
  not an exact mirror: contact is toe-first with a smaller impact, steps are shorter, speed is
  lower (40-60 % of forward) and cadence similar or lower. Impacts stay causal (a sharp rise
  then a decay) whichever way one walks, so they do not reverse.
* Each simulated person gets their own harmonic signature, asymmetry and style; each session
  its own placement, mounting (any rotation), sample rate, noise, bias, scale, range and
  quantisation.

Everything is driven by a numpy Generator, so a seed reproduces a session exactly.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from coach.constants import PLACEMENTS, G  # noqa: F401 - PLACEMENTS re-exported
from coach.sources.base import SampleBatch

FS_SIM = 200.0  # internal simulation rate, Hz
ACTIVITIES = ("forward", "backward", "still", "turn", "sidestep", "run", "torso", "gesture")
LABEL_OF = {"forward": "forward", "backward": "backward", "still": "still", "turn": "other",
            "sidestep": "other", "run": "run", "torso": "other", "gesture": "other"}


@dataclass(slots=True)
class Bout:
    activity: str
    duration_s: float
    pace: float = 1.0     # a walking bout's cadence and stride against the walker's own


@dataclass
class SimSession:
    """A simulated recording with its ground truth (the benchmark's truth format)."""

    t: np.ndarray
    acc: np.ndarray              # (n,3) in g, sensor axes
    labels: list[str]            # one per sample
    steps: list[dict]            # [{"t": s, "direction": label}]
    changes: list[dict]          # [{"t": s, "to": "forward"|"backward"}]
    placement: str
    rate_hz: float
    meta: dict = field(default_factory=dict)

    def truth(self) -> dict:
        return {"label_rate_hz": self.rate_hz, "labels": self.labels, "steps": self.steps,
                "changes": self.changes}


@dataclass
class Person:
    """A walker's own style: cadence, amplitudes and harmonic signature."""

    step_hz: float
    speed_scale: float
    back_cadence_ratio: float
    back_amp_ratio: float
    impact_g: float
    back_impact_ratio: float
    asym: float
    harm: dict[str, np.ndarray]        # per channel: complex harmonic coefficients
    back_harm_dev: dict[str, np.ndarray]
    lean_deg: float
    back_lean_deg: float
    hip_amp_deg: float
    style: str

    @staticmethod
    def random(rng: np.random.Generator, wide: bool = True,
               styles: list[str] | None = None, back_amp: tuple[float, float] = (0.45, 1.0),
               back_cadence: tuple[float, float] = (0.7, 1.1)) -> "Person":
        """A random walker. wide=True draws from the broad population the model is trained on
        (cadence 0.8-2.4 steps/s, long strides, lean, bounce, sway, asymmetry, limp);
        styles: draw only from these (leave-one-style-out validation); back_amp, back_cadence:
        the range of the backward walk's amplitude and cadence against the forward walk's (a
        wider range draws the same people, scaled)."""
        pool = ["normal", "normal", "slow", "elderly", "tired", "brisk", "shuffle", "exaggerated"]
        if wide:
            pool += ["long", "bouncy", "stooped", "swagger", "limp", "sad", "proud", "dragging",
                     "normal", "brisk"]
        if styles is not None:
            pool = [x for x in pool if x in styles]
        style = str(rng.choice(pool))
        step_hz = {"normal": rng.uniform(1.65, 2.05), "slow": rng.uniform(1.2, 1.7),
                   "elderly": rng.uniform(1.0, 1.75), "tired": rng.uniform(1.2, 1.8),
                   "brisk": rng.uniform(1.9, 2.4), "shuffle": rng.uniform(1.3, 2.1),
                   "exaggerated": rng.uniform(1.1, 1.7), "long": rng.uniform(0.8, 1.4),
                   "bouncy": rng.uniform(1.7, 2.4), "stooped": rng.uniform(1.2, 1.9),
                   "swagger": rng.uniform(1.3, 1.9), "limp": rng.uniform(1.1, 1.8),
                   "sad": rng.uniform(1.0, 1.6), "proud": rng.uniform(1.5, 2.0),
                   "dragging": rng.uniform(0.9, 1.5)}[style]
        amp = {"normal": 1.0, "slow": 0.7, "elderly": 0.55, "tired": 0.75, "brisk": 1.3,
               "shuffle": 0.45, "exaggerated": 1.4, "long": 1.5, "bouncy": 1.3, "stooped": 0.8,
               "swagger": 1.1, "limp": 0.8, "sad": 0.6, "proud": 1.1, "dragging": 0.4}[style]
        amp *= rng.uniform(0.7, 1.3)
        # per-style shape: vertical bounce, side sway, trunk yaw/roll, lean (deg), asymmetry
        v_sc = {"bouncy": 1.8, "shuffle": 0.6, "dragging": 0.5, "long": 1.2}.get(style, 1.0)
        ml_sc = {"swagger": 2.2, "limp": 1.6, "elderly": 1.4, "long": 1.3}.get(style, 1.0)
        rot_sc = {"swagger": 2.0, "exaggerated": 1.5, "proud": 1.2, "stooped": 0.8}.get(style, 1.0)
        lean_lo, lean_hi = {"stooped": (12, 35), "sad": (5, 20), "proud": (-8, 2),
                            "tired": (3, 15), "elderly": (5, 20)}.get(style, (-3, 10))
        asym_sd = {"limp": 0.25}.get(style, 0.06)
        v_sc *= rng.uniform(0.7, 1.4)
        ml_sc *= rng.uniform(0.6, 1.5)
        rot_sc *= rng.uniform(0.6, 1.5)

        def sig(n: int, main: dict[int, complex], spread: float) -> np.ndarray:
            c = (rng.normal(0, spread, n) + 1j * rng.normal(0, spread, n)) / np.sqrt(2)
            c /= np.arange(1, n + 1) ** 0.7
            for k, v in main.items():
                c[k - 1] += v * rng.uniform(0.8, 1.2) * np.exp(1j * rng.normal(0, 0.25))
            return c

        rich = rng.uniform(0.5, 2.0)    # how much of the waveform lies outside the main harmonics
        # Displacement harmonics on stride phase (harmonic k = k per stride), in metres.
        # Vertical: main at 2/stride (one bounce per step), highest at mid-stance.
        # AP: velocity lowest at mid-stance -> displacement lags the bounce by a quarter.
        harm = {
            "v": sig(8, {2: 0.025 * v_sc}, 0.004 * rich),
            "ap": sig(8, {2: 0.012j}, 0.003 * rich),
            "ml": sig(8, {1: 0.025j * ml_sc}, 0.003 * rich),
            "pitch": sig(6, {2: np.deg2rad(1.5)}, np.deg2rad(0.5) * rich),
            "roll": sig(6, {1: np.deg2rad(3.0) * rot_sc}, np.deg2rad(0.7) * rich),
            "yaw": sig(6, {1: np.deg2rad(4.0) * rot_sc}, np.deg2rad(1.0) * rich),
            # hip flexion, radians: mean + 1st harmonic dominant, peak near heel strike
            "hip": sig(5, {1: np.deg2rad(21.0) * np.exp(-2j * np.pi * 0.225),
                           2: np.deg2rad(3.0) * 1j}, np.deg2rad(1.0) * rich),
            "arm": sig(4, {1: np.deg2rad(18.0)}, np.deg2rad(2.0)),
        }
        # how far this person's backward walk is from an exact time reversal
        # (the pendulum's main harmonics are held by mechanics, so they deviate least)
        dev_scale = rng.uniform(0.05, 0.5)
        dev = {}
        for k, v in harm.items():
            sc = np.full(v.shape, dev_scale)
            sc[np.abs(v) >= 0.5 * np.abs(v).max()] *= 0.35
            dev[k] = (rng.normal(0, 1, v.shape) + 1j * rng.normal(0, 1, v.shape)) * sc * np.abs(v)
        return Person(
            step_hz=step_hz, speed_scale=amp, back_cadence_ratio=rng.uniform(*back_cadence),
            back_amp_ratio=rng.uniform(*back_amp), impact_g=rng.uniform(0.0, 0.8) * amp,
            back_impact_ratio=rng.uniform(0.2, 0.8), asym=rng.normal(0, asym_sd),
            harm=harm, back_harm_dev=dev, lean_deg=rng.uniform(lean_lo, lean_hi),
            back_lean_deg=rng.uniform(lean_lo - 6, lean_hi - 2), hip_amp_deg=rng.uniform(0.6, 1.3),
            style=style,
        )


@dataclass
class Realism:
    """What real sensors and mountings do that a clean render does not (training augmentation).

    impact_scale: 0 gives motion-capture-like smooth signals, >1 sharp impacts;
    lowpass_hz: band limit (a filtered or motion-capture-derived signal has nothing above it);
    wobble_hz/wobble_zeta/wobble_gain: the sensor on a strap, in a pocket or on soft tissue is a
    damped spring on the body; extra_noise_g: white noise; jitter_deg: slow mounting wobble.
    """

    impact_scale: float = 1.0
    lowpass_hz: float | None = None
    wobble_hz: float = 0.0
    wobble_zeta: float = 0.3
    wobble_gain: float = 0.0
    extra_noise_g: float = 0.0
    jitter_deg: float = 0.0

    @staticmethod
    def random(rng: np.random.Generator) -> "Realism":
        r = Realism()
        u = rng.random()
        r.impact_scale = 0.0 if u < 0.3 else float(rng.uniform(0.2, 2.0))
        if rng.random() < 0.5:
            r.lowpass_hz = float(rng.uniform(4.0, 15.0))
        if rng.random() < 0.4:
            r.wobble_hz = float(rng.uniform(4.0, 20.0))
            r.wobble_zeta = float(rng.uniform(0.1, 0.7))
            r.wobble_gain = float(rng.uniform(0.1, 1.0))
        r.extra_noise_g = float(rng.choice([0.0, 0.0, rng.uniform(0.002, 0.04)]))
        r.jitter_deg = float(rng.choice([0.0, rng.uniform(1.0, 8.0)]))
        return r


def _series(coefs: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Real Fourier series sum_k Re(c_k exp(i 2 pi k phase))."""
    k = np.arange(1, len(coefs) + 1)
    return np.real(np.exp(2j * np.pi * np.outer(phase, k)) @ coefs)


def _conv(x: np.ndarray, ker: np.ndarray) -> np.ndarray:
    """np.convolve(mode="same") that keeps len(x) even when the kernel is longer."""
    if len(ker) > len(x):
        ker = ker[(len(ker) - len(x)) // 2:][: len(x)]
        ker = ker / ker.sum() if ker.sum() else ker
    return np.convolve(x, ker, mode="same")


def _smooth_envelope(active: np.ndarray, ramp_s: float) -> np.ndarray:
    n = max(1, int(ramp_s * FS_SIM))
    ker = np.hanning(2 * n + 1)
    ker /= ker.sum()
    return np.clip(_conv(active.astype(float), ker), 0, 1)


def _impact(n: int, idx: np.ndarray, amp: np.ndarray, rng: np.random.Generator,
            f_hz: float, tau_s: float) -> np.ndarray:
    """Causal impact transients (fast rise, decaying ring) at sample indices idx."""
    out = np.zeros(n)
    L = int(0.25 * FS_SIM)
    tt = np.arange(L) / FS_SIM
    shape = np.sin(2 * np.pi * f_hz * tt + 0.3) * np.exp(-tt / tau_s) * (1 - np.exp(-tt / 0.006))
    shape /= np.max(np.abs(shape)) + 1e-12
    for i, a in zip(idx, amp):
        j = min(n, i + L)
        out[i:j] += a * shape[: j - i]
    return out


def random_program(rng: np.random.Generator, minutes: float, forward_only: bool = False,
                   others: bool = True, short: bool = False) -> list[Bout]:
    """A session plan: a forward warm-up, then intervals of forward, backward and other.

    short: bouts of a few seconds, as in recordings stitched from motion-capture clips."""
    bouts = [Bout("forward", rng.uniform(5, 9) if short else rng.uniform(6, 30))]
    total = bouts[0].duration_s
    last = "forward"
    while total < minutes * 60:
        r = rng.random()
        if forward_only:
            act = "forward" if r < 0.55 else ("still" if r < 0.65 else
                                              rng.choice(["turn", "run", "torso", "gesture", "sidestep"]) if others else "forward")
        elif last != "backward" and r < 0.45:
            act = "backward"
        elif r < 0.75:
            act = "forward"
        elif r < 0.85:
            act = "still"
        else:
            act = rng.choice(["turn", "sidestep", "run", "torso", "gesture"]) if others else "forward"
        act = str(act)
        if act == last and act in ("forward", "backward"):
            continue
        dur = {"forward": rng.uniform(5, 90), "backward": rng.uniform(4, 75),
               "still": rng.uniform(1.5, 15), "turn": rng.uniform(2, 6),
               "sidestep": rng.uniform(3, 10), "run": rng.uniform(4, 20),
               "torso": rng.uniform(3, 10), "gesture": rng.uniform(3, 12)}[act]
        if short and act in ("forward", "backward", "still"):
            dur = rng.uniform(2.5, 12) if act != "still" else rng.uniform(1.0, 5.0)
        if last in ("forward", "backward") and act in ("forward", "backward") and rng.random() < 0.6:
            bouts.append(Bout("still", rng.uniform(0.3, 2.0)))
        bouts.append(Bout(act, float(dur)))
        total += dur
        last = act
    return bouts


def simulate(rng: np.random.Generator, bouts: list[Bout], placement: str | None = None,
             rate_hz: float | None = None, person: Person | None = None,
             mounting: str | Rotation = "any", clean: bool = False,
             realism: Realism | None = None) -> SimSession:
    """Synthesise one session of the given bouts (realism: see Realism; None = as rendered)."""
    person = person or Person.random(rng)
    real = realism or Realism()
    placement = placement or str(rng.choice(["chest", "waist", "pocket", "pocket", "chest", "waist",
                                              "wrist", "hand", "bag"]))
    rate_hz = rate_hz or float(rng.choice([25, 50, 50, 52, 60, 100, 100, 104, 128, 200]))
    durs = np.array([b.duration_s for b in bouts])
    T = float(durs.sum())
    n = int(T * FS_SIM)
    t = np.arange(n) / FS_SIM
    edges = np.concatenate([[0], np.cumsum(durs)])
    bout_idx = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(bouts) - 1)
    acts = np.array([bouts[i].activity for i in bout_idx])

    # --- cadence and phase -------------------------------------------------------------
    drift = np.cumsum(rng.normal(0, 1, n)) / np.sqrt(FS_SIM) * 0.004
    drift -= _conv(drift, np.ones(int(FS_SIM * 20)) / (FS_SIM * 20))
    step_hz = np.full(n, person.step_hz) * (1 + np.clip(drift, -0.08, 0.08))
    bout_rate = np.array([rng.uniform(0.93, 1.07) for _ in bouts])[bout_idx]
    pace = np.array([b.pace for b in bouts])[bout_idx]
    step_hz *= bout_rate * pace
    step_hz[acts == "backward"] *= person.back_cadence_ratio
    step_hz[acts == "run"] = rng.uniform(2.5, 3.2)
    step_hz[acts == "turn"] *= 0.8
    step_hz[acts == "sidestep"] *= rng.uniform(0.6, 0.85)
    stride_phase = np.cumsum(step_hz / 2) / FS_SIM
    stride_phase += rng.uniform(0, 1)

    gait = np.isin(acts, ["forward", "backward", "run", "turn", "sidestep"])
    env = _smooth_envelope(gait, 0.35)
    amp = person.speed_scale * pace
    amp[acts == "backward"] *= person.back_amp_ratio
    amp[acts == "turn"] *= 0.35
    amp[acts == "sidestep"] *= 0.6
    amp[acts == "run"] = rng.uniform(2.5, 4.0)
    amp = _conv(amp, np.ones(int(0.3 * FS_SIM)) / int(0.3 * FS_SIM))
    amp *= env

    back = acts == "backward"
    # time reversal of the smooth kinematics: evaluate the waveform at -phase
    ph = np.where(back, -stride_phase, stride_phase)

    def chan(name: str, shift: float = 0.0) -> np.ndarray:
        c = person.harm[name]
        p = ph + np.where(back, -shift, shift)
        out = _series(c, p)
        if back.any():
            out[back] = _series(c + person.back_harm_dev[name], p[back])
        return out

    # body-frame displacement oscillations (m) and rotations (rad), scaled by gait amplitude
    d_v, d_ap, d_ml = chan("v") * amp, chan("ap") * amp, chan("ml") * amp
    # asymmetry: alternate steps differ in size
    side = np.sign(np.sin(2 * np.pi * ph)) * person.asym
    d_v *= 1 + side
    pitch = chan("pitch") * amp
    roll = chan("roll") * amp
    yaw_osc = chan("yaw") * amp
    sidestep = acts == "sidestep"
    if sidestep.any():  # lateral pendulum: ML takes the AP role
        d_ml = np.where(sidestep, d_ap * 1.5 * rng.choice([-1, 1]), d_ml)
        d_ap = np.where(sidestep, d_ap * 0.2, d_ap)

    # --- travel and heading ------------------------------------------------------------
    speed = np.zeros(n)
    speed[acts == "forward"] = 1.2 * person.speed_scale
    speed[acts == "backward"] = -0.6 * person.speed_scale * person.back_amp_ratio
    speed *= pace
    speed[acts == "run"] = 2.8
    speed = _conv(speed, np.hanning(int(0.8 * FS_SIM)) / np.hanning(int(0.8 * FS_SIM)).sum())
    heading = np.zeros(n)
    for i, b in enumerate(bouts):  # each bout may face a new way; turns rotate on the spot
        m = bout_idx == i
        if b.activity == "turn":
            tot = rng.choice([-1, 1]) * rng.uniform(np.pi / 2, 2 * np.pi)
            heading[m] = np.linspace(0, tot, m.sum())
    heading = np.cumsum(np.concatenate([[0], np.diff(heading) * (np.abs(np.diff(heading)) < 0.5)]))
    torso = acts == "torso"
    torso_yaw = np.zeros(n)
    if torso.any():
        torso_yaw = np.deg2rad(rng.uniform(20, 60)) * np.sin(2 * np.pi * rng.uniform(0.25, 0.6) * t)
        torso_yaw *= _smooth_envelope(torso, 0.6)

    # still: postural sway; gestures: band-limited wobble of the trunk
    sway = np.cumsum(rng.normal(0, 1, (n, 3)), axis=0) / FS_SIM
    sway -= np.array([_conv(sway[:, k], np.ones(400) / 400) for k in range(3)]).T
    sway *= 0.01
    gest = acts == "gesture"
    gest_env = _smooth_envelope(gest, 0.5)

    lean = np.where(back, person.back_lean_deg, person.lean_deg)
    lean = np.deg2rad(_conv(lean, np.ones(200) / 200))

    # pelvis position (world) and orientation
    cos_h, sin_h = np.cos(heading), np.sin(heading)
    travel = np.cumsum(speed) / FS_SIM
    fwd_x = travel + d_ap
    pos = np.stack([fwd_x * cos_h - d_ml * sin_h, fwd_x * sin_h + d_ml * cos_h, 1.0 + d_v], axis=1)
    pos += sway * (1 - env[:, None] * 0.8)
    eul = np.stack([heading + yaw_osc, pitch + lean, roll], axis=1)
    R_pelvis = Rotation.from_euler("ZYX", eul)

    if placement in ("chest", "hand"):
        eul_c = eul.copy()
        eul_c[:, 0] += torso_yaw + gest_env * 0.3 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6))
        eul_c[:, 1] += gest_env * 0.15 * np.sin(2 * np.pi * 1.1 * t) + 0.5 * pitch
        R_seg = Rotation.from_euler("ZYX", eul_c)
        off = np.array([rng.uniform(0.05, 0.12), 0, rng.uniform(0.35, 0.5)])
        if placement == "hand":  # phone held in front of the chest, looking at it
            off = np.array([0.3, rng.uniform(-0.1, 0.1), 0.3])
        seg_pos = pos + R_pelvis.apply(np.array([0, 0, 0])) + R_seg.apply(off)
    elif placement == "waist":
        R_seg = R_pelvis
        seg_pos = pos + R_seg.apply([-rng.uniform(0.08, 0.14), 0, rng.uniform(0.0, 0.12)])
    elif placement in ("pocket", "wrist", "bag"):
        leg = rng.choice([-1, 1])
        if placement == "pocket":
            # the pocket's leg; the left one runs half a stride behind the right
            hip = chan("hip", 0.0 if leg > 0 else 0.5) * person.hip_amp_deg
            hip = hip * np.minimum(amp / max(person.speed_scale, 1e-3), 1.6)
            hip += np.deg2rad(rng.uniform(5, 12)) * env
            if sidestep.any():
                hip = np.where(sidestep, hip * 0.3, hip)
            r_len = rng.uniform(0.12, 0.25)
            anchor = np.array([0, 0.1 * leg, 0])
            local = np.array([0.07, 0.02 * leg, -r_len])
        elif placement == "wrist":  # armband / wristband: arm swings against the legs
            hip = -chan("arm") * np.minimum(amp / max(person.speed_scale, 1e-3), 1.6)
            anchor = np.array([0, 0.2 * leg, 0.45])
            local = np.array([0.0, 0.04 * leg, -rng.uniform(0.15, 0.55)])
        else:  # shoulder bag: a damped pendulum hanging from the shoulder
            hip = np.zeros(n)
            w0 = 2 * np.pi * rng.uniform(0.8, 1.3)
            th, om = 0.0, 0.0
            ax_ap = np.gradient(np.gradient(d_ap, 1 / FS_SIM), 1 / FS_SIM)
            for i in range(n):
                om += (-w0 ** 2 * th - 2.0 * om - ax_ap[i] / 0.4) / FS_SIM
                th += om / FS_SIM
                hip[i] = th
            anchor = np.array([0, 0.2 * leg, 0.45])
            local = np.array([0.0, 0.05 * leg, -0.4])
        R_thigh = R_pelvis * Rotation.from_euler("Y", -hip[:, None])
        R_seg = R_thigh
        seg_pos = pos + R_pelvis.apply(anchor) + R_thigh.apply(local)
    else:
        raise ValueError(f"unknown placement {placement}")

    acc_w = np.gradient(np.gradient(seg_pos, 1 / FS_SIM, axis=0), 1 / FS_SIM, axis=0)
    acc_w[:, 2] += G
    # gestures shake the sensor directly (arm movement through the trunk / hand)
    if gest.any():
        wob = rng.normal(0, 1, (n, 3))
        b = np.hanning(int(FS_SIM * 0.5))
        wob = np.array([_conv(wob[:, k], b / b.sum()) for k in range(3)]).T
        acc_w += wob * gest_env[:, None] * G * rng.uniform(0.5, 2.0) * (2.5 if placement in ("hand", "chest") else 1)

    # foot contacts: forward at heel strike (step phase 0.45, just before the lowest point),
    # backward at toe contact: forward's toe-off (0.6) reversed in time, i.e. 0.4
    step_ph = 2 * stride_phase - np.where(back, 0.4, 0.45)
    k_step = np.floor(step_ph)
    contact = np.nonzero((np.diff(k_step) > 0) & (env[1:] > 0.5))[0] + 1
    imp_amp = np.full(len(contact), person.impact_g * G)
    imp_amp[back[contact]] *= person.back_impact_ratio
    imp_amp[acts[contact] == "run"] = rng.uniform(1.5, 3.0) * G
    imp_amp *= rng.uniform(0.7, 1.3, len(contact)) * env[contact] * real.impact_scale
    if placement == "pocket":
        imp_amp *= 0.6
    fring = rng.uniform(12, 25)
    v_imp = _impact(n, contact, imp_amp, rng, fring, rng.uniform(0.02, 0.05))
    travel_sign = np.where(back, -1.0, 1.0)[contact]
    ap_imp = _impact(n, contact, -0.5 * imp_amp * travel_sign, rng, fring * 0.8, 0.03)
    # impacts act along the body's vertical and travel axes (world), then rotate to the sensor
    imp_w = np.stack([ap_imp * cos_h, ap_imp * sin_h, v_imp], axis=1)
    acc_w += imp_w

    if real.wobble_gain > 0:  # the sensor on a strap / in a pocket: a damped spring on the body
        from scipy.signal import bilinear, lfilter

        w0 = 2 * np.pi * real.wobble_hz
        b_, a_ = bilinear([2 * real.wobble_zeta * w0, w0 ** 2], [1, 2 * real.wobble_zeta * w0, w0 ** 2], FS_SIM)
        dyn = acc_w - np.array([0, 0, G])
        dyn = dyn + real.wobble_gain * (lfilter(b_, a_, dyn, axis=0) - dyn)
        acc_w = dyn + np.array([0, 0, G])
    R_mount = _mounting(rng, mounting, placement)
    R_total = R_seg * R_mount
    if real.jitter_deg > 0:  # clothing: the mounting itself wobbles slowly
        jit = np.cumsum(rng.normal(0, 1, (n, 3)), axis=0)
        k_ = int(FS_SIM * 1.5)
        jit = np.array([_conv(jit[:, k], np.ones(k_) / k_) for k in range(3)]).T
        jit -= np.array([_conv(jit[:, k], np.ones(4 * k_) / (4 * k_)) for k in range(3)]).T
        jit *= np.deg2rad(real.jitter_deg) / max(float(np.abs(jit).max()), 1e-9)
        R_total = R_total * Rotation.from_rotvec(jit)
    acc_s = R_total.inv().apply(acc_w) / G
    if real.lowpass_hz:  # band-limited (filtered or motion-capture-derived) signal
        from scipy.signal import butter, sosfiltfilt

        sos = butter(4, real.lowpass_hz, fs=FS_SIM, output="sos")
        acc_s = sosfiltfilt(sos, acc_s, axis=0)

    # --- labels, steps, changes (at 200 Hz, then resampled) ------------------------------
    lab200 = np.array([LABEL_OF[a] for a in acts], dtype=object)
    lab200[(~gait | (env < 0.5)) & (acts != "torso") & (acts != "gesture")] = "still"
    steps = [{"t": float(t[i]), "direction": str(lab200[i]) if lab200[i] != "still" else
              LABEL_OF[acts[i]]} for i in contact]

    # --- the sensor: sample rate, noise, bias, scale, quantisation, range --------------------
    dt = 1.0 / rate_hz
    ts = np.arange(0, T - 0.05, dt)
    if not clean:
        ts = ts + rng.uniform(-0.05, 0.05) * dt * rng.random(len(ts))
        ts = np.maximum.accumulate(ts)
        ts[1:] = np.maximum(ts[1:], ts[:-1] + 1e-6)
    # anti-alias with a moving average of one output sample, then interpolate
    w = max(1, int(FS_SIM / rate_hz))
    ker = np.ones(w) / w
    acc_f = np.array([_conv(acc_s[:, k], ker) for k in range(3)]).T
    out = np.array([np.interp(ts, t, acc_f[:, k]) for k in range(3)]).T
    if not clean:
        out = out * (1 + rng.normal(0, 0.02, 3)) + rng.normal(0, 0.03, 3)
        out += rng.normal(0, rng.uniform(0.002, 0.02), out.shape)
        if real.extra_noise_g:
            out += rng.normal(0, real.extra_noise_g, out.shape)
        rng_g = rng.choice([2.0, 4.0, 8.0, 16.0], p=[0.1, 0.3, 0.4, 0.2])
        out = np.clip(out, -rng_g, rng_g)
        q = rng.choice([0.001, 0.001, 0.002, 0.004, 1 / 256])
        out = np.round(out / q) * q
    labels = [str(x) for x in lab200[np.clip((ts * FS_SIM).astype(int), 0, n - 1)]]
    changes = _changes(ts, labels)
    return SimSession(t=ts, acc=out, labels=labels, steps=steps, changes=changes,
                      placement=placement, rate_hz=rate_hz,
                      meta={"style": person.style,
                            "mounting": mounting if isinstance(mounting, str) else "fixed"})


def _changes(ts: np.ndarray, labels: list[str]) -> list[dict]:
    """Where a new walking direction starts and then lasts at least 1 s."""
    out: list[dict] = []
    cur = None
    i, n = 0, len(labels)
    while i < n:
        j = i
        while j < n and labels[j] == labels[i]:
            j += 1
        lab = labels[i]
        if lab in ("forward", "backward") and lab != cur and ts[j - 1] - ts[i] >= 1.0:
            if cur is not None:
                out.append({"t": float(ts[i]), "to": lab})
            cur = lab
        i = j
    return out


def _mounting(rng: np.random.Generator, mode: str | Rotation, placement: str) -> Rotation:
    """How the sensor sits on its segment: any rotation, upright at any yaw with tilt,
    "aligned" with the segment's axes (the caller rotates it: the same mounting every session),
    or a given rotation (one sensor worn the same way session after session)."""
    if isinstance(mode, Rotation):
        return mode
    if mode == "aligned":
        return Rotation.identity()
    if mode == "upright":
        return Rotation.from_euler("ZYX", [rng.uniform(-np.pi, np.pi), *np.deg2rad(rng.uniform(-20, 20, 2))])
    return Rotation.random(random_state=int(rng.integers(2**31)))


SIM_WEARER_SEED = 7    # the simulated BLE sensors' one wearer


def worn_sensor_session(bouts: list[Bout], placement: str, rate_hz: float, seed: int) -> SimSession:
    """A session of the simulated sensors' one wearer, the sensor worn the same way every time:
    `coach calibrate --device sim:...` and `coach run --device sim:...` then see one person, as
    a real calibration does (a different person, or a strap turned round, is not calibrated)."""
    person = Person.random(np.random.default_rng(SIM_WEARER_SEED))
    mount = _mounting(np.random.default_rng(SIM_WEARER_SEED + 1), "upright", placement)
    return simulate(np.random.default_rng(seed), bouts, placement=placement, rate_hz=rate_hz,
                    person=person, mounting=mount)


class SimulatedWalker:
    """A Source: streams a simulated interval session, in real time or as fast as possible."""

    def __init__(self, seed: int = 7, minutes: float = 6.0, placement: str = "chest",
                 rate_hz: float = 50.0, speed: float = 1.0, batch_s: float = 0.2,
                 bouts: list[Bout] | None = None) -> None:
        rng = np.random.default_rng(seed)
        if bouts is None:
            bouts = demo_program(minutes)
        self.bouts = bouts
        self.session = simulate(rng, bouts, placement=placement, rate_hz=rate_hz,
                                mounting="upright")
        self.name = f"simulated walker ({placement}, {rate_hz:g} Hz)"
        self.speed = speed
        self.batch_s = batch_s
        self._stop = False

    def request_stop(self) -> None:
        """End the stream after the current batch (Ctrl-C: the session so far is kept)."""
        self._stop = True

    async def stream(self) -> AsyncIterator[SampleBatch]:
        s = self.session
        n = len(s.t)
        step = max(1, int(self.batch_s * s.rate_hz))
        t0 = time.monotonic()
        for i in range(0, n, step):
            if self._stop:
                return
            j = min(n, i + step)
            if self.speed > 0:
                due = t0 + s.t[j - 1] / self.speed
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            yield SampleBatch(s.t[i:j], s.acc[i:j])


TURN_S = 1.0     # the walker stops this long to turn round, at the start of an interval
STOP_S = 6.0     # and stands this long once the program is over


def program_bouts(program: Any, turn_s: float = TURN_S, stop_s: float = STOP_S) -> list[Bout]:
    """The bouts of a walker who follows `program` (a coach.coaching Program): each interval
    walked in its direction from its start (the first turn_s of a change of direction spent
    turning round), then standing still once it is over. The coach's timeline, not a copy."""
    bouts: list[Bout] = []
    prev = None
    for iv in program.intervals:
        dur = iv.end_s - iv.start_s
        if prev is not None and iv.direction != prev and dur > 2 * turn_s:
            bouts.append(Bout("still", turn_s))
            dur -= turn_s
        bouts.append(Bout(iv.direction, dur))
        prev = iv.direction
    if stop_s > 0:
        bouts.append(Bout("still", stop_s))
    return bouts


def demo_program(minutes: float = 6.0) -> list[Bout]:
    """The walker of `coach demo`: the coach's demo program (coach.coaching.programs), walked."""
    from coach.coaching.programs import demo_program as program

    return program_bouts(program(minutes))
