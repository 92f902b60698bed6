"""The classifier: the shipped tree format gives scikit-learn's answers and loads nothing else."""
from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest

from coach.detect.model import CLASSES, DirectionModel, find_default_model
from coach.detect.trees import TreeEnsemble
from coach.errors import CoachError
from coach.signal.features import FEATURE_NAMES


@pytest.fixture(scope="module")
def fitted():
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(3)
    X = rng.normal(size=(3000, 6))
    y = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] * X[:, 2] > 0.3).astype(int)
    X[rng.random(X.shape) < 0.02] = np.nan          # missing values take the learnt side
    clf = HistGradientBoostingClassifier(max_iter=30, max_leaf_nodes=15, random_state=0).fit(X, y)
    return clf, X


def test_tree_arrays_match_scikit_learn_exactly(fitted, tmp_path):
    clf, X = fitted
    ens = TreeEnsemble.from_sklearn(clf)
    clean = np.nan_to_num(X[:500])
    assert np.abs(ens.predict_proba(clean) - clf.predict_proba(clean)).max() < 1e-12
    assert np.abs(ens.predict_proba(X) - clf.predict_proba(X)).max() < 1e-12
    assert np.abs(ens.predict_proba(X[:1]) - clf.predict_proba(X[:1])).max() < 1e-12
    ens.save(tmp_path / "m.npz")
    back = TreeEnsemble.load(tmp_path / "m.npz")
    assert np.abs(back.predict_proba(X) - clf.predict_proba(X)).max() < 1e-12


def test_shipped_model_loads_with_its_card():
    m = DirectionModel.load()
    assert m.card["model_version"] and m.card["features"] == FEATURE_NAMES
    assert m.card["classes"] == list(CLASSES)
    p = m.predict_proba(np.zeros((3, len(FEATURE_NAMES))))
    assert p.shape == (3, 4) and np.allclose(p.sum(axis=1), 1)


def test_loading_the_model_does_not_import_scikit_learn():
    code = ("import sys; from coach.detect.model import DirectionModel; DirectionModel.load(); "
            "print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_pickle_or_junk_is_refused(tmp_path):
    bad = tmp_path / "evil.npz"
    np.savez(bad, format=np.array([{"a": 1}], dtype=object))   # needs pickle to read
    with pytest.raises(CoachError, match="cannot read model"):
        DirectionModel.load(bad)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(CoachError, match="cannot read model"):
        DirectionModel.load(junk)
    with pytest.raises(CoachError, match="not found"):
        DirectionModel.load(tmp_path / "none.npz")


def test_a_model_for_other_features_is_refused(tmp_path):
    src = find_default_model()
    dst = tmp_path / "m.npz"
    dst.write_bytes(src.read_bytes())
    card = json.loads(src.with_suffix(".json").read_text())
    card["features"] = card["features"][:-1] + ["something_else"]
    dst.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(CoachError, match="other features"):
        DirectionModel.load(dst)


def test_a_damaged_tree_file_is_refused(tmp_path, fitted):
    ens = TreeEnsemble.from_sklearn(fitted[0])
    ens.left = ens.left.copy()
    ens.left[0] = 10 ** 7
    ens.save(tmp_path / "d.npz")
    with pytest.raises(ValueError, match="out of range"):
        TreeEnsemble.load(tmp_path / "d.npz")


def test_training_varies_the_pace_of_walking_bouts_after_the_first_only():
    from coach.detect.train import PACE_RANGE, _paces_vary
    from coach.simulate.gait import Bout

    bouts = [Bout("still", 2), Bout("forward", 10), Bout("turn", 3), Bout("backward", 8),
             Bout("forward", 6), Bout("run", 5)]
    out = _paces_vary(np.random.default_rng(0), bouts)
    assert [b.activity for b in out] == [b.activity for b in bouts]
    assert [b.pace for b in out][:3] == [1.0, 1.0, 1.0] and out[5].pace == 1.0
    varied = [out[3].pace, out[4].pace]
    assert all(PACE_RANGE[0] <= p <= PACE_RANGE[1] for p in varied) and varied[0] != varied[1]


@pytest.mark.parametrize("version, reads", [("4", False), ("5", True), ("6", True), ("7", True),
                                            ("8", False), (7, False)])
def test_the_loader_reads_versions_5_to_7_only(tmp_path, version, reads):
    # versions 5, 6 and 7 share their features (6 is trained on more varied walking, 7 on
    # sensors with an offset too): a personal model trained with version 5 or 6 (`coach train
    # --recordings`) still loads
    src = find_default_model()
    dst = tmp_path / "m.npz"
    dst.write_bytes(src.read_bytes())
    card = json.loads(src.with_suffix(".json").read_text())
    card["model_version"] = version
    dst.with_suffix(".json").write_text(json.dumps(card))
    if reads:
        assert DirectionModel.load(dst).card["model_version"] == version
    else:
        # (the number 7 is not the string coach train writes: said so, not "7 ... reads 7")
        with pytest.raises(CoachError, match=f"has version {version!r}, this coach reads versions 5, 6 and 7"):
            DirectionModel.load(dst)


def test_a_model_card_that_is_not_an_object_is_refused_in_one_line(tmp_path):
    src = find_default_model()
    dst = tmp_path / "m.npz"
    dst.write_bytes(src.read_bytes())
    dst.with_suffix(".json").write_text("[1, 2]")
    with pytest.raises(CoachError, match="cannot read model card .*: not a JSON object"):
        DirectionModel.load(dst)
