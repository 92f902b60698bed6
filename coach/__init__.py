"""retro-coach: a coach for walking backwards well.

Data flows sources -> signal -> detect -> coaching -> outputs, one sub-package each; the
records passed between them are in coach.types. The front door for scripts and notebooks:

    import coach
    result = coach.analyze_file("walk.csv")
    print(result.tallies.retro_steps, [s.direction for s in result.segments])

Importing coach changes nothing in the environment and loads the heavy parts only when used.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

if TYPE_CHECKING:
    from coach.coaching.engine import Coach
    from coach.detect.model import DirectionModel, load_model
    from coach.detect.pipeline import DirectionPipeline as Detector
    from coach.detect.session import analyze_file, run_session
    from coach.errors import CoachError
    from coach.types import (
        AnalysisResult as Analysis,
    )
    from coach.types import (
        Direction,
        Event,
        LiveState,
        Observer,
        Prompt,
        PromptKind,
        SampleBatch,
        Segment,
        Sink,
        Tallies,
    )

# public name -> (module, attribute); imported on first use
_EXPORTS: dict[str, tuple[str, str]] = {
    "analyze_file": ("coach.detect.session", "analyze_file"),
    "run_session": ("coach.detect.session", "run_session"),
    "Detector": ("coach.detect.pipeline", "DirectionPipeline"),
    "DirectionModel": ("coach.detect.model", "DirectionModel"),
    "load_model": ("coach.detect.model", "load_model"),
    "Coach": ("coach.coaching.engine", "Coach"),
    "CoachError": ("coach.errors", "CoachError"),
    "Analysis": ("coach.types", "AnalysisResult"),
    "Direction": ("coach.types", "Direction"),
    "Event": ("coach.types", "Event"),
    "LiveState": ("coach.types", "LiveState"),
    "Observer": ("coach.types", "Observer"),
    "Prompt": ("coach.types", "Prompt"),
    "PromptKind": ("coach.types", "PromptKind"),
    "SampleBatch": ("coach.types", "SampleBatch"),
    "Segment": ("coach.types", "Segment"),
    "Sink": ("coach.types", "Sink"),
    "Tallies": ("coach.types", "Tallies"),
}

__all__ = [
    "Analysis", "Coach", "CoachError", "Detector", "Direction", "DirectionModel", "Event",
    "LiveState", "Observer", "Prompt", "PromptKind", "SampleBatch", "Segment", "Sink", "Tallies",
    "__version__", "analyze_file", "load_model", "run_session",
]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'coach' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
