"""Window features that do not depend on how the sensor is worn.

Why these features. In a pendulum model of the trunk, walking backward looks like walking
forward with the sensor turned round, so no single-window statistic in an unknown frame can
tell the two apart. What does tell them apart is time: backward walking is close to forward
walking played backwards (Thorstensson 1986; Grasso et al. 1998), and time reversal flips
every *time-odd* statistic of the signal while leaving the time-even ones (energy, cadence,
spectra) alone.

The time-odd statistic used here is the acceleration's polarisation pseudo-vector per stride
harmonic k, w_k = Im(A_k* x A_k) with A_k the k-th Fourier coefficient over a whole number of
strides: the axis about which the acceleration vector turns at that harmonic (with the sense
of turning). It is computed in the sensor's
own axes, needs no gravity estimate, and flips sign under time reversal. Its direction in
sensor axes depends on the mounting, so it is compared with a reference learnt from the
warm-up, which every session starts with (forward walking). Cosine similarity to that
reference is then +1 for walking like the warm-up and -1 for walking reversed in time.
A second family of time-odd statistics, the skewness of the jerk (rise vs fall sharpness) of
the vertical and of the magnitude, adds a cue that survives when the reference drifts.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

from coach.signal.resample import FS, Resampler

WIN = 100                      # 2 s at 50 Hz
HOP = 10                       # 0.2 s
K_BANDS = 4                    # stride harmonics 1..4
LABEL_POS = 0.7                # a window speaks for the time 70 % of the way through it
K_RECENT = 2
FEATURES_VERSION = 3           # 3: polarisation over the tracked stride too (CadenceTrack);
                               # references and calibrations stored by another version are not
                               # comparable with it
TRACK_N = 15                   # periodic windows (3 s) whose median cadence a stream tracks
TRACK_MIN = 5                  # ... at least this many before the median is used
TRACK_FORGET = 5               # windows (1 s) not periodic that forget it
TRACK_PERIODIC = 0.3           # ... periodic: the window's periodicity (step or stride) above this
TRACK_DIFF = 0.1               # a tracked cadence this far off the window's own is tried too,
TRACK_OCTAVE = 1.15            # ... unless within this ratio of twice or half of it
SYNC_OFFSETS = 8               # whole-stride segments averaged per window
CAL_MISMATCH_WINDOWS = 25      # 5 s of walking with gravity far from the calibration's, and
COS_STEADY = math.cos(math.radians(5))   # ... steady (within 5 deg from one window to the next)
PACE_ALPHA = 0.05              # per walking window after its first 20: a calibrated reference's
                               # pace follows the walking in about 4 s
ADAPT_SIM = 0.5                # similarity above which walking after the warm-up teaches the reference
ADAPT_ENERGY = 0.6             # ... and only up to this log-energy above it (far stronger
                               # motion is not the walk; a walker who slows down is followed)
SETTLE_HOPS = 5                # gravity compared with the window 1 s earlier ...
COS_SETTLING = math.cos(math.radians(15))   # ... turned further than this: the sensor is settling
SETTLE_MAX_WINDOWS = 50        # after 10 s of settling walking the warm-up learns anyway
THREE_STEPS_TOL = 0.1          # |stride lag - 3 step lags| within this share of the stride lag
RUN_HALF = 0.8                 # the vertical repeats at half its step lag this closely (a share
RUN_HALF_MIN = 0.6             # ... of its peak, and at least this): that lag was a stride (_cadence)
WALK_MAX_HZ = 2.6              # faster than this is running, not walking: a brisk walker reaches
                               # 2.4-2.5 steps/s, and their windows read up to 2.5-2.6. At 2.4 (as
                               # before) such a walker's reference learnt only from the windows
                               # read at half the cadence (over two strides), and a chest session
                               # at 2.38 steps/s, band-limited to 8 Hz, came out reversed whole
RUN_READ_HZ = 2.4              # a 2 s reading this fast is no slow walker's double count
STEP_MAX_S = 0.8               # the 2 s window's step search: 75-214 steps/min
STRIDE_MAX_S = 1.9             # ... and its stride search
LONG_WIN = 200                 # 4 s: the windows that mend a slow walker's count (slow_cadence)
SLOW_STEP_MAX_S = 1.25         # ... searching steps up to this long (48 steps/min)
SLOW_STRIDE_MAX_S = 2.6        # ... and strides up to this long
SLOW_SHARE = 0.75              # ... taken only where it reads under this share of the 2 s reading,
SLOW_MAX_HZ = 1.3              # ... under this cadence,
SLOW_NOT_STEP = 0.0            # ... the vertical's autocorrelation at the 2 s reading's step is
                               #     below this
SLOW_STEP = 0.15               # ... the whole vector's at its own step above this (a step)
SLOW_NOT_STRIDE = 0.6          # ... but below this (no stride)
SLOW_STRIDE = 0.0              # ... and at its own stride above this
SLOW_AGREE = 0.15              # the 2 s and the 4 s readings agree within this share
STRIDE_DIP = 0.3               # the 4 s repeat themselves a stride later this closely (YIN's
                               # normalised difference; _stride_dip) ...
STRIDE_MIN_S = 0.52            # ... searched from this lag (a brisk walker's stride) up
STRIDE_CAP_HZ = 1.3            # ... taken where that stride's steps are slower than this
STRIDE_SLOWER = 0.95           # ... and than this share of the other readings,
STRIDE_HALF_GAP = 0.2          # ... where half that lag repeats this much less closely (else
                               #     the lag was two strides: real phones at 1.7-1.9 steps/s),
STRIDE_OCTAVE = 0.12           # ... and not within this of half the 2 s reading where
STRIDE_STEP_AC = 0.3           #     the vertical repeats at that reading's step past this
STRIDE_THIRDS = 0.4            # ... and a 2 s reading of a brisk gait's (RUN_READ_HZ-NO_GAIT_HZ)
                               #     is neither halved nor cut to a third or less: a simulated
                               #     limp at 2.3-2.6 steps/s repeated closest over 2 and 3 strides
STRIDE_FILL = 0.6              # ... in 4 s that move throughout: this share of their 0.2 s
                               #     blocks with a tenth of the mean energy (the real phones'
                               #     walking: 0.85 or more in 99.9 % of windows; a desk tapped
                               #     every 1.2-1.9 s: 0.1-0.5, its taps had been read as strides)
NO_GAIT_HZ = 3.0               # a 2 s reading this fast is no gait's cadence (slow backward
                               # walkers at 0.8 steps/s read 3.5-3.7)
TREND_ALPHA = 0.1              # per hop: the trend of the similarity spans about 2 s more

EVEN_NAMES = [
    "log_rms", "log_rms_v", "log_rms_h", "vh_ratio", "hf_frac", "lf_frac", "periodicity",
    "ac_step", "ac_stride", "step_hz", "jerk_ratio", "peak_ratio", "grav_norm", "pol_degree",
    "tail_energy", "head_energy",
]
EDGE = 30                      # samples (0.6 s) at each end of the window: has the motion stopped
                               # or started there? (leave walking within about a second)


@dataclass(slots=True)
class RawFeatures:
    """Per-window features before the reference is applied (vectorised over windows)."""

    even: np.ndarray          # (nw, len(EVEN_NAMES))
    odd: np.ndarray           # (nw, K_BANDS, 3) polarisation per band, normalised
    recent: np.ndarray        # (nw, K_RECENT, 3) the same over the window's latest stride(s)
    skew: np.ndarray          # (nw, 3) jerk skewness: vertical, magnitude, horizontal-main
    gravity: np.ndarray       # (nw, 3) unit gravity direction
    step_hz: np.ndarray       # (nw,) cadence as the model's features see it
    cadence_hz: np.ndarray    # (nw,) cadence for counting steps (a clockwork gait's octave mended)
    moving: np.ndarray        # (nw,) bool: moving as gait does (periodic or not yet)
    gait: np.ndarray          # (nw,) bool: periodic and moving (walking or running): count steps
    walk: np.ndarray          # (nw,) bool: a walking-like window (may teach the reference)

    def __getitem__(self, sl: slice | np.ndarray) -> "RawFeatures":
        """The windows sl (a slice, or a mask) of these: a reference that must decide at one
        window, not per batch; the windows the slow view reads again."""
        return RawFeatures(*(getattr(self, f.name)[sl] for f in fields(self)))

    @staticmethod
    def concat(parts: "Sequence[RawFeatures]") -> "RawFeatures":
        return RawFeatures(*(np.concatenate([getattr(r, f.name) for r in parts])
                             for f in fields(RawFeatures)))


def channel_energy(x: np.ndarray) -> np.ndarray:
    """Sum of squares over the last axis of x (3 channels): `(x ** 2).sum(axis=-1)` bit for bit,
    about 6x sooner (numpy's reduction over so short an axis costs more than the arithmetic)."""
    x0, x1, x2 = x[..., 0], x[..., 1], x[..., 2]
    return x0 * x0 + x1 * x1 + x2 * x2


def block_mean(x: np.ndarray, k: int) -> np.ndarray:
    """Windows x (nw, n, c) at 1/k of their rate: each k consecutive samples averaged (a
    leading remainder dropped). `.mean(axis=2)` of the blocks bit for bit, about 5x sooner."""
    nw, n, c = x.shape
    blocks = x[:, n % k:].reshape(nw, n // k, k, c)
    total = blocks[:, :, 0]
    for j in range(1, k):
        total = total + blocks[:, :, j]
    return total / k


def _lag_products(x: np.ndarray) -> np.ndarray:
    """sum over t and channels of x[t] . x[t + lag], lags 0..W-1, for windows x (nw, W, c)."""
    nw, W, c = x.shape
    n = 2 * W
    F = np.fft.rfft(x, n=n, axis=1)
    # summing the channels' power spectra first is the same sum, with one inverse FFT (added
    # channel by channel: what .sum(axis=2) does over so few, without its overhead)
    P = F.real ** 2 + F.imag ** 2
    power = P[:, :, 0]
    for k in range(1, c):
        power = power + P[:, :, k]
    return np.fft.irfft(power, n=n, axis=1)[:, :W]


def _autocorr(x: np.ndarray, prod: np.ndarray | None = None) -> np.ndarray:
    """Normalised (unbiased) autocorrelation along axis 1 for windows x (nw, W, c) (prod:
    their _lag_products, where already at hand)."""
    W = x.shape[1]
    ac = _lag_products(x) if prod is None else prod.copy()
    ac /= np.maximum(ac[:, :1], 1e-12)
    ac *= W / (W - np.arange(W))[None, :]
    return ac


def _vertex(y0: np.ndarray, y1: np.ndarray, y2: np.ndarray) -> np.ndarray:
    """Offset (-0.5..0.5 samples) of the parabola's vertex through three neighbouring values
    (a peak's or a dip's), 0 where they lie on a line."""
    den = y0 - 2 * y1 + y2
    d = np.where(np.abs(den) > 1e-9, 0.5 * (y0 - y2) / np.where(np.abs(den) > 1e-9, den, 1), 0.0)
    return np.clip(d, -0.5, 0.5)


def _peak(ac: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Best local maximum of ac[:, lo:hi] with parabolic refinement -> (lag, value)."""
    seg = ac[:, lo:hi]
    i = np.argmax(seg, axis=1)
    rows = np.arange(len(ac))
    j = np.clip(i + lo, 1, ac.shape[1] - 2)
    y1 = ac[rows, j]
    return j + _vertex(ac[rows, j - 1], y1, ac[rows, j + 1]), y1


def _polarisation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Im(conj(A) x A) = 2 Re(A) x Im(A) over the last axis (3) for A = x + iy, written out."""
    return 2 * np.stack([x[..., 1] * y[..., 2] - x[..., 2] * y[..., 1],
                         x[..., 2] * y[..., 0] - x[..., 0] * y[..., 2],
                         x[..., 0] * y[..., 1] - x[..., 1] * y[..., 0]], axis=-1)


def _stride_polarisation(lin: np.ndarray, step_hz: np.ndarray, power: np.ndarray | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Polarisation per stride harmonic over segments of a whole number of strides:
    ((nw, K_BANDS, 3) averaged over SYNC_OFFSETS segments spread over the window, (nw, K_RECENT,
    3) of the segment that ends with the window), normalised by the window's power.

    Why whole strides: there the stride's harmonics are orthogonal, so each harmonic's
    polarisation is its own. A Hann-tapered 2 s spectrum cannot separate the stride and step
    frequencies below about 2 steps/s; their mix turns with the gait's phase and flipped the
    similarity's sign once a stride at slow cadences. Averaging over the whole window made
    models trained on different draws of people agree far better (models/README.md). A stride
    longer than the window uses the window. power: the windows' mean energy per sample, where
    the caller has it."""
    nw, W, _ = lin.shape
    stride = 2 * FS / np.maximum(step_hz, 0.3)                       # samples
    m = np.floor(W / stride)
    L = np.clip(np.where(m >= 1, np.rint(m * stride), W), 10, W).astype(int)
    # float32 and one batched matrix product (segments x samples): the costliest feature
    ang = (2 * np.pi / stride).astype(np.float32)[:, None] * np.arange(W, dtype=np.float32)
    ak = ang[:, :, None] * np.arange(1, K_BANDS + 1, dtype=np.float32)          # (nw, W, K)
    basis = np.concatenate([np.cos(ak), -np.sin(ak)], axis=2)                    # (nw, W, 2K)
    o = np.rint(np.linspace(0.0, 1.0, SYNC_OFFSETS)[None, :] * (W - L)[:, None]).astype(int)
    t = np.arange(W)
    seg = ((t >= o[:, :, None]) & (t < (o + L[:, None])[:, :, None])).astype(np.float32)
    # y[n, t, j, c] = basis[n, t, j] * lin[n, t, c], a channel at a time (a third of the
    # broadcast product's time, the same numbers)
    lin32 = lin.astype(np.float32)
    y4 = np.empty((nw, W, 2 * K_BANDS, 3), dtype=np.float32)
    for c in range(3):
        np.multiply(basis, lin32[:, :, c:c + 1], out=y4[:, :, :, c])
    y = y4.reshape(nw, W, -1)
    s = (seg @ y).reshape(nw, SYNC_OFFSETS, 2, K_BANDS, 3).astype(np.float64)
    cross = _polarisation(s[:, :, 0], s[:, :, 1])                           # (nw, S, K, 3)
    if power is None:
        power = channel_energy(lin).mean(axis=1)
    norm = (L.astype(float) ** 2 * (power + 1e-12))[:, None, None]
    return cross.mean(axis=1) / norm, cross[:, -1, :K_RECENT] / norm


def _step_lag(lag_s: np.ndarray, lag_st: np.ndarray, val_st: np.ndarray,
              ac_half: np.ndarray, fs: float = FS) -> np.ndarray:
    """The step period (samples) from the vertical's step lag and the whole vector's stride lag.

    A step period is the one whose double is the stride; trust the stride when they disagree,
    unless both found the same lag: then a strong half-lag means that lag was a (running)
    stride. Without a periodic stride, the vertical's lag."""
    agree = np.abs(2 * lag_s - lag_st) < 0.2 * lag_st
    same = np.abs(lag_s - lag_st) < 0.2 * lag_st
    step_lag = np.where(agree, 0.5 * (lag_s + lag_st / 2), lag_st / 2)
    step_lag = np.where(same, np.where((ac_half > 0.3) & (lag_s / 2 >= 0.28 * fs), lag_s / 2, lag_s),
                        step_lag)
    step_lag = np.where(val_st < 0.15, lag_s, step_lag)
    return np.maximum(step_lag, 1.0)


def _cadence(ac_v: np.ndarray, ac_all: np.ndarray, step_max_s: float, stride_max_s: float,
             fs: float = FS) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(step_hz as the model's features see it, cadence_hz for counting steps, the vertical's
    step peak, the whole vector's stride peak) from the windows' autocorrelations, searching
    steps of 0.28 s to step_max_s and strides of 0.55 s (running) to stride_max_s."""
    nw, W = ac_v.shape
    lag_s, val_s = _peak(ac_v, int(0.28 * fs), int(step_max_s * fs))
    lag_st, val_st = _peak(ac_all, int(0.55 * fs), int(stride_max_s * fs))
    rows = np.arange(nw)
    half = np.clip(np.rint(lag_s / 2).astype(int), 1, W - 1)
    ac_half = ac_v[rows, half]
    step_hz = fs / _step_lag(lag_s, lag_st, val_st, ac_half, fs)
    # the steps' own count and the display: a lag of two strides correlates as well as one (the
    # unbiased scaling favours long lags), and a very regular walker's cadence was read as half
    # for seconds at a time. Where half the found stride correlates nearly as well and is two
    # of the vertical's steps, that half is the stride. (Not in the model's features: models
    # trained with it did worse on held-out people.)
    half_st = lag_st / 2
    ac_hst = ac_all[rows, np.clip(np.rint(half_st).astype(int), 1, W - 1)]
    halve = ((half_st >= 0.55 * fs) & (ac_hst > 0.8 * np.minimum(val_st, 1.0))
             & (np.abs(half_st - 2 * lag_s) < 0.2 * half_st))
    cadence_hz = np.where(halve, fs / _step_lag(lag_s, np.where(halve, half_st, lag_st),
                                                np.where(halve, ac_hst, val_st), ac_half, fs), step_hz)
    # with left and right steps alike (a phone held in the hand), three steps correlate as well
    # as two, and the unbiased scaling favours the longer lag: a "stride" of three of the
    # vertical's steps is no stride, and the steps were counted at two thirds of their rate
    three = (np.abs(lag_st - 3 * lag_s) < THREE_STEPS_TOL * lag_st) & (lag_s >= 0.4 * fs) & ~halve
    cadence_hz = np.where(three, fs / lag_s, cadence_hz)
    # a runner's (or a brisk walker's) vertical repeats at its stride a little more closely than
    # at its step, and its stride fits the step search: where the count took the vertical's lag
    # and the vertical repeats at half of it nearly as closely, that half is the step (held-out
    # simulated runs at 2.6-3.2 steps/s had been counted at half their rate: 381 of 504 steps)
    run = (~halve & ~three & (np.abs(cadence_hz * lag_s / fs - 1) < 0.1) & (lag_s / 2 >= 0.28 * fs)
           & (ac_half > RUN_HALF * val_s) & (ac_half > RUN_HALF_MIN))
    cadence_hz = np.where(run, 2 * fs / lag_s, cadence_hz)
    return step_hz, cadence_hz, val_s, val_st


def slow_cadence(ctx: np.ndarray, cadence_hz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(counting cadence, periodicity over the 4 s where that is a slow walker's) of windows
    ctx (nw, LONG_WIN, 3) whose last WIN samples read cadence_hz: the count mended for slow
    walkers (the model's features are not touched).

    A 2 s window holds no stride slower than 1.05 steps/s: its search took the step for the
    stride and counted double (a walker at 1.0 steps/s read now 1.2, now 2.1 steps/s), and
    many of its windows were not periodic enough to count at all. Over the 4 s that end with
    the window the same search reaches strides of 2.6 s, but there it took a brisk walker's
    stride for a step, and where the vertical does not bounce once a step (a thigh's pocket)
    found lags that are neither. So the longer reading is taken only where it is slower and
    a slow walker's signs all hold: the vertical does not repeat at the 2 s reading's step (no
    step), the whole vector repeats a little at the longer reading's step (a step, not a
    stride) and does not turn against itself at its stride.

    Where even both readings took a slow step for a stride (the 4 s autocorrelation's best
    peak was often a harmonic), the first lag at which the whole motion repeats itself
    closely is the stride (_stride_dip): taken where it is slower than both readings and
    under STRIDE_CAP_HZ, unless half of it repeats nearly as closely (two strides) or it
    halves a brisk walker's reading; such a window also counts as periodic. Measured with
    benchmarks/slow_steps.py, benchmarks/slowed_real.py and on the held-out sets
    (models/README.md)."""
    nw, n, _ = ctx.shape
    # at 25 Hz (pairs averaged): a slow gait's lags lose nothing, and the autocorrelations
    # cost a quarter
    ctx = block_mean(ctx, 2)
    fs, L = FS / 2, n // 2
    _, _, lin, v = _split_gravity(ctx)
    ac_v = _autocorr(v[:, :, None])
    prod = _lag_products(lin)
    ac_all = _autocorr(lin, prod)
    _, slow, val_s, val_st = _cadence(ac_v, ac_all, SLOW_STEP_MAX_S, SLOW_STRIDE_MAX_S, fs)
    rows = np.arange(nw)
    at_short = ac_v[rows, np.clip(np.rint(fs / cadence_hz).astype(int), 1, L - 1)]
    at_long = ac_all[rows, np.clip(np.rint(fs / slow).astype(int), 1, L - 1)]
    stride = ac_all[rows, np.clip(np.rint(2 * fs / slow).astype(int), 1, L - 1)]
    # (a runner's 2 s reading is left alone: over 4 s a running stride was taken for a step)
    use = ((slow < SLOW_SHARE * cadence_hz) & (slow < SLOW_MAX_HZ) & (cadence_hz < RUN_READ_HZ)
           & (at_short < SLOW_NOT_STEP) & (SLOW_STEP < at_long) & (at_long < SLOW_NOT_STRIDE)
           & (stride > SLOW_STRIDE))
    # a slow walker's periodicity over the 4 s, where it is read at that slow cadence
    agree = use | (np.abs(slow - cadence_hz) < SLOW_AGREE * cadence_hz)
    hz = np.where(use, slow, cadence_hz)
    periodic = np.where(agree & (slow < SLOW_MAX_HZ), np.maximum(val_s, val_st), 0.0)
    # the stride the whole motion repeats at first: where it is a slower walker's than both
    # readings, it is the walker's (both readings' searches took a slow step for a stride)
    e = channel_energy(lin)                                        # energy per sample
    lag, dip, half = _stride_dip(e, prod, int(STRIDE_MIN_S * fs))
    dip_hz = 2 * fs / lag                                          # 0 where none
    # (half the 2 s reading, where the vertical does repeat at that reading's step, is a
    # brisk walker's two strides)
    ratio = dip_hz / cadence_hz
    fast = (cadence_hz >= RUN_READ_HZ) & (cadence_hz < NO_GAIT_HZ)
    octave = (np.abs(ratio - 0.5) < STRIDE_OCTAVE) & ((at_short > STRIDE_STEP_AC) | fast)
    blocks = e[:, :L - L % 5].reshape(nw, -1, 5).mean(axis=2)                # 0.2 s each
    fills = (blocks > 0.1 * e.mean(axis=1, keepdims=True)).mean(axis=1)
    slow_dip = ((ratio > np.where(fast, STRIDE_THIRDS, 0.0)) & (dip_hz < STRIDE_CAP_HZ)
                & (half > dip + STRIDE_HALF_GAP) & ~octave & (fills >= STRIDE_FILL))
    hz = np.where(slow_dip & (dip_hz < STRIDE_SLOWER * hz), dip_hz, hz)
    # ... and a walk that repeats that closely is periodic (many a slow walker's windows had
    # been too little so for either reading, and their steps were not counted)
    periodic = np.where(slow_dip & (np.abs(dip_hz - hz) < SLOW_AGREE * hz),
                        np.maximum(periodic, 1.0 - dip), periodic)
    return hz, periodic


def _stride_dip(energy: np.ndarray, prod: np.ndarray, lo: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first lag from lo on (samples) at which windows x (nw, L, c) repeat themselves to
    within STRIDE_DIP of YIN's cumulative-mean-normalised difference (de Cheveigne & Kawahara
    2002), refined between samples, that difference and the difference at half the lag ->
    (lag, difference, at half); (inf, 1, 1) where none does. The first such lag, not the best:
    two strides repeat as well as one, and an autocorrelation's best peak took them.
    Given x as its energy per sample, |x[t]|^2 (nw, L), and its _lag_products."""
    nw, L = energy.shape
    hi = 2 * L // 3                                   # at least a third of the window overlaps
    cross = prod[:, :hi]
    e = np.concatenate([np.zeros((nw, 1)), np.cumsum(energy, axis=1)], axis=1)
    lags = np.arange(hi)
    # sum over t < L - lag of |x[t] - x[t + lag]|^2, per overlapping sample
    d = (e[:, L - lags] + (e[:, L:L + 1] - e[:, lags]) - 2 * cross) / (L - lags)
    d[:, 0] = 0.0
    cm = np.cumsum(d[:, 1:], axis=1) / np.arange(1, hi)
    dn = np.ones_like(d)
    dn[:, 1:] = d[:, 1:] / np.maximum(cm, 1e-12)
    seg = dn[:, lo - 1:hi]
    dip = (seg[:, 1:-1] < seg[:, :-2]) & (seg[:, 1:-1] <= seg[:, 2:]) & (seg[:, 1:-1] < STRIDE_DIP)
    has = dip.any(axis=1)
    j = np.argmax(dip, axis=1) + 1                    # in seg
    rows = np.arange(nw)
    y1 = seg[rows, j]
    off = _vertex(seg[rows, j - 1], y1, seg[rows, j + 1])
    at_half = dn[rows, np.clip(np.rint((j + lo - 1) / 2).astype(int), 1, hi - 1)]
    return np.where(has, j + lo - 1 + off, np.inf), np.where(has, y1, 1.0), np.where(has, at_half, 1.0)


def _split_gravity(win: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(gravity's norm (nw,), its direction (nw, 3), the motion about it (nw, W, 3), the
    motion's vertical (nw, W)) of windows win (nw, W, 3): gravity is each window's mean."""
    g = win.mean(axis=1)
    gn = np.linalg.norm(g, axis=1)
    gu = g / np.maximum(gn, 1e-6)[:, None]
    lin = win - g[:, None, :]
    return gn, gu, lin, np.einsum("nwc,nc->nw", lin, gu)


class CadenceTrack:
    """A stream's recent cadence: the median of its last TRACK_N periodic windows' own, at a
    walking pace (a run's cadence is not the walk's that follows it).

    Why: across a reversal a window's own cadence is misread (its second part is its first
    reversed in time, so the stride no longer repeats across it): on the real reversed
    stretches 47-54 % of the windows that end 0.8-1.4 s after the change read it more than 25 %
    off, against 10-15 % in steady walking (benchmarks/reversal_evidence.py), and over that
    wrong stride even the latest stride's polarisation, by then all backward, said little."""

    def __init__(self) -> None:
        self.hist: list[float] = []
        self.idle = 0

    def reset(self) -> None:
        """After a gap in the stream (as the windows restart): the walking may not go on."""
        self.hist.clear()
        self.idle = 0

    def medians(self, step_hz: np.ndarray, periodic: np.ndarray) -> np.ndarray:
        """For each window in turn: the median before it (its own cadence while too few)."""
        out = step_hz.copy()
        hist = self.hist
        for i, (hz, per) in enumerate(zip(step_hz.tolist(), periodic.tolist())):
            if len(hist) >= TRACK_MIN:
                out[i] = sorted(hist)[len(hist) // 2]
            if not per:
                self.idle += 1
                if self.idle >= TRACK_FORGET:
                    hist.clear()
                continue
            self.idle = 0
            hist.append(hz)
            if len(hist) > TRACK_N:
                del hist[0]
        return out


def _coherent_polarisation(lin: np.ndarray, step_hz: np.ndarray, tracked: np.ndarray,
                           power: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """_stride_polarisation over the window's own stride or the tracked one, whichever gives
    the stronger polarisation (the whole window's and the latest stride's chosen apart): over
    a wrong stride the harmonics smear and the polarisation weakens. In steady walking the two
    agree and nothing changes; across a reversal the tracked stride is the walker's. Not where
    the two are an octave apart (a window's cadence read over two strides, or one step): that
    is the cadence estimate's own ambiguity, not a reversal, and a limping walker whose windows
    read 1.06 and 2.07 steps/s in turn, tracked at 2.05, had their backward walking read as
    other (17 of 45 steps counted; 25 with the octave kept out, 30 with model 4)."""
    if power is None:
        power = channel_energy(lin).mean(axis=1)
    odd, recent = _stride_polarisation(lin, step_hz, power)
    octave = np.abs(np.abs(np.log2(tracked / step_hz)) - 1) < np.log2(TRACK_OCTAVE)
    alt = np.flatnonzero((np.abs(tracked - step_hz) > TRACK_DIFF * step_hz) & ~octave)
    if len(alt):
        o2, r2 = _stride_polarisation(lin[alt], tracked[alt], power[alt])
        n = len(alt)
        use_o = np.linalg.norm(o2.reshape(n, -1), axis=1) > np.linalg.norm(odd[alt].reshape(n, -1), axis=1)
        use_r = np.linalg.norm(r2.reshape(n, -1), axis=1) > np.linalg.norm(recent[alt].reshape(n, -1), axis=1)
        odd[alt[use_o]] = o2[use_o]
        recent[alt[use_r]] = r2[use_r]
    return odd, recent


def raw_features(win: np.ndarray, track: CadenceTrack | None = None) -> RawFeatures:
    """Features of windows win (nw, WIN, 3) in g; track: the stream's cadence so far, for a
    stream's consecutive windows (CadenceTrack; None: each window on its own)."""
    nw, W, _ = win.shape
    gn, gu, lin, v = _split_gravity(win)
    h = lin - v[:, :, None] * gu[:, None, :]
    power = channel_energy(lin).mean(axis=1)
    rms = np.sqrt(power) + 1e-6
    rms_v = np.sqrt((v ** 2).mean(axis=1)) + 1e-6
    rms_h = np.sqrt(channel_energy(h).mean(axis=1)) + 1e-6

    # spectra
    taper = np.hanning(W)[None, :, None]
    A = np.fft.rfft(lin * taper, axis=1)                  # (nw, nf, 3)
    freqs = np.fft.rfftfreq(W, 1 / FS)
    P = (np.abs(A) ** 2).sum(axis=2)
    ptot = P[:, 1:].sum(axis=1) + 1e-12
    hf = P[:, freqs > 5.0].sum(axis=1) / ptot
    lf = P[:, (freqs > 0) & (freqs < 0.6)].sum(axis=1) / ptot

    # periodicity and cadence from the autocorrelation of the vertical and the whole vector
    ac_v = _autocorr(v[:, :, None])
    ac_all = _autocorr(lin)
    step_hz, cadence_hz, val_s, val_st = _cadence(ac_v, ac_all, STEP_MAX_S, STRIDE_MAX_S)
    periodicity = np.maximum(val_st, val_s)

    # jerk: impact sharpness and time asymmetry
    dv = np.diff(v, axis=1)
    mag = np.sqrt(channel_energy(win))
    dm = np.diff(mag, axis=1)
    ev = np.argmax(np.abs(h).sum(axis=1), axis=1)  # crude main horizontal axis per window
    hm = np.take_along_axis(h, ev[:, None, None].repeat(W, axis=1), axis=2)[:, :, 0]
    dh = np.diff(hm, axis=1)

    def skew(d: np.ndarray) -> np.ndarray:
        d2 = d * d
        s2 = d2.mean(axis=1) + 1e-12
        return (d2 * d).mean(axis=1) / (s2 * np.sqrt(s2))

    skews = np.stack([skew(dv), skew(dm), skew(dh)], axis=1)
    jerk = np.sqrt((dv ** 2).mean(axis=1)) * FS / (rms_v * 2 * np.pi * np.maximum(step_hz, 0.5))
    peak_ratio = np.abs(lin).max(axis=(1, 2)) / rms

    # polarisation pseudo-vectors per stride harmonic, over whole strides (see
    # _stride_polarisation): the whole window's, and the latest stride's
    moving = (rms > 0.03) & (rms_v > 0.015)
    gait = moving & (periodicity > 0.3)
    walking_pace = (rms < 1.6) & (step_hz < WALK_MAX_HZ)
    walk = gait & walking_pace
    if track is None:
        odd, recent = _stride_polarisation(lin, step_hz, power)
    else:
        # a run's cadence is not the walk's: the track takes periodic windows at a walking pace
        tracked = track.medians(step_hz, (periodicity > TRACK_PERIODIC) & walking_pace)
        odd, recent = _coherent_polarisation(lin, step_hz, tracked, power)
    pol_degree = np.sqrt(channel_energy(odd)).sum(axis=1)

    rms_tail = np.sqrt(channel_energy(lin[:, -EDGE:]).mean(axis=1)) + 1e-6
    rms_head = np.sqrt(channel_energy(lin[:, :EDGE]).mean(axis=1)) + 1e-6
    even = np.stack([
        np.log(rms), np.log(rms_v), np.log(rms_h), np.log(rms_v / rms_h), hf, lf, periodicity,
        val_s, val_st, step_hz, jerk, peak_ratio, gn, pol_degree,
        np.log(rms_tail / rms), np.log(rms_head / rms),
    ], axis=1)
    return RawFeatures(even=even, odd=odd, recent=recent, skew=skews, gravity=gu, step_hz=step_hz,
                       cadence_hz=cadence_hz, moving=moving, gait=gait, walk=walk)


REL_NAMES = (["sim_all"] + [f"sim_{k}" for k in range(1, K_BANDS + 1)]
             + [f"w_{k}" for k in range(1, K_BANDS + 1)]
             + ["skew_v_rel", "skew_m_rel", "cad_ratio", "energy_ratio", "grav_shift_deg",
                "ref_strength", "ref_ready", "sim_recent", "sim_recent_1", "sim_recent_2", "sim_trend"])
FEATURE_NAMES = EVEN_NAMES + REL_NAMES
# Two stages. Walking or not (still, other) must not depend on the direction: it sees the
# time-even statistics and only the size of the time-odd ones (|similarity|: walking like the
# warm-up, either way round, vs something else). The direction of walking sees everything.
SIGNED_FEATURES = {"sim_all", "sim_1", "sim_2", "sim_3", "sim_4", "skew_v_rel", "skew_m_rel",
           "sim_recent", "sim_recent_1", "sim_recent_2", "sim_trend"}
ACTIVITY_FEATURES = [f"abs_{n}" if n in SIGNED_FEATURES else n for n in FEATURE_NAMES]
_ABS_COLS = np.array([i for i, n in enumerate(FEATURE_NAMES) if n in SIGNED_FEATURES])


def activity_view(X: np.ndarray) -> np.ndarray:
    """The activity stage's features (ACTIVITY_FEATURES) from the full feature rows."""
    Xa = X.copy()
    Xa[:, _ABS_COLS] = np.abs(Xa[:, _ABS_COLS])
    return Xa


def check_features_version(d: dict) -> None:
    """ValueError for a stored reference or calibration made with other features."""
    v = d.get("features")
    if v != FEATURES_VERSION:
        newer = isinstance(v, int) and v > FEATURES_VERSION
        raise ValueError(f"made by {'a newer' if newer else 'an earlier'} version of retro-coach, "
                         "whose features differ")


def check_stored_values(odd: list[float], skew: list[float], gravity: list[float],
                        step_hz: float, log_rms: float) -> None:
    """ValueError for stored walking statistics no sensor gives (a damaged or hand-edited
    store): 1e308 had overflowed and ended a session, and NaN or a negative cadence had been
    used as they were."""
    values = [*odd, *skew, *gravity, step_hz, log_rms]
    g = math.sqrt(sum(x * x for x in gravity)) if all(map(math.isfinite, gravity)) else 0.0
    if (not all(math.isfinite(x) and abs(x) < 1e3 for x in values)
            or not 0.1 < step_hz < 10.0 or not 0.5 < g < 1.5):
        raise ValueError("holds values no sensor gives")


class ReferenceState(NamedTuple):
    """A Reference as relative() reads it, at one window (Reference.snapshot)."""

    odd: list[float]
    odd_norm_k: list[float]
    odd_norm: float
    skew: list[float]
    grav: list[float]
    step_hz: float
    log_rms: float
    n: int
    trend: float


@dataclass
class Reference:
    """The wearer's forward walking, as the sensor sees it: learnt from the warm-up.

    It keeps adapting during walking that matches it (so a slowly drifting mounting is
    followed) and restarts when gravity in sensor axes moves far (the sensor was re-worn).
    """

    step_hz: float = 0.0
    log_rms: float = 0.0
    n: int = 0
    warmup_windows: int = 20       # about 4 s of walking
    alpha: float = 0.03
    moved_windows: int = 40        # 8 s of walking with gravity far from the reference
    _moved: int = 0
    # the same device and placement's reference from an earlier session, if any
    prior: "Reference | None" = None
    prior_check_windows: int = 5   # warm-up windows after which it is compared with this one
    verdict: str = ""              # "same" (prior reused), "changed", "new" or "calibrated"
    frozen: bool = False           # a personal calibration: do not adapt
    mismatch: bool = False         # the calibration did not fit how the sensor is worn
    # a calibration's backward walk against its forward walk (cadence ratio, log-energy
    # difference): with it, a calibrated reference's pace follows the session's walking
    pace_follow: tuple[float, float] | None = None

    @property
    def ready(self) -> bool:
        return self.n >= self.warmup_windows

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._odd = [0.0] * (K_BANDS * 3)
        self._odd_norm_k = [0.0] * K_BANDS
        self._odd_norm = 0.0
        self._skew = [0.0, 0.0, 0.0]
        self._grav = [0.0, 0.0, 0.0]
        self.step_hz = 0.0
        self.log_rms = 0.0
        self.n = 0
        self._moved = 0
        self._g_last = [0.0, 0.0, 0.0]
        # gravity of the warm-up's last windows, to tell a sensor still being put in place
        self._g_hist: deque[list[float]] = deque(maxlen=SETTLE_HOPS + 1)
        self._unsettled = 0                        # warm-up windows skipped as settling
        self._trend = 0.0
        self.frozen = False
        self.pace_follow = None
        self._pace_n = 0

    def to_dict(self) -> dict:
        """What is kept per device and placement between sessions."""
        return {"odd": list(self._odd), "skew": list(self._skew), "gravity": list(self._grav),
                "step_hz": self.step_hz, "log_rms": self.log_rms, "n": self.n,
                "features": FEATURES_VERSION}

    @classmethod
    def from_dict(cls, d: dict) -> "Reference":
        check_features_version(d)
        ref = cls()
        odd, skew, grav = (list(map(float, d[k])) for k in ("odd", "skew", "gravity"))
        if len(odd) != K_BANDS * 3 or len(skew) != 3 or len(grav) != 3:
            raise ValueError("reference of another shape")
        check_stored_values(odd, skew, grav, float(d["step_hz"]), float(d["log_rms"]))
        ref._blend_list(1.0, odd, skew, float(d["step_hz"]), float(d["log_rms"]), grav)
        ref.n = int(d["n"])
        return ref

    def agreement(self, other: "Reference") -> tuple[float, float]:
        """(cosine of the two polarisation references, angle between their gravities in deg)."""
        a, b = self._odd, other._odd
        cos = sum(x * y for x, y in zip(a, b)) / (self._odd_norm * other._odd_norm + 1e-12)
        g = sum(x * y for x, y in zip(self._grav, other._grav))
        return cos, math.degrees(math.acos(min(1.0, max(-1.0, g))))

    def _check_prior(self) -> None:
        """Early in the warm-up: is the sensor worn as last time? Then reuse that reference.

        Only a clear match is reused (the same sense of turning and gravity within 20 deg);
        anything else is learnt afresh from this warm-up, which is always forward walking.
        """
        prior, self.prior = self.prior, None
        cos, angle = self.agreement(prior)
        if cos > 0.8 and angle < 20:
            n = self.n
            self._blend_list(0.75, prior._odd, prior._skew, prior.step_hz, prior.log_rms,
                             prior._grav)
            self.n = max(n, self.warmup_windows)
            self.verdict = "same"
        else:
            self.verdict = "changed"

    def snapshot(self) -> "ReferenceState":
        """What relative() reads of the reference, as it stands (read() puts it back). The
        lists are replaced, never changed in place, so this holds no copies."""
        return ReferenceState(self._odd, self._odd_norm_k, self._odd_norm, self._skew, self._grav,
                              self.step_hz, self.log_rms, self.n, self._trend)

    def _put(self, st: "ReferenceState") -> None:
        (self._odd, self._odd_norm_k, self._odd_norm, self._skew, self._grav,
         self.step_hz, self.log_rms, self.n, self._trend) = st

    def read(self, raw: RawFeatures, states: "list[ReferenceState]") -> np.ndarray:
        """Reference-relative features of windows raw, each against the reference as it stood
        (states: snapshots kept by relative(), one per window), teaching it nothing: another
        view of windows already read, which must not depend on how the stream was batched."""
        now = self.snapshot()
        rows = []
        try:
            for i, st in enumerate(states):
                self._put(st)
                rows.append(self.relative(raw[i:i + 1], learn=False))
        finally:
            self._put(now)
        return np.vstack(rows) if rows else np.zeros((0, len(REL_NAMES)))

    def relative(self, raw: RawFeatures, learn: bool = True,
                 record: "list[ReferenceState] | None" = None) -> np.ndarray:
        """Reference-relative features for each window, updating the reference as it goes
        (learn=False: read against it as it stands, leaving it and the similarity's trend
        untouched; record: a list that gets each window's snapshot() before it is read).

        Sequential by nature (each walking window may teach the reference), so the loop works
        on Python floats: numpy's per-call overhead on 3-vectors would dominate.
        """
        nw = len(raw.step_hz)
        out = np.zeros((nw, len(REL_NAMES)))
        odd_all = raw.odd.reshape(nw, K_BANDS * 3).tolist()
        znorm_k = np.sqrt(channel_energy(raw.odd)).tolist()
        znorm = np.linalg.norm(raw.odd.reshape(nw, -1), axis=1).tolist()
        rec_all = raw.recent.reshape(nw, K_RECENT * 3).tolist()
        rec_norm_k = np.sqrt(channel_energy(raw.recent)).tolist()
        rec_norm = np.linalg.norm(raw.recent.reshape(nw, -1), axis=1).tolist()
        grav = raw.gravity.tolist()
        skews = raw.skew.tolist()
        step_hz = raw.step_hz.tolist()
        log_rms = raw.even[:, 0].tolist()
        walk = raw.walk.tolist()
        gait = raw.gait.tolist()
        nb = K_BANDS
        for i in range(nw):
            if record is not None:
                record.append(self.snapshot())
            z = odd_all[i]
            g = grav[i]
            shift = 0.0
            if self.n > 0:
                rg = self._grav
                cosg = min(1.0, max(-1.0, g[0] * rg[0] + g[1] * rg[1] + g[2] * rg[2]))
                shift = math.degrees(math.acos(cosg))
                # the sensor was moved (re-worn, phone put away): after a sustained large shift
                # of gravity in sensor axes, learn the forward walk again
                if walk[i] and learn:
                    if not self.frozen:
                        self._moved = self._moved + 1 if shift > 50 else 0
                    else:
                        # a calibration is dropped only for a sensor that sits still another way,
                        # not for a trunk that bends or twists a while (gravity on the move)
                        gl = self._g_last
                        steady = g[0] * gl[0] + g[1] * gl[1] + g[2] * gl[2] > COS_STEADY
                        self._moved = self._moved + 1 if shift > 50 and steady else 0
                        self._g_last = g
                # a calibration made with the sensor worn another way (or another sensor) is
                # worse than none: on the first seconds of walking that disagree, learn afresh
                if learn and self._moved >= (CAL_MISMATCH_WINDOWS if self.frozen else self.moved_windows):
                    if self.frozen:
                        self.mismatch = True
                    self.reset()
                    shift = 0.0
            ready = self.n >= self.warmup_windows
            row = out[i]
            sim_all = 0.0
            if self.n > 0:
                r = self._odd
                rn = self._odd_norm_k
                rtot = self._odd_norm
                nums = [z[3 * k] * r[3 * k] + z[3 * k + 1] * r[3 * k + 1] + z[3 * k + 2] * r[3 * k + 2]
                        for k in range(nb)]
                zk = znorm_k[i]
                sim_all = sum(nums) / (znorm[i] * rtot + 1e-9)
                wsum = sum(rn) + 1e-9
                sk = skews[i]
                rs = self._skew
                row[0] = sim_all
                for k in range(nb):
                    row[1 + k] = nums[k] / (zk[k] * rn[k] + 1e-9)
                    row[1 + nb + k] = rn[k] / wsum
                j = 1 + 2 * nb
                row[j] = sk[0] * math.copysign(1.0, rs[0]) * min(1.0, abs(rs[0]) / 0.3) if rs[0] else 0.0
                row[j + 1] = sk[1] * math.copysign(1.0, rs[1]) * min(1.0, abs(rs[1]) / 0.3) if rs[1] else 0.0
                row[j + 2] = step_hz[i] / max(self.step_hz, 0.3)
                row[j + 3] = log_rms[i] - self.log_rms
                row[j + 5] = rtot
                rz, rk = rec_all[i], rec_norm_k[i]
                rnums = [rz[3 * k] * r[3 * k] + rz[3 * k + 1] * r[3 * k + 1] + rz[3 * k + 2] * r[3 * k + 2]
                         for k in range(K_RECENT)]
                rtot_r = math.sqrt(sum(x * x for x in rn[:K_RECENT]))
                row[j + 7] = sum(rnums) / (rec_norm[i] * rtot_r + 1e-9)
                for k in range(K_RECENT):
                    row[j + 8 + k] = rnums[k] / (rk[k] * rn[k] + 1e-9)
                # the similarity's trend over the bout: weak but steady evidence adds up
                # (backward walking that is only roughly forward walking reversed in time)
                if learn:
                    self._trend = (self._trend + TREND_ALPHA * (sim_all - self._trend) if gait[i]
                                   else 0.5 * self._trend)
                row[j + 8 + K_RECENT] = self._trend
            else:
                row[1 + 2 * nb + 2] = 1.0
            row[1 + 2 * nb + 4] = shift
            row[1 + 2 * nb + 6] = float(ready)
            if not learn:
                continue
            # learn: all walking during the warm-up, then walking that matches the reference
            # the sensor still being put in place (a phone going into a bag or a pocket): its
            # gravity turns far faster than any walker's trunk or thigh does (over 1 s, 99 % of
            # walking windows turn less than 10.5 degrees, real and simulated); the warm-up
            # waits for it to sit, or for 10 s of such walking
            settling = False
            if not ready:
                self._g_hist.append(g)
                gh = self._g_hist[0]
                settling = (len(self._g_hist) > SETTLE_HOPS and walk[i]
                            and g[0] * gh[0] + g[1] * gh[1] + g[2] * gh[2] < COS_SETTLING
                            and self._unsettled < SETTLE_MAX_WINDOWS)
            if settling:
                self._unsettled += 1
            elif walk[i] and not self.frozen:
                if not ready:
                    self.n += 1
                    self._blend_list(1.0 / self.n, z, skews[i], step_hz[i], log_rms[i], g)
                    if self.prior is not None and self.n >= self.prior_check_windows:
                        self._check_prior()
                    elif self.n >= self.warmup_windows and not self.verdict:
                        self.verdict = "new"
                elif sim_all > ADAPT_SIM and log_rms[i] - self.log_rms < ADAPT_ENERGY:
                    self.n += 1
                    self._blend_list(self.alpha, z, skews[i], step_hz[i], log_rms[i], g)
            elif (walk[i] and self.pace_follow is not None
                  and (self._pace_n < self.warmup_windows or abs(sim_all) > ADAPT_SIM)):
                # a calibration gives the direction axis; the pace (cadence, energy), which the
                # model reads against the reference's, is today's: learnt from the session's
                # first walking as a warm-up would be, then followed (another day's pace, or
                # another wearer: a calibration at a brisk pace had read walking at 0.85 of it
                # as other). A backward window counts as the forward pace it implies
                hz, lr = step_hz[i], log_rms[i]
                if sim_all < -ADAPT_SIM:
                    hz, lr = hz / self.pace_follow[0], lr - self.pace_follow[1]
                if self._pace_n < self.warmup_windows:
                    self._pace_n += 1
                    w = 1.0 / self._pace_n
                elif lr - self.log_rms < ADAPT_ENERGY:
                    w = PACE_ALPHA
                else:
                    w = 0.0          # motion far stronger than the walk: not its pace
                self.step_hz += w * (hz - self.step_hz)
                self.log_rms += w * (lr - self.log_rms)
        return out

    def set_axis(self, forward_odd: np.ndarray, backward_odd: np.ndarray) -> None:
        """Compare windows with the axis between the wearer's two directions (a calibration,
        or a live session's first backward bout) instead of the forward walk alone, and stop
        adapting. For an exact time reversal this axis is the forward reference itself."""
        self._blend_list(1.0, ((forward_odd - backward_odd) / 2).reshape(-1).tolist(),
                         self._skew, self.step_hz, self.log_rms, self._grav)
        self.frozen = True

    # the reference is kept as Python floats (relative() runs on them); odd/skew/gravity
    # below give it as arrays
    def _blend_list(self, w: float, z: list, skew: list, step_hz: float, log_rms: float,
                    g: list) -> None:
        # (called for every walking window that teaches the reference: local names, lists
        # rather than generators; the same arithmetic in the same order)
        v = 1.0 - w
        o = [v * a + w * b for a, b in zip(self._odd, z)]
        self._odd = o
        self._odd_norm_k = [math.sqrt(o[i] ** 2 + o[i + 1] ** 2 + o[i + 2] ** 2)
                            for i in range(0, 3 * K_BANDS, 3)]
        self._odd_norm = math.sqrt(sum([x * x for x in o]))
        s0, s1, s2 = self._skew
        self._skew = [v * s0 + w * skew[0], v * s1 + w * skew[1], v * s2 + w * skew[2]]
        self.step_hz = v * self.step_hz + w * step_hz
        self.log_rms = v * self.log_rms + w * log_rms
        g0, g1, g2 = self._grav
        gv0, gv1, gv2 = v * g0 + w * g[0], v * g1 + w * g[1], v * g2 + w * g[2]
        gn = max(math.sqrt(gv0 ** 2 + gv1 ** 2 + gv2 ** 2), 1e-9)
        self._grav = [gv0 / gn, gv1 / gn, gv2 / gn]

    @property
    def odd(self) -> np.ndarray:
        return np.array(self._odd).reshape(K_BANDS, 3)

    @property
    def skew(self) -> np.ndarray:
        return np.array(self._skew)

    @property
    def gravity(self) -> np.ndarray:
        return np.array(self._grav)


def recording_windows(t: np.ndarray, acc: np.ndarray, chunk: int | None = 4096,
                      track: CadenceTrack | None = None
                      ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(windows, end times) of a whole recording through the live resampler and windowing
    (a gap restarts the windows, and the track given: as the live pipeline does, so training
    and calibration read a recording with gaps as a live stream would); chunk: samples per
    push (None: all at once)."""
    rs, ws = Resampler(), WindowStream()
    step = chunk or max(len(t), 1)
    for i in range(0, len(t), step):
        for c in rs.push(t[i:i + step], acc[i:i + step]):
            if c.gap_before:
                ws.reset()
                if track is not None:
                    track.reset()
            if len(c.t) == 0:
                continue
            wins, tend = ws.push(c.t, c.acc)
            if len(wins):
                yield wins, tend


class WindowStream:
    """Cuts the 50 Hz stream into overlapping windows (WIN long, ending every HOP samples).

    context: samples each window carries (its last WIN are the window), for slow_cadence;
    push_context gives them with which of them had that much stream behind them."""

    def __init__(self, context: int = WIN) -> None:
        self.context = max(context, WIN)
        self.reset()

    def reset(self) -> None:
        self.buf_t = np.zeros(0)
        self.buf = np.zeros((0, 3))
        self.start = 0          # absolute index of buf[0]
        self.next_end = WIN     # absolute (exclusive) end index of the next window

    def push(self, t: np.ndarray, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (windows (nw, WIN, 3), end times (nw,)) completed by these samples."""
        ctx, tend, _ = self.push_context(t, acc)
        return ctx[:, -WIN:], tend

    def push_context(self, t: np.ndarray, acc: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(windows with their context (nw, context, 3), end times (nw,), full (nw,): had the
        stream, since its start or last reset, that much before the window's end)."""
        C = self.context
        self.buf_t = np.concatenate([self.buf_t, t])
        self.buf = np.concatenate([self.buf, acc])
        total = self.start + len(self.buf)
        if total < self.next_end:
            return np.zeros((0, C, 3)), np.zeros(0), np.zeros(0, dtype=bool)
        ends = np.arange(self.next_end, total + 1, HOP) - self.start
        self.next_end += HOP * len(ends)
        full = ends + self.start >= C
        idx = np.maximum(ends[:, None] - C + np.arange(C)[None, :], 0)
        wins = self.buf[idx]
        tend = self.buf_t[ends - 1]
        drop = max(0, (self.next_end - C) - self.start)
        if drop:
            self.buf, self.buf_t = self.buf[drop:], self.buf_t[drop:]
            self.start += drop
        return wins, tend, full
