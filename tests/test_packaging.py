"""The model is package data: found through importlib.resources, shipped in the wheel."""
from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from coach.cli import main
from coach.detect.model import MODEL_FILE, DirectionModel, find_default_model

ROOT = Path(__file__).resolve().parents[1]


def test_default_model_is_found_and_loads(monkeypatch):
    monkeypatch.delenv("COACH_MODEL", raising=False)
    path = find_default_model()
    assert path.name == MODEL_FILE and path.is_file()
    assert path.resolve() == (ROOT / "models" / MODEL_FILE).resolve()
    DirectionModel.load(path)


def test_packaged_lookup_through_importlib_resources(tmp_path):
    # outside the checkout (no repo root on sys.path), coach.models is the installed package data
    code = ("from importlib import resources; from coach.detect.model import find_default_model;"
            "print(resources.files('coach.models').joinpath('direction.npz').is_file());"
            "print(find_default_model())")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True, env={"PATH": "/usr/bin:/bin"}).stdout.split()
    assert out[0] == "True"
    assert Path(out[1]).resolve() == (ROOT / "models" / MODEL_FILE).resolve()


def test_every_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "coach").rglob("__init__.py")}
    assert found <= listed
    assert "coach.models" in listed


def test_wheel_contains_the_model(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ("coach/models/__init__.py", "coach/models/direction.npz",
              "coach/models/direction.json", "coach/models/README.md"):
        assert f in names


def test_train_refuses_to_overwrite_the_shipped_model(capsys):
    assert main(["train", "--out", str(find_default_model())]) == 2
    assert "shipped model" in capsys.readouterr().err


def test_train_needs_an_out_path(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train"])
    assert e.value.code == 2


def test_version_is_one_number():
    import coach

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert coach.__version__ == project["version"]
