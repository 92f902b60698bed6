"""Cues and every safety rule, on simulated sessions (stream time, no sleeps)."""
from __future__ import annotations

import asyncio

import pytest

from coach.coaching import phrases as say
from coach.coaching.config import CoachConfig, config_from_dict
from coach.coaching.engine import Alert, Coach, CoachObserver, prompts_for
from coach.coaching.speech import TextSpeaker
from coach.simulate.coaching import Seg, bouts, simulate


def _cfg(**safety: float) -> CoachConfig:
    return config_from_dict({"safety": safety})


def _gaps_ok(ps) -> None:
    for a, b in zip(ps, ps[1:]):
        assert b.t_s - a.t_s >= 1.5 - 1e-9, (a, b)


MIXED = [Seg("forward", 30), Seg("backward", 5), Seg("still", 2), Seg("backward", 12), Seg("forward", 8),
         Seg("backward", 25), Seg("other", 3), Seg("backward", 9.5), Seg("forward", 6),
         Seg("backward", 40), Seg("forward", 10), Seg("backward", 4.2), Seg("forward", 10)]


@pytest.mark.parametrize("program", ["free", "classic"])
@pytest.mark.parametrize("latency", [0.6, 1.0, 1.4])
def test_backward_cue_within_3s_of_every_bout(program: str, latency: float) -> None:
    ps = prompts_for(simulate(MIXED, latency_s=latency), program, _cfg(look_back_every_s=6))
    for start, _end in bouts(MIXED):
        assert any(p.kind == "cue" and p.text == "Backward" and start <= p.t_s <= start + 3 for p in ps), start
    for start, _end in bouts(MIXED, "forward")[1:]:
        assert any(p.text == "Forward" and start <= p.t_s <= start + 3 for p in ps), start
    _gaps_ok(ps)


@pytest.mark.parametrize("every", [6, 10, 15])
def test_look_back_reminder_in_every_long_bout(every: float) -> None:
    ps = prompts_for(simulate(MIXED), "free", _cfg(look_back_every_s=every))
    looks = [p for p in ps if p.text == "Look over your shoulder"]
    assert all(p.kind == "safety" for p in looks)
    for start, end in bouts(MIXED):
        inside = [p.t_s for p in looks if start <= p.t_s <= end]
        if end - start > every + 1.2:        # room for the reminder, spacing and the batch
            assert inside, (start, end)
            assert inside[0] == pytest.approx(start + every, abs=0.7)     # from the bout start
            expected = int((end - start - 0.2) // every)
            assert len(inside) in (expected, expected - 1) and len(inside) >= 1
        elif end - start < every:
            assert not inside
    # never outside a backward bout (the detector reports it up to its latency late)
    for p in looks:
        assert any(s <= p.t_s <= e + 1.2 for s, e in bouts(MIXED)), p


def test_look_back_not_lost_to_spacing() -> None:
    """A reminder that falls on a busy moment is shifted, not dropped."""
    cfg = config_from_dict({"safety": {"look_back_every_s": 6},
                            "programs": {"classic": {"warmup_s": 30, "forward_s": 20, "backward_s": 16,
                                                     "total_s": 200}}})
    script = [Seg("forward", 31), Seg("backward", 15), Seg("forward", 21), Seg("backward", 15), Seg("forward", 60)]
    ps = prompts_for(simulate(script), "classic", cfg, first_run=False)
    for start, _end in bouts(script):
        assert any(p.text == "Look over your shoulder" and start + 5.9 <= p.t_s <= start + 8 for p in ps)
    _gaps_ok(ps)


def test_slow_down_when_backward_cadence_is_over_the_limit() -> None:
    # forward cadence 110; limit = 110 * 0.5 / 0.45 = 122 spm
    fast = [Seg("forward", 20), Seg("backward", 70, cadence_spm=135), Seg("forward", 10)]
    ps = prompts_for(simulate(fast), "free", _cfg(), first_run=False)
    slow = [p for p in ps if p.text == "Slow down"]
    assert len(slow) == 2 and slow[0].kind == "safety"                    # repeated after 45 s
    assert 20 + 1 + 5 <= slow[0].t_s <= 20 + 1 + 8
    ok = [Seg("forward", 20), Seg("backward", 70, cadence_spm=100), Seg("forward", 10)]
    assert not any(p.text == "Slow down" for p in prompts_for(simulate(ok), "free", _cfg()))
    # an absolute limit overrides
    ps = prompts_for(simulate(ok), "free", _cfg(max_cadence_spm=90))
    assert any(p.text == "Slow down" for p in ps)


def test_cap_on_continuous_backward_time() -> None:
    script = [Seg("forward", 10), Seg("backward", 100), Seg("forward", 10)]
    ps = prompts_for(simulate(script), "free", _cfg(max_continuous_backward_s=40, cap_repeat_s=30),
                     first_run=False)
    caps = [p for p in ps if p.key == "cap"]
    assert [round(p.t_s) for p in caps] == [50, 80, 110]     # 110: the detector lags 1 s
    assert caps[0].text.startswith("40 seconds backward in a row")


def test_cap_on_backward_time_per_session() -> None:
    script = [Seg("forward", 10), Seg("backward", 40), Seg("forward", 10), Seg("backward", 30), Seg("forward", 10)]
    ps = prompts_for(simulate(script), "free", _cfg(max_session_backward_s=60), first_run=False)
    caps = [p for p in ps if p.key == "session_cap"]
    assert len(caps) == 1 and 60 + 20 <= caps[0].t_s <= 60 + 24


def test_stumble_check_in() -> None:
    script = [Seg("forward", 30), Seg("backward", 30, stumble_at_s=12), Seg("forward", 10)]
    c = Coach("free", first_run=False)
    for b, s, e in simulate(script):
        c.update(s, e, b)
    st = [p for p in c.prompts if p.key == "stumble"]
    assert len(st) == 1 and st[0].kind == "safety" and 42 <= st[0].t_s <= 44.5
    assert c.stumbles == 1 and c.summary()["stumbles"] == 1
    assert c.summary()["cadence_held"]


def test_no_stumble_or_fall_in_ordinary_walking() -> None:
    for seed in range(3):
        c = Coach("free", _cfg(look_back_every_s=6))
        for b, s, e in simulate(MIXED, seed=seed):
            c.update(s, e, b)
        assert c.stumbles == 0 and c.falls == 0 and not c.alerts
        assert not any(p.key in ("stumble", "fall", "slow_down") for p in c.prompts)


@pytest.mark.parametrize("alert_path", [True, False])
def test_fall_then_no_movement_raises_an_alert(alert_path: bool) -> None:
    script = [Seg("forward", 30), Seg("backward", 10), Seg("fall", 50)]
    published: list[dict] = []
    heard: list = []

    class Sink:
        is_alert_path = alert_path     # MQTT is; the store and the display are not

        def publish_prompt(self, d: dict) -> None:
            published.append({"prompt": d})

        async def publish_alert(self, d: dict) -> None:
            published.append({"alert": d})

    async def run() -> CoachObserver:
        ob = CoachObserver("free", _cfg(fall_alert_after_s=20), TextSpeaker(out=open("/dev/null", "w")),
                           first_run=False, sinks=[Sink()])
        ob.add_alert_listener(heard.append)
        for b, s, e in simulate(script):
            await ob.on_batch(b, s, e)
        await ob.on_end(None)
        return ob

    ob = asyncio.run(run())
    ok = [p for p in ob.prompts if p.text.startswith("Are you OK?")]
    assert len(ok) == 1 and ok[0].kind == "safety" and 40.5 + 3 <= ok[0].t_s <= 40.5 + 5
    # first aid: never tell a fallen person to get up; stay still if hurt
    assert "stand up" not in ok[0].text and "stay still" in ok[0].text
    assert len(ob.alerts) == 1 and ob.alerts[0].kind == "fall"
    assert ob.alerts[0].t_s == pytest.approx(ok[0].t_s + 20, abs=0.5)
    texts = [p.text for p in ob.prompts]
    assert not any("Sending" in t for t in texts)
    after = [p for p in ob.prompts if p.key == "fall_alert"]
    assert len(after) == 1 and after[0].t_s >= ob.alerts[0].t_s
    if alert_path:     # said only once the alert went out
        assert after[0].text == say.FALL_ALERT_SENT
    else:              # nothing was sent: what to do instead
        assert after[0].text == say.FALL_NO_ALERT and "alert" not in after[0].text.lower()
    assert heard == ob.alerts
    assert {"alert": ob.alerts[0].to_json()} in published
    assert sum("prompt" in x for x in published) == len(ob.prompts)
    # while down, nothing but safety is said
    down = [p for p in ob.prompts if ok[0].t_s < p.t_s < ob.alerts[0].t_s + 1]
    assert all(p.kind == "safety" for p in down)
    assert ob.coach.summary()["falls"] == 1


def test_alert_that_fails_to_send_is_not_said_as_sent() -> None:
    class Broken:
        is_alert_path = True

        def publish_alert(self, d: dict) -> None:
            raise OSError("broker down")

    c = CoachObserver("free", first_run=False, sinks=[Broken()])
    c.coach.alerts.append(Alert(1.0, "fall", "x"))
    asyncio.run(c._emit([], 0))
    assert c.coach.queue.pending[-1].text == say.FALL_NO_ALERT


@pytest.mark.parametrize("acknowledged", [True, False])
def test_alert_sent_is_said_only_once_the_broker_acknowledged_it(acknowledged: bool) -> None:
    class Mqtt:                       # as coach.outputs.mqtt.MqttPublisher
        is_alert_path = True

        def publish_alert(self, d: dict) -> None:
            pass

        async def alert_delivered(self, timeout_s: float) -> bool:
            await asyncio.sleep(0.05)
            return acknowledged

    async def run() -> CoachObserver:
        c = CoachObserver("free", first_run=False, sinks=[Mqtt()])
        c.coach.alerts.append(Alert(1.0, "fall", "x"))
        await c._emit([], 0)
        assert not c.coach.queue.has("fall_alert")     # not yet: nothing is confirmed
        await asyncio.wait(set(c._tasks))
        return c

    c = asyncio.run(run())
    text = c.coach.queue.pending[-1].text
    assert text == (say.FALL_ALERT_SENT if acknowledged else say.FALL_NO_ALERT)


def test_fall_then_movement_clears_it() -> None:
    script = [Seg("forward", 30), Seg("fall", 40, moves_after_s=12), Seg("forward", 10)]
    c = Coach("free", _cfg(fall_alert_after_s=20), first_run=False)
    for b, s, e in simulate(script):
        c.update(s, e, b)
    assert c.falls == 1 and not c.alerts
    assert any(p.text.startswith("You moved.") for p in c.prompts)


def test_first_run_notice() -> None:
    walk = [Seg("forward", 10)]
    first = prompts_for(simulate(walk), "free", CoachConfig())
    assert first[0].kind == "safety" and "doctor" in first[0].text
    later = prompts_for(simulate(walk), "free", CoachConfig(), history=[{"date": "2026-11-01"}])
    assert not any("doctor" in p.text for p in later)
    falls = prompts_for(simulate(walk), "free", _cfg(history_of_falls=True), history=[{"date": "2026-11-01"}])
    assert any("doctor" in p.text for p in falls)
    off = prompts_for(simulate(walk), "free", _cfg(first_run_notice=False))
    assert not any("doctor" in p.text for p in off)


def test_busy_session_keeps_spacing_and_is_deterministic() -> None:
    script = MIXED + [Seg("backward", 30, cadence_spm=140, stumble_at_s=10), Seg("fall", 45)]
    cfg = config_from_dict({"safety": dict(look_back_every_s=6, max_continuous_backward_s=20, cap_repeat_s=5,
                                           slow_down_every_s=5, fall_alert_after_s=10),
                            "programs": {"classic": dict(warmup_s=20, forward_s=30, backward_s=20,
                                                         total_s=300)}})
    a = prompts_for(simulate(script), "classic", cfg)
    b = prompts_for(simulate(script), "classic", cfg)
    assert [p.to_json() for p in a] == [p.to_json() for p in b]
    _gaps_ok(a)
    assert {p.kind for p in a} == {"cue", "interval", "safety", "info"}


def test_batch_size_barely_matters() -> None:
    """Cues land within one batch of each other whatever the batching."""
    small = [p for p in prompts_for(simulate(MIXED, batch_s=0.1), "free") if p.kind == "cue"]
    big = [p for p in prompts_for(simulate(MIXED, batch_s=0.5), "free") if p.kind == "cue"]
    assert [p.text for p in small] == [p.text for p in big]
    assert all(abs(a.t_s - b.t_s) <= 0.6 for a, b in zip(small, big))


def test_pause_inside_a_backward_bout() -> None:
    """Walking on backward after a pause is cued again; a short pause keeps the look-back rhythm."""
    script = [Seg("forward", 20), Seg("backward", 8), Seg("still", 1.2), Seg("backward", 12), Seg("forward", 5)]
    ps = prompts_for(simulate(script), "free", _cfg(look_back_every_s=6), first_run=False)
    cues = [p for p in ps if p.text == "Backward"]
    assert [round(p.t_s) for p in cues] == [21, 30]
    looks = [round(p.t_s) for p in ps if p.text == "Look over your shoulder"]
    assert looks == [26, 32, 38]
    _gaps_ok(ps)
