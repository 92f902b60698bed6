"""'Alert sent' only once a real broker took the alert; without one, what to do instead."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from coach.coaching import engine
from coach.coaching import phrases as say
from coach.coaching.config import config_from_dict
from coach.coaching.engine import CoachObserver
from coach.outputs.mqtt import MqttPublisher
from coach.simulate.coaching import Seg, simulate
from tests.outputs_broker import Broker, Collector, free_port, have_mosquitto

pytestmark = pytest.mark.skipif(not have_mosquitto(),
                                reason="mosquitto not installed (apt-get install mosquitto)")

FALL = [Seg("forward", 20), Seg("backward", 10), Seg("fall", 40)]


def _session(url: str) -> tuple[CoachObserver, MqttPublisher]:
    cfg = config_from_dict({"safety": {"fall_alert_after_s": 15}})
    pub = MqttPublisher(url, device_id="walker")
    ob = CoachObserver("free", cfg, first_run=False, sinks=[pub])

    async def run() -> None:
        state = None
        for b, s, e in simulate(FALL):
            await ob.on_batch(b, s, e)
            await pub.on_batch(b, s, e)
            await asyncio.sleep(0.005)       # a live source waits for its samples
            state = s
        await ob.on_end(None)
        assert state is not None
        from coach.types import AnalysisResult

        await pub.on_end(AnalysisResult("sim", state.t_s, 50.0, [], [], state.tallies))
        await pub.close()

    asyncio.run(run())
    return ob, pub


def test_alert_sent_after_the_broker_took_it(tmp_path: Path) -> None:
    b = Broker(tmp_path)
    b.start()
    try:
        col = Collector(b.port)
        ob, _ = _session(b.url)
        (alert,) = ob.alerts
        said = [p for p in ob.prompts if p.key == "fall_alert"]
        assert [p.text for p in said] == [say.FALL_ALERT_SENT] and said[0].t_s >= alert.t_s
        # a fall is the Fall alert entity's event, on its own topic (issue 11.2)
        assert any(e["event_type"] == "fall" for e in col.payloads("coach/walker/alert"))
        col.close()
    finally:
        b.stop()


def test_no_broker_no_alert_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "ALERT_CONFIRM_S", 0.1)
    ob, _ = _session(f"mqtt://127.0.0.1:{free_port()}")      # nobody listens there
    assert len(ob.alerts) == 1
    texts = [p.text for p in ob.prompts if p.key == "fall_alert"]
    assert texts == [say.FALL_NO_ALERT]
