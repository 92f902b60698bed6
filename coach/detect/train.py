"""Train the direction model: simulated sessions (from a seed) plus optional real recordings.

`coach train` reproduces the shipped model exactly from its seed. Real labelled recordings
(CSV t,ax,ay,az,label) are run through the very same feature path, so a wearer can
personalise the model with their own walking.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from coach import __version__
from coach.constants import G
from coach.detect.model import CLASSES, MODEL_VERSION, DirectionModel
from coach.detect.trees import FORMAT, TreeEnsemble
from coach.errors import CoachError
from coach.signal.features import (
    ACTIVITY_FEATURES,
    FEATURE_NAMES,
    LABEL_POS,
    WIN,
    CadenceTrack,
    Reference,
    activity_view,
    raw_features,
    recording_windows,
)
from coach.signal.resample import FS
from coach.simulate.gait import Bout, Person, Realism, random_program, simulate

PACE_SHARE = 0.35               # simulated sessions whose walking bouts vary in pace ...
PACE_RANGE = (0.6, 1.3)         # ... each within this share of the walker's own
OFFSET_SHARE = 0.5              # simulated sessions whose sensor reads with an offset ...
OFFSET_MAX_G = 0.25             # ... of up to this much (g), any direction: a MEMS sensor's zero-g
                                # offset is tens of mg, and more uncalibrated. It moves the gravity
                                # norm a window reads; version 6, trained on simulated sensors within
                                # a few percent of 1 g, read walking as other where that was off
                                # (benchmarks/sensor_offset.py: mocap at 0.2 g, F1 0.907 -> 0.862)
CLASS_OF = {"forward": 0, "backward": 1, "still": 2, "other": 3, "run": 3}


@dataclass
class Dataset:
    X: np.ndarray
    y: np.ndarray
    group: np.ndarray


def stream_features(t: np.ndarray, acc: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Features of every window of a recording, and each window's label time."""
    ref, track = Reference(), CadenceTrack()
    Xs, ts = [], []
    for wins, tend in recording_windows(t, acc, chunk, track):
        raw = raw_features(wins, track)
        Xs.append(np.hstack([raw.even, ref.relative(raw)]))
        ts.append(tend - (1 - LABEL_POS) * WIN / FS)
    if not Xs:
        return np.zeros((0, len(FEATURE_NAMES))), np.zeros(0)
    return np.vstack(Xs), np.concatenate(ts)


def labels_at(t_lab: np.ndarray, t: np.ndarray, labels: list[str]) -> np.ndarray:
    idx = np.clip(np.searchsorted(t, t_lab), 0, len(t) - 1)
    return np.array([CLASS_OF.get(labels[i], 3) for i in idx])


# Called as progress_hook(stage, done, total) while training runs (`coach train` shows it).
progress_hook: Callable[[str, int, int], None] | None = None


def _progress(stage: str, done: int, total: int) -> None:
    if progress_hook is not None:
        progress_hook(stage, done, total)


def _paces_vary(rng: np.random.Generator, bouts: list[Bout]) -> list[Bout]:
    """Each walking bout after the first at its own pace (PACE_RANGE of the walker's): so that
    walking slower or brisker than the warm-up is still walking, and its direction is read
    from its time-odd features, not from its pace against the warm-up's. Trained at one pace
    per walker, model 5 read forward walking after a slowdown to 0.75 of the warm-up's pace
    as other or backward (forward accuracy 0.85 against 0.98 at its own pace;
    benchmarks/pace_change.py)."""
    out, seen = [], False
    lo, hi = np.log(PACE_RANGE[0]), np.log(PACE_RANGE[1])
    for b in bouts:
        if b.activity in ("forward", "backward"):
            if seen:
                b = replace(b, pace=float(np.exp(rng.uniform(lo, hi))))
            seen = True
        out.append(b)
    return out


def simulated_dataset(seed: int, sessions: int, minutes: float = 4.0,
                      styles: list[str] | None = None,
                      placements: list[str] | None = None) -> Dataset:
    """Simulated sessions; styles/placements restrict the population (leave-one-out tests)."""
    rng = np.random.default_rng(seed)
    pace_rng = np.random.default_rng([seed, 7])   # the paces' own stream (simulate still draws per step)
    offset_rng = np.random.default_rng([seed, 11])
    Xs, ys, gs = [], [], []
    for k in range(sessions):
        r = rng.random()
        short = rng.random() < 0.35
        # most sessions carry what real sensors and mountings do differently (Realism)
        real = Realism.random(rng) if rng.random() < 0.75 else None
        person = Person.random(rng, styles=styles)
        place = str(rng.choice(placements)) if placements else None
        program = random_program(rng, minutes, forward_only=r < 0.2, short=short)
        if pace_rng.random() < PACE_SHARE:
            program = _paces_vary(pace_rng, program)
        s = simulate(rng, program, realism=real, person=person, placement=place)
        if offset_rng.random() < OFFSET_SHARE:
            v = offset_rng.normal(size=3)
            s.acc = s.acc + v / np.linalg.norm(v) * offset_rng.uniform(0, OFFSET_MAX_G)
        X, tl = stream_features(s.t, s.acc)
        Xs.append(X)
        ys.append(labels_at(tl, s.t, s.labels))
        gs.append(np.full(len(X), k))
        _progress("simulating sessions", k + 1, sessions)
    return Dataset(np.vstack(Xs), np.concatenate(ys), np.concatenate(gs))


def recordings_dataset(paths: list[Path]) -> Dataset:
    """Labelled real recordings: CSV with t,ax,ay,az,label (label per sample)."""
    from coach.sources.csvfile import read_csv

    Xs, ys, gs = [], [], []
    for k, p in enumerate(paths):
        rec = read_csv(p, need_labels=True)
        unknown = sorted(set(rec.labels) - set(CLASS_OF))
        if unknown:
            # mapped to other, an unknown word had silently taught that walking was not walking
            raise CoachError(f"{p}: label {unknown[0]!r} is not one of {', '.join(CLASS_OF)}")
        X, tl = stream_features(rec.t, rec.acc)
        Xs.append(X)
        ys.append(labels_at(tl, rec.t, rec.labels))
        gs.append(np.full(len(X), 10_000 + k))
        _progress("reading recordings", k + 1, len(paths))
    return Dataset(np.vstack(Xs), np.concatenate(ys), np.concatenate(gs))


def folder_dataset(folders: list[Path], group0: int = 20_000) -> Dataset:  # = REAL_GROUP0
    """Real recordings in the benchmark's folder format (index.json, NAME.csv[.gz],
    NAME.truth.json with per-sample labels at label_rate_hz; "units": "m/s^2" if not g)."""
    import gzip

    Xs, ys, gs = [], [], []
    k = 0
    for folder in folders:
        names = json.loads((folder / "index.json").read_text())
        for name in names:
            truth = json.loads((folder / f"{name}.truth.json").read_text())
            p = folder / f"{name}.csv"
            opener = open if p.exists() else gzip.open
            p = p if p.exists() else folder / f"{name}.csv.gz"
            with opener(p, "rt") as f:
                arr = np.loadtxt(f, delimiter=",", skiprows=1, ndmin=2)
            t, acc = arr[:, 0], arr[:, 1:4]
            if truth.get("units", "g") != "g":
                acc = acc / G
            keep = np.concatenate([[True], np.diff(t) > 0])
            t, acc = t[keep], acc[keep]
            X, tl = stream_features(t, acc)
            lab = truth["labels"]
            lt = np.arange(len(lab)) / truth["label_rate_hz"]
            Xs.append(X)
            ys.append(labels_at(tl, lt, lab))
            gs.append(np.full(len(X), group0 + k))
            k += 1
    return Dataset(np.vstack(Xs), np.concatenate(ys), np.concatenate(gs))


def _fit_one(X: np.ndarray, y: np.ndarray, seed: int, rounds: int,
             monotonic: list[int] | None = None, weight: np.ndarray | None = None) -> object:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from threadpoolctl import threadpool_limits

    k = int(y.max()) + 1
    counts = np.bincount(y, minlength=k).astype(float)
    w = (counts.sum() / np.maximum(counts, 1) / k)[y]     # balanced classes
    if weight is not None:
        w = w * weight
    clf = HistGradientBoostingClassifier(max_iter=rounds, learning_rate=0.2, max_leaf_nodes=31,
                                         min_samples_leaf=80, l2_regularization=1.0,
                                         random_state=seed, monotonic_cst=monotonic)
    pipe = Pipeline([("clf", clf)])
    with threadpool_limits(limits=os.cpu_count() or 1):
        pipe.fit(X, y, clf__sample_weight=w)
    return pipe


ACTIVITY_OF = np.array([0, 0, 1, 2])     # forward, backward -> walk; still; other


REAL_GROUP0 = 20_000      # groups of windows from labelled real session folders
REAL_WEIGHT = 5.0         # the direction stage's weight on the session folders' (real) walking: a model that reads
                          # a reversal sooner (features.CadenceTrack) had learnt from the simulator
                          # to trust a short negative similarity, and real phones' forward walking
                          # came out backward in blips (a walker held out, ninth session: 1.0 -> 5.0
                          # false alarms per hour; weighted 5x: 1.0; model 5 as shipped: 2.0, as
                          # model 4's)


def fit(ds: Dataset, seed: int, real_in_direction: bool = True) -> tuple[object, object]:
    """The two stages: activity (walk/still/other) on every window, direction on walking.

    real_in_direction=False: real forward-only recordings teach walking-or-not only."""
    act = _fit_one(activity_view(ds.X), ACTIVITY_OF[ds.y], seed, rounds=60)
    walking = ds.y <= 1
    if not real_in_direction:
        walking &= ds.group < REAL_GROUP0
    real = ds.group[walking] >= REAL_GROUP0
    dirn = _fit_one(ds.X[walking], ds.y[walking], seed, rounds=60,
                    weight=np.where(real, REAL_WEIGHT, 1.0))
    return act, dirn


def train(seed: int = 1, sessions: int = 200, minutes: float = 4.0,
          recordings: list[Path] | None = None, out: Path | None = None,
          folders: list[Path] | None = None, styles: list[str] | None = None,
          placements: list[str] | None = None, real_in_direction: bool = True) -> DirectionModel:
    t0 = time.time()
    # the wearer's recordings first: a bad one is refused before minutes of simulation
    rd = recordings_dataset(recordings) if recordings else None
    ds = simulated_dataset(seed, sessions, minutes, styles=styles, placements=placements)
    sources = [f"simulated: {sessions} sessions x {minutes:g} min, seed {seed}; {PACE_SHARE:.0%} of them "
               f"with walking bouts at {PACE_RANGE[0]:g}-{PACE_RANGE[1]:g} of the walker's pace; "
               f"{OFFSET_SHARE:.0%} read by a sensor with an offset of up to {OFFSET_MAX_G:g} g"]
    if folders:
        fd = folder_dataset(folders)
        ds = Dataset(np.vstack([ds.X, fd.X]), np.concatenate([ds.y, fd.y]),
                     np.concatenate([ds.group, fd.group]))
        sources.append(f"labelled session folders: {[str(f) for f in folders]}, their walking "
                       f"weighted {REAL_WEIGHT:g}x in the direction stage")
    if rd is not None:
        ds = Dataset(np.vstack([ds.X, rd.X]), np.concatenate([ds.y, rd.y]),
                     np.concatenate([ds.group, rd.group]))
        sources.append(f"recordings: {[str(p) for p in recordings]}")
    missing = [c for i, c in enumerate(CLASSES) if not (ds.y == i).any()]
    if missing:
        # each stage needs every one of its classes, or the model it writes cannot be read back
        raise CoachError(f"the training data holds no {' or '.join(missing)} windows: "
                         "give more --sessions or --minutes")
    _progress("fitting the classifier", 0, 1)
    act, dirn = fit(ds, seed, real_in_direction=real_in_direction)
    _progress("fitting the classifier", 1, 1)
    counts = np.bincount(ds.y, minlength=len(CLASSES))
    prior = (counts / counts.sum()).tolist()
    card = {
        "name": "retro-coach direction model",
        "model_version": MODEL_VERSION,
        "coach_version": __version__,
        "estimator": "two HistGradientBoostingClassifiers (scikit-learn Pipelines): activity "
                     "(walk/still/other) then direction given walking; trees saved as arrays",
        "file_format": FORMAT,
        "classes": list(CLASSES),
        # the classifier was trained with balanced weights: its implied prior is uniform
        "class_prior": [1 / 6, 1 / 6, 1 / 3, 1 / 3],
        "training_class_share": prior,
        "features": FEATURE_NAMES,
        "training_data": sources,
        "windows": int(len(ds.y)),
        "seed": seed,
        "train_seconds": round(time.time() - t0, 1),
    }
    card["activity_features"] = ACTIVITY_FEATURES
    model = DirectionModel(TreeEnsemble.from_sklearn(act[-1]), TreeEnsemble.from_sklearn(dirn[-1]), card)
    if out:
        model.save(out)
    return model


if __name__ == "__main__":  # pragma: no cover
    import sys

    m = train(out=Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    print(json.dumps(m.card, indent=1))
