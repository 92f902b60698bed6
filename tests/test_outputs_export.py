"""Exports read back by independent readers: csv, json, fitparse (FIT), ElementTree (TCX)."""
from __future__ import annotations

import asyncio
import csv
import json
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import pytest

from coach.cli import main
from coach.outputs.store import SessionMeta, SessionStore, parse_iso
from tests.outputs_broker import FakePipeline, FakeSource


def _result(duration_s: float = 24.0):
    p = FakePipeline()

    async def go() -> None:
        async for b in FakeSource(duration_s=duration_s).stream():
            p.feed(b)
    asyncio.run(go())
    return p.finish()


@pytest.fixture()
def db(tmp_path: Path) -> tuple[Path, list, list[int]]:
    path = tmp_path / "s.db"
    store = SessionStore(path)
    results = [_result(24.0), _result(30.0)]
    ids = [store.store_result(r, SessionMeta(source=f"w{i}.csv")) for i, r in enumerate(results)]
    store.close()
    return path, results, ids


def test_csv_matches_analyze_summaries(db, tmp_path: Path) -> None:
    path, results, ids = db
    out = tmp_path / "x.csv"
    assert main(["export", "--db", str(path), "--format", "csv", "--out", str(out)]) == 0
    rows = {int(r["session_id"]): r for r in csv.DictReader(out.open())}
    assert sorted(rows) == ids
    for sid, res in zip(ids, results):
        r = rows[sid]
        s = res.to_json()["summary"]
        assert float(r["retro_seconds"]) == s["retro_seconds"]
        assert int(r["retro_steps"]) == s["retro_steps"]
        assert float(r["forward_seconds"]) == s["forward_seconds"]
        assert int(r["forward_steps"]) == s["forward_steps"]


def test_json_export_and_filters(db, tmp_path: Path) -> None:
    path, results, ids = db
    out = tmp_path / "x.json"
    assert main(["export", "--db", str(path), "--format", "json", "--session", str(ids[1]),
                 "--out", str(out)]) == 0
    (s,) = json.loads(out.read_text())["sessions"]
    assert s["session_id"] == ids[1] and s["summary"] == results[1].to_json()["summary"]
    assert s["segments"] == results[1].to_json()["segments"]
    assert main(["export", "--db", str(path), "--format", "json", "--since", "2999-01-01",
                 "--out", str(out)]) == 0
    assert json.loads(out.read_text())["sessions"] == []
    assert main(["export", "--db", str(path), "--format", "csv", "--since", "yesterday",
                 "--out", str(out)]) == 2


def test_fit_reads_back_with_fitparse(db, tmp_path: Path) -> None:
    fitparse = pytest.importorskip("fitparse")
    path, results, ids = db
    out = tmp_path / "x.fit"
    assert main(["export", "--db", str(path), "--format", "fit", "--session", str(ids[0]),
                 "--out", str(out)]) == 0
    f = fitparse.FitFile(str(out))
    f.parse()  # checks the CRC and every message
    sessions = [m.get_values() for m in f.get_messages("session")]
    laps = [m.get_values() for m in f.get_messages("lap")]
    assert len(sessions) == 1
    assert sessions[0]["sport"] == "walking"
    assert sessions[0]["total_elapsed_time"] == pytest.approx(results[0].duration_s, abs=0.01)
    assert len(laps) >= 2 and len(laps) == len(results[0].segments)
    assert sum(lp["total_elapsed_time"] for lp in laps) == pytest.approx(results[0].duration_s, abs=0.05)
    assert [m.get_values()["type"] for m in f.get_messages("file_id")] == ["activity"]
    store = SessionStore(path)
    start = parse_iso(store.session(ids[0])["started_at"]).replace(tzinfo=None, microsecond=0)
    assert abs(sessions[0]["start_time"] - start) <= timedelta(seconds=1)
    assert len(list(f.get_messages("record"))) >= int(results[0].duration_s)


def test_fit_uses_intervals_as_laps(tmp_path: Path) -> None:
    fitparse = pytest.importorskip("fitparse")
    from coach.outputs.export import export
    store = SessionStore(tmp_path / "s.db")
    obs = store.open_session({"kind": "demo"})
    for i, (a, b) in enumerate([(6, 12), (15, 20), (21, 23)]):
        obs.publish_interval({"index": i, "direction": "backward", "planned_s": 6, "start_s": a,
                              "end_s": b, "done_s": b - a})
    asyncio.run(obs.on_end(_result()))
    export(store, "fit", tmp_path / "i.fit", session_id=obs.session_id)
    laps = list(fitparse.FitFile(str(tmp_path / "i.fit")).get_messages("lap"))
    assert [lp.get_values()["total_elapsed_time"] for lp in laps] == [6.0, 5.0, 2.0]


def test_tcx_reads_back(db, tmp_path: Path) -> None:
    path, results, ids = db
    out = tmp_path / "x.tcx"
    assert main(["export", "--db", str(path), "--format", "tcx", "--out", str(out)]) == 0  # latest
    ns = {"t": "http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2",
          "x": "http://www.garmin.com/xmlschemas/ActivityExtension/v2"}
    root = ET.parse(out).getroot()
    acts = root.findall("t:Activities/t:Activity", ns)
    assert len(acts) == 1
    laps = acts[0].findall("t:Lap", ns)
    assert len(laps) == len(results[1].segments) >= 2
    total = sum(float(lp.find("t:TotalTimeSeconds", ns).text) for lp in laps)
    assert total == pytest.approx(results[1].duration_s, abs=0.05)
    steps = sum(int(lp.find("t:Extensions/x:LX/x:Steps", ns).text) for lp in laps)
    assert steps == results[1].tallies.retro_steps + results[1].tallies.forward_steps


def test_export_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "e.db"
    assert main(["export", "--db", str(db), "--format", "fit", "--out", str(tmp_path / "x.fit")]) == 2
    assert "no sessions" in capsys.readouterr().err
    assert main(["export", "--db", str(db), "--format", "fit", "--session", "9",
                 "--out", str(tmp_path / "x.fit")]) == 2
    assert "no session 9" in capsys.readouterr().err
