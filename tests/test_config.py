"""One config: one lookup rule, one loader, one rule for errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from coach import config
from coach.cli import main
from coach.coaching.config import load_coach_config
from coach.errors import CoachError
from coach.outputs.config import load_section

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


def test_lookup_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text("[mqtt]\nbase_topic = 'cwd'\n")
    assert config.config_path() is None                      # never the current directory
    xdg = tmp_path / "xdg" / "retro-coach"
    xdg.mkdir(parents=True)
    (xdg / "config.toml").write_text("[mqtt]\nbase_topic = 'xdg'\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert load_section("mqtt")["base_topic"] == "xdg"
    monkeypatch.setenv("COACH_CONFIG", str(write(tmp_path, "[mqtt]\nbase_topic = 'env'\n")))
    assert load_section("mqtt")["base_topic"] == "env"
    other = tmp_path / "o.toml"
    other.write_text("[mqtt]\nbase_topic = 'flag'\n")
    config.select(other)
    assert load_section("mqtt")["base_topic"] == "flag"


@pytest.mark.parametrize("text, message", [
    ("[nonsense]\nx = 1\n", r"unknown section \[nonsense\]"),
    ("[safety]\nlook_back_evry_s = 3\n", r"\[safety\] unknown key 'look_back_evry_s'"),
    ("[speech]\nmute = 'yes'\n", r"\[speech\] mute must be bool"),
    ("[mqtt]\nkeepalive = 'x'\n", r"\[mqtt\] keepalive must be int"),
    ("[store]\npth = '/x'\n", r"\[store\] unknown key 'pth'"),
    ("[safety\n", r"c\.toml"),
])
def test_one_rule_for_errors(tmp_path, monkeypatch, text, message):
    monkeypatch.setenv("COACH_CONFIG", str(write(tmp_path, text)))
    with pytest.raises(CoachError, match=message) as e:
        load_coach_config()
        load_section("mqtt")
        load_section("store")
    assert str(tmp_path / "c.toml") in str(e.value) and "\n" not in str(e.value)


def test_a_named_file_must_exist(tmp_path, monkeypatch):
    monkeypatch.setenv("COACH_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(CoachError, match="not found"):
        config.config_path()


def test_cli_reports_one_line(tmp_path, capsys):
    bad = write(tmp_path, "[coach]\nprogramme = 'free'\n")
    assert main(["say", "--config", str(bad), "--out", str(tmp_path / "x.wav"), "hello"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "programme" in err and str(bad) in err


def test_repo_config_is_the_defaults(monkeypatch):
    monkeypatch.setenv("COACH_CONFIG", str(ROOT / "config.toml"))
    from_file = load_coach_config()
    mqtt = load_section("mqtt")
    monkeypatch.delenv("COACH_CONFIG")
    assert from_file == load_coach_config()
    defaults = config.MqttConfig()
    assert all(getattr(defaults, k) == v for k, v in mqtt.items())


@pytest.mark.parametrize("text, message", [
    ("[safety]\nlook_back_every_s = nan\n", r"\[safety\] look_back_every_s must be a finite number"),
    ("[coach]\nwarn_before_s = inf\n", r"\[coach\] warn_before_s must be a finite number"),
    ("[safety]\nfall_impact_g = 'hard'\n", r"\[safety\] fall_impact_g must be float"),
    ("[mqtt]\nmax_buffer = 0\n", r"\[mqtt\] max_buffer must be at least 1"),
    ("[mqtt]\nurl = 5\n", r"\[mqtt\] url must be str"),
    ("[mqtt]\nkeepalive = -1\n", r"\[mqtt\] keepalive must be at least 0"),
    ("[store]\npath = 3\n", r"\[store\] path must be str"),
    ("[programs.long]\ntotal_s = 1e7\n", r"\[programs.long\] total_s must be at most 21600"),
    ("[programs.long]\ntotal_s = 1e12\n", r"\[programs.long\] total_s must be at most"),
    ("[speech]\nvolume = 50\n", r"\[speech\] volume must be at most 2"),
])
def test_values_are_range_checked(tmp_path, monkeypatch, text, message):
    monkeypatch.setenv("COACH_CONFIG", str(write(tmp_path, text)))
    with pytest.raises(CoachError, match=message) as e:
        load_coach_config()
        load_section("mqtt")
        load_section("store")
    assert str(tmp_path / "c.toml") in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("text, key", [
    ("[sources.generic]\nseq_bits = -3\n", "seq_bits"),
    ("[sources.generic]\nrate_hz = nan\n", "rate_hz"),
    ("[sources.generic]\ntime_scale = 'ms'\n", "time_scale"),
    ("[sources.generic]\nscale = 0\n", "scale"),
])
def test_generic_profile_ranges(tmp_path, monkeypatch, text, key):
    from coach.sources.profiles.generic import load_generic_config
    monkeypatch.setenv("COACH_CONFIG", str(write(tmp_path, text)))
    with pytest.raises(CoachError, match=rf"\[sources.generic\] {key}") as e:
        load_generic_config()
    assert str(tmp_path / "c.toml") in str(e.value)


def test_non_utf8_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "c.toml"
    bad.write_bytes(b"[coach]\nprogram = '\xff\xfe'\n")
    assert main(["say", "--config", str(bad), "--out", str(tmp_path / "x.wav"), "hello"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not UTF-8" in err and str(bad) in err


def test_cli_range_error_is_one_line(tmp_path, capsys):
    bad = write(tmp_path, "[programs.classic]\ntotal_s = 1e12\n")
    assert main(["demo", "--config", str(bad), "--fast", "--minutes", "0.2", "--no-save"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "total_s" in err and str(bad) in err


def test_top_level_config_reaches_every_command(tmp_path, capsys):
    bad = write(tmp_path, "[store]\npth = 'x'\n")
    assert main(["--config", str(bad), "history", "--json"]) == 2
    assert "pth" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["[coach]\nprogramm = 'free'\n", "[mqtt]\nurll = 'x'\n",
                                  "[sources.generic]\nrate = 5\n", "[programs.mine]\nkindd = 'free'\n"])
@pytest.mark.parametrize("command", [["history"], ["report", "--week"], ["devices"]])
def test_every_command_refuses_a_misspelt_key(tmp_path, monkeypatch, capsys, text, command):
    """Whatever the command, a config with a misspelt key is one line and exit 2 (history and
    the week report use [coach]'s weekly goal, and went on with a typo there)."""
    from coach.cli.main import main

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)                  # a week report that did run writes here
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    assert main(["--config", str(bad), *command]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown key" in err[0]
