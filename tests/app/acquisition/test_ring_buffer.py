"""The ring buffer: every frame to the lossless reader, explicit overflow, latest-frame copies."""
import threading

import numpy as np
import pytest

from batteryscope.app.acquisition.ring_buffer import FrameRing, RingClosed, RingOverflow

FIELDS = {"frame": ((4, 3), np.uint16)}


def _produce(ring, n, errors):
    try:
        for i in range(n):
            seq, views = ring.begin_write()
            views["frame"][...] = i
            ring.commit(seq, {"i": i})
    except Exception as exc:  # surfaced by the test
        errors.append(exc)
    finally:
        ring.close()


def test_lossless_reader_sees_every_frame_in_order_through_a_small_ring():
    ring = FrameRing(3, FIELDS, overflow="block", block_timeout_s=5)
    ring.attach_lossless_reader(0)
    errors, seen = [], []
    t = threading.Thread(target=_produce, args=(ring, 500, errors))
    t.start()
    nxt = 0
    while True:
        try:
            committed = ring.wait_committed(nxt, 5)
        except RingClosed:
            break
        for seq in range(nxt, committed):
            frame = ring.slot_views(seq)["frame"]
            seen.append((int(frame[0, 0]), ring.meta(seq)["i"]))
        nxt = committed
        ring.release(nxt)
    t.join()
    assert not errors
    assert seen == [(i, i) for i in range(500)]
    assert ring.waits > 0            # the 3-slot ring really made the producer wait


def test_overflow_stop_refuses_at_once_and_block_gives_up_after_its_timeout():
    ring = FrameRing(2, FIELDS, overflow="stop")
    ring.attach_lossless_reader(0)
    for _ in range(2):
        seq, _ = ring.begin_write()
        ring.commit(seq)
    with pytest.raises(RingOverflow, match="ring buffer full"):
        ring.begin_write()
    ring.release(1)                   # the reader catches up by one: one more slot
    seq, _ = ring.begin_write()
    assert seq == 2

    ring = FrameRing(2, FIELDS, overflow="block", block_timeout_s=0.05)
    ring.attach_lossless_reader(0)
    for _ in range(2):
        seq, _ = ring.begin_write()
        ring.commit(seq)
    with pytest.raises(RingOverflow, match="for 0.05 s"):
        ring.begin_write()


def test_without_a_lossless_reader_the_ring_overwrites_and_latest_skips():
    ring = FrameRing(4, FIELDS)
    assert ring.latest() is None
    for i in range(10):
        seq, views = ring.begin_write()
        views["frame"][...] = i
        ring.commit(seq, i)
    latest = ring.latest()
    assert latest.seq == 9 and latest.meta == 9 and (latest.data == 9).all()
    assert ring.latest(newer_than=9) is None
    out = {"frame": np.empty((4, 3), np.uint16)}
    assert ring.latest(out).arrays["frame"] is out["frame"]


def test_latest_refuses_a_slot_the_producer_reclaimed_and_a_reopened_ring_is_empty():
    ring = FrameRing(2, FIELDS)
    seq, views = ring.begin_write()
    ring.commit(seq, "a")
    ring.begin_write()                 # filling slot 1
    ring.commit(1, "b")
    ring.begin_write()                 # now filling slot 0 again: frame 0 is gone
    assert ring.latest().seq == 1
    ring._committed = 1               # pretend frame 1 is not committed yet: newest is 0, reclaimed
    assert ring.latest() is None
    ring._committed = 2
    ring.commit(2, "c")
    ring.reopen(4)
    assert ring.latest() is None and ring.committed == 4


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="at least 2"):
        FrameRing(1, FIELDS)
    with pytest.raises(ValueError, match="overflow"):
        FrameRing(4, FIELDS, overflow="drop")
