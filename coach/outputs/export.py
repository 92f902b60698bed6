"""Exports of stored sessions: CSV and JSON summaries, FIT and TCX activities.

CSV/JSON: one row per session with the counted retro/forward seconds and steps.
FIT (written with fit-tool; the tests decode it with Garmin's SDK and fitparse) and TCX: one
walking activity per session, one lap per coached interval when the session has intervals,
else one lap per direction bout (pauses and other activity under 3 s merged into a neighbour);
a record per second with cadence and heart rate (when the sensor streamed it). FIT laps carry a
developer field `direction`, the session `retro_steps` and `retro_minutes`. Cadence follows
the Garmin walking/running convention: strides (steps/2) per min.
"""
from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from coach.errors import CoachError
from coach.outputs.store import SessionStore, parse_iso, session_json

FORMATS = ("csv", "json", "fit", "tcx")
CSV_COLUMNS = ["session_id", "started_at", "ended_at", "kind", "status", "source", "device",
               "placement", "program", "duration_s", "retro_seconds", "retro_minutes", "retro_steps",
               "forward_seconds", "forward_steps", "direction_changes", "completion"]


MIN_LAP_S = 3.0   # pauses and other activity shorter than this merge into the neighbouring lap
WALKING = ("forward", "backward")


@dataclass
class Lap:
    start_s: float
    end_s: float
    label: str          # direction of the bout, or the interval's planned direction
    steps: int
    avg_cadence: float = 0.0   # steps per minute over the lap
    max_cadence: float = 0.0   # steps per minute, the highest once-a-second value in the lap
    avg_hr: int | None = None
    max_hr: int | None = None

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def session_rows(sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for s in sessions:
        rows.append({
            "session_id": s["id"], "started_at": s["started_at"], "ended_at": s["ended_at"],
            "kind": s["kind"], "status": s["status"], "source": s["source"], "device": s["device"],
            "placement": s["placement"], "program": s["program"],
            "duration_s": round(s["duration_s"], 3), "retro_seconds": round(s["retro_seconds"], 2),
            "retro_minutes": round(s["retro_seconds"] / 60, 2), "retro_steps": s["retro_steps"],
            "forward_seconds": round(s["forward_seconds"], 2), "forward_steps": s["forward_steps"],
            "direction_changes": s["direction_changes"],
            "completion": None if s["completion"] is None else round(s["completion"], 3)})
    return rows


def to_csv(sessions: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in session_rows(sessions):
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return buf.getvalue()


def to_json(store: SessionStore, sessions: list[dict[str, Any]]) -> str:
    out = []
    for row in session_rows(sessions):
        full = store.session(row["session_id"])
        out.append({**row, **session_json(full),
                    "prompts": full["prompts"], "intervals": full["intervals"]})
    return json.dumps({"sessions": out}, indent=2)


def _merge_short(laps: list[Lap]) -> list[Lap]:
    """Fold laps shorter than MIN_LAP_S (a 0.4 s pause, a turn) into a neighbour, then join
    neighbours with the same label. The walking neighbour (the longer one) takes the time."""
    laps = list(laps)
    while len(laps) > 1:
        short = [i for i, lp in enumerate(laps) if lp.duration_s < MIN_LAP_S]
        if not short:
            break
        i = min(short, key=lambda k: (laps[k].label in WALKING, laps[k].duration_s))
        lp = laps[i]
        cands = [j for j in (i - 1, i + 1) if 0 <= j < len(laps)]
        j = max(cands, key=lambda k: laps[k].duration_s)
        other = laps[j]
        a, b = min(lp.start_s, other.start_s), max(lp.end_s, other.end_s)
        laps[j] = Lap(a, b, other.label, other.steps + lp.steps)
        del laps[i]
    out: list[Lap] = []
    for lp in laps:
        if out and out[-1].label == lp.label and abs(out[-1].end_s - lp.start_s) < 1e-6:
            out[-1] = Lap(out[-1].start_s, lp.end_s, lp.label, out[-1].steps + lp.steps)
        else:
            out.append(lp)
    return out


def laps_of(s: dict[str, Any], use_intervals: bool = True) -> list[Lap]:
    """One lap per interval (when the session has intervals), else per direction bout (bouts
    of pause or other activity under MIN_LAP_S merged into a neighbour), with cadence and
    heart rate figures."""
    dur = float(s["duration_s"])
    steps = s.get("steps", [])

    def count(a: float, b: float) -> int:
        return sum(1 for t, _ in steps if a <= t < b)

    laps: list[Lap] = []
    ivs = [i for i in s.get("intervals", []) if i.get("start_s") is not None] if use_intervals else []
    if ivs:
        for i in ivs:
            end = i["end_s"] if i.get("end_s") is not None else i["start_s"] + (i.get("done_s") or 0)
            laps.append(Lap(float(i["start_s"]), float(end), str(i.get("direction") or "interval"),
                            int(i["steps"]) if i.get("steps") is not None else count(i["start_s"], end)))
        laps = [lp for lp in laps if lp.end_s > lp.start_s]
    else:
        for seg in s.get("segments", []):
            laps.append(Lap(float(seg["start_s"]), float(seg["end_s"]), seg["direction"],
                            int(seg["steps"])))
        laps = _merge_short([lp for lp in laps if lp.end_s > lp.start_s])
    if not laps:
        laps = [Lap(0.0, dur, "session", len(steps))]
    cad = _cadence_series(s)
    hr = [(float(h["t_s"]), int(h["bpm"])) for h in s.get("heart_rate", [])]
    for lp in laps:
        lp.avg_cadence = lp.steps * 60.0 / max(lp.duration_s, 1e-6)
        inside = [spm for t, spm in cad if lp.start_s <= t <= lp.end_s]
        lp.max_cadence = max([lp.avg_cadence, *inside])
        bpm = [b for t, b in hr if lp.start_s <= t <= lp.end_s]
        if bpm:
            lp.avg_hr, lp.max_hr = round(sum(bpm) / len(bpm)), max(bpm)
    return laps


def heart_rate_series(s: dict[str, Any]) -> list[tuple[float, int]]:
    """(t_s, bpm) once per second (the last reading of each second) from the stored readings."""
    per_sec: dict[int, int] = {}
    for h in s.get("heart_rate", []):
        per_sec[int(h["t_s"])] = int(h["bpm"])
    return sorted((float(k), v) for k, v in per_sec.items())


def _strides(spm: float) -> int:
    """FIT/TCX walking cadence: strides per minute (steps/2), as Garmin writes it."""
    return min(254, round(spm / 2))


def is_treadmill(s: dict[str, Any]) -> bool:
    extra = s.get("extra") or {}
    return bool(extra.get("treadmill")) or "treadmill" in str(s.get("program") or "").lower()


def _cadence_series(s: dict[str, Any], window_s: float = 6.0) -> list[tuple[float, float]]:
    """(t_s, steps per minute) once per second: stored live states, else from the steps."""
    states = s.get("states") or []
    dur = float(s["duration_s"])
    if states and len(states) >= 0.5 * dur:  # live states once a second (not 30 s batches)
        return [(float(x["t_s"]), float(x["cadence_spm"] or 0.0)) for x in states if x["t_s"] <= dur]
    ts = [t for t, _ in s.get("steps", [])]
    out = []
    j0 = 0
    j1 = 0
    for sec in range(0, int(dur) + 1):
        t = float(sec)
        while j1 < len(ts) and ts[j1] <= t:
            j1 += 1
        while j0 < j1 and ts[j0] < t - window_s:
            j0 += 1
        out.append((t, (j1 - j0) * 60.0 / window_s))
    return out


def _ms(dt: datetime) -> int:
    return round(dt.timestamp() * 1000)


APP_ID = bytes.fromhex("72657472 6f2d636f 61636800 00000001".replace(" ", ""))  # "retro-coach", v1
DEV_DIRECTION, DEV_RETRO_STEPS, DEV_RETRO_MINUTES = 0, 1, 2
DIRECTION_SIZE = 16   # bytes for the lap's direction string (null-terminated)


def to_fit(s: dict[str, Any]) -> bytes:
    """One walking activity (FIT), one lap per interval or direction bout.

    Laps carry a developer field `direction` (forward/backward/still/other, or the interval's
    planned direction) and the session `retro_steps` and `retro_minutes`, each described by a
    field description message under one developer data id; cadence (strides/min) and heart
    rate on records, laps and the session; sub_sport indoor_walking on a treadmill program.
    """
    from fit_tool.base_type import BaseType
    from fit_tool.developer_field import DeveloperField
    from fit_tool.fit_file_builder import FitFileBuilder
    from fit_tool.profile.messages.activity_message import ActivityMessage
    from fit_tool.profile.messages.developer_data_id_message import DeveloperDataIdMessage
    from fit_tool.profile.messages.device_info_message import DeviceInfoMessage
    from fit_tool.profile.messages.event_message import EventMessage
    from fit_tool.profile.messages.field_description_message import FieldDescriptionMessage
    from fit_tool.profile.messages.file_id_message import FileIdMessage
    from fit_tool.profile.messages.lap_message import LapMessage
    from fit_tool.profile.messages.record_message import RecordMessage
    from fit_tool.profile.messages.session_message import SessionMessage
    from fit_tool.profile.profile_type import (
        Activity,
        Event,
        EventType,
        FileType,
        LapTrigger,
        Manufacturer,
        Sport,
        SubSport,
    )

    start = parse_iso(s["started_at"])
    dur = float(s["duration_s"])
    t0 = _ms(start)
    end_ms = t0 + round(dur * 1000)
    sub_sport = SubSport.INDOOR_WALKING if is_treadmill(s) else SubSport.GENERIC
    b = FitFileBuilder(auto_define=True, min_string_size=50)

    fid = FileIdMessage()
    fid.type = FileType.ACTIVITY
    fid.manufacturer = Manufacturer.DEVELOPMENT.value
    fid.product = 1
    fid.serial_number = int(s["id"]) & 0xFFFFFFFF or 1
    fid.time_created = t0
    b.add(fid)
    dev = DeveloperDataIdMessage()
    dev.application_id = APP_ID
    dev.application_version = 1
    dev.developer_data_index = 0
    b.add(dev)
    for num, name, base, units in ((DEV_DIRECTION, "direction", BaseType.STRING, ""),
                                   (DEV_RETRO_STEPS, "retro_steps", BaseType.UINT32, "steps"),
                                   (DEV_RETRO_MINUTES, "retro_minutes", BaseType.FLOAT32, "min")):
        fd = FieldDescriptionMessage()
        fd.developer_data_index = 0
        fd.field_definition_number = num
        fd.fit_base_type_id = base
        fd.field_name = name
        fd.units = units
        b.add(fd)
    di = DeviceInfoMessage()
    di.timestamp = t0
    di.manufacturer = Manufacturer.DEVELOPMENT.value
    di.product = 1
    di.product_name = "retro-coach"
    b.add(di)

    ev = EventMessage()
    ev.event = Event.TIMER
    ev.event_type = EventType.START
    ev.timestamp = t0
    b.add(ev)
    hr = dict(heart_rate_series(s))
    cad = _cadence_series(s)
    for t, spm in cad:
        r = RecordMessage()
        r.timestamp = t0 + round(t * 1000)
        r.cadence = _strides(spm)
        bpm = hr.get(float(int(t)))
        if bpm is not None:
            r.heart_rate = min(254, bpm)
        b.add(r)
    ev = EventMessage()
    ev.event = Event.TIMER
    ev.event_type = EventType.STOP_ALL
    ev.timestamp = end_ms
    b.add(ev)

    laps = laps_of(s)
    for i, lp in enumerate(laps):
        d = DeveloperField(developer_data_index=0, field_id=DEV_DIRECTION, base_type=BaseType.STRING,
                           size=DIRECTION_SIZE, name="direction")
        d.set_value(0, lp.label[:DIRECTION_SIZE - 1])
        m = LapMessage(developer_fields=[d])
        m.message_index = i
        m.start_time = t0 + round(lp.start_s * 1000)
        m.timestamp = t0 + round(lp.end_s * 1000)
        m.total_elapsed_time = lp.duration_s
        m.total_timer_time = lp.duration_s
        m.total_distance = 0.0
        m.total_strides = round(lp.steps / 2)
        m.avg_cadence = _strides(lp.avg_cadence)
        m.max_cadence = _strides(lp.max_cadence)
        if lp.avg_hr is not None:
            m.avg_heart_rate = min(254, lp.avg_hr)
            m.max_heart_rate = min(254, lp.max_hr or lp.avg_hr)
        m.event = Event.LAP
        m.event_type = EventType.STOP
        m.lap_trigger = LapTrigger.SESSION_END if i == len(laps) - 1 else LapTrigger.MANUAL
        m.sport = Sport.WALKING
        m.sub_sport = sub_sport
        b.add(m)

    steps = len(s.get("steps", [])) or (s["retro_steps"] + s["forward_steps"])
    rs = DeveloperField(developer_data_index=0, field_id=DEV_RETRO_STEPS, base_type=BaseType.UINT32,
                        size=4, name="retro_steps")
    rs.set_value(0, int(s["retro_steps"]))
    rm = DeveloperField(developer_data_index=0, field_id=DEV_RETRO_MINUTES, base_type=BaseType.FLOAT32,
                        size=4, name="retro_minutes")
    rm.set_value(0, round(float(s["retro_seconds"]) / 60, 2))
    ses = SessionMessage(developer_fields=[rs, rm])
    ses.message_index = 0
    ses.timestamp = end_ms
    ses.start_time = t0
    ses.total_elapsed_time = dur
    ses.total_timer_time = dur
    ses.total_distance = 0.0
    ses.total_strides = round(steps / 2)
    ses.avg_cadence = _strides(steps * 60.0 / max(dur, 1e-6))
    ses.max_cadence = _strides(max([0.0, *(lp.max_cadence for lp in laps)]))
    if hr:
        ses.avg_heart_rate = min(254, round(sum(hr.values()) / len(hr)))
        ses.max_heart_rate = min(254, max(hr.values()))
    ses.sport = Sport.WALKING
    ses.sub_sport = sub_sport
    ses.first_lap_index = 0
    ses.num_laps = len(laps)
    ses.event = Event.SESSION
    ses.event_type = EventType.STOP
    b.add(ses)

    act = ActivityMessage()
    act.timestamp = end_ms
    act.total_timer_time = dur
    act.num_sessions = 1
    act.type = Activity.MANUAL
    act.event = Event.ACTIVITY
    act.event_type = EventType.STOP
    offset = (start.astimezone().utcoffset() or timedelta()).total_seconds()
    act.local_timestamp = round(end_ms / 1000 + offset) - 631065600  # FIT epoch, local time
    b.add(act)
    return b.build().to_bytes()


TCX_NS = "http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"
AX_NS = "http://www.garmin.com/xmlschemas/ActivityExtension/v2"


def to_tcx(s: dict[str, Any]) -> bytes:
    """One activity (TCX, Sport="Other" as TCX has no walking), one lap per interval or bout."""
    ET.register_namespace("", TCX_NS)
    ET.register_namespace("ax", AX_NS)
    start = parse_iso(s["started_at"])

    def ts(sec: float) -> str:
        return (start + timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def sub(parent: ET.Element, tag: str, text: Any = None, ns: str = TCX_NS) -> ET.Element:
        e = ET.SubElement(parent, f"{{{ns}}}{tag}")
        if text is not None:
            e.text = str(text)
        return e

    root = ET.Element(f"{{{TCX_NS}}}TrainingCenterDatabase")
    acts = sub(root, "Activities")
    act = sub(acts, "Activity")
    act.set("Sport", "Other")
    sub(act, "Id", ts(0))
    cad = _cadence_series(s)
    hr = dict(heart_rate_series(s))
    for lp in laps_of(s):
        lap = sub(act, "Lap")
        lap.set("StartTime", ts(lp.start_s))
        # element order as in the TCX v2 schema's Lap_t / Trackpoint_t sequences
        sub(lap, "TotalTimeSeconds", f"{lp.end_s - lp.start_s:.3f}")
        sub(lap, "DistanceMeters", "0")
        sub(lap, "Calories", "0")
        if lp.avg_hr is not None:
            sub(sub(lap, "AverageHeartRateBpm"), "Value", lp.avg_hr)
            sub(sub(lap, "MaximumHeartRateBpm"), "Value", lp.max_hr)
        sub(lap, "Intensity", "Active" if lp.label in WALKING else "Resting")
        sub(lap, "Cadence", _strides(lp.avg_cadence))
        sub(lap, "TriggerMethod", "Manual")
        points = [(t, spm) for t, spm in cad
                  if lp.start_s <= t < lp.end_s or (t == lp.end_s == float(s["duration_s"]))]
        if points:  # a Track holds at least one Trackpoint (no empty <Track/>)
            track = sub(lap, "Track")
            for t, spm in points:
                tp = sub(track, "Trackpoint")
                sub(tp, "Time", ts(t))
                bpm = hr.get(float(int(t)))
                if bpm is not None:
                    sub(sub(tp, "HeartRateBpm"), "Value", bpm)
                sub(tp, "Cadence", _strides(spm))
        sub(lap, "Notes", f"{lp.label}: {lp.steps} steps")
        ext = sub(lap, "Extensions")
        lx = sub(ext, "LX", ns=AX_NS)
        sub(lx, "Steps", lp.steps, ns=AX_NS)
    sub(act, "Notes", f"retro-coach session {s['id']}: {s['retro_steps']} retro steps, "
                      f"{s['retro_seconds']:.0f} s backward")
    creator = sub(act, "Creator")
    creator.set("{http://www.w3.org/2001/XMLSchema-instance}type", "Device_t")
    sub(creator, "Name", "retro-coach")
    sub(creator, "UnitId", 0)
    sub(creator, "ProductID", 0)
    version = sub(creator, "Version")
    sub(version, "VersionMajor", 0)
    sub(version, "VersionMinor", 1)
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def export(store: SessionStore, fmt: str, out: str | Path, session_id: str | int | None = None,
           since: datetime | None = None) -> int:
    """Write the export; return how many sessions it holds."""
    if fmt not in FORMATS:
        raise CoachError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    if session_id is not None:
        sessions = [store.session(session_id)]
    else:
        sessions = store.sessions(since=since)
    if fmt in ("fit", "tcx"):
        if session_id is None:
            if not sessions:
                raise CoachError("no sessions to export")
            latest = max(sessions, key=lambda r: r["id"])  # the last stored (after --since)
            sessions = [store.session(latest["id"])]
        data = to_fit(sessions[0]) if fmt == "fit" else to_tcx(sessions[0])
    elif fmt == "csv":
        data = to_csv(sessions).encode()
    else:
        data = to_json(store, sessions).encode()
    out = Path(out)
    if str(out) == "-":
        import sys
        sys.stdout.buffer.write(data)
    else:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
        except OSError as e:
            raise CoachError(f"cannot write {out}: {e.strerror}") from None
    return len(sessions)
