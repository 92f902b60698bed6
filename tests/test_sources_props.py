"""Property tests: random, truncated and round-tripped payloads against every decoder.

A decoder either returns finite samples of shape (n, 3) or raises DecodeError (a one-line
CoachError); it never raises anything else, whatever the bytes.
"""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coach.simulate import ble as fb
from coach.sources.profiles import PROFILES, DecodeError, get_profile
from coach.sources.profiles.polar import PolarAccDecoder, PolarVerity, parse_cp_response, parse_settings
from coach.sources.profiles.witmotion import WitMotion

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _check(fn, payload: bytes) -> None:
    try:
        fr = fn(payload)
    except DecodeError as e:
        msg = str(e)
        assert msg and "\n" not in msg
        return
    assert fr.acc.ndim == 2 and fr.acc.shape[1] == 3
    assert np.all(np.isfinite(fr.acc))
    if fr.t_sensor is not None:
        assert len(fr.t_sensor) == len(fr.acc)


@SETTINGS
@given(name=st.sampled_from(sorted(PROFILES)), payload=st.binary(max_size=300))
def test_random_bytes_never_crash(name: str, payload: bytes) -> None:
    p = get_profile(name)
    _check(p.decode, payload)
    if name == "witmotion":
        _check(WitMotion.decode_one, payload)


@SETTINGS
@given(payload=st.binary(max_size=80))
def test_polar_control_point_and_settings_never_crash(payload: bytes) -> None:
    for fn in (parse_cp_response, parse_settings):
        try:
            fn(payload)
        except DecodeError as e:
            assert "\n" not in str(e)


acc_arrays: st.SearchStrategy[np.ndarray] = st.integers(2, 60).flatmap(lambda n: st.lists(
    st.tuples(*[st.floats(-7.9, 7.9, allow_nan=False)] * 3), min_size=n, max_size=n)).map(np.array)


@SETTINGS
@given(acc=acc_arrays, cut=st.integers(0, 400))
def test_encoded_then_truncated(acc: np.ndarray, cut: int) -> None:
    """Round trip through each vendor encoder; every truncation is refused or parses cleanly."""
    cases = {
        "polar_h10": (fb.enc_polar_raw(acc, 10**18), 1e-3),
        "polar_verity": (fb.enc_polar_delta(acc, 10**18, 8 / 32768), 8 / 32768),
        "movesense": (fb.enc_movesense(acc, 5000), 1e-5),
        "generic": (fb.enc_generic(acc, 3, 5000), 1e-3),
    }
    for name, (payload, res) in cases.items():
        p = get_profile(name)
        if name == "polar_verity":
            assert isinstance(p, PolarVerity)
            p._dec = PolarAccDecoder(rate_hz=52, factor=8 / 32768)
        fr = p.decode(payload)
        assert np.allclose(fr.acc, acc, atol=res * 0.51 + 1e-6), name
        _check(p.decode, payload[:cut % max(1, len(payload))])
    for name, enc, res in (("microbit", fb.enc_microbit, 1e-3), ("thingy52", fb.enc_thingy, 1 / 1024),
                           ("witmotion", fb.enc_witmotion, 16 / 32768)):
        p = get_profile(name)
        payload = enc(acc[:1])
        assert np.allclose(p.decode(payload).acc, acc[:1], atol=res * 0.51 + 1e-9), name
        p.reset()
        _check(p.decode, payload[:cut % len(payload)])


@SETTINGS
@given(chunks=st.lists(st.integers(1, 25), min_size=1, max_size=30), seed=st.integers(0, 99))
def test_witmotion_stream_reassembles_any_split(chunks: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    acc = rng.uniform(-2, 2, (8, 3))
    stream = b"".join(fb.enc_witmotion(a[None]) for a in acc)
    p = get_profile("witmotion")
    got, i = [], 0
    for c in chunks * 20:
        if i >= len(stream):
            break
        part = stream[i:i + c]
        i += c
        try:
            got.append(p.decode(part).acc)
        except DecodeError:
            pass
    out = np.concatenate(got) if got else np.zeros((0, 3))
    # whole frames come out in order; any frame split at a notification that itself starts
    # with 55 61 may be dropped, never garbled
    for row in out:
        assert np.min(np.abs(acc - row).max(axis=1)) < 16 / 32768
