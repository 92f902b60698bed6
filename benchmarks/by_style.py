"""Per style and per placement figures of a model on held-out simulated people.

Motion-capture-like renders (smooth, band-limited), bouts of a few seconds, seeds never
trained on; each style's walkers at chest, lower back and pocket.
    python benchmarks/by_style.py [--model PATH] [--per-style 12]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from leave_out import ALL_STYLES, PLACES, held_out, score

from coach.detect.model import DirectionModel, load_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path)
    ap.add_argument("--per-style", type=int, default=12)
    a = ap.parse_args()
    model = DirectionModel.load(a.model) if a.model else load_model()
    res = {}
    for i, style in enumerate(ALL_STYLES):
        res[style] = score(model, held_out(9700 + i, a.per_style, [style], PLACES))
        print(style, json.dumps(res[style]), flush=True)


if __name__ == "__main__":
    main()
