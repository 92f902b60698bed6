"""Records the detector emits (defined in coach.types; kept here for existing imports)."""
from coach.types import (
    DIRECTIONS,
    AnalysisResult,
    Direction,
    Event,
    LiveState,
    Segment,
    Tallies,
    tallies_dict,
)

__all__ = ["DIRECTIONS", "AnalysisResult", "Direction", "Event", "LiveState", "Segment", "Tallies",
           "tallies_dict"]
