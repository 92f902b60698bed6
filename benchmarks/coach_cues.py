"""Coach benchmark: are cues and look-back reminders said when they should be?

    python benchmarks/coach_cues.py data/bench

Runs `coach analyze --json --coach` with `[safety] look_back_every_s = 6` on a folder of
sessions in the benchmark format (see ../shared/benchmark/README.md) and reports:
* the share of true changes to backward walking followed by a "Backward" cue within 3 s;
* the share of labelled backward bouts of 4 s or more with such a cue within 3 s of their start
  (a bout that resumes backward walking after a short pause or another activity counts too);
* the share of backward bouts longer than 9 s with a look-over-your-shoulder reminder;
* the smallest gap between two prompts (goal: never under 1.5 s).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shared import folder


def bouts(labels: list[str], hz: float) -> list[tuple[float, float]]:
    out, i = [], 0
    while i < len(labels):
        if labels[i] == "backward":
            j = i
            while j < len(labels) and labels[j] == "backward":
                j += 1
            out.append((i / hz, j / hz))
            i = j
        else:
            i += 1
    return out


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: coach_cues.py DIR  (DIR: a folder of sessions)")
    data = folder(Path(sys.argv[1]))
    names = json.loads((data / "index.json").read_text())
    coach = str(Path(sys.executable).with_name("coach"))
    n_ch = ch_ok = b4 = b4_ok = b9 = b9_ok = 0
    gaps: list[float] = []
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "config.toml"
        cfg.write_text("[safety]\nlook_back_every_s = 6\n")
        for n in names:
            truth = json.loads((data / f"{n}.truth.json").read_text())
            out = subprocess.run([coach, "analyze", "--json", "--coach", "--config", str(cfg),
                                  str(data / f"{n}.csv")], capture_output=True, text=True)
            if out.returncode:
                sys.exit(f"{n}: {out.stderr.strip()}")
            prompts = json.loads(out.stdout)["prompts"]
            ts = [p["t_s"] for p in prompts]
            gaps += [b - a for a, b in zip(ts, ts[1:])]

            def cued(t0: float, prompts: list = prompts) -> bool:
                return any(p["kind"] == "cue" and p["text"].startswith("Backward")
                           and t0 <= p["t_s"] <= t0 + 3 for p in prompts)

            for c in truth["changes"]:
                if c["to"] == "backward":
                    n_ch += 1
                    ch_ok += cued(c["t"])
            for s, e in bouts(truth["labels"], truth["label_rate_hz"]):
                if e - s >= 4:
                    b4 += 1
                    b4_ok += cued(s)
                if e - s > 9:
                    b9 += 1
                    b9_ok += any("shoulder" in p["text"].lower() and s <= p["t_s"] <= e for p in prompts)
    print(json.dumps({
        "sessions": len(names),
        "changes_to_backward": n_ch, "backward_cue_within_3s_of_change": round(ch_ok / max(n_ch, 1), 3),
        "backward_bouts_4s": b4, "backward_cue_within_3s_of_bout": round(b4_ok / max(b4, 1), 3),
        "backward_bouts_over_9s": b9, "look_back_reminded": round(b9_ok / max(b9, 1), 3),
        "min_prompt_gap_s": round(min(gaps), 2) if gaps else None,
    }, indent=1))


if __name__ == "__main__":
    main()
