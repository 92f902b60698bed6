"""Many detectors, one classifier call per round (`coach serve` runs one detector per stream)."""
from __future__ import annotations

import threading
from typing import Any

import numpy as np


class BatchingModel:
    """Wraps a model so that detectors fed concurrently (one thread per stream, see
    StreamWorker.compute_round) share one predict_proba call per round: a boosted-tree model
    costs about the same for 1 row as for 100, so this is what lets one core run hundreds of
    streams. Threads register with begin(n)/done(); a call waits until every registered
    thread is either waiting in predict_proba or done, then all rows go in one call."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._cv = threading.Condition()
        self._pending: list[list[Any]] = []
        self._active = 0
        self.calls = 0
        self.rows = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def begin(self, n: int) -> None:
        with self._cv:
            self._active += n

    def done(self) -> None:
        with self._cv:
            self._active -= 1
            self._flush_if_ready()

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        slot: list[Any] = [X, None]
        with self._cv:
            self._pending.append(slot)
            self._flush_if_ready()
            while slot[1] is None:
                self._cv.wait()
        if isinstance(slot[1], BaseException):
            raise slot[1]
        return slot[1]

    def _flush_if_ready(self) -> None:
        if not self._pending or len(self._pending) < self._active:
            return
        batch, self._pending = self._pending, []
        try:
            P = self.model.predict_proba(np.vstack([b[0] for b in batch]))
            self.calls += 1
            self.rows += len(P)
            i = 0
            for b in batch:
                b[1] = P[i:i + len(b[0])]
                i += len(b[0])
        except BaseException as e:  # noqa: BLE001 - handed to every waiting caller
            for b in batch:
                b[1] = e
        self._cv.notify_all()
