"""The one type every source yields (defined in coach.types; kept here for existing imports)."""
from coach.types import SampleBatch, Source

__all__ = ["SampleBatch", "Source"]
