"""A preallocated, bounded ring of frames: one producer, one lossless reader, any number of
latest-frame readers.

The producer fills slots in place (``begin_write`` → fill the views → ``commit``), so no
frame is allocated at acquisition rate. Frames get consecutive sequence numbers; frame
``seq`` lives in slot ``seq % capacity``.

Two kinds of reader, with opposite rules:

* the **lossless reader** (the recorder) sees every frame: while one is attached, a slot is
  not reused before the reader has released it. When the ring is full the producer either
  waits (``overflow="block"``, up to ``block_timeout_s``) or refuses at once
  (``overflow="stop"``); both end in :class:`RingOverflow`, never in a silent loss;
* **latest-frame readers** (display, live processors) copy the newest frame when they want
  one and may skip any number of frames; a copy that the producer overwrote while it was
  being taken is detected (sequence check) and retaken.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..errors import UserFacingError

OVERFLOW_POLICIES = ("block", "stop")


class RingOverflow(UserFacingError):
    """The lossless reader fell a whole ring behind: the run must stop (nothing dropped silently)."""


class RingClosed(Exception):
    """The ring was closed while a reader or the producer was waiting."""


@dataclass(frozen=True)
class LatestFrame:
    """A copy of the newest frame: ``arrays`` maps field name to the copied array."""

    seq: int
    arrays: Mapping[str, np.ndarray]
    meta: Any

    @property
    def data(self) -> np.ndarray:
        """The first field (``"frame"`` for a camera)."""
        return next(iter(self.arrays.values()))


class FrameRing:
    """Bounded ring of ``capacity`` slots, each holding one array per field.

    Parameters
    ----------
    capacity : int
        Number of slots (≥ 2).
    fields : mapping of str to (shape, dtype)
        The arrays one frame consists of, e.g. ``{"frame": ((1024, 1024), np.uint16)}``.
    overflow : {"block", "stop"}
        What the producer does when the lossless reader is a whole ring behind.
    block_timeout_s : float
        With ``overflow="block"``: how long the producer waits before giving up.
    """

    def __init__(self, capacity: int, fields: Mapping[str, tuple], *, overflow: str = "block",
                 block_timeout_s: float = 2.0):
        if int(capacity) < 2:
            raise ValueError(f"ring capacity must be at least 2, got {capacity}")
        if overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"overflow must be one of {OVERFLOW_POLICIES}, got {overflow!r}")
        if not fields:
            raise ValueError("a ring needs at least one field")
        self.capacity = int(capacity)
        self.overflow = overflow
        self.block_timeout_s = float(block_timeout_s)
        self.buffers = {name: np.empty((self.capacity,) + tuple(shape), dtype=dtype)
                        for name, (shape, dtype) in fields.items()}
        for buf in self.buffers.values():
            buf.fill(0)        # touch every page now, not at the first frames of a run
        self._meta: list[Any] = [None] * self.capacity
        self._cond = threading.Condition()
        self._claimed = 0      # frames whose slot the producer has started to fill
        self._committed = 0    # frames readable (seq < _committed)
        self._released = 0     # lossless reader is done with seq < _released
        self._lossless = False
        self._closed = False
        self._first = 0        # first frame of the current run
        self.waits = 0         # times the producer had to wait for the lossless reader

    # ------------------------------------------------------------------ state
    @property
    def committed(self) -> int:
        """Number of frames committed so far (the next frame's sequence number)."""
        return self._committed

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self.buffers.values())

    def slot_views(self, seq: int) -> dict[str, np.ndarray]:
        """The arrays of the slot holding frame ``seq`` (views, not copies)."""
        slot = seq % self.capacity
        return {name: buf[slot] for name, buf in self.buffers.items()}

    def meta(self, seq: int) -> Any:
        return self._meta[seq % self.capacity]

    def attach_lossless_reader(self, start_seq: int | None = None) -> int:
        """Start guaranteeing every frame from ``start_seq`` (default: the next one) to a reader."""
        with self._cond:
            self._lossless = True
            self._released = self._committed if start_seq is None else int(start_seq)
            return self._released

    def detach_lossless_reader(self) -> None:
        with self._cond:
            self._lossless = False
            self._cond.notify_all()

    def reopen(self, start_seq: int) -> None:
        """Make the ring ready for a new run whose first frame is ``start_seq`` (≥ committed).

        Only between runs (no producer). Frames of the previous run are no longer readable.
        """
        with self._cond:
            if start_seq < self._committed:
                raise ValueError("a new run cannot start before the frames already committed")
            self._meta = [None] * self.capacity
            self._claimed = self._committed = self._released = self._first = int(start_seq)
            self._closed = False
            self._lossless = False
            self.waits = 0

    def close(self) -> None:
        """Wake every waiter; later waits raise RingClosed once nothing is left to read."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # --------------------------------------------------------------- producer
    def begin_write(self) -> tuple[int, dict[str, np.ndarray]]:
        """Claim the next slot: returns (seq, views to fill in place).

        Raises RingOverflow when the lossless reader is a whole ring behind and the policy
        (or the block timeout) says stop; RingClosed if the ring was closed meanwhile.
        """
        with self._cond:
            seq = self._claimed
            if self._lossless and seq - self._released >= self.capacity:
                if self.overflow == "stop":
                    raise RingOverflow(self._overflow_message())
                self.waits += 1
                deadline = time.monotonic() + self.block_timeout_s
                while self._lossless and seq - self._released >= self.capacity:
                    if self._closed:
                        raise RingClosed("ring closed")
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise RingOverflow(self._overflow_message()
                                           + f" for {self.block_timeout_s:g} s")
                    self._cond.wait(left)
            self._claimed = seq + 1
        return seq, self.slot_views(seq)

    def _overflow_message(self) -> str:
        return (f"recorder fell {self.capacity} frames behind the camera (ring buffer full): "
                "the disk is slower than the camera")

    def commit(self, seq: int, meta: Any = None) -> None:
        """Publish frame ``seq`` (filled since ``begin_write``) with its metadata."""
        with self._cond:
            if seq != self._committed:
                raise RuntimeError(f"commit out of order: {seq} after {self._committed}")
            self._meta[seq % self.capacity] = meta
            self._committed = seq + 1
            self._cond.notify_all()

    def abandon(self, seq: int) -> None:
        """Give back a slot claimed by ``begin_write`` that was not filled (device error)."""
        with self._cond:
            if seq == self._claimed - 1 and seq == self._committed:
                self._claimed = seq

    # --------------------------------------------------------- lossless reader
    def wait_committed(self, after_seq: int, timeout_s: float) -> int:
        """Wait until some frame ≥ ``after_seq`` is committed; return the committed count.

        Returns early (possibly with nothing new) on timeout; raises RingClosed when the
        ring is closed and every frame has been read.
        """
        with self._cond:
            deadline = time.monotonic() + timeout_s
            while self._committed <= after_seq:
                if self._closed:
                    raise RingClosed("ring closed")
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return self._committed

    def release(self, upto_seq: int) -> None:
        """The lossless reader is done with every frame < ``upto_seq``."""
        with self._cond:
            if upto_seq > self._released:
                self._released = min(int(upto_seq), self._committed)
                self._cond.notify_all()

    # ----------------------------------------------------- latest-frame readers
    def latest(self, out: Mapping[str, np.ndarray] | None = None, *,
               newer_than: int = -1) -> LatestFrame | None:
        """Copy the newest frame (into ``out`` if given); None if none newer than ``newer_than``.

        Never blocks the producer: if the slot was reused during the copy, the copy is
        retaken from the then newest frame.
        """
        for _ in range(100):
            seq = self._committed - 1
            if seq < self._first or seq <= newer_than:   # nothing (of this run) yet
                return None
            views = self.slot_views(seq)
            meta = self._meta[seq % self.capacity]
            if out is None:
                arrays = {k: v.copy() for k, v in views.items()}
            else:
                for k, v in views.items():
                    np.copyto(out[k], v)
                arrays = dict(out)
            if self._claimed - seq <= self.capacity:   # slot not reclaimed during the copy
                return LatestFrame(seq, arrays, meta)
        return None  # the producer lapped every attempt: skip this display tick
