"""The direction pipeline: samples in, direction, steps and tallies out, in real time.

resample (50 Hz) -> windows (2 s every 0.2 s) -> orientation-free features relative to the
warm-up reference -> classifier -> HMM filter with hysteresis -> segments, events, steps.

The same object serves live sensors (small batches) and `coach analyze` (large batches):
features never depend on the classifier's output and the filter runs window by window, so
the result does not depend on how the stream was batched.
"""
from __future__ import annotations

import bisect
import logging
import math
import statistics
from collections import deque

import numpy as np

from coach.detect.model import CLASSES, DirectionModel
from coach.detect.types import AnalysisResult, Event, LiveState, Segment, Tallies
from coach.signal.calibration import Calibration, cosine, steady_odd
from coach.signal.features import (
    EVEN_NAMES,
    HOP,
    K_BANDS,
    LABEL_POS,
    LONG_WIN,
    REL_NAMES,
    WIN,
    CadenceTrack,
    RawFeatures,
    Reference,
    ReferenceState,
    WindowStream,
    block_mean,
    channel_energy,
    raw_features,
    slow_cadence,
)
from coach.signal.resample import FS, GAP_S, Resampler, increasing
from coach.sources.base import SampleBatch
from coach.types import STANDING_S

log = logging.getLogger(__name__)

HOP_S = HOP / FS
LAG_S = (1 - LABEL_POS) * WIN / FS     # a window's decision speaks for this long before its end
STAY = 0.93                            # HMM: probability to stay in a walking state from one hop to the next
STAY_IDLE = 0.8                        # ... in still or other: walking is taken up sooner (the filter
                                       # had added 0.37 s, median, to the windows' own verdict out of a stop)
SWITCH_P = 0.6                         # hysteresis: posterior needed to change the reported state
                                       # (into backward too: a backward flicker shorter than a
                                       # change lasts is left out of the file's answer, finish())
CENTRE_LEAD_S = (LABEL_POS - 0.5) * WIN / FS   # label point -> window centre
MOVING_LEAD_S = 0.5                    # measured on simulated sessions (benchmarks/)
ONSET_LATE_S = 0.3                     # walking's onsets were still dated 0.26 s late (median)
REFINE_WINDOWS = 25                    # clear backward windows (5 s) that refine the reference
REFINE_CONF = 0.9                      # ... reported with at least this confidence
REFINE_AGREE = 0.3                     # ... whose mean points at least this much against forward
REVERSE_P = 0.85                       # posterior needed to reverse walking directly to forward
REVERSE_P_BACKWARD = 0.7               # ... and to backward where FB_DIRECT applies
REDATE_S = 1.0                         # a told change whose state begins this soon after (flicker)
MIN_CHANGE_S = 1.0                     # a change of direction lasts at least this long
BLOCKS = 40                            # hops (8 s) of motion energy kept to date walking's starts
ENERGY_RISE = 4.0                      # walking's energy over standing's: a clear start
MOTION_LAG_S = 0.2                     # from the last quiet hop to the change (held-out simulated
                                       # starts out of a stop came out 0.2 s early without it)
REVERSAL_DWELL_S = MIN_CHANGE_S        # no reversal of walking within this long of a change
ONSET_WINDOWS = 25                     # how far back (windows, 0.2 s each) an onset is sought
SLOW_PERIODIC = 0.4                    # the 4 s autocorrelation that makes a slow walker's window gait
OTHER_STEP_PERIODIC = 0.5              # a step counted in motion read as other is one only where
                                       # its window repeats this closely (or its 4 s as a slow
                                       # walker's do): simulated sidestepping, turning and running
                                       # do (median 0.83-0.89), gestures and torso twists hardly
                                       # (0.36-0.39); 20 s of waving arms had counted 14-21 steps
CADENCE_MEDIAN = 15                    # windows whose median cadence the step count integrates
DIRECT = 0.1                           # a reversal mostly passes through a stop or a turn:
                                       # forward<->backward directly is this much rarer
FB_DIRECT = 0.5                        # ... but forward->backward only this much, and with
                                       # REVERSE_P_BACKWARD, where the latest stride points
REVERSE_SIM = 0.5                      # backward (its similarity past -this): real walking
                                       # reversed in time was told 0.14 s sooner (median; the
                                       # walkers held out of training 0.14 / 0.18 s), for no
                                       # false alarm on the real phones. Without that gate the
                                       # real phones played at 0.6 of their speed raised 13
                                       # more false alarms in 3.5 h (with it 3); both ways, a
                                       # quick flicker back to forward opened the way to a
                                       # second false alarm (model card, "Eighteenth session")
QUIET_LOG_RMS = float(np.log(0.0015))  # window rms (g) under 1.5 mg: quantisation, not motion
QUIET_P = [0.001, 0.001, 0.997, 0.001]  # ... is standing
IDLE_LOG_RMS = float(np.log(0.015))    # window rms (g) under 15 mg: too little motion to walk
STILL_WALK_SHARE = 0.02                # ... such a window keeps this share of its walking
BACKFILL_MAX_S = 1.5                   # how far back a new bout's first steps are counted
BACKFILL_PROOF = 5                     # ... once this many periodic windows in a row prove it a bout
BRIDGE_MAX_S = 0.5                     # ... a moment not periodic shorter than this does not break the row
STOP_DROP = 3.0                        # hops this much quieter (rms) than the walking: stopped
STOP_BACK_S = 0.1                      # ... from this long before a step's label time on
END_DROP = 1.5                         # at the data's end, a walk's last hops within this of its
                                       # energy are walking (_count_to_end)
WALK_TO_STEP_S = 0.6                   # a walk read as stopped before its last counted steps ends
                                       # with them, this far past where it was read to end at most
                                       # (_walks_to_their_steps)
WALK_STEP_AFTER_S = 0.1                # ... this long after its last step
FLIP_LEAD_S = 1.1                      # a reversal: from the whole window's similarity's sign flip
                                       # back to the change (median on the real reversed stretches)
FLIP_LEAD_RECENT_S = 0.75              # ... from the latest stride's (was 1.3 for both before the
                                       # stride was tracked across a reversal: CadenceTrack)
FLIP_RECENT = 0.2                      # ... the latest stride's similarity, past this on the new side
FLIP_BACK_S = 4.0                      # ... sought this far back
_SIM_ALL, _SIM_RECENT = REL_NAMES.index("sim_all"), REL_NAMES.index("sim_recent")
_REF_READY = REL_NAMES.index("ref_ready")
SURE_SIM = 0.95              # the window's and its latest stride's similarity both past this, one way:
SURE_SHARE = 0.9             # ... that direction gets at least this share of the walking (_sure_direction)
AGAINST_SIM = 0.3            # ... both past this: the other direction gets at most
AGAINST_SHARE = 0.3          # ... this share of the walking
SLOW_VIEW = True             # read a slow walker's 4 s at double speed (_slow_view; off: to compare)
SLOW_VIEW_WALK_P = 0.9       # windows already this surely walking are not read again
SLOW_VIEW_HZ = 1.05          # a 2 s window holds a whole stride only above about this cadence
SLOW_VIEW_PERIODIC = 0.5     # ... the 4 s at double speed must be this periodic,
SLOW_VIEW_EVEN = float(np.log(2.0))  # ... their halves' energies within 2x (not a stop or start),
SLOW_VIEW_SIM = 0.6          # ... walk like the reference, one way or the other, this clearly
SLOW_VIEW_SURE = 0.7         # ... and be walking at least this surely,
SLOW_VIEW_AGAINST = 0.4      # ... unless the 2 s window's similarity points this far the other way
_PERIODICITY = EVEN_NAMES.index("periodicity")
_X_STEP_HZ = EVEN_NAMES.index("step_hz")
_X_SIM_ALL = len(EVEN_NAMES) + _SIM_ALL
_X_SIM_TREND = len(EVEN_NAMES) + REL_NAMES.index("sim_trend")
_X_CAD_RATIO = len(EVEN_NAMES) + REL_NAMES.index("cad_ratio")
# a calibration whose forward/backward axis agrees less than this (cosine) with the session's
# own forward warm-up is set aside. The same walker at the same pace agrees 0.8-1.0 (mostly);
# another walker anywhere from -0.9 to 0.99, and below 0.7 their calibration cost far more than
# it gained (benchmarks/calibration_other.txt); 0.8 also set aside a few of the walker's own
# calibrations that had helped
CAL_FIT_MIN = 0.7
WARMUP_KEEP = 300                      # windows (60 s) of the warm-up kept for that check
REPLAY_MAX_S = 180.0                   # input kept to be read again without the calibration
_WORN_OTHERWISE = ("the calibration does not fit how this sensor is worn (gravity sits more than "
                   "50 degrees away): ignored, learning from the warm-up instead")
_MODEL_CACHE: dict[str, DirectionModel] = {}


def transition_matrix(fb_direct: float) -> np.ndarray:
    """HMM transitions per hop over CLASSES (forward, backward, still, other); fb_direct: how
    much rarer forward->backward directly is than another change (backward->forward: DIRECT)."""
    k = len(CLASSES)
    f, b, still, other = (CLASSES.index(c) for c in ("forward", "backward", "still", "other"))
    stay = np.array([STAY_IDLE if i in (still, other) else STAY for i in range(k)])
    T = np.repeat(((1 - stay) / (k - 1))[:, None], k, axis=1)
    np.fill_diagonal(T, stay)
    for i, j in ((f, b), (b, f)):
        moved = T[i, j] * (1 - (fb_direct if i == f else DIRECT))
        T[i, j] -= moved
        T[i, still] += moved / 2
        T[i, other] += moved / 2
    return T


def _sure_direction(rel: np.ndarray, proba: np.ndarray) -> None:
    """Walking is read the way the window's polarisation and its latest stride's both point,
    once they point clearly: where both similarities to the forward reference are past
    SURE_SIM one way, that direction gets at least SURE_SHARE of the walking's probability;
    where both are past AGAINST_SIM, the other direction gets at most AGAINST_SHARE of it. The
    walking's own share (the activity stage) is left as it is.

    Why: the model's direction stage also reads the walk's energy and cadence against the
    warm-up's, and on those alone it had read walking against its polarisation. A backward bout
    walked more strongly than the warm-up (`coach demo`'s walker; a val5 walker) came out
    forward for seconds at a time with both similarities at -1.00. On mocap, val5, fresh, tune_m
    and the real reversed stretches, 12,515 windows were past -0.95 both ways: 7 were forward
    walking (at changes; the model already read them backward), and the 58 the model read
    forward were all backward walking. Turning on the spot and other motion after forward
    walking was read backward with both similarities past +0.3 (by style: 20 windows of turns
    and 21 of forward walking, against 41 of 12,356 backward ones), and false alarms came of
    it. Measured in the model card ("Thirteenth session")."""
    ready = rel[:, _REF_READY] > 0.5
    for sign, k in ((-1.0, 1), (1.0, 0)):          # backward, forward (CLASSES' columns)
        a, r = sign * rel[:, _SIM_ALL], sign * rel[:, _SIM_RECENT]
        floor = np.where(ready & (a > SURE_SIM) & (r > SURE_SIM), SURE_SHARE,
                         np.where(ready & (a > AGAINST_SIM) & (r > AGAINST_SIM), 1 - AGAINST_SHARE, 0.0))
        m = floor > 0
        if m.any():
            walk = proba[m, 0] + proba[m, 1]
            p = np.maximum(proba[m, k], floor[m] * walk)
            proba[m, k] = p
            proba[m, 1 - k] = walk - p


def _runs(segs: list[Segment]) -> list[Segment]:
    """Neighbouring segments of one direction as one, each starting where the one before ends
    (contiguous, also where a sliver was left out)."""
    out: list[Segment] = []
    for s in segs:
        if out and out[-1].direction == s.direction:
            out[-1].end_s = s.end_s
        else:
            out.append(Segment(out[-1].end_s if out else s.start_s, s.end_s, s.direction))
    return out


def _default_model() -> DirectionModel:
    if "default" not in _MODEL_CACHE:
        _MODEL_CACHE["default"] = DirectionModel.load()
    return _MODEL_CACHE["default"]


class DirectionPipeline:
    """Streaming detector. feed() batches, read .state, call finish() for the analysis."""

    def __init__(self, source_name: str = "stream", model: DirectionModel | None = None,
                 placement: str | None = None, device_key: str | None = None,
                 calibration: "Calibration | None" = None,
                 refine_backward: bool = False) -> None:
        """device_key: remember the forward reference for this device and placement across
        sessions (live sensors); None for recordings, which stand on their own.
        calibration: the wearer's own forward and backward walking (coach calibrate); the
        warm-up only checks that it fits this walk (_check_calibration).
        refine_backward: a coached session's first backward bout (its confident, walking
        windows) teaches the wearer's own backward walk, as a calibration would, where it agrees
        that backward is roughly forward reversed."""
        self.source_name = source_name
        self.placement = placement
        self.model = model or _default_model()
        self.resampler = Resampler()
        self.windows = WindowStream(context=LONG_WIN)
        self._track = CadenceTrack()
        self.reference = calibration.reference() if calibration else Reference()
        self.calibration = calibration
        self._calibration_given = calibration is not None
        # with a calibration, a plain reference learns the session's own warm-up alongside: the
        # first seconds of walking check that the calibration describes this walk
        self._shadow: Reference | None = Reference() if calibration else None
        self._warmup: deque[RawFeatures] = deque(maxlen=WARMUP_KEEP)
        # the input until the calibration is checked: read again without it if it is set aside
        self._input: list[SampleBatch] | None = [] if calibration else None
        self.calibration_fit: float | None = None
        self._refine_asked = refine_backward     # (taken up if the calibration is set aside)
        self.refine_backward = refine_backward and calibration is None
        self._back_sum = np.zeros((K_BANDS, 3))
        self._back_n = 0
        self.refined = False
        self.device_key = device_key
        self._told_verdict = False
        if device_key and not calibration:
            from coach.detect.reference_store import load_reference

            self.reference.prior = load_reference(device_key)
        self.state = LiveState()
        k = len(CLASSES)
        # the filter runs on Python floats: numpy's per-call cost dominates 4-vectors
        self._trans_l: list[list[float]] = transition_matrix(DIRECT).tolist()
        self._trans_to_back_l: list[list[float]] = transition_matrix(FB_DIRECT).tolist()
        prior = np.array(self.model.card.get("class_prior", [0.25] * k))
        self._prior_l: list[float] = np.maximum(prior, 1e-3).tolist()
        self._alpha: list[float] = [1.0 / k] * k
        self._cur = "still"
        self._cur_since = 0.0
        self._walk_dir: str | None = None      # last walking direction (forward/backward)
        self._run_new: dict[str, float] = {}   # first label time of the current streak per class
        self._recent_p: deque[tuple[float, list[float]]] = deque(maxlen=ONSET_WINDOWS)  # (label time, raw p)
        self._blocks: deque[tuple[float, float]] = deque(maxlen=BLOCKS)  # (end time, rms g) per hop
        # (end time, similarity to the forward reference: whole window, latest stride) per window
        self._sims: deque[tuple[float, float, float]] = deque(maxlen=int(FLIP_BACK_S / HOP_S) + 1)
        self.segments: list[Segment] = []
        self.events: list[Event] = []
        self.steps: list[tuple[float, str]] = []
        self._step_phase = 0.5
        self._moving_since: float | None = None  # first label time of moving, not yet periodic windows
        self._backfill: list[tuple[float, float, float]] = []  # (from, to, phase) not yet counted
        self._gait_run = 0
        self._periodic: list[tuple[float, float]] = []   # (label time, periodicity) per window
        self._count_t: float | None = None     # label time of the last window that counted steps
        self._owed = 0                         # steps counted ahead of the windows by finish()
        self._t_first: float | None = None
        self._t_last = 0.0
        self._n_raw = 0
        self._gap_n = 0                        # intervals longer than GAP_S (sensor drops)
        self._gap_s = 0.0
        self._cad_hist: list[float] = []
        self._resume_t: float | None = None     # when data came back after a drop
        # since when no window has been decided (the stream's start, the end of a drop), and
        # the label time of the first window after it: a state first seen there holds from then
        self._fresh_t = 0.0
        self._fresh_lab: float | None = None
        self._switched_at = -1e9                 # stream time of the last reported change

    @property
    def seconds(self) -> float:
        """Stream time from the first sample to the last."""
        return 0.0 if self._t_first is None else self._t_last - self._t_first

    # ------------------------------------------------------------------ streaming
    def feed(self, batch: SampleBatch) -> list[Event]:
        """Process one batch; return the events it caused (direction changes, steps, gaps)."""
        keep = increasing(batch.t, None if self._t_first is None else self._t_last)
        if not keep.all():
            # a time that is not a number, repeats or goes back (the Python API; the readers
            # drop such rows and say so): left out, as the resampler would
            batch = SampleBatch(batch.t[keep], batch.acc[keep], batch.gap_before, batch.meta)
        if len(batch) == 0:
            return []
        if self._input is not None:
            self._input.append(batch)
            if batch.t[-1] - batch.t[0] > REPLAY_MAX_S or (
                    self._t_first is not None and batch.t[-1] - self._t_first > REPLAY_MAX_S):
                self._input = None     # the check is long overdue: too much to read again
        new: list[Event] = []
        if self._t_first is None:
            self._t_first = float(batch.t[0])
            self._t_last = self._t_first
            # the first window fills for 2 s: count the steps it holds, as after a drop
            self._resume_t = self._fresh_t = self._t_first
        # intervals longer than a gap are not sampling: the rate leaves them out
        d = np.diff(batch.t, prepend=self._t_last)
        self._gap_n += int((d > GAP_S).sum())
        self._gap_s += float(d[d > GAP_S].sum())
        self._n_raw += len(batch)
        self._t_last = float(batch.t[-1])
        mag = np.linalg.norm(batch.acc, axis=1)
        self.state.jolt_g = float(np.max(np.abs(mag - 1.0)))
        for chunk in self.resampler.push(batch.t, batch.acc, gap=batch.gap_before):
            if chunk.gap_before:
                new += self._gap(chunk.resume_t, chunk.gap_before)
            if len(chunk.t) == 0:
                continue
            ctx, tend, full = self.windows.push_context(chunk.t, chunk.acc)
            if len(ctx):
                new += self._windows(ctx, tend, full)
        self.state.t_s = self._t_last
        self._update_tallies()
        if self._shadow is None:
            if self._input is not None and self._calibration_given and self.calibration is None:
                return self._read_again_without_calibration(float(batch.t[0]))
            self._input = None
        return new

    def _read_again_without_calibration(self, t_batch: float) -> list[Event]:
        """A calibration set aside is ignored from the start: the session so far is read again
        as if none had been given (its first seconds had kept the calibration's reading, and a
        forward opening read with someone else's came out backward), live and from a file alike.
        Returns this batch's events as read again (what came before was already told)."""
        inputs, fit = self._input or [], self.calibration_fit
        again = DirectionPipeline(self.source_name, self.model, self.placement, self.device_key,
                                  refine_backward=self._refine_asked)
        for b in inputs:
            again.feed(b)
        self.__dict__.update(again.__dict__)
        self._calibration_given, self.calibration_fit = True, fit
        return [e for e in self.events if e.t_s >= t_batch]

    def _gap(self, t_resume: float, dur: float) -> list[Event]:
        """A sensor drop: nothing is known inside it, so it is still time with no steps."""
        t_gap0 = t_resume - dur
        self._close_segment(max(t_gap0, self._cur_since))
        self._cur, self._cur_since = "still", t_gap0
        self._close_segment(t_resume)
        self._open(t_resume, "still")
        self._run_new.clear()
        self._recent_p.clear()
        self._blocks.clear()
        self._sims.clear()
        self.windows.reset()
        self._track.reset()
        # most drops are short and the walker goes on as before: keep most of the belief
        self._alpha = [0.7 * x + 0.3 / len(CLASSES) for x in self._alpha]
        self._step_phase = 0.5
        self._count_t = None
        self._owed = 0
        self._moving_since = None
        self._backfill = []
        self._resume_t = self._fresh_t = t_resume
        self._fresh_lab = None
        ev = Event(t_resume, "gap", {"duration_s": dur, "direction": "still"})
        self.events.append(ev)
        log.info("sensor gap of %.1f s at %.1f s", dur, t_gap0)
        return [ev]

    def _windows(self, ctx: np.ndarray, tend: np.ndarray, full: np.ndarray) -> list[Event]:
        """ctx: the windows with the LONG_WIN samples that end with them; full: which of them
        had that much stream behind them (the first 4 s of a stream or after a drop do not)."""
        if self.refine_backward and not self.refined and len(ctx) > 1:
            # the first backward bout may refine the reference at any window, and the windows
            # after it must be read with the refined one: one window at a time until then, so
            # the answer does not depend on how the stream is batched
            out: list[Event] = []
            for k in range(len(ctx)):
                out += self._windows(ctx[k:k + 1], tend[k:k + 1], full[k:k + 1])
            return out
        wins = ctx[:, -WIN:]
        raw = raw_features(wins, self._track)
        states: list[ReferenceState] | None = [] if SLOW_VIEW else None
        rel = self._relative(raw, states)
        X = np.hstack([raw.even, rel])
        proba = self.model.predict_proba(X)
        if states is not None:
            self._slow_view(ctx, full, raw, X, proba, states)
        _sure_direction(rel, proba)
        # below any sensor's noise (a flat-lined or perfectly still sensor) the features leave
        # everything the model was trained on: such a window is standing, whatever it says
        proba[raw.even[:, 0] < QUIET_LOG_RMS] = QUIET_P
        # too little motion for any gait (under 15 mg rms: no walking window of the real phones
        # or the held-out simulated sets, slow pocket walkers included, moves that little): not
        # walking, however periodic (a sensor on a desk that is tapped, a stander's sway)
        idle = raw.even[:, 0] < IDLE_LOG_RMS
        if idle.any():
            walk_p = proba[idle, 0] + proba[idle, 1]
            proba[idle, 2] += (1 - STILL_WALK_SHARE) * walk_p
            proba[idle, :2] *= STILL_WALK_SHARE
        proba = proba.tolist()
        tends = tend.tolist()
        # each window's newest hop, about the window's own mean: the motion's energy, hop by hop
        tail = wins[:, -HOP:, :] - wins.mean(axis=1)[:, None, :]
        blk = np.sqrt(channel_energy(tail).mean(axis=1)).tolist()
        gait, slow_gait, step_hz = self._counting(ctx, full, raw)
        # (a slow walker's window repeats over its 4 s: slow gait)
        rep = np.where(slow_gait, 1.0, raw.even[:, _PERIODICITY])
        self._periodic += list(zip((tend - LAG_S).tolist(), rep.tolist()))
        moving = raw.moving.tolist()
        sim_all, sim_recent = rel[:, _SIM_ALL].tolist(), rel[:, _SIM_RECENT].tolist()
        out = []
        for i in range(len(tends)):
            t_lab = tends[i] - LAG_S
            self._blocks.append((tends[i], blk[i]))
            self._sims.append((tends[i], sim_all[i], sim_recent[i]))
            out += self._filter_step(proba[i], t_lab, tends[i])
            walking = self._cur in ("forward", "backward")
            out += self._count_steps(gait[i] or (slow_gait[i] and walking), step_hz[i], t_lab,
                                     moving[i], tends[i])
            if self.refine_backward and not self.refined:
                self._learn_backward(raw, rel, i)
        self.state.calibrated = self.reference.ready
        if self.reference.mismatch and self.calibration is not None:
            log.warning(_WORN_OTHERWISE)
            self.calibration = None
        if self.reference.verdict and not self._told_verdict:
            self._told_verdict = True
            self.state.mounting = self.reference.verdict
            log.info({"same": "sensor worn as last time: last session's forward reference reused",
                      "changed": "sensor worn differently from last time: learning forward afresh",
                      "new": "forward reference learnt from the warm-up",
                      "calibrated": "using the wearer's calibration"}[self.reference.verdict])
        if self.reference.ready:
            self.state.forward_cadence_spm = 60 * self.reference.step_hz
        return out

    def _slow_view(self, ctx: np.ndarray, full: np.ndarray, raw: RawFeatures, X: np.ndarray,
                   proba: np.ndarray, states: list[ReferenceState]) -> None:
        """Read again, 2x faster, the 4 s that end with windows not surely walking: a walker
        slower than about 1 step/s has no whole stride in a 2 s window (its cadence read now
        1.1, now 3.5 steps/s, its similarity to the reference near 0), and their backward
        walking was read as other for whole bouts. Their 4 s at double speed are a stride and
        more of an ordinary walker's; where that view is a slow, periodic walk and says walking
        more surely, its probabilities stand (read against the reference as each window was,
        states: Reference.snapshot()s, which they do not teach)."""
        look = np.flatnonzero(full & raw.moving & (proba[:, 0] + proba[:, 1] < SLOW_VIEW_WALK_P))
        # ... once the reference was ready (asked of these windows only: the hot path)
        look = look[[states[i].n >= self.reference.warmup_windows for i in look.tolist()]]
        if not len(look):
            return
        k = LONG_WIN // WIN                               # 2: the 4 s, as 2 s at 50 Hz
        c = ctx[look, -k * WIN:]
        e = channel_energy(c - c.mean(axis=1, keepdims=True))
        uneven = np.abs(np.log(e[:, :WIN].mean(axis=1) + 1e-12)
                        - np.log(e[:, WIN:].mean(axis=1) + 1e-12))
        fast = raw_features(block_mean(c, k))
        slow = ((fast.step_hz / k < SLOW_VIEW_HZ) & fast.walk & (uneven < SLOW_VIEW_EVEN)
                & (fast.even[:, _PERIODICITY] > SLOW_VIEW_PERIODIC))
        if not slow.any():
            return
        sub = fast[slow]
        rows = look[slow]
        Xs = np.hstack([sub.even, self.reference.read(sub, [states[i] for i in rows])])
        Xs[:, _X_STEP_HZ] /= k                            # the cadence is the walker's own
        Xs[:, _X_CAD_RATIO] /= k
        # the similarity's trend follows the 2 s windows, near 0 for such a walker: over 4 s
        # this window is its own trend (read with the trend before it, a bout came out 0.33)
        Xs[:, _X_SIM_TREND] = Xs[:, _X_SIM_ALL]
        ps = self.model.predict_proba(Xs)
        walk_s = ps[:, 0] + ps[:, 1]
        sim = Xs[:, _X_SIM_ALL]
        sim_2s = X[rows, _X_SIM_ALL]
        # and its direction is the one its similarity points to (a slow, weak, periodic other
        # motion that looked forward had been read backward: slower and weaker, as backward
        # walkers are)
        better = ((walk_s > proba[rows, 0] + proba[rows, 1]) & (walk_s > SLOW_VIEW_SURE)
                  & (np.abs(sim) > SLOW_VIEW_SIM) & ((ps[:, 1] > ps[:, 0]) == (sim < 0))
                  & (sim * sim_2s > -SLOW_VIEW_AGAINST * np.abs(sim)))
        proba[rows[better]] = ps[better]

    @staticmethod
    def _counting(ctx: np.ndarray, full: np.ndarray, raw: RawFeatures
                  ) -> tuple[list[bool], list[bool], list[float]]:
        """Which windows count steps, at what cadence: the 2 s window's reading, mended for slow
        walkers from the 4 s that end with it (slow_cadence) -> (gait, slow gait, cadence). A
        slow walker's 2 s window is often not periodic enough to be gait; where the 4 s are
        (slow gait), it counts while the state is walking (the model's features and the
        reference are left as they were)."""
        hz = raw.cadence_hz.copy()
        slow_gait = np.zeros(len(hz), dtype=bool)
        look = raw.moving & full
        if look.any():
            hz[look], periodic = slow_cadence(ctx[look], hz[look])
            slow_gait[look] = periodic > SLOW_PERIODIC
        return raw.gait.tolist(), slow_gait.tolist(), hz.tolist()

    def _relative(self, raw: RawFeatures, states: list[ReferenceState] | None = None) -> np.ndarray:
        """The reference-relative features (states: gets the reference's snapshot before each
        window); while a calibration is still to be checked, window by window, so that the
        verdict falls on the same window however the stream is batched."""
        if self._shadow is None:
            return self.reference.relative(raw, record=states)
        nw = len(raw.step_hz)
        rows, i = [], 0
        while i < nw and self._shadow is not None:
            one = raw[i:i + 1]
            rows.append(self.reference.relative(one, record=states))
            self._check_calibration(one)
            i += 1
        if i < nw:
            rows.append(self.reference.relative(raw[i:], record=states))
        return np.vstack(rows)

    def _check_calibration(self, one: RawFeatures) -> None:
        """Does the calibration describe this walk? A plain reference learns the session's
        warm-up alongside; once it is ready, the warm-up's steady walking (chosen as a
        calibration chooses its own) is compared with the calibration's forward walk (its axis
        between the two directions had set aside 4 of 30 simulated walkers' own calibrations
        where their backward walk was far from a time reversal; 2 now). Another wearer's
        calibration, or one walked in a very different gait, had read whole sessions reversed
        (backward F1 0.797-0.810 with it against 0.916-0.940 without, over 3 x 30 simulated
        people each given someone else's). Where the two disagree (cosine below CAL_FIT_MIN),
        the warm-up is trusted, as without a calibration (and feed() reads the session so far
        again without it): so a calibrated session, too, opens with forward walking."""
        shadow = self._shadow
        assert shadow is not None
        if self.reference.mismatch or self.calibration is None:
            self._shadow = None       # the sensor sits otherwise: set aside from the start too
            self._warmup.clear()
            return
        shadow.relative(one)
        self._warmup.append(one)
        if not shadow.ready:
            return
        self._shadow = None
        odd = steady_odd(RawFeatures.concat(self._warmup), self.calibration.forward.step_hz)
        self._warmup.clear()
        _, angle = shadow.agreement(self.reference)
        # against the calibration's forward walk, not its axis: the axis leans away from the
        # forward walk as far as the wearer's backward walk is from its time reversal
        warm = odd if odd is not None else shadow.odd
        cos = cosine(warm, self.calibration.forward.odd)
        self.calibration_fit = cos
        log.debug("calibration check after %d warm-up windows: agreement %.3f (%s), gravity %.0f deg",
                  shadow.n, cos, "steady walking" if odd is not None else "the warm-up's reference",
                  angle)
        if cos >= CAL_FIT_MIN:
            return
        if angle > 50:
            log.warning(_WORN_OTHERWISE)
        elif cos < -CAL_FIT_MIN:
            log.warning("the calibration reads this session's first seconds of walking as backward "
                        "(agreement %.2f): start forward, as the warm-up is forward walking; or "
                        "is the sensor turned round since the calibration? Ignored, learning from "
                        "the warm-up instead", cos)
        else:
            log.warning("the calibration does not match this walk (its first seconds of walking "
                        "agree %.2f with it; another wearer or another gait?): ignored, learning "
                        "from the warm-up instead", cos)
        self.reference = shadow
        self.calibration = None
        self.refine_backward = self._refine_asked

    def _filter_step(self, p: list[float], t_lab: float, t_now: float) -> list[Event]:
        if self._fresh_lab is None:
            self._fresh_lab = t_lab
        # the latest stride points backward (this window's: _windows keeps it before this step)
        to_back = bool(self._sims) and self._sims[-1][2] < -REVERSE_SIM
        al, pri = self._alpha, self._prior_l
        tr = self._trans_to_back_l if to_back else self._trans_l
        a = [(al[0] * tr[0][j] + al[1] * tr[1][j] + al[2] * tr[2][j] + al[3] * tr[3][j])
             * p[j] / pri[j] for j in range(4)]
        tot = max(a[0] + a[1] + a[2] + a[3], 1e-12)
        self._alpha = al = [x / tot for x in a]
        self._recent_p.append((t_lab, p))
        best = CLASSES[p.index(max(p))]
        # remember where the current streak of each raw winner began (for back-dating)
        for c in CLASSES:
            if c == best:
                self._run_new.setdefault(c, t_lab)
            else:
                self._run_new.pop(c, None)
        amax = max(al)
        self.state.confidence = amax
        k = al.index(amax)
        cand = CLASSES[k]
        if cand == self._cur:
            return []
        need = SWITCH_P
        reversal = cand in ("forward", "backward") and self._cur in ("forward", "backward")
        if reversal:
            # reversing the walking direction: surer than any other change, and never right
            # after one (that is a flicker)
            if t_now - self._switched_at < REVERSAL_DWELL_S:
                return []
            need = REVERSE_P_BACKWARD if cand == "backward" and to_back else REVERSE_P
        if amax < need:
            return []
        self._switched_at = t_now
        onset = min(self._run_new.get(cand, t_lab), t_lab, self._evidence_onset(k))
        if self._fresh_lab is not None and onset <= self._fresh_lab:
            # the evidence reaches back to the first window since the start (or a drop): that
            # window holds nothing else, so the state holds from its start
            onset = self._fresh_t
        elif cand in ("forward", "backward"):
            # walking features average the whole window: the first window to favour the new
            # walking has about half of it behind the change, so the change sits near its centre
            onset -= CENTRE_LEAD_S + ONSET_LATE_S
            if self._cur == "other" or (cand == "backward" and self._cur == "forward"):
                # out of other motion (a turn) or forward walking, whose polarisation partly
                # cancels the new walking's (backward walking is the weaker of the two), the
                # window must be mostly new before it favours it
                onset -= MOVING_LEAD_S
        if self._cur == "still" and cand in ("forward", "backward") and onset > self._fresh_t:
            onset = self._motion_start(onset, t_now)
        if reversal:
            # a direct reversal: the evidence's onset scatters (p10-p90 over 1.5 s); the
            # similarity's own sign flip dates it about as well, and the mean of both better
            onset = (onset + 2 * self._flip_onset(cand, t_now, onset)) / 3
        onset = max(onset, self._cur_since)
        self._close_segment(onset)
        self._open(onset, cand)
        # every change of the reported state (still and other too), for observers that get
        # long batches (a file): they rebuild the live state timeline from these
        out = [Event(t_now, "state", {"direction": cand, "since_s": onset})]
        if cand in ("forward", "backward") and cand != self._walk_dir:
            first = self._walk_dir is None
            self._walk_dir = cand
            if not first or cand == "backward":
                ev = Event(t_now, "direction_change", {"direction": cand, "since_s": onset})
                self.events.append(ev)
                self.state.tallies.direction_changes += 1
                out.append(ev)
        return out

    def _learn_backward(self, raw: RawFeatures, rel: np.ndarray, i: int) -> None:
        """Collect the first backward bout's clear windows; then use the axis between the two
        directions (as a calibration does), if the bout agrees that it is reversed walking."""
        if not (self._cur == "backward" and self.state.confidence > REFINE_CONF and raw.walk[i]
                and rel[i, 0] < -0.3 and self.reference.ready):
            return
        self._back_sum += raw.odd[i]
        self._back_n += 1
        if self._back_n < REFINE_WINDOWS:
            return
        self.refined = True
        rb = self._back_sum / self._back_n
        rf = self.reference.odd
        cos = cosine(rb, rf)
        if cos > -REFINE_AGREE:
            log.info("first backward bout does not agree with the forward reference (cos %.2f): "
                     "reference kept", cos)
            return
        # rescale the backward mean to the forward reference's size so neither dominates
        rb *= np.linalg.norm(rf) / (np.linalg.norm(rb) + 1e-12)
        self.reference.set_axis(rf, rb)
        log.info("backward reference refined from the first backward bout (cos %.2f)", cos)

    def _motion_start(self, onset: float, t_now: float) -> float:
        """Walking out of a stop starts where the motion's energy rose from standing's to
        walking's: hop by hop, finer than the windows' evidence (within a second of it)."""
        bl = list(self._blocks)
        walk = [e for t, e in bl if t > t_now - 1.0]
        still = [e for t, e in bl if onset - 3.0 <= t <= onset + 0.5]
        if len(walk) < 3 or len(still) < 3:
            return onset
        e_walk, e_still = statistics.median(walk), min(still)
        if e_walk < ENERGY_RISE * e_still:
            return onset
        thr = math.sqrt(e_walk * e_still)
        for t, e in reversed(bl):
            if e < thr:
                return min(max(t + MOTION_LAG_S, onset - 1.0), onset + 1.0)
        return onset

    def _stopped_before(self, t_lab: float, t_now: float) -> bool:
        """Every hop from just before t_lab to now is far quieter than the walking before it."""
        bl = self._blocks
        if len(bl) < 15:
            return False
        loud = 0.0
        for t, e in reversed(bl):
            if t <= t_lab - STOP_BACK_S:
                break
            loud = max(loud, e)
        # most windows are walking on: their latest hops are as loud as some a few seconds back
        if loud * STOP_DROP >= max(bl[-8][1], bl[-12][1], bl[-15][1]):
            return False
        walk = [e for t, e in bl if t_now - 3.0 <= t <= t_lab - 0.4]
        return len(walk) >= 5 and loud * STOP_DROP < statistics.median(walk)

    def _flip_onset(self, cand: str, t_now: float, onset: float) -> float:
        """A reversal, dated from where the similarity to the forward reference last stood on
        the old side: the mean of two such estimates, the whole window's (past 0) and the
        latest stride's (past FLIP_RECENT), each its lead (FLIP_LEAD_S, FLIP_LEAD_RECENT_S) before
        the first window after it.
        Averaged with the evidence's onset, the mean dating error of direct reversals fell by a
        third on held-out simulated walking and by a sixth on real walking reversed in time."""
        sign = -1.0 if cand == "backward" else 1.0
        est = []
        for col, thr, lead in ((1, 0.0, FLIP_LEAD_S), (2, FLIP_RECENT, FLIP_LEAD_RECENT_S)):
            first = None
            for rec in reversed(self._sims):
                # strictly past (0 is no reference yet; not a number is no evidence)
                if rec[0] <= t_now - FLIP_BACK_S or not sign * rec[col] > thr:
                    break
                first = rec[0]
            est.append(first - lead if first is not None else onset)
        return (est[0] + est[1]) / 2

    def _evidence_onset(self, k: int) -> float:
        """Where the evidence for class k over the reported state began: the start of the
        latest run of windows in which k was more likely than the current state. Windows
        straddling a change often favour neither (a stop, a turn), so this reaches further
        back than the run of outright winners and puts the segment where the walking changed."""
        cur = CLASSES.index(self._cur)
        onset = self._recent_p[-1][0] if self._recent_p else 0.0
        for t, p in reversed(self._recent_p):
            if p[k] <= p[cur]:
                break
            onset = t
        return onset

    def _count_steps(self, gait: bool, step_hz: float, t_lab: float, moving: bool = True,
                     t_now: float | None = None) -> list[Event]:
        """Steps by integrating cadence over periodic (gait) windows: robust to placement."""
        if not gait:
            self._step_phase = 0.5   # a new bout's first step comes half a period in
            self._resume_t = None
            self._count_t = None
            self._owed = 0
            self.state.cadence_spm = 0.0
            if moving and self._moving_since is None:
                self._moving_since = t_lab
            if not moving or not self._backfill or t_lab - (self._moving_since or t_lab) > BRIDGE_MAX_S:
                # a stop, or no bout's first steps waiting to be proved: start afresh. (A
                # moment not periodic enough while a new bout proves itself is bridged: its
                # first steps had been dropped by one such window)
                self._backfill = []
                self._gait_run = 0
            if not moving:
                self._moving_since = None
            return []
        # a single window's cadence can be off by a harmonic: show and integrate the recent median
        self._cad_hist = (self._cad_hist + [step_hz])[-CADENCE_MEDIAN:]
        f = statistics.median(self._cad_hist)
        self.state.cadence_spm = 60 * f if self._cur in ("forward", "backward") else 0.0
        out = []
        d = self._cur if self._cur in ("forward", "backward") else "other"
        self._gait_run += 1
        if self._moving_since is not None:
            # a bout's first steps are moving but not yet periodic: a window becomes periodic
            # only once most of it is walking. Once the bout proves to be one, count them too
            self._backfill.append((max(self._moving_since, t_lab - BACKFILL_MAX_S), t_lab - HOP_S,
                                   self._step_phase))
            self._moving_since = None
        if self._backfill and self._gait_run >= BACKFILL_PROOF and self._cur in ("forward", "backward"):
            # only into walking: from where the walking segment was dated to begin
            for t0, t1, ph in self._backfill:
                t0 = max(t0, self._cur_since)
                ts = t0 + (1.0 - ph) / f
                while ts < t1:
                    bisect.insort(self.steps, (ts, d))    # steps stay in time order
                    out.append(Event(ts, "step", {"direction": d}))
                    ts += 1.0 / f
            self._backfill = []
        self._step_phase += f * HOP_S
        if self._resume_t is not None:
            # walking through a sensor drop: the first window after it had to fill (2 s), and
            # the walker kept walking meanwhile; count those steps too
            self._step_phase += f * max(0.0, t_lab - self._resume_t - HOP_S)
            self._resume_t = None
        if t_now is not None and self._stopped_before(t_lab, t_now):
            # the window is still periodic, but the motion has already stopped: no more steps
            self._step_phase = min(self._step_phase, 0.999)
        while self._step_phase >= 1.0:
            self._step_phase -= 1.0
            if self._owed:
                self._owed -= 1       # counted already, to the end of an earlier finish()
                continue
            self.steps.append((t_lab, d))
            out.append(Event(t_lab, "step", {"direction": d}))
        self._count_t = t_lab
        return out

    def _count_to_end(self) -> list[tuple[float, str]]:
        """The steps of a walk the data ends in. Each window speaks for a time LAG_S before its
        end, so the last windows' final LAG_S were never counted: about a step of every
        recording that stops mid-walk (most of the held-out simulated sessions end walking, half
        of them backward). Counted, at the walk's cadence, through the hops that stay nearly as
        loud as the walking (END_DROP: a stop in those last moments, whose jolt can be as loud,
        had come out a step over in a quarter of simulated recordings that end 0.5-0.8 s into
        standing, with STOP_DROP as _stopped_before reads a stop)."""
        if self._count_t is None or self._cur not in ("forward", "backward") or not self._cad_hist:
            return []
        t_lab = self._count_t
        walk = [e for t, e in self._blocks if self._blocks[-1][0] - 3.0 <= t <= t_lab]
        if len(walk) < 5:
            return []
        loud, t_end = statistics.median(walk) / END_DROP, t_lab
        for t, e in self._blocks:
            if t > t_lab:
                if e < loud:
                    break
                t_end = t
        f = statistics.median(self._cad_hist)
        ts, out = t_lab + (1.0 - self._step_phase) / f, []
        while ts <= t_end:
            out.append((ts, self._cur))
            ts += 1.0 / f
        # (should the stream go on after all, its next windows count these steps again)
        self._owed += len(out)
        self._count_t = None
        return out

    # ------------------------------------------------------------------ segments
    def _open(self, t: float, direction: str) -> None:
        self._cur = direction
        self._cur_since = t
        self.state.direction = direction
        self.state.since_s = t

    def _close_segment(self, t_end: float) -> None:
        start = self._cur_since
        if self.segments and self.segments[-1].end_s > start:
            start = self.segments[-1].end_s
        if t_end > start:
            self.segments.append(Segment(start, t_end, self._cur))

    def _update_tallies(self) -> None:
        t = Tallies(direction_changes=self.state.tallies.direction_changes)
        segs = self.segments + [Segment(self._cur_since, max(self._t_last, self._cur_since), self._cur)]
        for s in segs:
            if s.direction == "backward":
                t.retro_seconds += s.end_s - s.start_s
            elif s.direction == "forward":
                t.forward_seconds += s.end_s - s.start_s
        # steps belong to the segment their time falls in (back-dating moves them)
        bounds = np.array([s.start_s for s in segs[1:]])
        if self.steps:
            st = np.array([x[0] for x in self.steps])
            idx = np.searchsorted(bounds, st, side="right")
            dirs = np.array([s.direction for s in segs])[idx]
            t.retro_steps = int((dirs == "backward").sum())
            t.forward_steps = int((dirs == "forward").sum())
            t.other_steps = len(st) - t.retro_steps - t.forward_steps
        self.state.tallies = t

    def _without_flickers(self, segs: list[Segment]) -> list[Segment]:
        """The whole recording's answer. A walking state that later back-dating left shorter
        than a change lasts (MIN_CHANGE_S) was a flicker, mostly as walking starts out of a
        stop, a turn or a run, or a moment of forward inside a backward bout: it takes the
        direction of what follows it. A change is reported where the final segments hold its
        state: once per segment, and only where that segment's direction differs from the
        walking before it (a flicker's change back is not a change). A change whose state
        does not hold where it began is not reported, unless that state begins within REDATE_S
        of the change's telling across still or other only (its first moments went with a
        flicker): then it is kept, dated where its state begins, and told no earlier than
        that. Live listeners heard every change when it happened."""
        out = list(segs)
        while len(out) > 1:
            short = [i for i, s in enumerate(out)
                     if s.direction in ("forward", "backward") and s.end_s - s.start_s < MIN_CHANGE_S]
            if not short:
                break
            i = short[0]
            j = i + 1 if i + 1 < len(out) else i - 1     # it joins what follows it
            a, b = min(i, j), max(i, j)
            out[a:b + 1] = [Segment(out[a].start_s, out[b].end_s, out[j].direction)]
            out = _runs(out)          # neighbours of one direction after the join merge too
        starts = np.array([s.start_s for s in out[1:]])
        # the walking direction before each segment (the warm-up counts as forward)
        before: list[str] = []
        walking = "forward"
        for s in out:
            before.append(walking)
            if s.direction in ("forward", "backward"):
                walking = s.direction
        kept: list[Event] = []
        last_k = -1
        for e in self.events:
            if e.type == "direction_change":
                d = e.data["direction"]
                since = float(e.data.get("since_s", e.t_s))
                k = int(np.searchsorted(starts, since + 1e-6, side="right"))
                if out[k].direction != d:
                    held = self._told_then_held(out, k, d, e.t_s)
                    if held is None:
                        continue
                    # its first moments went with a flicker (still or other, merged into
                    # what followed), and the state it told of begins right after: the
                    # listener heard a true change; it is dated where the answer begins it
                    k = held
                    e = Event(max(e.t_s, out[k].start_s), e.type, {**e.data, "since_s": out[k].start_s})
                if k == last_k or before[k] == d:
                    continue
                last_k = k
            kept.append(e)
        kept.sort(key=lambda e: e.t_s)      # (a re-dated change is told up to REDATE_S later)
        self.events = kept
        self.state.tallies.direction_changes = sum(e.type == "direction_change" for e in kept)
        return out

    def _walks_to_their_steps(self, segs: list[Segment]) -> tuple[list[Segment], set[int]]:
        """A walk that ends in a stop ends with its last step. Real walkers slow into a stop and
        their last steps are soft: the windows read standing about half a second before the
        last foot contact (the real phones, median), and the steps the count went on to find
        there fell in the stop, which holds none (Segment.counts_step): they were lost. Those
        within WALK_TO_STEP_S of the read end, each within 1.5 of the walk's step periods of
        the one before, are the walk's, where the stop is one (STANDING_S; a shorter one keeps
        its steps anyway). -> (the segments, the indices of stops so shortened: they still
        hold no steps). Live listeners heard the stop when it was read."""
        shortened: set[int] = set()
        if not self.steps or WALK_TO_STEP_S <= 0:
            return segs, shortened
        st = np.array(sorted(t for t, _ in self.steps))
        out = [Segment(s.start_s, s.end_s, s.direction) for s in segs]
        for k, (a, b) in enumerate(zip(out, out[1:])):
            if (a.direction not in ("forward", "backward") or b.direction != "still"
                    or b.end_s - b.start_s < STANDING_S - 1e-6):
                continue
            inside = st[(st > a.start_s) & (st <= a.end_s)]
            if len(inside) < 3:
                continue
            period = float(np.median(np.diff(inside[-5:])))
            last = float(inside[-1])
            for t in st[(st > a.end_s) & (st <= a.end_s + WALK_TO_STEP_S)].tolist():
                if t - last > 1.5 * period:
                    break
                last = t
            end = last + WALK_STEP_AFTER_S
            if last > a.end_s and end < b.end_s:
                a.end_s = b.start_s = end
                shortened.add(k + 1)
        return out, shortened

    @staticmethod
    def _told_then_held(out: list[Segment], k: int, d: str, t_told: float) -> int | None:
        """The segment of direction d that follows segment k across still or other only and
        begins no later than REDATE_S after the change was told (t_told), or None."""
        if out[k].direction in ("forward", "backward"):
            return None          # it began inside walking the other way: that held
        for j in range(k + 1, len(out)):
            if out[j].start_s > t_told + REDATE_S + 1e-6:     # (times on a 0.02 s grid)
                return None
            if out[j].direction == d:
                return j
            if out[j].direction in ("forward", "backward"):
                return None
        return None

    def finish(self) -> AnalysisResult:
        """Close the stream: the last segment runs to the end of the data."""
        end = self._t_last
        self.steps += self._count_to_end()
        self._close_segment(max(end, self._cur_since))
        # under a millisecond is float noise between two onsets, not a state (the output is in ms)
        segs = [s for s in self.segments if s.end_s - s.start_s >= 1e-3]
        # cover the recording from its first sample time (0 for a CSV) to its end
        t0 = min(0.0, self._t_first or 0.0)
        if segs:
            segs[0].start_s = t0
        else:
            segs = [Segment(t0, end, "still")]
        merged, stops = self._walks_to_their_steps(self._without_flickers(_runs(segs)))
        bounds = np.array([s.start_s for s in merged[1:]])
        # standing is standing: what the count found in a stretch read as still for a while was
        # no walking (Segment.counts_step)
        seg_of = np.searchsorted(bounds, [t for t, _ in self.steps], side="right").tolist()
        keep = [merged[k].counts_step(st[0]) and not (k in stops and st[0] > merged[k].start_s + 1e-6)
                for st, k in zip(self.steps, seg_of)]
        if self.steps and self._periodic:
            # ... and what the count found in motion read as other is a step only where the
            # motion repeats as stepping does (OTHER_STEP_PERIODIC)
            pt, pv = np.array(self._periodic).T
            j = np.searchsorted(pt, [t for t, _ in self.steps], side="right") - 1
            rep = pv[np.maximum(j, 0)].tolist()
            keep = [ok and (merged[k].direction != "other" or r >= OTHER_STEP_PERIODIC)
                    for ok, k, r in zip(keep, seg_of, rep)]
        self.steps = [st for st, ok in zip(self.steps, keep) if ok]
        for k, ok in zip(seg_of, keep):
            merged[k].steps += int(ok)
        self.segments = merged
        self._cur_since = end
        if self.device_key and self.reference.ready and not self.calibration:
            from coach.detect.reference_store import save_reference

            save_reference(self.device_key, self.reference)
        self._update_tallies()
        dur = end - t0
        t_first = self._t_first or 0.0
        span = end - t_first - self._gap_s
        n_int = self._n_raw - 1 - self._gap_n
        rate = n_int / span if n_int > 0 and span > 0 else 0.0
        if rate == 0.0 and self._n_raw > 1 and end > t_first:
            # every interval longer than a drop (a 1 Hz log read with --allow-rate): the rate
            # is still what the file holds, though it is all gaps to the detector
            rate = (self._n_raw - 1) / (end - t_first)
        return AnalysisResult(self.source_name, dur, rate, merged, list(self.events),
                              self.state.tallies, list(self.steps),
                              calibration=(None if not self._calibration_given else
                                           "used" if self.calibration is not None else "ignored"))
