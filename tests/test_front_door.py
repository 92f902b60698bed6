"""`import coach`: a small typed API, and importing it changes nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import coach
from coach.types import AnalysisResult, Direction, Observer, PromptKind, Sink


def test_import_changes_nothing_in_the_environment():
    code = ("import os, json; before = dict(os.environ); import coach; "
            "print(json.dumps(dict(os.environ) == before))")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out) is True


def test_every_public_name_resolves():
    assert set(coach.__all__) == {*coach._EXPORTS, "__version__"}
    for name in coach.__all__:
        assert getattr(coach, name) is not None, name
    assert coach.Analysis is AnalysisResult


def test_enums_compare_equal_to_the_json_strings():
    assert Direction.BACKWARD == "backward" and json.dumps(Direction.FORWARD) == '"forward"'
    assert [str(k) for k in PromptKind] == ["cue", "interval", "safety", "info"]


def test_analyze_file_is_what_the_cli_reports(tmp_path, capsys):
    from coach.cli import main
    from tests.detect_helpers import interval_session, write_csv

    path = write_csv(interval_session(seed=3), tmp_path / "walk.csv")
    result = coach.analyze_file(path)
    assert isinstance(result, coach.Analysis)
    assert main(["analyze", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == result.to_json()


def test_detector_feeds_batches():
    import numpy as np

    det = coach.Detector(source_name="t")
    t = np.arange(0, 10, 0.02)
    acc = np.column_stack([np.zeros_like(t), np.zeros_like(t), np.ones_like(t)])
    for i in range(0, len(t), 50):
        det.feed(coach.SampleBatch(t[i:i + 50], acc[i:i + 50]))
    assert det.state.direction in set(Direction)
    result = det.finish()
    assert result.segments and result.segments[0].direction == "still"


def test_protocols_are_runtime_checkable():
    class Obs:
        async def on_batch(self, batch, state, events): ...
        async def on_end(self, result): ...

    class S:
        def publish_prompt(self, prompt): ...

    assert isinstance(Obs(), Observer) and not isinstance(Obs(), Sink)
    assert isinstance(S(), Sink)


def test_analyze_file_reuses_a_matching_calibration(tmp_path):
    from tests.detect_helpers import interval_session, write_csv

    path = write_csv(interval_session(seed=3), tmp_path / "walk.csv")
    det = coach.Detector(source_name="first")
    import asyncio

    from coach.sources.csvfile import CsvSource
    asyncio.run(coach.run_session(CsvSource(path), det))
    again = coach.analyze_file(path, calibration=det.reference)
    assert again.tallies.retro_steps > 0
