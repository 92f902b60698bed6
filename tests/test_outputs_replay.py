"""`coach replay --speed 0 --mqtt` with the real detector: as many direction_change events as
the analysis, a final retained state with the same retro steps, discovery, and the stored
session in history. Skipped when the detector or its model is not available."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from coach.cli import main
from tests.outputs_broker import Broker, Collector, have_mosquitto


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from coach.simulate.gait import Bout, simulate

    bouts = [Bout("still", 5), Bout("forward", 20), Bout("backward", 20), Bout("still", 4),
             Bout("backward", 15), Bout("forward", 12)]
    sim = simulate(np.random.default_rng(11), bouts)
    path = tmp_path_factory.mktemp("rec") / "walk.csv"
    with path.open("w") as f:
        f.write("t,ax,ay,az\n")
        for t, a in zip(sim.t, sim.acc):
            f.write(f"{t:.4f},{a[0]:.5f},{a[1]:.5f},{a[2]:.5f}\n")
    return path


def _analyze(path: Path) -> dict:
    from coach.cli.wiring import run_session
    from coach.detect.model import one_thread
    from coach.detect.pipeline import DirectionPipeline
    from coach.sources.csvfile import CsvSource
    with one_thread():
        r = asyncio.run(run_session(CsvSource(path), DirectionPipeline(source_name=str(path)), []))
    return r.to_json()


@pytest.mark.skipif(not have_mosquitto(), reason="mosquitto not installed (apt-get install mosquitto)")
def test_replay_speed0_mqtt_matches_analysis(recording: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    ref = _analyze(recording)
    b = Broker(tmp_path)
    b.start()
    try:
        col = Collector(b.port)
        db = tmp_path / "s.db"
        assert main(["replay", str(recording), "--speed", "0", "--mqtt", b.url,
                     "--device-id", "judge", "--db", str(db), "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["summary"] == ref["summary"] and "session_id" in doc
        from tests.test_outputs_mqtt import wait_for
        assert wait_for(lambda: any(e["type"] == "session_end" for e in col.payloads("coach/judge/event")))
        changes = [e for e in col.payloads("coach/judge/event") if e["type"] == "direction_change"]
        assert len(changes) == len(ref["events"])
        col.close()
        late = Collector(b.port, client_id="late")
        assert wait_for(lambda: len(late.payloads("/config")) >= 9)
        retained = {t: json.loads(p) for t, p, r in late.messages if r and t.endswith("/state")}
        assert retained["coach/judge/state"]["retro_steps"] == ref["summary"]["retro_steps"]
        late.close()
    finally:
        b.stop()
    assert main(["history", "--db", str(db), "--json"]) == 0
    h = json.loads(capsys.readouterr().out)
    assert [s["session_id"] for s in h["sessions"]] == [doc["session_id"]]
    assert h["sessions"][0]["retro_seconds"] == ref["summary"]["retro_seconds"]


def test_replay_json_with_an_unreachable_broker_is_one_json_object(
        recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json: the result and the error in one object on stdout, non-zero exit."""
    from tests.outputs_broker import free_port
    cfg = tmp_path / "c.toml"
    cfg.write_text("[mqtt]\ndrain_timeout_s = 0.5\n")
    rc = main(["--config", str(cfg), "replay", str(recording), "--speed", "0", "--no-save", "--json",
               "--mqtt", f"mqtt://127.0.0.1:{free_port()}"])
    out, err = capsys.readouterr()
    doc = json.loads(out)             # exactly one JSON document
    assert rc == 2 and doc["exit_status"] == 2 and "not delivered" in doc["error"]
    assert doc["summary"]["retro_steps"] > 0 and "coach: error:" in err
