"""The coach's hooks into analyze/demo, its sinks and big batches."""
from __future__ import annotations

import argparse
import asyncio

import numpy as np

from coach.cli import coach_options as wiring
from coach.coaching.config import config_from_dict
from coach.coaching.engine import Coach, CoachObserver
from coach.simulate.coaching import Seg, bouts, simulate
from coach.sources.base import SampleBatch


def _parser(command: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    wiring.add_args(p, command)
    return p


def test_args_and_observers(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = _parser("analyze").parse_args(["--coach", "--program", "free"])
    [ob] = wiring.observers(args, "analyze")
    assert isinstance(ob, CoachObserver) and ob.coach.program.name == "free"
    assert wiring.observers(_parser("analyze").parse_args([]), "analyze") == []
    args = _parser("demo").parse_args(["--mute"])
    args.fast, args.minutes = True, 2.0
    [ob] = wiring.observers(args, "demo")
    assert ob.coach.program.name == "demo" and ob.speaker is not None
    assert wiring.observers(_parser("demo").parse_args(["--no-coach"]), "demo") == []
    # an option another layer already added is not added twice
    p = argparse.ArgumentParser()
    p.add_argument("--config")
    wiring.add_args(p, "analyze")


def test_json_extra_and_sinks() -> None:
    got: dict[str, list] = {"prompt": [], "alert": [], "interval": [], "program": [], "panel": []}

    class Sink:
        def publish_prompt(self, d): got["prompt"].append(d)
        def publish_alert(self, d): got["alert"].append(d)
        def publish_interval(self, d): got["interval"].append(d)
        def set_program(self, name, goal=None): got["program"].append((name, goal))
        def add_renderable(self, fn): got["panel"].append(fn)

    cfg = config_from_dict({"programs": {"classic": {"warmup_s": 20, "forward_s": 30, "backward_s": 20,
                                                     "total_s": 120}}})
    ob = CoachObserver("classic", cfg, first_run=False)
    ob.add_sink(Sink())
    script = [Seg("forward", 21), Seg("backward", 20), Seg("forward", 30), Seg("backward", 5), Seg("forward", 50)]

    async def run() -> None:
        for b, s, e in simulate(script):
            await ob.on_batch(b, s, e)
        await ob.on_end(None)

    asyncio.run(run())
    assert got["program"] == [("classic", 40.0)] and len(got["panel"]) == 1
    assert got["prompt"] == ob.json_extra()["prompts"]
    assert set(ob.prompts_json()[0]) == {"t_s", "kind", "text"}
    final = {}
    for rec in got["interval"]:
        final[rec["index"]] = rec
    assert [final[i]["status"] for i in sorted(final)] == ["done", "done", "done", "partial", "done"]
    assert final[1]["direction"] == "backward" and final[1]["steps"] > 15
    assert "Coach" in str(type(got["panel"][0]())) or got["panel"][0]() is not None


def test_big_batches_keep_cues_and_look_backs() -> None:
    script = [Seg("forward", 30), Seg("backward", 12), Seg("forward", 20), Seg("backward", 25), Seg("forward", 15)]
    cfg = config_from_dict({"safety": {"look_back_every_s": 6}})
    steps = list(simulate(script, batch_s=0.2))
    c = Coach("free", cfg)
    for i in range(0, len(steps), 150):            # 30 s batches, as analyze reads a file
        grp = steps[i:i + 150]
        batch = SampleBatch(np.concatenate([g[0].t for g in grp]), np.concatenate([g[0].acc for g in grp]))
        c.update(grp[-1][1], [e for g in grp for e in g[2]], batch)
    ps = c.prompts
    for start, end in bouts(script):
        assert any(p.text == "Backward" and start <= p.t_s <= start + 3 for p in ps)
        assert any(p.text == "Look over your shoulder" and start <= p.t_s <= end for p in ps)
    for a, b in zip(ps, ps[1:]):
        assert b.t_s - a.t_s >= 1.5 - 1e-9


def test_analyze_re_cues_backward_walking_resumed_after_a_pause(tmp_path) -> None:
    """A file is read in 30 s batches; the pause inside one must still be heard by the coach."""
    import json
    import subprocess
    import sys

    from coach.simulate.gait import Bout
    from coach.simulate.gait import simulate as simulate_gait
    from tests.detect_helpers import write_csv

    s = simulate_gait(np.random.default_rng(21), [Bout("forward", 20), Bout("backward", 14),
                                                 Bout("still", 5), Bout("backward", 14),
                                                 Bout("forward", 8)],
                      placement="chest", rate_hz=50.0, mounting="upright")
    path = write_csv(s, tmp_path / "pause.csv")
    out = subprocess.run([sys.executable, "-m", "coach", "analyze", "--json", "--coach", str(path)],
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout)
    cues = [p["t_s"] for p in res["prompts"] if p["kind"] == "cue" and p["text"] == "Backward"]
    assert any(20 <= t <= 23 for t in cues), cues
    assert any(39 <= t <= 42 for t in cues), cues
    # never before the detector reported the change (the batch's final state had been taken
    # a second into it, ahead of the event that leads to it)
    for e in res["events"]:
        if e["type"] == "direction_change":
            word = e["direction"].capitalize()
            assert not any(p["kind"] == "cue" and p["text"] == word and e["t_s"] - 2 < p["t_s"] < e["t_s"]
                           for p in res["prompts"]), (e, res["prompts"])


def test_analyze_coach_says_the_clearance_notice_as_the_live_coach_would(tmp_path, monkeypatch,
                                                                         capsys) -> None:
    """Only where it was never said in this data directory (replay and the live coach agree);
    the analysis opens no store to find out."""
    import json

    from coach.cli.main import main
    from coach.simulate.gait import Bout
    from coach.simulate.gait import simulate as simulate_gait
    from tests.detect_helpers import write_csv

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("COACH_DB", raising=False)
    s = simulate_gait(np.random.default_rng(3), [Bout("forward", 12), Bout("backward", 8)],
                      placement="chest", rate_hz=50.0, mounting="upright")
    path = write_csv(s, tmp_path / "walk.csv")

    def notices() -> int:
        assert main(["analyze", "--json", "--coach", str(path)]) == 0
        return sum(p["text"].startswith("First time") for p in json.loads(capsys.readouterr().out)["prompts"])

    assert notices() == 1
    assert not (tmp_path / "data" / "retro-coach" / "sessions.sqlite3").exists()
    (tmp_path / "data" / "retro-coach").mkdir(parents=True)
    (tmp_path / "data" / "retro-coach" / "clearance-notice-said").touch()
    assert notices() == 0
