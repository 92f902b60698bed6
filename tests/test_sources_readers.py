"""Reading recordings: one time-base rule, refusing what would mislead, bounded chunks, and the
files people already have (phyphox, Sensor Logger, Polar Sensor Logger, gzip)."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from coach.errors import CoachError
from coach.sources.csvfile import CsvSource, read_csv
from coach.sources.readers import RecordingReader
from tests import readers_formats as rf
from tests.detect_helpers import interval_session

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def walk():
    # times to 0.1 ms, as the plain CSV writes them: every format then holds the same walk (the
    # finer ones had carried times up to 50 us apart, and a state near its threshold can move a
    # window with that)
    s = interval_session(seed=5, placement="waist", rate=50.0)
    return np.round(s.t, 4), s.acc


def analyze(path: Path, **kw) -> dict:
    from coach.detect.pipeline import DirectionPipeline
    from coach.detect.session import run_session

    src = CsvSource(path, **kw)
    r = asyncio.run(run_session(src, DirectionPipeline(source_name="x"), []))
    return r.to_json()


def figures(doc: dict) -> dict:
    return {k: doc[k] for k in ("duration_s", "sample_rate_hz", "segments", "summary")}


def write(path: Path, t, acc, tfmt="{:.4f}", scale=1.0) -> Path:
    with open(path, "w") as f:
        f.write("t,ax,ay,az\n")
        for ti, (x, y, z) in zip(t, acc * scale):
            f.write(f"{tfmt.format(ti)},{x:.5f},{y:.5f},{z:.5f}\n")
    return path


# ---------------------------------------------------------------------------- time base
@pytest.fixture(scope="module")
def base(walk, tmp_path_factory):
    t, a = walk
    p = write(tmp_path_factory.mktemp("base") / "base.csv", t, a)
    return p, figures(analyze(p))


@pytest.mark.parametrize("case", ["neg100", "epoch_s", "epoch_ms", "rel_ms", "epoch_ns", "rel_ns"])
def test_any_time_base_is_seconds_since_the_first_sample(tmp_path, walk, base, case):
    t, a = walk
    tt, fmt = {"neg100": (t - 100, "{:.4f}"), "epoch_s": (t + 1.7e9, "{:.4f}"),
               "epoch_ms": (t * 1e3 + 1.7e12, "{:.1f}"), "rel_ms": (t * 1e3, "{:.1f}"),
               "epoch_ns": (np.round(t * 1e9) + 1.7e18, "{:.0f}"),
               "rel_ns": (np.round(t * 1e9) + 5e12, "{:.0f}")}[case]
    p = write(tmp_path / f"{case}.csv", tt, a, fmt)
    assert figures(analyze(p)) == base[1]
    r = RecordingReader(p)
    if case.startswith("epoch"):
        assert r.start is not None and abs(r.start.timestamp() - 1.7e9 - t[0]) < 1e-3
    else:
        assert r.start is None


def test_a_bad_first_row_before_epoch_times_is_dropped(tmp_path, walk, base):
    t, a = walk
    tt = t * 1e3 + 1.7e12
    tt[0] = 0.0
    p = write(tmp_path / "zero_first.csv", tt, a, "{:.1f}")
    r = RecordingReader(p)
    assert r.start is not None and abs(r.start.timestamp() - 1.7e9 - t[1]) < 1e-3
    rec = read_csv(p)
    assert len(rec.t) == len(t) - 1 and rec.t[0] == 0.0


def test_repeated_timestamps_dropped_and_counted_with_one_warning(tmp_path, walk, base, capsys):
    t, a = walk
    idx = [100, 2000, 2001]
    tt = np.insert(t, idx, t[np.array(idx) - 1])
    aa = np.insert(a, idx, a[np.array(idx) - 1], axis=0)
    p = write(tmp_path / "rep.csv", tt, aa)
    assert figures(analyze(p)) == base[1]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dropped 3 rows that repeat the previous timestamp" in err[0]


@pytest.mark.parametrize("k", [0, 1])
def test_a_repeat_in_the_first_rows_is_a_repeat_and_loses_no_sample(tmp_path, walk, capsys, k):
    """Row k repeated: the check for a stray leading sample had taken the repeat for a break
    in the clock and dropped the rows before it as 'far outside the clock' (row 1: a real
    sample lost too)."""
    t, a = walk
    tt, aa = np.insert(t, k + 1, t[k]), np.insert(a, k + 1, a[k], axis=0)
    rec = read_csv(write(tmp_path / f"rep{k}.csv", tt, aa))
    assert len(rec.t) == len(t) and np.allclose(rec.t, t - t[0], atol=1e-3)
    err = capsys.readouterr().err
    assert "dropped 1 row that repeats the previous timestamp" in err and "outside" not in err


def test_rows_whose_acceleration_is_not_a_number_are_dropped_and_said(tmp_path, walk, capsys):
    """They were dropped silently: 2 s of them became a gap with no word."""
    t, a = walk
    bad = a.copy()
    bad[100:200, 0] = np.nan
    bad[300] = [1e9, 0, 0]
    rec = read_csv(write(tmp_path / "nan.csv", t, bad))
    assert len(rec.t) == len(t) - 101
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"coach: warning: {tmp_path / 'nan.csv'}: dropped 101 rows whose acceleration "
                   "is not a number or beyond any sensor's range"]


def test_a_file_of_one_repeated_timestamp_says_so_when_refused(tmp_path):
    p = tmp_path / "one.csv"
    p.write_text("t,ax,ay,az\n1.0,0,0,1\n1.0,0,0,1\n1.0,0,0,1\n")
    with pytest.raises(CoachError, match=r"too few samples \(1; dropped 2 rows that repeat the previous timestamp\)"):
        read_csv(p)


@pytest.mark.parametrize("where", ["ahead", "behind", "first", "last"])
def test_a_sample_far_outside_the_clock_is_dropped_never_moves_it(tmp_path, walk, base, where, capsys):
    t, a = walk
    tt = t.copy()
    k = {"ahead": 800, "behind": 1500, "first": 0, "last": len(t) - 1}[where]
    tt[k] = t[k] + (365 * 86400 if where != "behind" else -5000)
    p = write(tmp_path / "out.csv", tt, a)
    doc = figures(analyze(p))
    # one sample fewer: the rate (a mean over the samples) may move by a hundredth
    assert doc["sample_rate_hz"] == pytest.approx(base[1]["sample_rate_hz"], abs=0.02)
    if where in ("first", "last"):      # the recording starts or ends one sample later/earlier
        # every window then sits one sample later: the count may move by a step or three (the
        # session has 45 true backward steps)
        assert abs(doc["summary"]["retro_steps"] - base[1]["summary"]["retro_steps"]) <= 3
        assert abs(doc["duration_s"] - base[1]["duration_s"]) < 0.05
    else:
        # the clock is untouched; the gap the dropped sample leaves is interpolated, which may
        # nudge a boundary by a few hops, never more
        assert doc["duration_s"] == base[1]["duration_s"]
        got, want = doc["segments"], base[1]["segments"]
        assert [s["direction"] for s in got] == [s["direction"] for s in want]
        assert all(abs(g["start_s"] - w["start_s"]) <= 1.0 for g, w in zip(got, want))
        assert abs(doc["summary"]["retro_steps"] - base[1]["summary"]["retro_steps"]) <= 2
    assert "1 sample out of step with the recording's clock" in capsys.readouterr().err


def test_a_gap_is_a_gap_and_does_not_change_the_rate(tmp_path, walk):
    t, a = walk
    tt = t.copy()
    tt[3000:] += 3600
    doc = analyze(write(tmp_path / "gap.csv", tt, a))
    assert doc["sample_rate_hz"] == 50.0
    assert doc["duration_s"] == pytest.approx(t[-1] + 3600, abs=0.01)
    gap = [s for s in doc["segments"] if s["start_s"] <= t[3000] and s["end_s"] >= t[3000] + 3500]
    assert gap and gap[0]["direction"] == "still" and gap[0]["steps"] == 0
    # and the drop is said to be one: the hour without data, from the last sample before it
    assert doc["gaps"] == [{"start_s": pytest.approx(t[2999], abs=0.05),
                            "end_s": pytest.approx(t[3000] + 3600, abs=0.05)}]
    out = subprocess.run([sys.executable, "-m", "coach", "analyze", str(tmp_path / "gap.csv")],
                         capture_output=True, text=True, timeout=120)
    assert "sensor gaps: 1, 3600.0 s without data" in out.stdout, out.stdout
    assert analyze(write(tmp_path / "whole.csv", t, a))["gaps"] == []


@pytest.mark.parametrize("after,gap,jump", [(5, True, 10.0), (1, False, 10.0), (5, False, 2 * 86400.0)])
def test_a_gap_near_the_end_is_a_gap_and_a_lone_last_sample_an_outlier(tmp_path, walk, after, gap, jump):
    """A file that ends a few samples after a 10 s gap: those samples were dropped as 'far
    outside the clock' and the recording cut short at the gap (it takes 16 to prove a gap
    mid-file). A run at the sensor's step up to the end is a gap; one stray sample is not, nor
    a run two days ahead (a broken clock: dropped, not the whole file refused)."""
    t, a = walk
    n = 3000
    tt = np.concatenate([t[:n], t[n:n + after] + jump])
    aa = np.concatenate([a[:n], a[n:n + after]])
    doc = analyze(write(tmp_path / "end.csv", tt, aa))
    if gap:
        assert doc["duration_s"] == pytest.approx(tt[-1] - tt[0], abs=0.01)
        assert len(doc["gaps"]) == 1 and doc["gaps"][0]["end_s"] == pytest.approx(t[n] + 10 - t[0], abs=0.05)
    else:
        assert doc["duration_s"] == pytest.approx(t[n - 1] - t[0], abs=0.01) and doc["gaps"] == []


def test_time_going_backwards_is_refused_with_the_line(tmp_path, walk):
    t, a = walk
    tt = t.copy()
    tt[2000:] -= 5
    with pytest.raises(CoachError, match="time goes backwards at line 2002"):
        read_csv(write(tmp_path / "back.csv", tt, a))


def test_a_jump_of_more_than_a_day_is_refused(tmp_path, walk):
    t, a = walk
    tt = t.copy()
    tt[3000:] += 1e7
    with pytest.raises(CoachError, match="line 3002: time jumps forward"):
        read_csv(write(tmp_path / "far.csv", tt, a))


# ---------------------------------------------------------------------------- refusing
def test_too_low_rates_refused_unless_allowed_high_rates_fine(tmp_path, walk):
    t, a = walk
    p = write(tmp_path / "hz10.csv", t[::5], a[::5])
    with pytest.raises(CoachError, match=r"sample rate about 10 Hz .*--allow-rate"):
        read_csv(p)
    assert len(read_csv(p, allow_rate=True).t) == len(t[::5])
    # uneven phone-like timing at ~25 Hz passes on its median interval
    rng = np.random.default_rng(1)
    tt = np.cumsum(rng.uniform(0.025, 0.06, 500))
    assert len(read_csv(write(tmp_path / "uneven.csv", tt, a[:500])).t) == 500
    # 400 Hz is fine (resampled)
    t4 = np.arange(4000) / 400.0
    a4 = np.repeat(a[:1000], 8, axis=0)[:4000]
    assert len(read_csv(write(tmp_path / "hz400.csv", t4, a4)).t) == 4000


def test_units_that_are_not_g_or_ms2_refused_or_said(tmp_path, walk, base):
    t, a = walk
    p = write(tmp_path / "mg.csv", t, a, scale=1000)
    with pytest.raises(CoachError, match="milli-g .*--units mg"):
        read_csv(p)
    assert figures(analyze(p, units="mg"))["summary"] == base[1]["summary"]
    lin = write(tmp_path / "lin.csv", t, a - rf.gravity_of(t, a))
    with pytest.raises(CoachError, match="no gravity"):
        read_csv(lin)
    # gravity of about 4 is neither unit (not 0.4 g in m/s^2, nor 4 g): say which it is
    odd = write(tmp_path / "four.csv", t, a, scale=4)
    with pytest.raises(CoachError, match="neither g nor m/s\\^2"):
        read_csv(odd)


def test_binary_junk_refused_within_the_first_megabyte(tmp_path, walk):
    t, a = walk
    p = write(tmp_path / "nul.csv", t[:200], a[:200])
    with open(p, "ab") as f:                     # a real CSV followed by 64 MB of NULs (sparse)
        f.truncate(p.stat().st_size + 64 * 2**20)
    with pytest.raises(CoachError, match="binary data"):
        read_csv(p)
    sparse = tmp_path / "sparse.csv"
    with open(sparse, "wb") as f:
        f.truncate(2 * 2**30)                    # 2 GB of nothing: refused at once
    with pytest.raises(CoachError, match="binary data at line 1"):
        RecordingReader(sparse)
    long = tmp_path / "long.csv"
    long.write_bytes(b"t,ax,ay,az\n" + b"1" * (3 * 2**20))
    with pytest.raises(CoachError, match="longer than 1 MB"):
        RecordingReader(long)


def test_reading_is_chunked(tmp_path):
    """A recording longer than one chunk arrives in several chunks, batches cut as if whole."""
    n = 60000                                     # 10 min at 100 Hz, ~2.4 MB
    t = np.arange(n) / 100.0
    a = np.column_stack([np.sin(t), np.cos(t), 1 + 0.1 * np.sin(3 * t)])
    p = write(tmp_path / "long.csv", t, a)
    r = RecordingReader(p)
    assert sum(1 for _ in r.chunks()) >= 2
    batches = list(RecordingReader(p).batches(30.0))
    whole = read_csv(p)
    cuts = [0]
    while cuts[-1] < n:
        i = cuts[-1]
        cuts.append(max(int(np.searchsorted(whole.t, whole.t[i] + 30.0, side="left")), i + 1))
    assert [len(b.t) for b in batches] == list(np.diff(cuts))


# ---------------------------------------------------------------------------- formats
def test_the_same_walk_in_every_format_gives_the_same_figures(tmp_path, walk):
    t, a = walk
    plain = rf.plain(t, a, tmp_path / "walk.csv")
    files = {
        "plain": plain,
        "plain m/s2 gz": rf.gzipped(rf.plain(t, a, tmp_path / "walk_ms2.csv", scale=rf.G),
                                    tmp_path / "walk_ms2.csv.gz"),
        "phyphox": rf.phyphox(t, a, tmp_path / "Raw Data.csv"),
        "phyphox gz": rf.gzipped(tmp_path / "Raw Data.csv", tmp_path / "phyphox.csv.gz"),
        "sensorlogger folder": rf.sensorlogger_folder(t, a, tmp_path / "sl"),
        "sensorlogger Accelerometer.csv": tmp_path / "sl" / "Accelerometer.csv",
        "sensorlogger zip (total)": rf.sensorlogger_zip(t, a, tmp_path / "sl_total.zip"),
        "sensorlogger zip (pair)": rf.sensorlogger_zip(t, a, tmp_path / "sl_pair.zip", total=False),
        "polar": rf.polar(t, a, tmp_path / "Polar_H10_ACC.txt"),
        "polar gz": rf.gzipped(tmp_path / "Polar_H10_ACC.txt", tmp_path / "Polar_H10_ACC.txt.gz"),
    }
    ref = figures(analyze(plain))
    assert ref["summary"]["retro_steps"] > 10
    for name, p in files.items():
        doc = figures(analyze(p))
        assert doc["summary"] == ref["summary"], name
        assert [s["direction"] for s in doc["segments"]] == [s["direction"] for s in ref["segments"]], name
        assert doc["duration_s"] == pytest.approx(ref["duration_s"], abs=0.002), name
    for k in ("sensorlogger folder", "sensorlogger zip (total)"):
        st = RecordingReader(files[k]).start
        assert st is not None and abs((st - rf.START).total_seconds() - t[0]) < 1e-3
    polar_start = RecordingReader(files["polar"]).start     # the phone's (local) time
    assert polar_start is not None
    assert abs((polar_start.replace(tzinfo=None) - rf.START.replace(tzinfo=None)).total_seconds()
               - 0.05 - t[0]) < 2e-3


def test_polar_integer_milli_g_gives_nearly_the_same_figures(tmp_path, walk):
    t, a = walk
    ref = analyze(rf.plain(t, a, tmp_path / "walk.csv"))["summary"]
    got = analyze(rf.polar(t, a, tmp_path / "Polar_ACC.txt", decimals=0))["summary"]
    assert abs(got["retro_steps"] - ref["retro_steps"]) <= 2
    assert abs(got["retro_seconds"] - ref["retro_seconds"]) <= 2


def test_exports_without_gravity_say_which_export_to_use(tmp_path, walk):
    t, a = walk
    with pytest.raises(CoachError, match="Acceleration with g"):
        RecordingReader(rf.phyphox(t[:100], a[:100], tmp_path / "lin.csv", linear=True))
    d = rf.sensorlogger_folder(t[:100], a[:100], tmp_path / "sl")
    (d / "Gravity.csv").unlink()
    with pytest.raises(CoachError, match="TotalAcceleration.csv"):
        RecordingReader(d / "Accelerometer.csv")
    with pytest.raises(CoachError, match="Sensor Logger export"):
        RecordingReader(d)


@pytest.mark.parametrize("name,kind,start", [
    ("phyphox_acceleration_with_g.csv", "phyphox", None),
    ("sensorlogger", "sensorlogger", "2024-03-09T09:12:05.130000+00:00"),
    ("sensorlogger_TotalAcceleration.csv", "sensorlogger", "2024-03-09T09:12:05.130000+00:00"),
    ("Polar_H10_0A1B2C3D_20240309_101205_ACC.txt", "polar", "2024-03-09T10:12:05.301000"),
    ("plain_ms2.csv.gz", "plain", None),
])
def test_sample_files_from_the_apps_documentation(name, kind, start):
    r = RecordingReader(DATA / name)
    assert r.fmt.kind == kind
    rec = read_csv(DATA / name)
    g = np.linalg.norm(rec.acc, axis=1)
    assert 0.9 < np.median(g) < 1.1                       # converted to g
    rate = 1 / np.median(np.diff(rec.t))
    assert 45 < rate < 210 and rec.t[0] == 0.0
    if start is None:
        assert r.start is None
    elif start.endswith("+00:00"):
        assert r.start == datetime.fromisoformat(start)
    else:                                                   # phone local time
        assert r.start is not None and r.start.replace(tzinfo=None) == datetime.fromisoformat(start)


def test_an_empty_zip_is_called_a_zip_without_a_recording(tmp_path):
    z = tmp_path / "export.zip"
    zipfile.ZipFile(z, "w").close()          # only the zip's end record: PK\x05\x06
    with pytest.raises(CoachError, match="zip file without a recording"):
        RecordingReader(z)


def test_linear_acceleration_sample_file_is_refused():
    with pytest.raises(CoachError, match="Acceleration with g"):
        RecordingReader(DATA / "phyphox_linear_acceleration.csv")


# ---------------------------------------------------------------------------- the command
def _coach(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coach", *args], capture_output=True, text=True,
                          timeout=120)


def test_save_stores_the_real_start_or_start_option(tmp_path, walk):
    t, a = walk
    db = str(tmp_path / "s.sqlite3")
    z = rf.sensorlogger_zip(t, a, tmp_path / "sl.zip")
    out = _coach("analyze", "--json", "--save", "--db", db, str(z))
    assert out.returncode == 0, out.stderr
    sid = json.loads(out.stdout)["session_id"]
    p = rf.plain(t, a, tmp_path / "walk.csv")
    out = _coach("analyze", "--json", "--save", "--db", db, "--start", "2026-05-01T07:30:00+02:00", str(p))
    assert out.returncode == 0, out.stderr
    sid2 = json.loads(out.stdout)["session_id"]
    hist = json.loads(_coach("history", "--json", "--db", db).stdout)
    rows = hist if isinstance(hist, list) else hist.get("sessions", [])
    starts = {r["session_id"]: datetime.fromisoformat(r["started_at"]) for r in rows}
    assert abs((starts[sid] - rf.START).total_seconds() - t[0]) < 1e-3
    assert starts[sid2] == datetime(2026, 5, 1, 5, 30, tzinfo=UTC)
    bad = _coach("analyze", "--start", "yesterday", str(p))
    assert bad.returncode == 2 and "ISO 8601" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_cli_errors_are_one_line(tmp_path, walk):
    t, a = walk
    p = write(tmp_path / "hz10.csv", t[::5], a[::5])
    out = _coach("analyze", "--json", str(p))
    # with --json the error is also one JSON object on stdout (issue 11.5)
    assert out.returncode == 2 and json.loads(out.stdout)["exit_status"] == 2
    assert "--allow-rate" in json.loads(out.stdout)["error"]
    assert out.stderr.count("\n") == 1 and "--allow-rate" in out.stderr
    out = _coach("analyze", "--json", "--allow-rate", str(p))
    assert out.returncode == 0, out.stderr


def test_a_recording_shorter_than_one_window_is_refused_not_reported(tmp_path, walk):
    t, a = walk
    short = write(tmp_path / "short.csv", t[:75], a[:75])            # 1.5 s at 50 Hz
    out = _coach("analyze", str(short))
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "too short to analyse (at least 2 s" in out.stderr
    almost = write(tmp_path / "almost.csv", np.arange(100) / 50 * 0.99999, a[:100],
                   tfmt="{:.6f}")                                    # 1.97998 s
    out = _coach("analyze", str(almost))
    assert out.returncode == 2 and "1.979 s of data is too short" in out.stderr   # not "1.98"
    enough = write(tmp_path / "enough.csv", t[:150], a[:150])        # 3 s
    out = _coach("analyze", "--json", str(enough))
    assert out.returncode == 0 and json.loads(out.stdout)["duration_s"] > 2.9
    with pytest.raises(CoachError, match="too short"):
        from coach.detect.session import analyze_file
        analyze_file(short)


@pytest.mark.parametrize("variant", ["tab", "semicolon-decimal-comma"])
def test_phyphox_separator_variants(tmp_path, walk, variant):
    t, a = walk
    src = rf.phyphox(t[:500], a[:500], tmp_path / "comma.csv")
    text = src.read_text()
    if variant == "tab":
        text = text.replace(",", "\t")
    else:
        text = text.replace(",", ";").replace(".", ",")
    p = tmp_path / f"{variant}.csv"
    p.write_text(text)
    a_ref, b = read_csv(src), read_csv(p)
    assert np.allclose(a_ref.t, b.t) and np.allclose(a_ref.acc, b.acc)


def test_a_csv_with_every_field_quoted_reads_as_the_plain_one(tmp_path, walk, base):
    """Its quoted header was taken, then every row refused: non-numeric value '"-0.0001"'."""
    p = write(tmp_path / "plain.csv", *walk)
    q = tmp_path / "quoted.csv"
    q.write_text("\n".join(",".join(f'"{v}"' for v in ln.split(","))
                           for ln in p.read_text().splitlines()) + "\n")
    assert q.read_text().startswith('"t","ax","ay","az"\n"')
    assert figures(analyze(q)) == base[1]


def test_a_text_column_the_reader_does_not_use_is_ignored(tmp_path, walk, base):
    """A helper's find: an extra 'note' column (a logger's device name, a comment) refused the
    whole file, and the error named the line but not the column. Columns the reader does not
    use may hold anything; a bad value in one it does use names the column."""
    p = write(tmp_path / "plain.csv", *walk)
    lines = p.read_text().splitlines()
    noted = tmp_path / "noted.csv"
    noted.write_text("\n".join([lines[0] + ",note"] + [ln + (",left foot" if k % 7 else ",")
                                                       for k, ln in enumerate(lines[1:])]) + "\n")
    assert figures(analyze(noted)) == base[1]
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0] + ",note", lines[1] + ",x",
                              lines[2].replace(lines[2].split(",")[2], "zz") + ",y"]) + "\n")
    with pytest.raises(CoachError, match=r"line 3: non-numeric value 'zz' in column 'ay'"):
        read_csv(bad)


def test_two_timestamps_swapped_are_dropped_and_a_reversed_file_still_refused(tmp_path, walk, capsys):
    """A helper's find: t of rows 500 and 502 swapped (20 ms at 50 Hz) refused the whole file,
    'time goes backwards', while a swap of neighbours was dropped: samples a moment behind the
    clock are out of step with it in any order."""
    t, a = walk
    tt = t.copy()
    tt[[500, 502]] = tt[[502, 500]]
    rec = read_csv(write(tmp_path / "swap.csv", tt, a))
    assert len(rec.t) == len(t) - 2 and np.all(np.diff(rec.t) > 0)
    assert "dropped 2 samples out of step with the recording's clock" in capsys.readouterr().err
    # time that goes backwards and stays there, in any order, is still refused
    with pytest.raises(CoachError, match="time goes backwards at line"):
        read_csv(write(tmp_path / "reversed.csv", t[::-1].copy(), a))
    back = t.copy()
    back[2000:2040] = back[2000:2040][::-1] - 0.3          # row 2000 still ahead of row 1999
    with pytest.raises(CoachError, match="time goes backwards at line 2003"):
        read_csv(write(tmp_path / "back.csv", back, a))


def test_rows_are_counted_one_by_one_and_csv_quoting_and_odd_headers_are_read(tmp_path, walk, base):
    """A helper's finds, each a file that had been misread or refused:
    - a row short of a field and a later row with one more passed a count of the chunk's
      separators, and the values shifted from row to row (exit 0);
    - a header naming ax twice: the first was read, whichever held the data;
    - a quoted note holding the separator; a note with commas in a tab-separated file;
    - a comma-separated header whose extra column's name holds semicolons;
    - every row ending in a separator (a spreadsheet's export)."""
    p = write(tmp_path / "plain.csv", *walk)
    head, *rows = p.read_text().splitlines()
    bad = rows.copy()
    bad[99] = ",".join(bad[99].split(",")[:3])              # a field short ...
    bad[100] = bad[100] + ",7"                              # ... and one over
    q = tmp_path / "shifted.csv"
    q.write_text("\n".join([head] + bad) + "\n")
    with pytest.raises(CoachError, match="line 101: expected 4 fields, got 3"):
        read_csv(q)
    q.write_text("\n".join(["t,ax,ax,ay,az"] + [r.replace(",", ",9.9,", 1) for r in rows]) + "\n")
    with pytest.raises(CoachError, match="column 'ax' appears 2 times in the header"):
        read_csv(q)
    cases = {
        "quoted": ("t,ax,ay,az,note", lambda r: r + ',"left, right"'),
        "tabbed": ("t\tax\tay\taz\tnote", lambda r: r.replace(",", "\t") + "\ta, b"),
        "semis": ("t,ax,ay,az,note;a;b;c;d;e", lambda r: r + ",x"),
        "trailing": ("t,ax,ay,az,", lambda r: r + ","),
    }
    for name, (h, row) in cases.items():
        q = tmp_path / f"{name}.csv"
        q.write_text("\n".join([h] + [row(r) for r in rows]) + "\n")
        assert figures(analyze(q)) == base[1], name


def test_a_decimal_comma_is_read_where_the_first_row_held_none(tmp_path, walk):
    """'0;0;0;1' first: the file was taken to have no decimal comma, and its next row was
    refused with twice the fields."""
    p = write(tmp_path / "plain.csv", *walk)
    head, *rows = p.read_text().splitlines()
    semi = [r.replace(",", ";").replace(".", ",") for r in rows]
    semi[0] = "0;0;0;1"
    q = tmp_path / "semi.csv"
    q.write_text("\n".join([head.replace(",", ";")] + semi) + "\n")
    a, b = read_csv(p), read_csv(q)
    # (t is relative to the first row, whose time changed)
    assert np.allclose(a.t[1:] - a.t[1], b.t[1:] - b.t[1], atol=1e-9)
    assert np.array_equal(a.acc[1:], b.acc[1:])


def test_a_second_round_of_odd_files(tmp_path, walk, base):
    """A helper's second round, each a file misread or refused with a stray message:
    - quotes stripped before the fields were counted: '"0,3"' filled a row short of a field;
    - a space before a quoted number ('t, ax, ...' with '"0.1", "0.2"');
    - a quoted header name holding the separator; two trailing separators on every line;
    - a quoted note past csv's field limit escaped as csv's own error;
    - timestamps jittered at the sample step: a fifth of the file dropped as out of step (now
      refused early, naming what to do)."""
    p = write(tmp_path / "plain.csv", *walk)
    head, *rows = p.read_text().splitlines()

    def lines(name: str, h: str, rr: list[str]) -> Path:
        q = tmp_path / name
        q.write_text("\n".join([h] + rr) + "\n")
        return q
    short = [r + ",x" for r in rows]
    short[1] = '{},{},"{}",{}'.format(*rows[1].split(",")[:2], "0,3", rows[1].split(",")[3])
    with pytest.raises(CoachError, match="line 3: expected 5 fields, got 4"):
        read_csv(lines("q.csv", head + ",note", short))
    spaced = lines("spaced.csv", "t, ax, ay, az, note", [", ".join(f'"{v}"' for v in r.split(",")) + ", x"
                                                          for r in rows])
    assert figures(analyze(spaced)) == base[1]
    assert figures(analyze(lines("named.csv", head + ',"note, free"', [r + ",x" for r in rows]))) == base[1]
    assert figures(analyze(lines("two.csv", head + ",,", [r + ",," for r in rows]))) == base[1]
    big = [r + ",x" for r in rows]
    big[0] = rows[0] + ',"' + "y" * 131_073 + '"'
    with pytest.raises(CoachError, match=r"line 2: not a CSV row \(field larger than field limit"):
        read_csv(lines("big.csv", head + ",note", big))
    t, a = walk
    jit = t + np.random.default_rng(1).uniform(-0.6, 0.6, len(t)) / 50
    with pytest.raises(CoachError, match=r"time is out of order at many rows \(\d+ of the first \d+ "
                                         r"samples out of step with the clock, by line \d+\): sort"):
        read_csv(write(tmp_path / "jitter.csv", jit, a))
