"""Programs, their timelines and prompts, the progression, and the config."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from coach.coaching import phrases as say
from coach.coaching.config import CoachConfig, ProgramSpec, config_from_dict, load_coach_config
from coach.coaching.engine import Coach, prompts_for
from coach.coaching.programs import build_program, plan_progression
from coach.errors import CoachError
from coach.simulate.coaching import Seg, simulate


def _contiguous(prog) -> None:
    for a, b in zip(prog.intervals, prog.intervals[1:]):
        assert a.end_s == pytest.approx(b.start_s)
        assert a.direction != b.direction


def test_classic_timeline() -> None:
    p = build_program(CoachConfig().program("classic"))
    _contiguous(p)
    assert p.intervals[0].label == "warm-up" and p.intervals[0].duration_s == 300
    assert p.total_s == pytest.approx(1800)
    bwd = [iv for iv in p.intervals if iv.direction == "backward"]
    fwd = [iv for iv in p.intervals[1:-1] if iv.direction == "forward"]
    assert all(iv.duration_s == 60 for iv in bwd) and all(iv.duration_s == 180 for iv in fwd)
    assert len(bwd) == 6 and p.backward_target_s == 360
    assert p.intervals[-1].label == "cool-down" and p.intervals[-1].direction == "forward"
    cur, nxt = p.current(301), p.next(301)
    assert cur is not None and nxt is not None
    assert cur.label == "backward 1" and nxt.label == "forward 1"


def test_programs_from_config(tmp_path: Path) -> None:
    f = tmp_path / "config.toml"
    f.write_text("""
[coach]
program = "short"
[programs.short]
kind = "intervals"
warmup_s = 60
forward_s = 120
backward_s = 30
total_s = 600
[programs.classic]
backward_s = 90
""")
    cfg = load_coach_config(f)
    p = build_program(cfg.program())
    _contiguous(p)
    assert p.name == "short" and p.total_s == pytest.approx(600)
    assert [iv.duration_s for iv in p.intervals[:3]] == [60, 30, 120]
    # overriding one key of a built-in keeps the others
    c = cfg.program("classic")
    assert c.backward_s == 90 and c.forward_s == 180 and c.warmup_s == 300
    assert set(cfg.programs) >= {"classic", "progression", "free", "treadmill", "short"}


def test_free_and_treadmill() -> None:
    cfg = CoachConfig()
    assert build_program(cfg.program("free")).intervals == []
    t = build_program(cfg.program("treadmill"))
    assert t.treadmill and t.intervals[0].label == "warm-up"
    ps = prompts_for(simulate([Seg("forward", 20)]), "treadmill", cfg, first_run=False)
    assert any("Hold the handrails" in p.text and "slowest speed" in p.text for p in ps)


@pytest.mark.parametrize("data, msg", [
    ({"safety": {"look_back_every_s": "often"}}, "look_back_every_s must be float"),
    ({"speech": {"min_gap_s": 1.0}}, "min_gap_s must be at least 1.5"),
    ({"coach": {"program": "nope"}}, "unknown program 'nope'"),
    ({"programs": {"x": {"kind": "zigzag"}}}, "kind must be"),
    ({"programs": {"x": {"backward_s": -1}}}, "backward_s must be at least 0"),
    ({"coach": {"cues": 1}}, "cues must be bool"),
])
def test_config_errors(data: dict, msg: str) -> None:
    with pytest.raises(CoachError, match=msg):
        config_from_dict(data)


def test_config_defaults_and_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text("[safety]\nlook_back_every_s = 6\n")
    cfg = load_coach_config(None)                   # ./config.toml is never read: defaults
    assert cfg.safety.look_back_every_s == 15 and cfg.speech.min_gap_s == 1.5
    assert cfg.coach.program == "classic"
    xdg = tmp_path / "xdg"
    (xdg / "retro-coach").mkdir(parents=True)
    (xdg / "retro-coach" / "config.toml").write_text("[safety]\nlook_back_every_s = 6\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    assert load_coach_config(None).safety.look_back_every_s == 6.0
    monkeypatch.setenv("COACH_CONFIG", str(tmp_path / "config.toml"))   # $COACH_CONFIG first
    (tmp_path / "config.toml").write_text("[safety]\nlook_back_every_s = 7\n")
    assert load_coach_config(None).safety.look_back_every_s == 7.0
    assert load_coach_config(xdg / "retro-coach" / "config.toml").safety.look_back_every_s == 6.0
    with pytest.raises(CoachError, match="not found"):
        load_coach_config(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[safety\n")
    with pytest.raises(CoachError, match="bad.toml"):
        load_coach_config(tmp_path / "bad.toml")


# ------------------------------------------------------------------ progression

SPEC = ProgramSpec("progression", "progression")
TODAY = dt.date(2026, 11, 22)


def _s(days_ago: int, retro_min: float, completed: bool = True, stumbles: int = 0,
       cadence_held: bool = True, falls: int = 0) -> dict:
    return {"date": (TODAY - dt.timedelta(days=days_ago)).isoformat(), "retro_seconds": retro_min * 60,
            "completed": completed, "stumbles": stumbles, "cadence_held": cadence_held, "falls": falls}


def test_progression_starts_at_five_minutes() -> None:
    plan = plan_progression([], SPEC, TODAY)
    assert plan.backward_min == 5 and plan.level == 0 and not plan.rest_advised


def test_progression_advances_only_when_comfortable() -> None:
    two_good = [_s(5, 5), _s(3, 5)]
    assert plan_progression(two_good, SPEC, TODAY).backward_min == 7.5
    assert plan_progression(two_good, SPEC, TODAY).advanced
    assert plan_progression([_s(5, 5), _s(3, 5, stumbles=1)], SPEC, TODAY).backward_min == 5
    assert plan_progression([_s(5, 5), _s(3, 5, cadence_held=False)], SPEC, TODAY).backward_min == 5
    assert plan_progression([_s(5, 5), _s(3, 5, completed=False)], SPEC, TODAY).backward_min == 5
    assert plan_progression([_s(5, 5), _s(3, 3)], SPEC, TODAY).backward_min == 5   # too short


def test_progression_steps_back_after_fall_or_two_bad_sessions() -> None:
    good = [_s(20 - 2 * i, 5 + 2.5 * (i // 2)) for i in range(4)]     # reaches 10 min
    assert plan_progression(good, SPEC, TODAY).backward_min == 10
    assert plan_progression(good + [_s(3, 10, falls=1)], SPEC, TODAY).backward_min == 7.5
    bad = good + [_s(5, 10, stumbles=1), _s(3, 10, stumbles=2)]
    assert plan_progression(bad, SPEC, TODAY).backward_min == 7.5


def test_progression_reaches_and_holds_the_top() -> None:
    hist, level_min = [], 5.0
    for i in range(40):
        hist.append(_s(100 - 2 * i, level_min))
        level_min = plan_progression(hist, SPEC, TODAY - dt.timedelta(days=98 - 2 * i)).backward_min
    assert level_min == SPEC.max_backward_min == 25
    prog = build_program(SPEC, hist, TODAY - dt.timedelta(days=20))
    assert prog.backward_target_s == pytest.approx(25 * 60)
    assert max(iv.duration_s for iv in prog.intervals if iv.direction == "backward") <= SPEC.max_bout_s
    _contiguous(prog)


def test_progression_steps_back_after_a_long_break() -> None:
    good = [_s(40 - 2 * i, 5 + 2.5 * (i // 2)) for i in range(4)]       # reaches 10 min
    assert plan_progression(good, SPEC, TODAY - dt.timedelta(days=31)).backward_min == 10
    plan = plan_progression(good, SPEC, TODAY)                            # 34 days since
    assert plan.backward_min == 7.5 and plan.change == "back" and "days" in plan.reason
    # a break between sessions steps back too, then the walker builds up again
    gap = [_s(60, 5), _s(58, 5), _s(4, 7.5)]
    assert plan_progression(gap, SPEC, TODAY).backward_min == 5
    assert build_program(SPEC, good, TODAY).standing == "step two of nine, one back"
    assert build_program(SPEC, good[:2], TODAY - dt.timedelta(days=36)).standing == "step two of nine, one up"


def test_walks_without_the_coach_count_for_rest_and_breaks_only() -> None:
    uncoached = {**_s(2, 1, completed=False), "coached": False}
    two_good = [_s(6, 5), _s(4, 5)]
    assert plan_progression(two_good + [uncoached, uncoached], SPEC, TODAY).backward_min == 7.5
    after_break = plan_progression([_s(40, 5), _s(38, 5), uncoached], SPEC, TODAY)
    assert after_break.backward_min == 5 and after_break.change == "back"


def test_progression_rest_days() -> None:
    assert plan_progression([_s(0, 5)], SPEC, TODAY).rest_advised            # walked today
    three = [_s(5, 5), _s(3, 5), _s(1, 5)]
    assert plan_progression(three, SPEC, TODAY).rest_advised                  # 3 this week
    assert not plan_progression([_s(4, 5), _s(2, 5)], SPEC, TODAY).rest_advised


def test_progression_program_size() -> None:
    prog = build_program(SPEC, [], TODAY)
    assert prog.kind == "progression" and prog.backward_target_s == pytest.approx(300)


# ------------------------------------------------------------------ interval prompts


def _classic_session(turns: bool = True) -> list:
    cfg = config_from_dict({"programs": {"classic": {"warmup_s": 60, "forward_s": 60,
                                                     "backward_s": 40, "total_s": 260}}})
    back = "backward" if turns else "forward"
    script = [Seg("forward", 61), Seg(back, 40), Seg("forward", 60), Seg("backward", 40), Seg("forward", 70)]
    return prompts_for(simulate(script), "classic", cfg, first_run=False)


def test_interval_prompts_ahead_of_and_at_each_switch() -> None:
    ps = _classic_session()
    warn = [p for p in ps if p.text == "Turn around in ten seconds"]
    assert [round(p.t_s) for p in warn] == [50, 90, 150, 190]
    assert all(p.kind == "interval" for p in warn)
    at = [p.t_s for p in ps if p.text == "40 seconds backward"]
    assert at == [pytest.approx(60, abs=0.3), pytest.approx(160, abs=0.3)]
    assert any(p.text == "One minute forward" and abs(p.t_s - 100) < 2 for p in ps)
    assert any(p.text.startswith("Cool-down") for p in ps)
    assert any(p.text == "Program complete. Well done." for p in ps)
    assert any(p.kind == "info" and "backward" in p.text and "retro steps" in p.text for p in ps)
    assert ps[-1].text.startswith("Session done")
    assert not any(p.text.startswith("Still walking forward") for p in ps)


def test_compliance_prompt_when_the_wearer_does_not_turn() -> None:
    ps = _classic_session(turns=False)
    still = [p for p in ps if p.text == "Still walking forward: turn around when ready"]
    assert len(still) == 1 and 80 <= still[0].t_s <= 95


def test_progress_prompt_after_each_new_minute() -> None:
    script = [Seg("forward", 20), Seg("backward", 65), Seg("forward", 20), Seg("backward", 30),
              Seg("forward", 20), Seg("backward", 40), Seg("forward", 20)]
    ps = prompts_for(simulate(script), "free", first_run=False)
    prog = [p for p in ps if p.key == "progress"]
    assert [p.text.split(",")[0] for p in prog] == ["So far: one minute backward", "So far: two minutes backward"]
    assert prog[0].t_s == pytest.approx(20 + 65 + 5, abs=0.5)   # progress_delay_s after the bout


def test_summary_for_the_store() -> None:
    c = Coach("free", first_run=False)
    for b, s, e in simulate([Seg("forward", 20), Seg("backward", 30), Seg("forward", 10)]):
        c.update(s, e, b)
    c.finish()
    summary = c.summary()
    assert summary["completed"] and summary["stumbles"] == 0 and summary["falls"] == 0 and summary["cadence_held"]
    assert 25 < summary["retro_seconds"] < 35 and summary["program"] == "free"
    assert c.prompts[-1].text.startswith("Session done: ")
    assert c.finish() == []     # once


def test_repo_config_is_the_defaults() -> None:
    import tomllib

    text = (Path(__file__).resolve().parents[1] / "config.toml").read_text()
    cfg = config_from_dict(tomllib.loads(text))
    default = CoachConfig()
    assert cfg.coach == default.coach and cfg.safety == default.safety and cfg.speech == default.speech
    for name in ("classic", "progression", "free", "treadmill"):
        a, b = cfg.program(name), default.program(name)
        assert build_program(a).intervals == build_program(b).intervals, name


def test_progression_session_says_rest_when_advised() -> None:
    today = dt.date.today()
    hist = [{"date": today.isoformat(), "retro_seconds": 300, "completed": True, "stumbles": 0,
             "cadence_held": True}]
    ps = prompts_for(simulate([Seg("forward", 30)]), "progression", history=hist)
    assert any(p.key == "intro" and p.text.endswith(say.REST) for p in ps)
    ps = prompts_for(simulate([Seg("forward", 30)]), "progression", history=[])
    assert not any(say.REST in p.text for p in ps)
    assert any(p.text.startswith("Progression, step one of nine: five minutes backward today") for p in ps)


def test_an_interval_walked_in_full_is_done_in_full_despite_the_detectors_delay() -> None:
    # the detector reports a direction 2 s after it began, dated back to its start: the
    # intervals' done time counts from that start, not from the report
    cfg = config_from_dict({"programs": {"classic": {"warmup_s": 60, "forward_s": 60,
                                                     "backward_s": 40, "total_s": 260}}})
    c = Coach("classic", cfg, first_run=False)
    script = [Seg("forward", 60), Seg("backward", 40), Seg("forward", 60), Seg("backward", 40), Seg("forward", 60)]
    for b, s, e in simulate(script, latency_s=2.0):
        c.update(s, e, b)
    c.finish()
    assert [(r["direction"], r["status"]) for r in c.intervals_done] == [
        ("forward", "done"), ("backward", "done"), ("forward", "done"), ("backward", "done"), ("forward", "done")]
    assert all(r["done_s"] >= r["planned_s"] - 0.3 for r in c.intervals_done), c.intervals_done
