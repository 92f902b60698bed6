"""The direction model: a scikit-learn Pipeline saved with skops, with a version and a card.

Loading uses skops' explicit trust list, never a bare pickle: only the estimator types named
in TRUSTED may be rebuilt from the file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from coach.errors import CoachError
from coach.signal.features import FEATURE_NAMES

CLASSES = ("forward", "backward", "still", "other")
MODEL_VERSION = "1"
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models_data" / "direction.skops"


@dataclass
class DirectionModel:
    """Window features -> class probabilities over CLASSES."""

    pipeline: Any
    card: dict

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros((0, len(CLASSES)))
        p = self.pipeline.predict_proba(X)
        # columns in CLASSES order whatever order the estimator learnt them in
        order = [list(self.pipeline.classes_).index(c) for c in range(len(CLASSES))]
        return p[:, order]

    def save(self, path: Path) -> None:
        import skops.io as sio

        path.parent.mkdir(parents=True, exist_ok=True)
        sio.dump(self.pipeline, path)
        path.with_suffix(".json").write_text(json.dumps(self.card, indent=1) + "\n")

    @staticmethod
    def load(path: Path | None = None) -> "DirectionModel":
        import skops.io as sio

        path = Path(path) if path else find_default_model()
        if not path.exists():
            raise CoachError(f"model file not found: {path} (run `coach train` to build it)")
        card_path = path.with_suffix(".json")
        card = json.loads(card_path.read_text()) if card_path.exists() else {}
        if card.get("model_version") not in (None, MODEL_VERSION):
            raise CoachError(f"model {path} has version {card.get('model_version')}, "
                             f"this coach reads version {MODEL_VERSION}; run `coach train`")
        if card.get("features") not in (None, FEATURE_NAMES):
            raise CoachError(f"model {path} was trained on other features; run `coach train`")
        try:
            untrusted = sio.get_untrusted_types(file=path)
            bad = [t for t in untrusted if t not in TRUSTED]
            if bad:
                raise CoachError(f"model {path} holds types this coach does not trust: {bad[:3]}")
            pipe = sio.load(path, trusted=untrusted)
        except CoachError:
            raise
        except Exception as e:  # corrupt or foreign file
            raise CoachError(f"cannot read model {path}: {e}") from None
        return DirectionModel(pipe, card)


TRUSTED = [
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "collections.OrderedDict",
    "numpy.dtype",
]


def find_default_model() -> Path:
    """The shipped model: models/ at the repo root, else the copy inside the package."""
    repo = Path(__file__).resolve().parents[2] / "models" / "direction.skops"
    return repo if repo.exists() else DEFAULT_MODEL
