"""The command line's promises: --json on every reporting command (errors a JSON object on
stdout with a non-zero exit), -v before or after the sub-command, `coach train` progress."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from coach.cli import build_parser, main

REPORTING = ["analyze", "history", "report", "export", "replay", "scan", "run", "devices", "decode", "train"]


def test_every_reporting_command_takes_json() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert isinstance(sub, argparse._SubParsersAction)
    for name in REPORTING:
        opts = {o for a in sub.choices[name]._actions for o in a.option_strings}
        assert "--json" in opts, name


@pytest.mark.parametrize("argv", [
    ["history", "--db", "{tmp}/nodir/x/../../s.db", "--json"],
    ["report", "9", "--db", "{tmp}/s.db", "--json"],
    ["export", "--format", "fit", "--db", "{tmp}/s.db", "--out", "{tmp}/x.fit", "--json"],
    ["analyze", "{tmp}/missing.csv", "--json"],
    ["decode", "--profile", "nope", "00", "--json"],
    ["analyze", "--json", "--no-such-option"],          # an argparse error, too
])
def test_errors_are_json_on_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = int(e.code or 0)
    out, err = capsys.readouterr()
    if rc == 0:           # history on an empty store is not an error
        assert json.loads(out)["sessions"] == []
        return
    doc = json.loads(out)
    assert set(doc) == {"error", "exit_status"} and doc["exit_status"] == rc != 0
    assert doc["error"] in err                          # and the usual line on stderr


def test_no_json_no_stdout_on_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "9", "--db", str(tmp_path / "s.db")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("coach: error:")


def test_verbose_before_or_after_the_sub_command() -> None:
    p = build_parser()
    for argv in (["-v", "devices"], ["devices", "-v"], ["devices", "--verbose"]):
        assert p.parse_args(argv).verbose is True
    assert p.parse_args(["devices"]).verbose is False


def test_train_shows_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.npz"
    assert main(["train", "--sessions", "3", "--minutes", "0.5", "--out", str(out), "--json", "-v"]) == 0
    o, err = capsys.readouterr()
    assert json.loads(o)["out"] == str(out)
    lines = [ln for ln in err.splitlines() if ln.startswith("train:")]
    assert any("simulating sessions 1/3" in ln for ln in lines)
    assert any("simulating sessions 3/3 (100%)" in ln for ln in lines)
    assert any("fitting the classifier 1/1" in ln for ln in lines)
    assert all("elapsed" in ln for ln in lines)
