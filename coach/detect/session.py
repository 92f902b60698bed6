"""Run one session: a source streams through the detector, observers react.

The same loop serves `coach analyze` (a CSV replayed as fast as it reads), `coach demo`
(the simulator), `coach run` (a BLE sensor) and `coach replay`, so what analyze reports is
what a wearer gets live. Observers (the spoken coach, the display, MQTT, the store) see each
batch with the detector's state and new events, and the finished result.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from coach.detect.model import DirectionModel
from coach.detect.pipeline import DirectionPipeline
from coach.signal.features import Reference
from coach.types import AnalysisResult, Observer, Source


async def run_session(source: Source, pipeline: DirectionPipeline | None = None,
                      observers: Sequence[Observer] | None = None) -> AnalysisResult:
    """Stream `source` through `pipeline`, telling `observers`; return the analysis."""
    pipeline = pipeline or DirectionPipeline(source_name=source.name)
    observers = observers or []
    async for batch in source.stream():
        events = pipeline.feed(batch)
        for ob in observers:
            await ob.on_batch(batch, pipeline.state, events)
    result = pipeline.finish()
    for ob in observers:
        await ob.on_end(result)
    return result


def analyze_file(path: str | Path, *, calibration: Reference | None = None, units: str = "auto",
                 model: DirectionModel | None = None, placement: str | None = None,
                 observers: Sequence[Observer] | None = None) -> AnalysisResult:
    """Replay a recording (CSV `t,ax,ay,az`) through the live detector: what `coach analyze`
    reports. `result.to_json()` is the `coach analyze --json` document.

    calibration: a forward reference from an earlier session with the sensor worn the same way
    (what live sessions remember per device); it is reused if the warm-up agrees with it, and
    learnt afresh otherwise. None: learnt from this recording's warm-up."""
    from coach.sources.csvfile import CsvSource

    source = CsvSource(path, units=units)
    pipeline = DirectionPipeline(source_name=str(path), model=model, placement=placement)
    if calibration is not None:
        pipeline.reference.prior = calibration
    return asyncio.run(run_session(source, pipeline, observers))
