"""The one type every source yields: a batch of timestamped accelerometer samples."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import AsyncIterator, Protocol

import numpy as np


@dataclass(slots=True)
class SampleBatch:
    """Samples in stream time.

    t: (n,) seconds since the stream started, strictly increasing within and across batches.
    acc: (n, 3) acceleration in g, in the sensor's own axes (mounting unknown).
    gap_before: the source knows data was lost just before this batch (a sensor drop).
    """

    t: np.ndarray
    acc: np.ndarray
    gap_before: bool = False
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.t = np.asarray(self.t, dtype=np.float64).reshape(-1)
        self.acc = np.asarray(self.acc, dtype=np.float64).reshape(-1, 3)
        if len(self.t) != len(self.acc):
            raise ValueError("t and acc lengths differ")

    def __len__(self) -> int:
        return len(self.t)


class Source(Protocol):
    """Anything that streams samples: a CSV replay, the simulator, a BLE sensor, a phone."""

    name: str

    def stream(self) -> AsyncIterator[SampleBatch]: ...
