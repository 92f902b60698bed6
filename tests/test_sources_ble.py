"""The BLE source against the bleak double: every profile streams, drops reconnect, junk and
duplicates are counted and skipped, and nothing is lost or repeated outside a real gap."""
from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from coach.errors import CoachError
from coach.simulate.ble import MODELS, FakeDevice, FakeWorld
from coach.sources.ble import BleSource, scan

START = 1000.0   # the virtual clock's start


def walk(n: int, rate: float, seed: int = 0) -> np.ndarray:
    """A gravity-plus-bounce signal with noise, in g."""
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    return np.c_[0.2 * np.sin(2 * np.pi * 1.8 * t), 0.1 * np.cos(2 * np.pi * 0.9 * t),
                 1 + 0.3 * np.sin(2 * np.pi * 1.8 * t + 1)] + rng.normal(0, 0.01, (n, 3))


def run(dev: FakeDevice, *devs: FakeDevice, **kw) -> tuple[list, BleSource, list[str]]:
    world = FakeWorld([dev, *devs])
    notices: list[str] = []
    src = BleSource(kw.pop("device", dev.name), backend=world.backend(), notify=notices.append, **kw)

    async def go() -> list:
        return [b async for b in src.stream()]

    return asyncio.run(go()), src, notices


def cat(batches: list) -> tuple[np.ndarray, np.ndarray]:
    return (np.concatenate([b.t for b in batches]), np.concatenate([b.acc for b in batches]))


RESOLUTION = {"polar_h10": 1e-3, "polar_verity": 2.5e-4, "movesense": 1e-6, "microbit": 1e-3,
              "thingy52": 1 / 1024, "witmotion": 16 / 32768, "generic": 1e-3}


@pytest.mark.parametrize("profile", list(MODELS))
def test_every_profile_streams_everything_once(profile: str) -> None:
    rate = MODELS[profile].rate_hz
    n = int(rate * 40)
    dev = FakeDevice(profile, walk(n, rate))
    batches, src, notices = run(dev)
    t, acc = cat(batches)
    per = MODELS[profile].per_packet
    assert len(t) == n - n % per                          # all whole packets, once
    assert np.all(np.diff(t) > 0)
    assert np.allclose(acc, dev.acc[:len(t)], atol=RESOLUTION[profile] * 0.51 + 1e-9)
    assert not any(b.gap_before for b in batches)
    st = src.stats
    assert st.lost_samples == st.dup_samples == st.decode_errors == st.reconnects == 0
    # stream time follows the host clock: 40 s of data lasts 40 s
    assert t[-1] - t[0] == pytest.approx((len(t) - 1) / rate, abs=0.15)
    assert "ending the session" in notices[-1]            # the double switched off at the end


@pytest.mark.parametrize("profile", ["polar_h10", "movesense", "microbit", "generic"])
def test_drop_reconnects_and_marks_the_gap(profile: str) -> None:
    rate = MODELS[profile].rate_hz
    n = int(rate * 60)
    dev = FakeDevice(profile, walk(n, rate), drops=[(START + 25.0, 4.0)])
    batches, src, notices = run(dev)
    t, acc = cat(batches)
    assert np.all(np.diff(t) > 0)                                  # no overlap, ever
    gaps = [i for i, b in enumerate(batches) if b.gap_before]
    assert len(gaps) == 1
    i = gaps[0]
    before, after = batches[i - 1].t[-1], batches[i].t[0]
    st = src.stats
    assert st.reconnects == 1
    # the gap in stream time is the real outage, and the samples in it are counted as lost
    true_gap = st.lost_samples / rate
    assert after - before == pytest.approx(true_gap + 1 / rate, abs=0.12)
    assert 4.0 <= true_gap <= 10.0
    assert len(t) + st.lost_samples == pytest.approx(n, abs=2 * MODELS[profile].per_packet)
    # the wearer was told, and the first batch after the gap carries the notice
    assert any("lost" in m for m in notices) and any("back after" in m for m in notices)
    assert "back after" in batches[i].meta.get("notice", "")
    # samples after the gap are the device's samples at that time (nothing shifted)
    k = int(round(after * rate))
    assert np.allclose(batches[i].acc[0], dev.acc[k], atol=RESOLUTION[profile] + 1e-6) or \
        np.allclose(batches[i].acc[0], dev.acc[k - 1], atol=RESOLUTION[profile] + 1e-6) or \
        np.allclose(batches[i].acc[0], dev.acc[k + 1], atol=RESOLUTION[profile] + 1e-6)


@pytest.mark.parametrize("profile", ["polar_h10", "polar_verity", "movesense", "generic"])
def test_duplicates_and_junk_are_counted_and_skipped(profile: str) -> None:
    rate = MODELS[profile].rate_hz
    per = MODELS[profile].per_packet
    n = per * 120
    dev = FakeDevice(profile, walk(n, rate), dup_every=10, junk_every=7)
    batches, src, _ = run(dev)
    t, acc = cat(batches)
    assert len(t) == n and np.all(np.diff(t) > 0)
    assert np.allclose(acc, dev.acc, atol=RESOLUTION[profile] * 0.51 + 1e-9)
    st = src.stats
    assert st.dup_packets >= 12 and st.lost_samples == 0
    if profile != "polar_verity":     # a cut delta frame may still parse; its samples are dups
        assert st.decode_errors == 120 // 7


def test_radio_loss_counted_by_sequence_and_timestamps() -> None:
    dev = FakeDevice("generic", walk(2 * 600, 52), lose_every=50)
    batches, src, _ = run(dev)
    st = src.stats
    # every 50th packet is lost; the very last one (packet 599) cannot be noticed
    assert st.lost_packets == 600 // 50 - 1 and st.lost_samples == 2 * (600 // 50 - 1)
    assert not any(b.gap_before for b in batches)     # a lost packet is not a session gap
    dev = FakeDevice("polar_h10", walk(36 * 60, 50), lose_every=20)
    _, src, _ = run(dev)
    assert src.stats.lost_samples == 36 * 2 and src.stats.lost_packets == 2


def test_drift_is_measured_and_corrected() -> None:
    rate = 50.0
    dev = FakeDevice("polar_h10", walk(int(rate * 600), rate), drift_ppm=150.0)
    batches, src, _ = run(dev)
    t, _ = cat(batches)
    assert src.stats.drift_ppm == pytest.approx(150.0, abs=40)
    # stream time keeps to the host clock over 10 minutes (the sensor's own would be 90 ms off)
    true_last = (len(t) - 1) / rate / (1 + 150e-6)
    assert t[-1] - t[0] == pytest.approx(true_last, abs=0.03)


def test_connect_retries_with_backoff_then_gives_a_clear_error() -> None:
    dev = FakeDevice("movesense", walk(520, 52), connect_failures=2)
    batches, src, _ = run(dev)
    assert sum(len(b) for b in batches) == 520
    dev = FakeDevice("movesense", walk(520, 52), connect_failures=99)
    with pytest.raises(CoachError, match="could not connect .* after 4 attempts"):
        run(dev)


def test_unknown_and_unsupported_devices() -> None:
    dev = FakeDevice("movesense", walk(52, 52))
    with pytest.raises(CoachError, match="no device 'Polar H10 XYZ' found"):
        run(dev, device="Polar H10 XYZ", scan_timeout=2)
    odd = FakeDevice("microbit", walk(50, 50), name="Mystery Band", address="AA:BB")
    with pytest.raises(CoachError, match="no profile knows this device"):
        run(odd)
    # ... unless the user says which profile it speaks
    batches, _, _ = run(odd, profile="microbit")
    assert sum(len(b) for b in batches) == 50


def test_scan_lists_supported_devices() -> None:
    world = FakeWorld([FakeDevice("polar_h10", walk(10, 50), rssi=-70, address="A1"),
                       FakeDevice("witmotion", walk(10, 50), rssi=-50, address="A2"),
                       FakeDevice("microbit", walk(10, 50), name="Headphones", address="A3")])
    found = asyncio.run(scan(world.backend(), 2.0))
    assert [(f.name, f.profile) for f in found] == [("WT901BLE68", "witmotion"),
                                                    ("Polar H10 ABC123", "polar_h10")]
    every = asyncio.run(scan(world.backend(), 2.0, all_devices=True))
    assert len(every) == 3


def test_duration_stops_the_stream() -> None:
    dev = FakeDevice("polar_h10", walk(50 * 60, 50))
    batches, _, _ = run(dev, duration_s=10.0)
    t, _ = cat(batches)
    assert t[-1] <= 10.0 and t[-1] > 9.0


@pytest.mark.parametrize("ppm", [-20000, 0, 20000])
def test_untimed_devices_fit_their_real_rate_without_false_losses(ppm: float) -> None:
    # a micro:bit whose 20 ms period is really 2 % off, with 30 ms latency jitter
    dev = FakeDevice("microbit", walk(50 * 120, 50), drift_ppm=ppm, jitter_s=0.03)
    batches, src, _ = run(dev)
    t, _ = cat(batches)
    assert src.stats.lost_samples == 0 and not any(b.gap_before for b in batches)
    assert src.stats.drift_ppm == pytest.approx(ppm, abs=500)
    assert t[-1] - t[0] == pytest.approx((len(t) - 1) / 50 / (1 + ppm * 1e-6), abs=0.08)


def test_polar_rate_option_reaches_the_device() -> None:
    dev = FakeDevice("polar_h10", walk(200 * 20, 200))
    batches, src, _ = run(dev, options={"rate": 200})
    t, _ = cat(batches)
    assert np.median(np.diff(t)) == pytest.approx(1 / 200, rel=2e-3)
    assert len(t) == 200 * 20 - (200 * 20) % 36


def test_connector_hook_is_used_for_every_connection() -> None:
    """With bleak-retry-connector installed, connections go through establish_connection."""
    from coach.simulate.ble import FakeClient

    dev = FakeDevice("generic", walk(52 * 30, 52), drops=[(START + 10.0, 3.0)])
    world = FakeWorld([dev])
    backend = world.backend()
    calls: list[str] = []

    async def establish(device, name, on_disconnect):
        calls.append(name)
        client = FakeClient(world, device, disconnected_callback=on_disconnect)
        await client.connect()
        return client

    backend.establish = establish
    assert dev.name is not None
    src = BleSource(dev.name, backend=backend, notify=lambda m: None)

    async def go() -> int:
        return sum([len(b) async for b in src.stream()])

    assert asyncio.run(go()) > 52 * 20
    assert calls == [dev.name, dev.name] and src.stats.reconnects == 1


def test_request_stop_ends_cleanly_with_the_data_so_far() -> None:
    dev = FakeDevice("polar_h10", walk(50 * 120, 50))
    world = FakeWorld([dev])
    assert dev.name is not None
    src = BleSource(dev.name, backend=world.backend(), notify=lambda m: None)

    async def go() -> float:
        last = 0.0
        async for b in src.stream():
            last = float(b.t[-1])
            if last > 20:
                src.request_stop()
        return last

    last = asyncio.run(go())
    assert 20 < last < 30 and not world.connected[0].is_connected


def test_a_silent_sensor_is_reconnected() -> None:
    dev = FakeDevice("movesense", walk(52 * 40, 52), stalls=[START + 15.0])
    batches, src, notices = run(dev, stall_timeout=0.2)
    assert src.stats.reconnects == 1 and sum(b.gap_before for b in batches) == 1
    assert any("no data for 0.2 s" in m for m in notices)
    t, _ = cat(batches)
    assert np.all(np.diff(t) > 0) and t[-1] > 35


@pytest.mark.parametrize("profile", ["microbit", "polar_h10"])
def test_sample_spacing_stays_within_one_percent(profile: str) -> None:
    rate = MODELS[profile].rate_hz
    dev = FakeDevice(profile, walk(int(rate * 60), rate), jitter_s=0.05, latency_s=0.2)
    batches, _, _ = run(dev)
    t, _ = cat(batches)
    d = np.diff(t[t > 10.0]) * rate       # once the clock fit has settled
    assert d.min() > 0.985 and d.max() < 1.015, (d.min(), d.max())
    assert src_ok(batches)


def src_ok(batches: list) -> bool:
    return not any(b.gap_before for b in batches)


# Heart Rate Measurement (0x2A37) vectors, byte-exact, built by hand from the Bluetooth SIG
# Heart Rate Service spec (flags: bit0 uint16 value, bits1-2 contact, bit3 energy, bit4 RR).
HR_VECTORS = [
    # flags 0x16: uint8 value, contact supported+detected, RR present; 72 bpm, RR 0x0340 = 832/1024 s
    (bytes.fromhex("16 48 40 03"), 72, [812.5], True, None),
    # flags 0x10 (what the H10 sends with no contact bits): 64 bpm, two RR 0x03c0, 0x03d0
    (bytes.fromhex("10 40 c0 03 d0 03"), 64, [937.5, 953.1], None, None),
    # flags 0x01: uint16 value 0x008c = 140 bpm, nothing else
    (bytes.fromhex("01 8c 00"), 140, [], None, None),
    # flags 0x19: uint16 value 0x0100 = 256 bpm, energy 0x0010 = 16 kJ, RR 0x0400 = 1000 ms
    (bytes.fromhex("19 00 01 10 00 00 04"), 256, [1000.0], None, 16),
    # flags 0x04: contact supported but not detected, 0 bpm
    (bytes.fromhex("04 00"), 0, [], False, None),
]


@pytest.mark.parametrize(("data", "bpm", "rr", "contact", "energy"), HR_VECTORS)
def test_heart_rate_measurement_vectors(data, bpm, rr, contact, energy) -> None:
    from coach.sources.profiles.heart_rate import encode_heart_rate, parse_heart_rate
    hr = parse_heart_rate(data)
    assert (hr.bpm, hr.rr_ms, hr.contact, hr.energy_kj) == (bpm, rr, contact, energy)
    if contact is not None or not rr or bpm > 255:
        assert parse_heart_rate(encode_heart_rate(bpm, rr, contact, energy)) == hr


@pytest.mark.parametrize("bad", [b"", b"\x00", b"\x01\x48", b"\x10\x48\x40", b"\x08\x48\x01"])
def test_heart_rate_junk_is_a_decode_error(bad: bytes) -> None:
    from coach.sources.profiles.base import DecodeError
    from coach.sources.profiles.heart_rate import parse_heart_rate
    with pytest.raises(DecodeError):
        parse_heart_rate(bad)


@pytest.mark.parametrize("profile", ["polar_h10", "polar_verity"])
def test_polar_heart_rate_streams_beside_the_accelerometer(profile: str) -> None:
    rate = MODELS[profile].rate_hz
    packets = [v[0] for v in HR_VECTORS[:2]]
    dev = FakeDevice(profile, walk(int(rate * 30), rate), hr_packets=packets, drops=[(START + 12.0, 3.0)])
    seen: list[bool] = []
    batches, src, _ = run(dev, on_connection=seen.append)
    hr = [h for b in batches for h in b.meta.get("heart_rate", [])]
    assert src.heart_rate_available
    assert 20 <= len(hr) <= 30                          # about one a second, minus the drop
    assert {h["bpm"] for h in hr} == {72, 64}
    assert hr[0]["rr_ms"] in ([812.5], [937.5, 953.1])
    t = [h["t_s"] for h in hr]
    acc_t, _ = cat(batches)
    assert t == sorted(t) and acc_t[0] - 1.5 <= t[0] and t[-1] <= acc_t[-1] + 1.5   # stream time
    assert seen[:2] == [False, True]                    # the drop was told to outputs at once


def test_no_heart_rate_service_is_fine() -> None:
    dev = FakeDevice("polar_h10", walk(50 * 10, 50))
    batches, src, _ = run(dev)
    assert not src.heart_rate_available and not any("heart_rate" in b.meta for b in batches)


def test_heart_rate_from_the_strap_to_the_fit_and_tcx(tmp_path) -> None:
    """H10 over the bleak double -> live session in the store -> FIT records / TCX trackpoints."""
    import xml.etree.ElementTree as ET

    from coach.detect.session import run_session
    from coach.outputs.export import to_fit, to_tcx
    from coach.outputs.store import SessionStore
    from tests.outputs_broker import FakePipeline
    sdk = pytest.importorskip("garmin_fit_sdk")
    dev = FakeDevice("polar_h10", walk(50 * 20, 50), hr_packets=[bytes.fromhex("16 48 40 03")])
    world = FakeWorld([dev])
    assert dev.name is not None
    store = SessionStore(tmp_path / "s.db")
    obs = store.open_session({"kind": "run", "device": dev.name}, commit_interval_s=0.0)
    src = BleSource(dev.name, backend=world.backend(), notify=lambda _m: None)
    # FakePipeline is a duck-typed stand-in for the detector; run_session names the concrete class
    pipeline: Any = FakePipeline()
    asyncio.run(run_session(src, pipeline, [obs]))
    assert obs.session_id is not None
    s = store.session(obs.session_id)
    assert len(s["heart_rate"]) >= 15 and {h["bpm"] for h in s["heart_rate"]} == {72}
    assert s["heart_rate"][0]["rr_ms"] == [812.5]
    msgs, errors = sdk.Decoder(sdk.Stream.from_byte_array(bytearray(to_fit(s)))).read()
    assert errors == []
    assert sum(1 for r in msgs["record_mesgs"] if r.get("heart_rate") == 72) >= 15
    assert msgs["session_mesgs"][0]["avg_heart_rate"] == 72
    ns = {"t": "http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"}
    hr = ET.fromstring(to_tcx(s)).findall(".//t:Trackpoint/t:HeartRateBpm/t:Value", ns)
    assert len(hr) >= 15 and {v.text for v in hr} == {"72"}
    store.close()
