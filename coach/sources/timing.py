"""Sensor time -> stream time, with drift correction and loss/duplicate accounting.

Stream time is host time (seconds since the stream started) as the sensor saw it: a sample's
stream time is its sensor timestamp mapped onto the host clock by  t = ratio * s + offset,
where ratio (the clocks' rate ratio, i.e. drift) is fitted over the packets seen so far and
offset follows the lower envelope of arrival latency (the least-delayed packets). Devices
without timestamps get synthetic ones: samples are spaced at the measured rate and re-anchored
to host arrival when the host says samples went missing.

Sensor time also tells what was lost or repeated: a sample at or before the last one kept is a
duplicate (dropped); a jump of more than 1.5 sample periods is a loss (counted). A packet
sequence number, when the device has one, counts lost and duplicated packets directly.
"""
from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass

import numpy as np

from coach.sources.profiles.base import Frame


@dataclass
class LinkStats:
    packets: int = 0
    samples: int = 0
    lost_packets: int = 0
    lost_samples: int = 0
    dup_packets: int = 0
    dup_samples: int = 0
    decode_errors: int = 0
    reconnects: int = 0
    gaps: int = 0
    gap_seconds: float = 0.0
    drift_ppm: float = 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["gap_seconds"] = round(float(self.gap_seconds), 3)
        d["drift_ppm"] = round(float(self.drift_ppm), 1)
        return d


@dataclass(slots=True)
class Mapped:
    t: np.ndarray
    acc: np.ndarray
    gap: bool


class StreamClock:
    """Maps decoded frames (with host arrival times) onto one strictly increasing stream time."""

    def __init__(self, rate_hz: float, stats: LinkStats | None = None,
                 fit_window: int = 4000, envelope_window: int = 64) -> None:
        self.rate_hz = float(rate_hz)
        self.dt = 1.0 / self.rate_hz
        self.stats = stats or LinkStats()
        self.h0: float | None = None          # host time of stream start
        self.last_t: float | None = None      # last emitted stream time
        self.last_s: float | None = None      # last kept sensor time
        self.last_seq: int | None = None
        self.pairs: deque[tuple[float, float]] = deque(maxlen=fit_window)   # (s, h)
        self.lat: deque[float] = deque(maxlen=envelope_window)              # h - ratio*s
        self.ratio = 1.0
        self.offset: float | None = None
        self.s_ref: float | None = None       # sensor time origin (keeps floats small)
        self.pending_gap = False
        self._since_fit = 0
        # timestamp-less devices: samples counted as the clock
        self.count = 0
        self.max_drift = 2e-3      # clock rate error allowed (10 % for counted clocks)
        self.min_fit_span = 10.0

    # ------------------------------------------------------------------------------------
    def mark_reconnect(self) -> None:
        """A drop happened: the next samples start after a gap; sequence numbers restart."""
        self.pending_gap = True
        self.last_seq = None

    def _seq(self, fr: Frame) -> bool:
        """Count packet loss/duplication by sequence number. False = duplicate packet."""
        if fr.seq is None:
            return True
        if self.last_seq is not None and fr.seq_modulo:
            d = (fr.seq - self.last_seq) % fr.seq_modulo
            if d == 0 or d > fr.seq_modulo // 2:
                self.stats.dup_packets += 1
                return False
            self.stats.lost_packets += d - 1
        self.last_seq = fr.seq
        return True

    def map(self, fr: Frame, host_t: float) -> Mapped | None:
        """Stream times for a frame that arrived at host_t, or None if nothing new in it."""
        st = self.stats
        st.packets += 1
        if len(fr) == 0:
            return None
        if self.h0 is None:
            self.h0 = host_t - len(fr) * self.dt
        if not self._seq(fr):
            st.dup_samples += len(fr)
            return None
        if fr.t_sensor is not None:
            out = self._map_timestamped(fr, host_t)
        else:
            self.max_drift, self.min_fit_span = 0.1, 3.0
            out = self._map_untimed(fr, host_t)
        if out is not None:
            st.samples += len(out.t)
        return out

    # ------------------------------------------------------------------------------------
    def _map_timestamped(self, fr: Frame, host_t: float) -> Mapped | None:
        st = self.stats
        s = np.asarray(fr.t_sensor, dtype=np.float64)
        acc = fr.acc
        gap = self.pending_gap
        if self.s_ref is None:
            self.s_ref = float(s[0])
        s = s - self.s_ref
        if self.last_s is not None:
            if s[0] < self.last_s - 2.0:
                # sensor clock went back: the device rebooted. Re-anchor on host time.
                self._reanchor(s, host_t)
                gap = True
            else:
                keep = s > self.last_s + 0.25 * self.dt
                if not keep.all():
                    st.dup_samples += int((~keep).sum())
                    if not keep.any():
                        st.dup_packets += 1
                        return None
                    s, acc = s[keep], acc[keep]
                jump = s[0] - self.last_s
                if jump > 1.5 * self.dt:
                    lost = int(round(jump / self.dt)) - 1
                    st.lost_samples += lost
                    if fr.seq is None:
                        st.lost_packets += max(1, int(np.ceil(lost / max(1, len(fr)))))
                    if jump > 0.25 or self.pending_gap:
                        gap = True
                        st.gaps += 1
                        st.gap_seconds += jump - self.dt
        r0, o0 = self.ratio, self.offset
        self._fit(float(s[-1]), host_t, max_slew=0.01 * len(s) * self.dt)
        assert self.offset is not None and self.h0 is not None   # set by _fit and the first packet
        t = self.ratio * s + self.offset - self.h0
        if o0 is not None and not gap:
            # blend from the old mapping to the new one across the packet: no step at its start
            k = np.arange(1, len(s) + 1) / len(s)
            t = (r0 * s + o0 - self.h0) * (1 - k) + t * k
        t = self._monotonic(t)
        self.last_s = float(s[-1])
        self.pending_gap = False
        return Mapped(t, acc, gap)

    def _reanchor(self, s: np.ndarray, host_t: float) -> None:
        self.s_ref = (self.s_ref or 0.0) + float(s[0])
        s -= s[0]
        self.pairs.clear()
        self.lat.clear()
        self.offset = None
        self.last_s = None

    def _fit(self, s_last: float, host_t: float, max_slew: float = 2e-3) -> None:
        """Update ratio (drift) and offset (min latency) with one (sensor, host) pair."""
        self.pairs.append((s_last, host_t))
        self._since_fit += 1
        if len(self.pairs) >= 20 and self._since_fit >= 10:
            self._since_fit = 0
            arr = np.asarray(self.pairs)
            span = arr[-1, 0] - arr[0, 0]
            if span > self.min_fit_span:
                # fit the lower envelope: per chunk, the least-delayed packet
                k = max(1, len(arr) // 20)
                idx = [i + int(np.argmin(arr[i:i + k, 1] - arr[i:i + k, 0]))
                       for i in range(0, len(arr) - k + 1, k)]
                if len(idx) >= 3:
                    a, _ = np.polyfit(arr[idx, 0], arr[idx, 1], 1)
                    a = float(np.clip(a, 1 - self.max_drift, 1 + self.max_drift))
                    if self.offset is not None:
                        # keep the mapping continuous at the current sample
                        self.offset += (self.ratio - a) * s_last
                        self.lat = deque((v + (self.ratio - a) * s_last for v in self.lat),
                                         maxlen=self.lat.maxlen)
                    self.ratio = a
                    self.stats.drift_ppm = (1.0 / a - 1.0) * 1e6   # sensor clock fast by
        lat = host_t - self.ratio * s_last
        self.lat.append(lat)
        target = min(self.lat)
        if self.offset is None:
            self.offset = target
        else:
            # slew towards the envelope (at most 1 % of the packet's duration) so sample
            # spacing never distorts by more than 1 % and times never jump
            self.offset += float(np.clip(target - self.offset, -max_slew, max_slew))

    def _monotonic(self, t: np.ndarray) -> np.ndarray:
        if self.last_t is not None and t[0] <= self.last_t:
            t = t + (self.last_t + 1e-6 - t[0])
        t = np.maximum.accumulate(t)
        bump = np.diff(t, prepend=t[0] - 1) <= 0
        if bump.any():
            t = t + np.cumsum(bump) * 1e-6
        self.last_t = float(t[-1])
        return t

    # ------------------------------------------------------------------------------------
    def _map_untimed(self, fr: Frame, host_t: float) -> Mapped | None:
        """No sensor clock: count samples as the clock (sample k at k / nominal rate), fit it
        to host arrival like a timestamped device, and call samples lost when a packet comes
        much later than the fitted clock says it should."""
        n = len(fr)
        dt = self.dt
        if self.offset is not None and self.last_s is not None:
            s_end = self.count * dt + (n - 1) * dt
            excess = host_t - (self.ratio * s_end + self.offset)
            period = self.ratio * dt
            # BLE notifications are reliable on a live link, so a late packet is just late
            # (latency spikes of a second happen); only a long silence means lost samples
            if self.pending_gap or (len(self.pairs) > 8 and excess > max(2.0, 8 * period)):
                self.count += max(0, int(round(excess / period)))
        s = (self.count + np.arange(n)) * dt
        self.count += n
        if self.s_ref is None:
            self.s_ref = 0.0
        return self._map_timestamped(Frame(acc=fr.acc, t_sensor=s), host_t)
