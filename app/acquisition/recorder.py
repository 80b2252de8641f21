"""The recorder: the ring buffer's lossless reader, writing every frame to a zspy store.

It runs on its own thread, writes whole chunks (a partial chunk is flushed after
``flush_interval_s`` and rewritten whole later), and releases ring slots only once their
chunk is on disk. It never skips a frame: if it falls a whole ring behind, the producer
blocks or stops (the ring's overflow policy). A write error (disk full, file too large,
folder removed) ends the recording with the file finished as far as it could be, and is
reported through ``on_error`` so the engine stops the run with that message.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Sequence

import numpy as np

from ..errors import FileSaveError
from .ring_buffer import FrameRing, RingClosed
from .zspy_store import ZspyRecording

log = logging.getLogger(__name__)


class Recorder:
    """Write every frame of ``ring`` from ``start_seq`` on into ``recording``.

    Parameters
    ----------
    ring : FrameRing
    recording : ZspyRecording
        Its datasets are filled from the ring fields named in ``fields`` (same order).
    fields : sequence of str
    per_frame : sequence of str
        Keys of the per-frame dicts (the ring's metadata) stored with each frame.
    flush_interval_s : float
        Longest time a frame waits in memory before it is written (partial chunk).
    on_error : callable(str), optional
        Called once, from the recorder thread, with the message of a write failure.
    """

    def __init__(self, ring: FrameRing, recording: ZspyRecording, fields: Sequence[str],
                 per_frame: Sequence[str], *, flush_interval_s: float = 0.5,
                 on_error: Callable[[str], None] | None = None):
        self.ring = ring
        self.recording = recording
        self.fields = list(fields)
        self.per_frame = list(per_frame)
        self.flush_interval_s = float(flush_interval_s)
        self.on_error = on_error
        self.error: str | None = None
        self.run_error: str | None = None   # set by the engine when the run itself failed
        #: group → {name: array} written into the file's metadata when the recording ends
        self.final_arrays: dict[str, dict[str, np.ndarray]] = {}
        self.frames_recorded = 0         # frames on disk (flagged recorded)
        self.bytes_written = 0
        self._start_seq = 0
        self._stop_at: int | None = None
        self._stop_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def path(self):
        return self.recording.path

    def start(self, start_seq: int) -> None:
        """Guarantee every frame from ``start_seq`` on and start writing."""
        self._start_seq = self.ring.attach_lossless_reader(start_seq)
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()

    def stop_at(self, seq: int) -> None:
        """Record frames before ``seq`` only, then finish (the run may go on without recording)."""
        with self._stop_lock:
            self._stop_at = int(seq)
        with self.ring._cond:
            self.ring._cond.notify_all()

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ----------------------------------------------------------------- thread
    def _run(self) -> None:
        chunk = self.recording.chunk_frames
        chunk_start = self._start_seq      # ring seq of the first frame of the current chunk
        flushed = 0                        # frames of the current chunk already on disk
        last_flush = time.monotonic()
        final = False
        status = "complete"
        try:
            while True:
                try:
                    committed = self.ring.wait_committed(chunk_start + flushed,
                                                         min(self.flush_interval_s, 0.1))
                except RingClosed:
                    committed, final = self.ring.committed, True
                with self._stop_lock:
                    if self._stop_at is not None and committed >= self._stop_at:
                        committed, final = self._stop_at, True
                available = min(committed - chunk_start, chunk)
                if available >= chunk:
                    self._write(chunk_start, chunk)
                    chunk_start, flushed = chunk_start + chunk, 0
                    self.ring.release(chunk_start)
                    last_flush = time.monotonic()
                    continue
                if available > flushed and (final or time.monotonic() - last_flush
                                            >= self.flush_interval_s):
                    self._write(chunk_start, available)
                    flushed, last_flush = available, time.monotonic()
                if final:
                    break
        except OSError as exc:
            reason = exc.strerror or str(exc)
            try:
                self.recording.flush_frames()      # flag what is on disk before counting
            except OSError:
                pass
            self.frames_recorded = self.recording.frames_written
            self.error = (f"{FileSaveError(self.path, reason)}; recording stopped, "
                          f"{self.frames_recorded} frames kept")
            status = f"stopped: {reason}"
            log.info("recorder: %s", self.error)
        except Exception as exc:  # a bug must still end the run visibly, not hang it
            self.error = f"recorder failed: {type(exc).__name__}: {exc}"
            status = f"stopped: {self.error}"
            log.exception("recorder failed")
        finally:
            if self.error and self.on_error is not None:
                self.on_error(self.error)          # stop the run first, then tidy the file
            self.ring.detach_lossless_reader()
        if status == "complete" and self.run_error:
            status = f"stopped: {self.run_error}"
        try:
            for group, arrays in self.final_arrays.items():
                self.recording.add_arrays(group, arrays)
            self.recording.finish(status)
            self.frames_recorded = self.recording.frames_written
        except (OSError, FileSaveError) as exc:
            log.info("recorder: could not finish %s: %s", self.path, exc)
            if self.error is None:
                self.error = str(exc)
                if self.on_error is not None:
                    self.on_error(self.error)

    def _block(self, name: str, seq: int, n: int) -> np.ndarray:
        buf = self.ring.buffers[name]
        slot = seq % self.ring.capacity
        if slot + n <= self.ring.capacity:
            return buf[slot:slot + n]                       # zero copy
        first = self.ring.capacity - slot
        return np.concatenate([buf[slot:], buf[:n - first]])  # wraps: only if misaligned

    def _write(self, seq: int, n: int) -> None:
        arrays = [self._block(name, seq, n) for name in self.fields]
        metas = [self.ring.meta(s) for s in range(seq, seq + n)]
        per_frame = {k: np.array([m.get(k, np.nan) for m in metas]) for k in self.per_frame}
        chunk_index = (seq - self._start_seq) // self.recording.chunk_frames
        self.recording.write_chunk(chunk_index, arrays, per_frame)
        self.bytes_written += sum(a.nbytes for a in arrays)
        self.frames_recorded = self.recording.frames_written
