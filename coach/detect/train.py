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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coach import __version__
from coach.detect.model import CLASSES, MODEL_VERSION, DirectionModel
from coach.detect.trees import FORMAT, TreeEnsemble
from coach.signal.features import FEATURE_NAMES, LABEL_POS, WIN, Reference, WindowStream, raw_features
from coach.signal.resample import FS, Resampler
from coach.simulate.gait import random_program, simulate

CLASS_OF = {"forward": 0, "backward": 1, "still": 2, "other": 3, "run": 3}


@dataclass
class Dataset:
    X: np.ndarray
    y: np.ndarray
    group: np.ndarray


def stream_features(t: np.ndarray, acc: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Features of every window of a recording, and each window's label time."""
    rs, ws, ref = Resampler(), WindowStream(), Reference()
    Xs, ts = [], []
    for i in range(0, len(t), chunk):
        for c in rs.push(t[i:i + chunk], acc[i:i + chunk]):
            if c.gap_before:
                ws.reset()
            if len(c.t) == 0:
                continue
            wins, tend = ws.push(c.t, c.acc)
            if len(wins):
                raw = raw_features(wins)
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


def simulated_dataset(seed: int, sessions: int, minutes: float = 4.0) -> Dataset:
    rng = np.random.default_rng(seed)
    Xs, ys, gs = [], [], []
    for k in range(sessions):
        r = rng.random()
        s = simulate(rng, random_program(rng, minutes, forward_only=r < 0.2))
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
        X, tl = stream_features(rec.t, rec.acc)
        Xs.append(X)
        ys.append(labels_at(tl, rec.t, rec.labels))
        gs.append(np.full(len(X), 10_000 + k))
        _progress("reading recordings", k + 1, len(paths))
    return Dataset(np.vstack(Xs), np.concatenate(ys), np.concatenate(gs))


def fit(ds: Dataset, seed: int) -> object:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline

    counts = np.bincount(ds.y, minlength=len(CLASSES)).astype(float)
    w = (counts.sum() / np.maximum(counts, 1) / len(CLASSES))[ds.y]
    clf = HistGradientBoostingClassifier(max_iter=60, learning_rate=0.2, max_leaf_nodes=31,
                                         min_samples_leaf=80, l2_regularization=1.0,
                                         random_state=seed)
    pipe = Pipeline([("clf", clf)])
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=os.cpu_count() or 1):
        pipe.fit(ds.X, ds.y, clf__sample_weight=w)
    return pipe


def train(seed: int = 1, sessions: int = 200, minutes: float = 4.0,
          recordings: list[Path] | None = None, out: Path | None = None) -> DirectionModel:
    t0 = time.time()
    ds = simulated_dataset(seed, sessions, minutes)
    sources = [f"simulated: {sessions} sessions x {minutes:g} min, seed {seed}"]
    if recordings:
        rd = recordings_dataset(recordings)
        ds = Dataset(np.vstack([ds.X, rd.X]), np.concatenate([ds.y, rd.y]),
                     np.concatenate([ds.group, rd.group]))
        sources.append(f"recordings: {[str(p) for p in recordings]}")
    _progress("fitting the classifier", 0, 1)
    pipe = fit(ds, seed)
    _progress("fitting the classifier", 1, 1)
    counts = np.bincount(ds.y, minlength=len(CLASSES))
    prior = (counts / counts.sum()).tolist()
    card = {
        "name": "retro-coach direction model",
        "model_version": MODEL_VERSION,
        "coach_version": __version__,
        "estimator": "HistGradientBoostingClassifier (scikit-learn Pipeline), its trees saved as arrays",
        "file_format": FORMAT,
        "classes": list(CLASSES),
        # the classifier was trained with balanced weights: its implied prior is uniform
        "class_prior": [1.0 / len(CLASSES)] * len(CLASSES),
        "training_class_share": prior,
        "features": FEATURE_NAMES,
        "training_data": sources,
        "windows": int(len(ds.y)),
        "seed": seed,
        "train_seconds": round(time.time() - t0, 1),
    }
    model = DirectionModel(TreeEnsemble.from_sklearn(pipe[-1]), card)
    if out:
        model.save(out)
    return model


if __name__ == "__main__":  # pragma: no cover
    import sys

    m = train(out=Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    print(json.dumps(m.card, indent=1))
