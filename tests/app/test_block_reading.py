"""Reading a lazy dataset block by block: navigator and memory copy equal numpy, cancel works."""
import dask.array as da
import numpy as np
import pytest

from batteryscope.app.block_reading import read_in_blocks_job, row_blocks
from batteryscope.app.jobs import JobCancelled


class _Context:
    def __init__(self, cancel_after=None):
        self.partials, self.cancel_after = [], cancel_after

    def progress(self, fraction, message=""):
        pass

    def partial(self, value):
        self.partials.append(value)
        if self.cancel_after is not None and len(self.partials) >= self.cancel_after:
            raise JobCancelled()

    def raise_if_cancelled(self):
        pass


def test_row_blocks_follow_chunks_and_cover_all_rows():
    assert row_blocks((4, 4, 4, 3), itemsize_per_row=10, target_bytes=75) == [(0, 8), (8, 15)]
    assert row_blocks((5,), itemsize_per_row=10, target_bytes=1) == [(0, 5)]
    assert row_blocks((), itemsize_per_row=10) == []


@pytest.mark.parametrize("keep", [True, False])
def test_spectrum_image_navigator_and_sum_equal_numpy(keep, monkeypatch):
    import batteryscope.app.block_reading as br

    monkeypatch.setattr(br, "BLOCK_BYTES", 3 * 11 * 17 * 4)  # several blocks on a tiny array
    rng = np.random.default_rng(0)
    truth = rng.poisson(5.0, (13, 11, 17)).astype(np.float32)
    data = da.from_array(truth, chunks=(3, 11, 17))
    context = _Context()
    result = read_in_blocks_job(context, data, keep=keep, spectrum_image=True, updates_per_second=1e9)
    np.testing.assert_allclose(result.last.navigator, truth.sum(-1), rtol=1e-6)
    np.testing.assert_allclose(result.last.spectrum_sum, truth.sum((0, 1)), rtol=1e-9)
    assert result.last.pixels_read == 13 * 11
    if keep:
        np.testing.assert_array_equal(result.in_memory, truth)
    else:
        assert result.in_memory is None
    # the navigator fills in row by row: unread rows are NaN in the first update
    first = context.partials[0]
    assert 0 < first.rows_done < 13
    assert np.isnan(first.navigator[first.rows_done:]).all()
    assert np.isfinite(first.navigator[:first.rows_done]).all()


def test_cancelled_read_stops_early():
    data = da.zeros((40, 8, 8), chunks=(1, 8, 8), dtype=np.float32)
    import batteryscope.app.block_reading as br

    old = br.BLOCK_BYTES
    br.BLOCK_BYTES = 1
    try:
        with pytest.raises(JobCancelled):
            read_in_blocks_job(_Context(cancel_after=2), data, keep=True, spectrum_image=False,
                               updates_per_second=1e9)
    finally:
        br.BLOCK_BYTES = old
