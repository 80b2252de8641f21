"""The acquisition engine: a producer thread per device feeding a bounded ring buffer.

One run: the producer thread reads items (frames, scan rows) from a
:class:`~.sources.FrameSource` straight into ring slots, stamps each with its per-frame
values (device time, exposure, dose, bias V/I, stage position) and commits it. Readers:

* the recorder (optional) writes every frame (see :mod:`.recorder`);
* live processors (:mod:`.live_processors`) copy the newest frame at their own capped rate;
* the display calls :meth:`AcquisitionEngine.latest_frame` on its timer (newest only, may skip).

Nothing here needs Qt. A GUI panel subscribes with :meth:`AcquisitionEngine.subscribe`
(run-state changes, called from engine threads: a Qt bridge re-emits them as queued
signals), polls :meth:`latest_frame` and :meth:`counters` on a timer, and adds
processors with :meth:`add_processor`. A device exception ends the run in the ERROR
state with its message; :meth:`reconnect` clears it. The app never needs a restart.
"""
from __future__ import annotations

import enum
import logging
import math
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from ..errors import UserFacingError
from .dose import DoseTracker
from .recorder import Recorder
from .ring_buffer import FrameRing, LatestFrame, RingClosed, RingOverflow
from .sources import FrameSource
from .zspy_store import ZspyRecording

log = logging.getLogger(__name__)

#: Per-frame values stored with every frame (name → dtype).
PER_FRAME_FIELDS = {
    "index": np.int64, "timestamp_s": np.float64, "monotonic_s": np.float64,
    "exposure_s": np.float64, "dose_e_per_A2": np.float64, "region_dose_e_per_A2": np.float64,
    "bias_V": np.float64, "bias_A": np.float64, "bias_timestamp_s": np.float64,
    "stage_x_um": np.float64, "stage_y_um": np.float64,
}


class AcquisitionError(UserFacingError):
    """An acquisition could not start or ended in error (the message says why)."""


class RunState(enum.Enum):
    IDLE = "idle"            # ready to start
    RUNNING = "running"
    FINISHED = "finished"    # the last run ended normally (ready to start again)
    ERROR = "error"          # the last run ended in error: reconnect() before starting again


@dataclass(frozen=True)
class Counters:
    """Frames of the current (or last) run."""

    acquired: int = 0      # committed into the ring
    displayed: int = 0     # handed to the display by latest_frame
    recorded: int = 0      # on disk
    dropped: int = 0       # produced by the device but never in the ring (index gaps)
    timeouts: int = 0      # device reads that timed out (retried)
    ring_waits: int = 0    # times the producer waited for the recorder (back-pressure)


@dataclass(frozen=True)
class RunStatus:
    state: RunState
    error: str | None
    counters: Counters
    path: Any = None


class ContextSampler:
    """Polls the bias source and stage at a low rate so each frame gets the latest values.

    Reading an SMU or a stage takes milliseconds: never on the producer thread. The bias
    curve (every reading) is kept in ``bias_curve`` for the electrochemistry plot and
    written to the recording as ``metadata.Acquisition.Bias`` (timestamp_s, voltage_V,
    current_A), on the same clock as the frames' ``timestamp_s``.
    """

    def __init__(self, bias=None, stage=None, rate_hz: float = 20.0):
        self.bias, self.stage, self.period = bias, stage, 1.0 / rate_hz
        self.latest = {"bias_V": math.nan, "bias_A": math.nan, "bias_timestamp_s": math.nan,
                       "stage_x_um": math.nan, "stage_y_um": math.nan}
        self.bias_curve: list[tuple[float, float, float]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        values = dict(self.latest)
        if self.bias is not None:
            r = self.bias.read()
            values.update(bias_V=r.voltage_V, bias_A=r.current_A, bias_timestamp_s=r.timestamp_s)
            self.bias_curve.append((r.timestamp_s, r.voltage_V, r.current_A))
        if self.stage is not None:
            p = self.stage.position
            values.update(stage_x_um=p.x_um, stage_y_um=p.y_um)
        self.latest = values     # one reference swap: the producer never sees half an update

    def reconnect(self) -> None:
        """Reconnect the bias source and stage if they are in the error state."""
        from ..hardware.interfaces import DeviceState

        for device in (self.bias, self.stage):
            if device is not None and device.state is DeviceState.ERROR:
                device.reconnect()

    def bias_curve_arrays(self) -> dict[str, np.ndarray]:
        """The run's bias readings as arrays (empty without a bias source)."""
        if not self.bias_curve:
            return {}
        t, v, i = (np.array(column, dtype=np.float64) for column in zip(*self.bias_curve))
        return {"timestamp_s": t, "voltage_V": v, "current_A": i}

    def start(self, on_error: Callable[[str], None]) -> None:
        self.bias_curve = []
        self._stop.clear()
        if self.bias is None and self.stage is None:
            return
        self.sample()

        def loop():
            while not self._stop.wait(self.period):
                try:
                    self.sample()
                except Exception as exc:  # a device failure ends the run, not the app
                    on_error(f"{exc}" if isinstance(exc, UserFacingError)
                             else f"{type(exc).__name__}: {exc}")
                    return

        self._thread = threading.Thread(target=loop, name="context-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


class AcquisitionEngine:
    """Run a source into a ring buffer, with optional recording, live processors and dose.

    Parameters
    ----------
    source : FrameSource
    ring_capacity : int
        Ring slots (rounded up to a multiple of the recording chunk).
    overflow : {"block", "stop"}
        What happens when the recorder falls a whole ring behind (see FrameRing).
    block_timeout_s : float
        With "block": how long the producer waits before the run stops with an error.
    dose_tracker : DoseTracker, optional
    field_of_view_um : (width, height), optional
        The field of each frame, for the dose per specimen region.
    dose_rate_e_per_A2_s : float, optional
        Used for frames whose device does not report their dose (dose = rate × exposure).
    field_fraction_per_item : float
        Fraction of the field one item covers (1 for a frame, 1/rows for a scan row):
        the region's mean dose grows by the item's dose times this.
    sampler : ContextSampler, optional
        Bias source and stage readings attached to every frame.
    device_timeout_s : float
        No item for this long ends the run with an error.
    """

    def __init__(self, source: FrameSource, *, ring_capacity: int = 64, overflow: str = "block",
                 block_timeout_s: float = 2.0, dose_tracker: DoseTracker | None = None,
                 field_of_view_um: tuple[float, float] | None = None,
                 dose_rate_e_per_A2_s: float | None = None, field_fraction_per_item: float = 1.0,
                 sampler: ContextSampler | None = None, device_timeout_s: float = 5.0):
        self.source = source
        self.dose_tracker = dose_tracker
        self.field_of_view_um = field_of_view_um
        self.dose_rate_e_per_A2_s = dose_rate_e_per_A2_s
        self.field_fraction_per_item = float(field_fraction_per_item)
        self.sampler = sampler or ContextSampler()
        self.device_timeout_s = device_timeout_s
        self._ring_args = (int(ring_capacity), overflow, float(block_timeout_s))
        self.ring: FrameRing | None = None
        self.recorder: Recorder | None = None
        self._state = RunState.IDLE
        self._error: str | None = None
        self._counts = dict(acquired=0, displayed=0, dropped=0, timeouts=0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._listeners: list[Callable[[RunStatus], None]] = []
        self._processors: list = []
        self.first_frame_monotonic: float | None = None   # of the current / last run
        self.last_frame_monotonic: float | None = None

    # ----------------------------------------------------------- subscription
    def subscribe(self, listener: Callable[[RunStatus], None]) -> Callable[[], None]:
        """Call ``listener(RunStatus)`` on every run-state change; returns an unsubscribe function.

        Called from engine threads: keep it short and thread-safe (a Qt bridge emits a signal).
        """
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe():
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
        return unsubscribe

    def _notify(self) -> None:
        status = self.status()
        for listener in list(self._listeners):
            try:
                listener(status)
            except Exception:  # a listener's bug must not kill acquisition
                log.exception("acquisition listener failed")

    def add_processor(self, processor) -> None:
        """Attach a live processor (runs on its own thread at its own capped rate)."""
        with self._lock:
            self._processors.append(processor)
        processor.attach(self)

    def remove_processor(self, processor) -> None:
        with self._lock:
            if processor in self._processors:
                self._processors.remove(processor)
        processor.detach()

    # ----------------------------------------------------------------- status
    @property
    def state(self) -> RunState:
        return self._state

    @property
    def error(self) -> str | None:
        return self._error

    def counters(self) -> Counters:
        c = self._counts
        rec = self.recorder
        return Counters(c["acquired"], c["displayed"], rec.frames_recorded if rec else 0,
                        c["dropped"], c["timeouts"], self.ring.waits if self.ring else 0)

    def status(self) -> RunStatus:
        return RunStatus(self._state, self._error, self.counters(),
                         self.recorder.path if self.recorder else None)

    def latest_frame(self, out=None, *, newer_than: int = -1) -> LatestFrame | None:
        """The newest frame (a copy, into ``out`` if given) for the display; None if none newer.

        Counts as displayed. Never waits for the producer and never makes it wait.
        """
        frame = self.peek_latest(out, newer_than=newer_than)
        if frame is not None:
            self._counts["displayed"] += 1
        return frame

    def peek_latest(self, out=None, *, newer_than: int = -1) -> LatestFrame | None:
        """As :meth:`latest_frame` without counting it as displayed (live processors)."""
        ring = self.ring
        return None if ring is None else ring.latest(out, newer_than=newer_than)

    # -------------------------------------------------------------- run control
    def _make_ring(self, chunk: int) -> FrameRing:
        capacity, overflow, block_timeout = self._ring_args
        capacity = max(2 * chunk, -(-capacity // chunk) * chunk)
        ring = self.ring
        fields = {k: (tuple(shape), np.dtype(dtype)) for k, (shape, dtype) in self.source.fields.items()}
        if (ring is not None and ring.capacity == capacity and ring.overflow == overflow
                and {k: (b.shape[1:], b.dtype) for k, b in ring.buffers.items()} == fields):
            return ring                        # same frames as the last run: reuse the memory
        return FrameRing(capacity, self.source.fields, overflow=overflow,
                         block_timeout_s=block_timeout)

    def start(self, *, frames: int | None = None, duration_s: float | None = None,
              recording: ZspyRecording | None = None, flush_interval_s: float = 0.5) -> None:
        """Start a run of ``frames`` items or ``duration_s`` seconds (or until :meth:`stop`).

        With ``recording``, every frame is written to it; the run stops with an error
        rather than lose one.
        """
        with self._lock:
            if self._state is RunState.RUNNING:
                raise AcquisitionError("an acquisition is already running")
            if self._state is RunState.ERROR:
                raise AcquisitionError(f"the last run ended in error ({self._error}); reconnect first")
            if frames is not None and frames < 1:
                raise AcquisitionError(f"frames must be ≥ 1, got {frames}")
            chunk = recording.chunk_frames if recording is not None else 1
            self.ring = ring = self._make_ring(chunk)
            start_seq = -(-ring.committed // chunk) * chunk
            ring.reopen(start_seq)
            self._counts = dict(acquired=0, displayed=0, dropped=0, timeouts=0)
            self.first_frame_monotonic = self.last_frame_monotonic = None
            self.recorder = None
            if recording is not None:
                names = [d.name for d in recording.datasets]
                self.recorder = Recorder(ring, recording, names, list(PER_FRAME_FIELDS),
                                         flush_interval_s=flush_interval_s, on_error=self._fail)
            limit = frames if frames is not None else self.source.n_items
            if limit is not None and self.source.n_items is not None:
                limit = min(limit, self.source.n_items)
            self._stop.clear()
            self._error = None
            try:
                self.sampler.start(self._fail)        # first bias / stage reading, then its thread
                self.source.start()
            except Exception as exc:
                self.sampler.stop()
                self._state, self._error = RunState.ERROR, _message(exc)
                if recording is not None:
                    try:
                        recording.finish(f"stopped: {self._error}")
                    except UserFacingError:
                        pass                    # the start-up error is the one to report
                self._notify()
                raise AcquisitionError(f"could not start: {self._error}") from exc
            if self.recorder is not None:
                self.recorder.start(start_seq)
            self._state = RunState.RUNNING   # a failure since sampler.start already set _stop
            deadline = None if duration_s is None else time.monotonic() + duration_s
            self._thread = threading.Thread(target=self._produce, args=(ring, limit, deadline),
                                            name=f"producer {self.source.label}", daemon=True)
            self._thread.start()
        self._notify()

    def stop(self) -> None:
        """Ask the run to end (frames already acquired are still recorded)."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> RunStatus:
        """Wait for the run (and its recorder) to end; returns the final status."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.status()

    def stop_recording(self) -> None:
        """Stop writing after the frames acquired so far; the live run goes on."""
        if self.recorder is not None and self.ring is not None:
            self.recorder.stop_at(self.ring.committed)

    def abort(self, message: str) -> None:
        """End the run with this error (from any thread): e.g. a dose budget used up.

        Frames already acquired are still recorded; the run ends in the ERROR state.
        """
        self._fail(message)

    def _fail(self, message: str) -> None:
        """End the run with an error (from any thread)."""
        with self._lock:
            if self._error is None:
                self._error = message
        self._stop.set()

    def reconnect(self) -> None:
        """Reconnect the device and clear the error state (only between runs)."""
        with self._lock:
            if self._state is RunState.RUNNING:
                raise AcquisitionError("stop the acquisition before reconnecting")
            try:
                self.source.reconnect()
                self.sampler.reconnect()
            except Exception as exc:
                self._error = _message(exc)
                self._state = RunState.ERROR
                self._notify()
                raise AcquisitionError(f"{self.source.label}: reconnect failed: {self._error}") from exc
            self._state, self._error = RunState.IDLE, None
        self._notify()

    def close(self) -> None:
        """Stop any run and the processors' threads."""
        self.stop()
        self.wait(10)
        for p in list(self._processors):
            self.remove_processor(p)

    # ----------------------------------------------------------- producer thread
    def _produce(self, ring: FrameRing, limit: int | None, deadline: float | None) -> None:
        counts = self._counts
        last_index = None
        last_item = time.monotonic()
        try:
            while not self._stop.is_set():
                if limit is not None and counts["acquired"] >= limit:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                seq, views = ring.begin_write()
                try:
                    meta = self.source.read(views, 0.2)
                except TimeoutError:
                    ring.abandon(seq)
                    counts["timeouts"] += 1
                    if time.monotonic() - last_item > self.device_timeout_s:
                        raise AcquisitionError(f"{self.source.label}: no data for "
                                               f"{self.device_timeout_s:g} s") from None
                    continue
                except BaseException:
                    ring.abandon(seq)
                    raise
                last_item = time.monotonic()
                if last_index is not None and meta.index > last_index + 1:
                    counts["dropped"] += meta.index - last_index - 1
                last_index = meta.index
                ring.commit(seq, self._per_frame(meta))
                counts["acquired"] += 1
                if counts["acquired"] == 1:
                    self.first_frame_monotonic = last_item
                self.last_frame_monotonic = last_item
        except RingClosed:
            pass
        except RingOverflow as exc:
            self._fail(f"{exc}; run stopped after {counts['acquired']} frames")
        except Exception as exc:
            self._fail(_message(exc))
            log.info("acquisition run ended by %s", _message(exc))
        finally:
            self._finish_run(ring)

    def _per_frame(self, meta) -> dict:
        values = dict(self.sampler.latest)
        dose = meta.dose_e_per_A2
        if dose is None and self.dose_rate_e_per_A2_s is not None:
            dose = self.dose_rate_e_per_A2_s * meta.exposure_s
        region_dose = math.nan
        if dose is not None and self.dose_tracker is not None and self.field_of_view_um:
            x = values["stage_x_um"] if math.isfinite(values["stage_x_um"]) else 0.0
            y = values["stage_y_um"] if math.isfinite(values["stage_y_um"]) else 0.0
            region_dose = self.dose_tracker.expose(x, y, *self.field_of_view_um,
                                                   dose * self.field_fraction_per_item)
        values.update(index=meta.index, timestamp_s=meta.timestamp_s, monotonic_s=meta.monotonic_s,
                      exposure_s=meta.exposure_s,
                      dose_e_per_A2=math.nan if dose is None else dose,
                      region_dose_e_per_A2=region_dose)
        return values

    def _finish_run(self, ring: FrameRing) -> None:
        try:
            self.source.stop()
        except Exception as exc:  # stopping a failed device may fail too: keep the first error
            log.info("stopping %s: %s", self.source.label, exc)
        self.sampler.stop()
        if self.recorder is not None:
            self.recorder.run_error = self._error
            curve = self.sampler.bias_curve_arrays()
            if curve:
                self.recorder.final_arrays["Acquisition/Bias"] = curve
        ring.close()
        if self.recorder is not None:
            self.recorder.join()
        with self._lock:
            self._state = RunState.ERROR if self._error else RunState.FINISHED
        self._notify()


def _message(exc: BaseException) -> str:
    if isinstance(exc, UserFacingError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
