"""Run one session: a source streams through the detector, observers react.

The same loop serves `coach analyze` (a CSV replayed as fast as it reads), `coach demo`
(the simulator), `coach run` (a BLE sensor) and `coach replay`, so what analyze reports is
what a wearer gets live. Observers (the spoken coach, the display, MQTT, the store) see each
batch with the detector's state and new events, and the finished result.
"""
from __future__ import annotations

import asyncio
import logging
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path

from coach.detect.model import DirectionModel
from coach.detect.pipeline import DirectionPipeline
from coach.errors import CoachError
from coach.signal.calibration import Calibration, calibrate
from coach.signal.features import WIN, Reference
from coach.signal.resample import FS
from coach.types import AnalysisResult, Observer, Source

log = logging.getLogger(__name__)

MIN_RECORDING_S = WIN / FS        # a recording shorter than one detector window is refused
MAX_CALIBRATION_BYTES = 8 << 20   # 10 min at 200 Hz: far more than a calibration (40 s) holds
MAX_CALIBRATION_ROWS = 250_000    # ... and samples, counted as read (gzipped, an hour of 100 Hz
                                  # in 3.6 MB had been read whole, 0.9 GB)


async def run_session(source: Source, pipeline: DirectionPipeline | None = None,
                      observers: Sequence[Observer] | None = None,
                      min_seconds: float = 0.0) -> AnalysisResult:
    """Stream `source` through `pipeline`, telling `observers`; return the analysis.
    min_seconds: refuse (CoachError) a source that ends sooner, before observers hear the end."""
    pipeline = pipeline or DirectionPipeline(source_name=source.name)
    observers = observers or []
    try:
        async for batch in source.stream():
            events = pipeline.feed(batch)
            for ob in observers:
                await ob.on_batch(batch, pipeline.state, events)
    except BaseException:
        # the source failed (a sensor never found, a link given up) or the run was stopped:
        # observers that hold something open are told (on_abort), then the error goes on
        for ob in observers:
            on_abort = getattr(ob, "on_abort", None)
            if on_abort is not None:
                try:
                    on_abort()
                except Exception as e:  # noqa: BLE001 - the source's error is the one to report
                    log.debug("on_abort of %s failed: %s", type(ob).__name__, e)
        raise
    if min_seconds and pipeline.seconds < min_seconds:
        # rounded down: 1.995 s is not "2.00 s", which would be long enough
        got = math.floor(pipeline.seconds * 1000) / 1000
        raise CoachError(f"{source.name}: {got:.3f} s of data is too short to analyse "
                         f"(at least {min_seconds:g} s, one detector window)")
    result = pipeline.finish()
    for ob in observers:
        await ob.on_end(result)
    return result


def load_calibration(path: str | Path, units: str = "auto") -> Calibration:
    """A personal calibration from a recording with header t,ax,ay,az,label (label forward or
    backward, at least 5 s of each, the same sensor worn the same way as the sessions)."""
    from coach.sources.csvfile import TooManyRows, read_csv

    if not str(path).strip():
        # (Path("") is the working directory: its reader spoke of '.')
        raise CoachError("a calibration needs a file name: an empty one was given")
    if Path(path).is_dir():
        raise CoachError(f"{path}: is a directory, not a calibration (a CSV with t,ax,ay,az,label)")
    try:
        size = Path(path).stat().st_size if Path(path).is_file() else 0
    except OSError:
        size = 0          # the reader says what is wrong with it
    if size > MAX_CALIBRATION_BYTES:
        # a calibration is read whole (a recording is streamed): an hour of labelled walking
        # had taken 0.5 GB to learn from 40 s of it
        raise CoachError(f"{path}: {size / 2**20:.1f} MB is not a calibration (about 20 s of walking "
                         f"each way; at most {MAX_CALIBRATION_BYTES >> 20} MB): cut it to the "
                         "forward and backward parts")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(path)
        if src.exists() and not src.is_file():
            # a pipe (`<(zcat cal.csv.gz)`, /dev/stdin) has no size to check: a recording's
            # reader takes a pipe whole (up to 1 GB; 830 MB had taken 1.7 GB to refuse), a
            # calibration's no more than MAX_CALIBRATION_BYTES (gzipped, four times that)
            with open(src, "rb") as f:
                data = f.read(4 * MAX_CALIBRATION_BYTES + 1)
            if len(data) > 4 * MAX_CALIBRATION_BYTES:
                raise CoachError(f"{path}: more than {4 * MAX_CALIBRATION_BYTES / 2**20:g} MB from a pipe "
                                 "is not a calibration (about 20 s of walking each way)")
            src = Path(tmp) / "calibration"
            src.write_bytes(data)
        try:
            rec = read_csv(src, units=units, need_labels=True, max_rows=MAX_CALIBRATION_ROWS)
        except TooManyRows:
            raise CoachError(f"{path}: more than {MAX_CALIBRATION_ROWS:,} samples is not a "
                             "calibration (about 20 s of walking each way): cut it to the forward "
                             "and backward parts") from None
        except CoachError as e:
            # (--allow-rate is for the recording analysed: a calibration is held to 25 Hz)
            raise CoachError(str(e).replace(str(src), str(path))
                             .replace("training needs", "a calibration needs").replace(
                "pass --allow-rate to analyse it anyway", "record the calibration at 25 Hz or more")
                .replace("--units", "--calibration-units")) from None
    if rec.labels is None:
        raise CoachError(f"{path}: a calibration needs a 'label' column (forward/backward)")
    try:
        return calibrate(rec.t, rec.acc, rec.labels)
    except CoachError as e:
        raise CoachError(f"{path}: {e}") from None


def analyze_file(path: str | Path, *,
                 calibration: Calibration | Reference | str | Path | None = None,
                 units: str = "auto", model: DirectionModel | None = None,
                 placement: str | None = None,
                 observers: Sequence[Observer] | None = None) -> AnalysisResult:
    """Replay a recording (CSV `t,ax,ay,az`) through the live detector: what `coach analyze`
    reports. `result.to_json()` is the `coach analyze --json` document. calibration: the
    wearer's own forward and backward walking (a Calibration or a CAL.csv path), or a forward
    Reference from an earlier session with the sensor worn the same way (what live sessions
    remember per device: reused if the warm-up agrees with it, learnt afresh otherwise)."""
    from coach.sources.csvfile import CsvSource

    if isinstance(calibration, (str, Path)):
        calibration = load_calibration(calibration)
    source = CsvSource(path, units=units)
    prior = calibration if isinstance(calibration, Reference) else None
    pipeline = DirectionPipeline(source_name=str(path), model=model, placement=placement,
                                 calibration=calibration if isinstance(calibration, Calibration) else None)
    if prior is not None:
        pipeline.reference.prior = prior
    return asyncio.run(run_session(source, pipeline, observers, min_seconds=MIN_RECORDING_S))
