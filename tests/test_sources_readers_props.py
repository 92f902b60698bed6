"""Property tests for the recording readers: whatever the bytes or rows, a result or one
CoachError line, never a traceback."""
from __future__ import annotations

import gzip
import io
import zipfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coach.errors import CoachError
from coach.sources.csvfile import read_csv

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

HEADERS = [
    b"t,ax,ay,az\n",
    b"t,ax,ay,az,label\n",
    b'"Time (s)","Acceleration x (m/s^2)","Acceleration y (m/s^2)","Acceleration z (m/s^2)"\n',
    b"time,seconds_elapsed,z,y,x\n",
    b"Phone timestamp;sensor timestamp [ns];X [mg];Y [mg];Z [mg]\n",
]


def _read(tmp_path, data: bytes, name: str = "f.csv", **kw) -> None:
    p = tmp_path / name
    p.write_bytes(data)
    try:
        rec = read_csv(p, **kw)
    except CoachError as e:
        msg = str(e)
        assert msg and "\n" not in msg
        return
    # a result: time strictly increasing from 0, acceleration finite, in g
    assert rec.t[0] == 0.0
    assert (np.diff(rec.t) > 0).all()
    assert np.isfinite(rec.acc).all() and rec.acc.shape == (len(rec.t), 3)


@SETTINGS
@given(data=st.binary(max_size=2000))
def test_random_bytes(tmp_path, data):
    _read(tmp_path, data)


@SETTINGS
@given(head=st.sampled_from(HEADERS), data=st.binary(max_size=1000))
def test_random_bytes_after_a_real_header(tmp_path, head, data):
    _read(tmp_path, head + data)


_num = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(-10**20, 10**20),
    st.sampled_from(["", "nan", "-", "1e400", "0x10", "1,5", " 3 ", "abc", "\"2\""]),
)


@SETTINGS
@given(head=st.sampled_from(HEADERS),
       rows=st.lists(st.lists(_num, min_size=0, max_size=7), min_size=0, max_size=40),
       sep=st.sampled_from([",", ";", "\t"]))
def test_random_rows(tmp_path, head, rows, sep):
    body = "\n".join(sep.join(str(v) for v in r) for r in rows)
    _read(tmp_path, head + body.encode())


@SETTINGS
@given(t=st.lists(st.floats(-1e19, 1e19, allow_nan=False), min_size=2, max_size=300),
       scale=st.sampled_from([1.0, 9.80665, 1000.0]))
def test_random_timestamps(tmp_path, t, scale):
    lines = [f"{v!r},0,0,{scale}" for v in t]
    _read(tmp_path, ("t,ax,ay,az\n" + "\n".join(lines) + "\n").encode())


@SETTINGS
@given(dt=st.floats(1e-4, 2.0), n=st.integers(2, 400), jitter=st.floats(0, 0.9),
       dups=st.integers(0, 5), seed=st.integers(0, 2**16))
def test_plausible_but_messy_streams(tmp_path, dt, n, jitter, dups, seed):
    rng = np.random.default_rng(seed)
    t = np.cumsum(dt * (1 + jitter * rng.uniform(-1, 1, n)))
    for _ in range(dups):
        k = int(rng.integers(1, n))
        t[k] = t[k - 1]
    a = rng.normal(0, 0.3, (n, 3)) + [0, 0, 1]
    lines = [f"{ti:.6f},{x:.4f},{y:.4f},{z:.4f}" for ti, (x, y, z) in zip(t, a)]
    _read(tmp_path, ("t,ax,ay,az\n" + "\n".join(lines) + "\n").encode(), allow_rate=True)


@SETTINGS
@given(data=st.binary(max_size=1500), how=st.sampled_from(["gz", "zip", "truncated-gz"]))
def test_random_compressed(tmp_path, data, how):
    if how == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("TotalAcceleration.csv", HEADERS[3] + data)
        blob = buf.getvalue()
    else:
        blob = gzip.compress(HEADERS[0] + data)
        if how == "truncated-gz":
            blob = blob[: max(3, len(blob) // 2)]
    _read(tmp_path, blob, "f.bin")


@SETTINGS
@given(seed=st.integers(0, 2**16), n=st.integers(5, 400),
       events=st.lists(st.tuples(st.sampled_from(["dup", "ahead", "behind", "gap", "burst"]),
                                 st.floats(0, 1)), max_size=6),
       cuts=st.lists(st.integers(1, 399), max_size=8))
def test_time_base_does_not_depend_on_chunking(seed, n, events, cuts):
    """Held samples (a gap or an outlier not yet decided) cross chunk boundaries: the samples
    kept, the counts and the error do not depend on where the file was cut."""
    from coach.sources.readers.timebase import TimeBase

    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.uniform(0.008, 0.012, n))
    for kind, where in events:
        k = int(where * (n - 1))
        if kind == "dup" and k > 0:
            t[k] = t[k - 1]
        elif kind == "ahead":
            t[k] += 1e5
        elif kind == "behind":
            t[k] -= 50
        elif kind == "gap":
            t[k:] += 30
        elif kind == "burst":
            t[k:k + 4] += 3e4
    acc = np.zeros((n, 3))
    lines = np.arange(n) + 2

    def run(bounds):
        tb = TimeBase("f")
        out = []
        try:
            for i, j in zip(bounds[:-1], bounds[1:]):
                kt, _, _ = tb.push(t[i:j], acc[i:j], None, lines[i:j])
                out.append(kt)
            tb.finish()
        except CoachError as e:
            return str(e)
        s = tb.stats
        return np.concatenate(out).tolist(), s.repeats, s.outliers, s.gaps

    whole = run([0, n])
    # the first chunk decides the unit and the anchor: keep it long enough to be the same
    inner = sorted({c for c in cuts if 64 < c < n})
    assert run([0, *inner, n]) == whole
