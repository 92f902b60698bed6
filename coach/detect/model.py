"""The direction model: a tree ensemble trained with scikit-learn, shipped with a version and a card.

The file is an .npz of plain arrays (coach.detect.trees), read with allow_pickle=False: loading
a model can never run code, and needs neither scikit-learn nor a second of imports. Its card
(the .json beside it) says what it was trained on, on which features, and how it scored.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from coach.detect.trees import TreeEnsemble, load_ensembles, save_ensembles
from coach.errors import CoachError
from coach.signal.features import FEATURE_NAMES, activity_view

CLASSES = ("forward", "backward", "still", "other")
ACTIVITIES = ("walk", "still", "other")     # the first stage's classes
MODEL_VERSION = "7"     # 7: half its simulated sessions read by a sensor with an offset (train.OFFSET_SHARE)
READS_VERSIONS = ("5", "6", MODEL_VERSION)   # 5: polarisation over the tracked stride; 6: trained on
                                             # walking bouts at varied paces; the same features
MODEL_FILE = "direction.npz"
log = logging.getLogger(__name__)


@dataclass
class DirectionModel:
    """Window features -> class probabilities over CLASSES, in two stages.

    activity: walking, still or other, from time-even statistics (ACTIVITY_FEATURES);
    direction: forward or backward, given walking, from all features.
    P(forward) = P(walk) P(forward | walk), and so on.
    """

    activity: TreeEnsemble
    direction: TreeEnsemble
    card: dict

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros((0, len(CLASSES)))
        pa = self.activity.predict_proba(activity_view(X))
        pa = pa[:, [list(self.activity.classes).index(c) for c in range(len(ACTIVITIES))]]
        pd = self.direction.predict_proba(X)
        pd = pd[:, [list(self.direction.classes).index(c) for c in range(2)]]
        return np.column_stack([pa[:, 0] * pd[:, 0], pa[:, 0] * pd[:, 1], pa[:, 1], pa[:, 2]])

    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_ensembles(path, {"activity": self.activity, "direction": self.direction})
        path.with_suffix(".json").write_text(json.dumps(self.card, indent=1) + "\n")

    @staticmethod
    def load(path: Path | None = None) -> "DirectionModel":
        path = Path(path) if path else find_default_model()
        if not path.exists():
            raise CoachError(f"model file not found: {path} (run `coach train` to build it)")
        card_path = path.with_suffix(".json")
        try:
            card = json.loads(card_path.read_text()) if card_path.exists() else {}
        except (OSError, ValueError) as e:
            raise CoachError(f"cannot read model card {card_path}: {e}") from None
        if not isinstance(card, dict):
            raise CoachError(f"cannot read model card {card_path}: not a JSON object")
        if card.get("model_version") not in (None, *READS_VERSIONS):
            # (written by coach train as a string: the number 7 is not that card's version)
            raise CoachError(f"model {path} has version {card.get('model_version')!r}, "
                             f"this coach reads versions {', '.join(READS_VERSIONS[:-1])} and {READS_VERSIONS[-1]}; "
                             "run `coach train`")
        if card.get("features") not in (None, FEATURE_NAMES):
            raise CoachError(f"model {path} was trained on other features; run `coach train`")
        try:
            ens = load_ensembles(path, ["activity", "direction"])
        except Exception as e:  # noqa: BLE001 - corrupt, foreign or pickled file: any failure
            # numpy's own words (about pickles and allow_pickle) would mislead: say what it is
            log.debug("model %s: %s: %s", path, type(e).__name__, e)
            raise CoachError(f"cannot read model {path}: not a retro-coach model file "
                             "(coach train writes one)") from None
        act, dirn = ens["activity"], ens["direction"]
        if (max(act.n_features(), dirn.n_features()) > len(FEATURE_NAMES)
                or sorted(act.classes.tolist()) != list(range(len(ACTIVITIES)))
                or sorted(dirn.classes.tolist()) != [0, 1]):
            raise CoachError(f"model {path} does not fit this coach's features and classes; run `coach train`")
        return DirectionModel(act, dirn, card)


_DEFAULT: list[DirectionModel] = []


def load_model(path: Path | str | None = None) -> DirectionModel:
    """A model file, or (no path) the shipped model, read once per process."""
    if path is not None:
        return DirectionModel.load(Path(path))
    if not _DEFAULT:
        _DEFAULT.append(DirectionModel.load())
    return _DEFAULT[0]


def one_thread() -> contextlib.AbstractContextManager[object]:
    """The one-thread rule, in one place: the classifier predicts a few windows at a time, and
    starting a native thread pool (OpenMP, BLAS) per call costs far more than the work (a live
    coach must answer within milliseconds). Sets OMP_NUM_THREADS for libraries not loaded yet
    (call it early: the CLI does, as it starts) and limits those already loaded, in the calling
    thread (OpenMP's setting is per thread; worker threads call it too). As a context manager
    it restores the loaded libraries' limits on exit. `coach train` raises the limit for fitting."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - an optimisation only
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


def find_default_model() -> Path:
    """The shipped model: $COACH_MODEL, else the package data `coach.models` (the checkout's
    top-level models/ folder, installed into the wheel as coach/models/)."""
    env = os.environ.get("COACH_MODEL")
    if env:
        return Path(env)
    try:
        packaged = resources.files("coach.models") / MODEL_FILE
    except ModuleNotFoundError:  # a checkout used without installing it
        packaged = None
    if packaged is not None and packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "models" / MODEL_FILE
