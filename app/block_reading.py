"""Read a lazily opened dataset block by block in a worker: navigator first, memory next.

A large file is opened lazily so its first image appears at once. This job then makes
a single pass over the file, in blocks of whole chunks along the first array axis
(scan rows of a spectrum image, frames of a stack). Each block is

- reduced to its part of the navigator image (total counts per pixel) and of the summed
  spectrum, which are handed to the GUI as they grow, so the navigator fills in row by
  row instead of after a full read (HyperSpy's lazy ``plot`` computes it all first);
- kept, when the whole dataset fits the memory budget, in one preallocated array, so
  that ROI dragging and playback afterwards run on memory, not on the disk.

One pass reads each byte once. Cancelling stops after the current block; nothing of the
file is changed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Bytes read per block: large enough for disk throughput, small enough for fluent updates.
BLOCK_BYTES = 64 * 2**20


@dataclass
class BlockUpdate:
    """What is known after reading rows ``[0, rows_done)`` along the first axis."""

    rows_done: int
    rows_total: int
    navigator: np.ndarray | None      # (ny, nx) float32, NaN where not read yet (spectrum images)
    spectrum_sum: np.ndarray | None   # (n_energy,) float64 over the pixels read so far
    pixels_read: int

    @property
    def fraction(self) -> float:
        return self.rows_done / max(self.rows_total, 1)


@dataclass
class BlockReadResult:
    in_memory: np.ndarray | None      # the whole dataset, when it fits the budget
    last: BlockUpdate


def row_blocks(chunks_first_axis, itemsize_per_row: int, target_bytes: int = BLOCK_BYTES):
    """Group dask chunks along axis 0 into blocks of about ``target_bytes`` ([start, stop) pairs)."""
    blocks, start, size = [], 0, 0
    for rows in chunks_first_axis:
        size += rows
        if size * itemsize_per_row >= target_bytes:
            blocks.append((start, start + size))
            start, size = start + size, 0
    if size:
        blocks.append((start, start + size))
    return blocks


def read_in_blocks_job(context, data, *, keep: bool, spectrum_image: bool,
                       updates_per_second: float = 8.0) -> BlockReadResult:
    """Read dask array ``data`` block by block (see module docstring).

    Parameters
    ----------
    context : JobContext
        Progress, partial results (:class:`BlockUpdate`) and cancellation.
    data : dask array
        Navigation axes first; for a spectrum image (ny, nx, n_energy).
    keep : bool
        Keep the data in memory (caller checked it fits).
    spectrum_image : bool
        Compute navigator and summed spectrum as the blocks arrive.
    """
    import time

    import dask.array as da

    from .dask_gc_guard import install

    install()

    shape = tuple(int(n) for n in data.shape)
    row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * data.dtype.itemsize
    out = np.empty(shape, dtype=data.dtype) if keep else None
    navigator = spectrum_sum = None
    if spectrum_image:
        navigator = np.full(shape[:2], np.nan, dtype=np.float32)
        spectrum_sum = np.zeros(shape[-1], dtype=np.float64)
    pixels, last_emit = 0, 0.0
    blocks = row_blocks(data.chunks[0], row_bytes, BLOCK_BYTES)
    scratch = None if keep else np.empty((max((b - a for a, b in blocks), default=0),) + shape[1:],
                                         dtype=data.dtype)
    update = BlockUpdate(0, shape[0], navigator, spectrum_sum, 0)
    for start, stop in blocks:
        context.raise_if_cancelled()
        block = out[start:stop] if keep else scratch[:stop - start]
        # dask writes each chunk straight into its place: 2.5x faster than compute() then
        # copy (measured on a 2 GiB HDF5 file: 4.0 s against 10.2 s; the disk reads it in 2.4 s)
        da.store(data[start:stop], block, lock=False, scheduler="synchronous")
        if spectrum_image:
            navigator[start:stop] = block.sum(axis=-1, dtype=np.float64)
            spectrum_sum += block.reshape(-1, shape[-1]).sum(axis=0, dtype=np.float64)
            pixels += block.shape[0] * block.shape[1]
        update = BlockUpdate(stop, shape[0], navigator, spectrum_sum, pixels)
        now = time.monotonic()
        if stop == shape[0] or now - last_emit >= 1.0 / updates_per_second:
            last_emit = now
            context.progress(update.fraction, f"Reading {stop} of {shape[0]} rows")
            context.partial(BlockUpdate(stop, shape[0],
                                        None if navigator is None else navigator.copy(),
                                        None if spectrum_sum is None else spectrum_sum.copy(),
                                        pixels))
    return BlockReadResult(out, update)
