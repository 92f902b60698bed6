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


def _text(el: ET.Element | None) -> str:
    """The text of an element the export must have written."""
    assert el is not None and el.text is not None
    return el.text


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
    _decode_both(out.read_bytes())   # Garmin's SDK reads every message without an error too
    f = fitparse.FitFile(str(out))
    f.parse()  # checks the CRC and every message
    sessions = [m.get_values() for m in f.get_messages("session")]
    laps = [m.get_values() for m in f.get_messages("lap")]
    assert len(sessions) == 1
    assert sessions[0]["sport"] == "walking"
    assert sessions[0]["total_elapsed_time"] == pytest.approx(results[0].duration_s, abs=0.01)
    # the 2 s still start merges into the first forward lap (no lap under 3 s)
    assert len(laps) >= 2 and len(laps) == len([sg for sg in results[0].segments if sg.end_s - sg.start_s >= 3])
    assert sum(lp["total_elapsed_time"] for lp in laps) == pytest.approx(results[0].duration_s, abs=0.05)
    assert [lp["direction"] for lp in laps] == ["forward", "backward", "forward", "backward", "still"]
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
    msgs, _ = _decode_both((tmp_path / "i.fit").read_bytes())
    assert [lp["developer_fields"][0] for lp in msgs["lap_mesgs"]] == ["backward"] * 3


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
    assert len(laps) == len([sg for sg in results[1].segments if sg.end_s - sg.start_s >= 3]) >= 2
    total = sum(float(_text(lp.find("t:TotalTimeSeconds", ns))) for lp in laps)
    assert total == pytest.approx(results[1].duration_s, abs=0.05)
    steps = sum(int(_text(lp.find("t:Extensions/x:LX/x:Steps", ns))) for lp in laps)
    assert steps == results[1].tallies.retro_steps + results[1].tallies.forward_steps


def test_export_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "e.db"
    assert main(["export", "--db", str(db), "--format", "fit", "--out", str(tmp_path / "x.fit")]) == 2
    assert "no sessions" in capsys.readouterr().err
    assert main(["export", "--db", str(db), "--format", "fit", "--session", "9",
                 "--out", str(tmp_path / "x.fit")]) == 2
    assert "no session 9" in capsys.readouterr().err


def _decode_both(data: bytes) -> tuple[dict, list]:
    """Garmin's own decoder (integrity and every message, no errors) and fitparse (CRC)."""
    fitparse = pytest.importorskip("fitparse")
    sdk = pytest.importorskip("garmin_fit_sdk")
    assert sdk.Decoder(sdk.Stream.from_byte_array(bytearray(data))).check_integrity()
    msgs, errors = sdk.Decoder(sdk.Stream.from_byte_array(bytearray(data))).read()
    assert errors == []
    f = fitparse.FitFile(data)
    f.parse()
    return msgs, [m.get_values() for m in f.get_messages("lap")] + \
        [m.get_values() for m in f.get_messages("session")]


def _session_with(tmp_path: Path, script, hr: bool = False, program: str | None = None) -> dict:
    from tests.outputs_broker import FakePipeline, FakeSource
    p = FakePipeline(script=script)

    async def go() -> None:
        async for b in FakeSource(duration_s=30.0).stream():
            p.feed(b)
    asyncio.run(go())
    store = SessionStore(tmp_path / "h.db")
    sid = store.store_result(p.finish(), SessionMeta(source="w.csv", program=program))
    if hr:
        with store.transaction():
            store.conn.executemany("INSERT INTO heart_rate VALUES (?,?,?,?)",
                                   [(sid, t + 0.3, 90 + t, "[640]") for t in range(30)])
    s = store.session(sid)
    store.close()
    return s


@pytest.mark.parametrize("program", [None, "treadmill"])
def test_fit_per_direction_figures_survive_both_decoders(tmp_path: Path, program) -> None:
    from coach.outputs.export import to_fit
    script = [(0.0, "forward"), (8.0, "still"), (8.4, "forward"), (12.0, "backward"), (20.0, "other"),
              (21.0, "backward"), (26.0, "forward")]
    s = _session_with(tmp_path, script, hr=True, program=program)
    data = to_fit(s)
    msgs, fp = _decode_both(data)
    laps, (ses,) = msgs["lap_mesgs"], msgs["session_mesgs"]
    # developer data id + a field description per developer field
    assert len(msgs["developer_data_id_mesgs"]) == 1
    assert {d["field_name"] for d in msgs["field_description_mesgs"]} == {"direction", "retro_steps", "retro_minutes"}
    names = {d["field_definition_number"]: d["field_name"] for d in msgs["field_description_mesgs"]}
    dirs = [lp["developer_fields"][0] for lp in laps]
    assert dirs == ["forward", "backward", "forward"]   # 0.4 s pause and 1 s other merged away
    assert all(lp["total_elapsed_time"] >= 3.0 for lp in laps)
    back = [lp for lp in laps if lp["developer_fields"][0] == "backward"]
    assert sum(lp["total_elapsed_time"] for lp in back) == pytest.approx(s["retro_seconds"], abs=1.01)
    assert sum(lp["total_strides"] for lp in back) * 2 == pytest.approx(s["retro_steps"], abs=1)
    dev = {names[k]: v for k, v in ses["developer_fields"].items()}
    assert dev["retro_steps"] == s["retro_steps"]
    assert dev["retro_minutes"] == pytest.approx(s["retro_seconds"] / 60, abs=0.01)
    assert ses["avg_cadence"] > 0 and ses["max_cadence"] >= ses["avg_cadence"]
    assert all(lp["max_cadence"] >= lp["avg_cadence"] > 0 for lp in laps)
    assert ses["avg_heart_rate"] and ses["max_heart_rate"] == 119
    assert all(lp["avg_heart_rate"] for lp in laps)
    recs = msgs["record_mesgs"]
    assert [r["heart_rate"] for r in recs[:3]] == [90, 91, 92]
    assert {ses["sub_sport"]} | {lp["sub_sport"] for lp in laps} == \
        {"indoor_walking" if program else "generic"}
    # fitparse names the developer fields from their descriptions
    assert [m["direction"] for m in fp[:-1]] == dirs and fp[-1]["retro_steps"] == s["retro_steps"]


def test_tcx_structure_and_heart_rate(tmp_path: Path) -> None:
    """TCX v2 structure: no empty <Track/>, Lap_t and Trackpoint_t children in schema order."""
    from coach.outputs.export import laps_of, to_tcx
    s = _session_with(tmp_path, [(0.0, "forward"), (10.0, "backward")], hr=True)
    ns = {"t": "http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"}
    lap_order = ["TotalTimeSeconds", "DistanceMeters", "MaximumSpeed", "Calories", "AverageHeartRateBpm",
                 "MaximumHeartRateBpm", "Intensity", "Cadence", "TriggerMethod", "Track", "Notes", "Extensions"]
    tp_order = ["Time", "Position", "AltitudeMeters", "DistanceMeters", "HeartRateBpm", "Cadence",
                "SensorState", "Extensions"]

    def check(root: ET.Element) -> None:
        for lap in root.iter(f"{{{ns['t']}}}Lap"):
            tags = [c.tag.split("}")[1] for c in lap]
            assert tags == sorted(tags, key=lap_order.index)
            for tr in lap.findall("t:Track", ns):
                assert len(tr) >= 1
                for tp in tr:
                    tt = [c.tag.split("}")[1] for c in tp]
                    assert tt == sorted(tt, key=tp_order.index) and tt[0] == "Time"
    root = ET.fromstring(to_tcx(s))
    check(root)
    hrs = [int(_text(v)) for v in root.iterfind(".//t:Trackpoint/t:HeartRateBpm/t:Value", ns)]
    assert hrs[:3] == [90, 91, 92]
    # a session too short for a once-a-second point in a lap: the lap has no Track at all
    s2 = dict(s, duration_s=0.5, segments=[{"start_s": 0.2, "end_s": 0.5, "direction": "forward", "steps": 0}],
              states=[], steps=[], intervals=[], heart_rate=[])
    assert len(laps_of(s2)) == 1
    check(ET.fromstring(to_tcx(s2)))
    assert b"<Track />" not in to_tcx(s2) and b"<Track/>" not in to_tcx(s2)


def test_treadmill_program_marks_the_stored_session_indoor(tmp_path: Path) -> None:
    """The coach's program says treadmill -> the store keeps it -> FIT sub_sport indoor_walking."""
    from types import SimpleNamespace

    from coach.cli.output_options import connect_sinks
    from coach.outputs.export import is_treadmill
    store = SessionStore(tmp_path / "t.db")
    obs = store.open_session({"kind": "run", "program": "my-mill"})
    coach = SimpleNamespace(coach=SimpleNamespace(program=SimpleNamespace(treadmill=True)))
    connect_sinks([coach, obs])
    asyncio.run(obs.on_end(_result()))
    assert obs.session_id is not None
    s = store.session(obs.session_id)
    assert s["extra"]["treadmill"] is True and is_treadmill(s)
    store.close()
