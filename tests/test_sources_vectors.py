"""Each profile decodes its vendor's published vectors exactly.

Sources of the vectors are cited per test; where a vendor publishes a layout but no test
vector, the vector is built byte by byte from the cited layout (and says so).
"""
from __future__ import annotations

import struct

import numpy as np
import pytest

from coach.sources.profiles import DecodeError, get_profile
from coach.sources.profiles.polar import (
    PolarAccDecoder,
    acc_start_request,
    parse_cp_response,
    parse_delta_frames,
    parse_settings,
)
from coach.sources.profiles.witmotion import WitMotion

H = bytes.fromhex

# --- Polar PMD ---------------------------------------------------------------------------
# polarofficial/polar-ble-sdk, sources/Android/android-communications/library/src/test/java/
# com/polar/androidcommunications/api/ble/model/gatt/client/pmd/model/AccDataTest.kt
RAW1_HEADER = H("02 0094357700000000 01")
RAW1_BODY = H(
    "F7FFFFFFE703 F8FFFEFFE503 F9FFFFFFE503 FAFFFFFFE603 FAFFFEFFE603 F9FFFFFFE503"
    "F8FFFFFFE603 F8FFFEFFE603 FAFFFFFFE503 FAFFFFFFE703 FAFFFFFFE503 F8FFFFFFE603"
    "F7FFFFFFE603 F8FFFEFFE603 F9FFFEFFE703 F9FF0000E603 F9FFFFFFE603 F7FFFEFFE503"
    "F9FFFFFFE503 F9FFFFFFE503 FAFF0000E603 F9FFFEFFE603 F8FFFFFFE603 F8FFFFFFE503"
    "F9FFFFFFE603 F9FFFFFFE503 FAFFFFFFE603 F9FFFFFFE503 F9FFFFFFE503 F8FFFEFFE603"
    "F9FFFFFFE603 F9FFFFFFE603 F9FF0000E503 F9FFFEFFE603 F8FFFEFFE603 F7FFFEFFE603")

COMP0_HEADER = H("02 0094357700000000 80")
COMP0_BODY = H(
    "71 07 F0 6A 9E 8D 0A 38 BE 5C BE BA 2F 96 B3 EE 4B E5 AD FB 42 B9 EB BE 4C FE BA 2F 92 BF "
    "EE 4B E4 B1 FB 12 B9 EC BD 3C 3E BB 2F 8F D3 DE 4B E3 B5 F7 D2 B8 ED BD 30 7E 7B 2F 8B E3 "
    "CE 8B E2 BA F7 A2 B8 EE BC 20 BE 7B 2F 88 F3 CE CB E1 BD EF 52 F8 EF BC 18 FE 3B 2F 84 03 "
    "BF CB E0 C2 EF 32 B8 F0 BB 04 4E BC 2E 81 13 AF 0B E0 C6 EF F2 F7 F1 B9 FC 7D BC 2E 7D 27 "
    "9F 4B DF CA EB C2 F7 F2 B8 EC CD 7C 2E 7B 37 8F 4B DE CE E3 92 F7 F3 B8 E0 0D FD 2D 77 4B "
    "7F CB DD D2 DF 62 37 F5 B7 D4 4D BD 2D 74 5B 6F CB DC D7 D7 32 37 F6 B5 C8 8D 7D 2D 71 6B "
    "4F 4B DC DC D3 F2 36 F7 B4 BC DD FD 2C 6F 7B 3F 4B DB E0 CF D2 36 F8 B2 B0 2D BE 2C 6C 8F "
    "1F CB DA E3 C7 A2 76 F9")

COMP1 = H("02 6500000000000000 81") + H("F1FF 1400 F003 06 01 7B 0F 08")


def test_polar_raw_type1_vendor_vector() -> None:
    dec = PolarAccDecoder(rate_hz=52)
    fr = dec.decode(RAW1_HEADER + RAW1_BODY)
    assert len(fr) == len(RAW1_BODY) // 6 == 36
    # expected values (mg) from AccDataTest "process acc raw data frame type 1"
    assert np.array_equal(np.rint(fr.acc[0] * 1000), [-9, -1, 999])
    assert np.array_equal(np.rint(fr.acc[1] * 1000), [-8, -2, 997])
    assert fr.t_sensor is not None
    assert fr.t_sensor[-1] == pytest.approx(2.0)        # timestamp 2000000000 ns = last sample
    assert np.allclose(np.diff(fr.t_sensor), 1 / 52)


def test_polar_compressed_type0_vendor_vector() -> None:
    # AccDataTest "process acc compressed data type 0": factor 2.44e-4, 1 + 56 samples.
    dec = PolarAccDecoder(rate_hz=52, factor=2.44e-4)
    fr = dec.decode(COMP0_HEADER + COMP0_BODY)
    assert len(fr) == 57
    s0 = np.array([1905, 27376, -29282])
    s1 = s0 + [190, -105, -85]
    # the SDK truncates factor*value*1000 to int mg; compare at that resolution
    assert np.array_equal(np.trunc(fr.acc[0] * 1000), np.trunc(np.float32(2.44e-4) * s0 * 1000))
    assert np.array_equal(np.trunc(fr.acc[1] * 1000), np.trunc(np.float32(2.44e-4) * s1 * 1000))
    assert np.all(np.abs(fr.acc) <= 8)
    raw = np.rint(fr.acc / 2.44e-4).astype(int)
    assert list(raw[0]) == list(s0) and list(raw[1]) == list(s1)


def test_polar_compressed_type1_vendor_vector() -> None:
    # AccDataTest "process acc compressed data type 1": reference (-15, 20, 1008) mg,
    # one 6-bit delta sample (-5, -3, 0).
    fr = PolarAccDecoder(rate_hz=52).decode(COMP1)
    assert np.array_equal(np.rint(fr.acc * 1000), [[-15, 20, 1008], [-20, 17, 1008]])


def test_polar_delta_decoder_ios_vector() -> None:
    # polarofficial/polar-ble-sdk, sources/iOS/ios-communications/Tests/iOSCommunicationsTests/
    # iOSCommunicationsTests.swift, testPmdDeltaFrameDecoder (resolution 14, two blocks).
    data = bytes([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x03, 0x03, 0xAA, 0xAA, 0xCC, 0xCF,
                  0x03, 0x02, 0xAA, 0xAA, 0xCC])
    assert parse_delta_frames(data, 3, 14) == [
        [-1, -1, -1], [1, -4, 1], [-2, -2, 2], [1, -4, 1], [3, -7, 3], [0, -5, 4]]


def test_polar_control_point() -> None:
    # ACC start request as the SDK builds it (PmdSetting.serializeSelected): 52 Hz, 16 bit, 8 g.
    assert acc_start_request(52, 16, 8) == H("02 02 00 01 34 00 01 01 10 00 02 01 08 00")
    # A get-settings response (PmdControlPointResponse layout): F0 op type status more params.
    r = parse_cp_response(H("F0 01 02 00 00 00 04 19 00 32 00 64 00 C8 00 01 01 10 00 02 03 02 00 04 00 08 00"))
    assert r.ok and r.op == 1 and r.measurement == 2
    assert parse_settings(r.params) == {0: [25, 50, 100, 200], 1: [16], 2: [2, 4, 8]}
    bad = parse_cp_response(H("F0 02 02 0D"))
    assert not bad.ok and bad.status == 13
    f = parse_settings(struct.pack("<BBf", 5, 1, 2.44e-4))
    assert f[5][0] == pytest.approx(2.44e-4)


def test_polar_refuses_ecg_and_junk() -> None:
    dec = PolarAccDecoder()
    with pytest.raises(DecodeError, match="ECG"):
        dec.decode(H("00 0094357700000000 00") + bytes(9))
    with pytest.raises(DecodeError, match="multiple of 6"):
        dec.decode(RAW1_HEADER + RAW1_BODY[:-1])
    with pytest.raises(DecodeError, match="truncated"):
        dec.decode(COMP0_HEADER + COMP0_BODY[:-3])


# --- Movesense ---------------------------------------------------------------------------
def test_movesense_gsp_acc() -> None:
    # Built from the GSP layout (movesense-device-lib samples/gatt_sensordata_app/
    # GATTSensorDataClient.cpp: [2, ref, SBEM]) and /Meas/Acc (u32 ms timestamp of the first
    # sample + float32 x,y,z in m/s^2).
    payload = bytes([2, 99]) + struct.pack("<I", 123456) + struct.pack(
        "<6f", 0.0, 0.0, 9.80665, 4.903325, -9.80665, 0.0)
    p = get_profile("movesense", {"rate": 52})
    fr = p.decode(payload)
    assert np.allclose(fr.acc, [[0.0, 0.0, 1.0], [0.5, -1.0, 0.0]], atol=1e-6)
    assert fr.t_sensor is not None
    assert np.allclose(fr.t_sensor, [123.456, 123.456 + 1 / 52])
    assert len(p.decode(bytes([1, 99, 0xC8, 0x00]))) == 0           # 200: subscribed
    with pytest.raises(DecodeError, match="status 404"):
        p.decode(bytes([1, 99, 0x94, 0x01]))
    with pytest.raises(DecodeError, match="multiple of 12"):
        p.decode(payload[:-1])


# --- micro:bit ---------------------------------------------------------------------------
def test_microbit_accelerometer_data() -> None:
    # micro:bit Accelerometer Data (lancaster-university/microbit-dal docs/ble/
    # accelerometer-service.md): x, y, z int16 LE in milli-g.
    p = get_profile("microbit")
    fr = p.decode(H("e8 03 18 fc 00 00"))     # 1000, -1000, 0 mg
    assert np.array_equal(fr.acc, [[1.0, -1.0, 0.0]]) and fr.t_sensor is None
    with pytest.raises(DecodeError, match="6 bytes"):
        p.decode(H("e8 03 18 fc 00 00 00"))


# --- Thingy:52 ---------------------------------------------------------------------------
def test_thingy52_raw_q6_10() -> None:
    # NordicSemiconductor/Nordic-Thingy52-FW include/ble_services/ble_tms.h ble_tms_raw_t;
    # m_motion.c RAW_Q_FORMAT_ACC_INTEGER_BITS 6 -> Q6.10: 0x0400 = 1 g.
    payload = struct.pack("<9h", 1024, -512, 256, 10, 20, 30, 1, 2, 3)
    fr = get_profile("thingy52").decode(payload)
    assert np.array_equal(fr.acc, [[1.0, -0.5, 0.25]])
    with pytest.raises(DecodeError, match="18"):
        get_profile("thingy52").decode(payload[:17])


# --- WitMotion ---------------------------------------------------------------------------
WIT = H("55 61 00 08 00 F8 00 04 00 00 00 00 00 00 00 00 00 00 00 00")


def test_witmotion_frames() -> None:
    # WITMOTION/WitBluetooth_BWT901BLE5_0 Python SDK device_model.py processData:
    # acc = int16 / 32768 * 16 g. 0x0800 = 2048 -> 1 g; 0xF800 -> -1 g; 0x0400 -> 0.5 g.
    p = get_profile("witmotion")
    assert np.array_equal(p.decode(WIT).acc, [[1.0, -1.0, 0.5]])
    # split across notifications and with leading junk: the stream decoder resynchronises
    p.reset()
    assert len(p.decode(b"\x00\x11" + WIT[:7])) == 0
    assert np.array_equal(p.decode(WIT[7:] + WIT).acc, [[1, -1, 0.5], [1, -1, 0.5]])
    assert isinstance(p, WitMotion)
    with pytest.raises(DecodeError, match="55 61"):
        p.decode_one(H("55 51") + WIT[2:])


# --- generic -----------------------------------------------------------------------------
def test_generic_default_is_diy_layout(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    p = get_profile("generic")
    payload = struct.pack("<HI", 7, 5000) + struct.pack("<6h", 0, 0, 1000, 500, -250, 1000)
    fr = p.decode(payload)
    assert fr.seq == 7 and fr.seq_modulo == 65536
    assert np.allclose(fr.acc, [[0.0, 0.0, 1.0], [0.5, -0.25, 1.0]])
    assert fr.t_sensor is not None
    assert np.allclose(fr.t_sensor, [5.0, 5.0 + 1 / 52])


def test_generic_from_config(tmp_path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[sources.generic]\nheader = ""\nseq_field = -1\ntime_field = -1\n'
                   'sample = "<fff"\nscale = 1.0\nrate_hz = 25\n')
    p = get_profile("generic", {"config": str(cfg)})
    fr = p.decode(struct.pack("<3f", 0.1, 0.2, 0.98))
    assert np.allclose(fr.acc, [[0.1, 0.2, 0.98]]) and fr.t_sensor is None and p.rate_hz == 25
    cfg.write_text('[sources.generic]\nbogus = 1\n')
    with pytest.raises(Exception, match="unknown key 'bogus'"):
        get_profile("generic", {"config": str(cfg)})
