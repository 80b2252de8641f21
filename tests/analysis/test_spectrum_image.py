"""Spectrum-image kernels against plain numpy on small, oddly shaped arrays."""
import numpy as np
import pytest

from batteryscope.analysis import spectrum_sums
from batteryscope.analysis.calibration import AxisCalibration
from batteryscope.analysis.roi_geometry import EllipseROI, LineROI, PolygonROI
from batteryscope.analysis.spectrum_image import (RectangleSumTracker, energy_channel_slice,
                                                  energy_window_map, line_pixels, line_scan,
                                                  masked_sum, mean_spectra_at, rectangle_sum)

SHAPE = (7, 13, 23)
DTYPES = [np.float32, np.float64, np.uint16, np.int32]
Y = AxisCalibration("y", "nm", 0.5, 1.0, SHAPE[0], navigate=True)
X = AxisCalibration("x", "nm", 0.5, -2.0, SHAPE[1], navigate=True)
E = AxisCalibration("Energy loss", "eV", 0.25, 500.0, SHAPE[2])


def make(dtype, shape=SHAPE, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return (rng.random(shape) * 1000).astype(dtype)
    return rng.integers(0, 3000, shape).astype(dtype)


def reference_rect(data, rows, cols):
    return data[rows, cols].sum(axis=(0, 1), dtype=np.float64)


@pytest.fixture(params=[True, False], ids=["parallel", "serial"])
def parallel(request, monkeypatch):
    """Run each kernel test both through the parallel kernels and the serial ones."""
    if request.param:
        monkeypatch.setattr(spectrum_sums, "PARALLEL_MIN_BYTES", 0)
    else:
        monkeypatch.setattr(spectrum_sums, "PARALLEL_MIN_BYTES", 1 << 62)
    return request.param


# ------------------------------------------------------------------ rectangle_sum

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows, cols", [(slice(0, 7), slice(0, 13)), (slice(2, 5), slice(3, 12)),
                                        (slice(6, 7), slice(12, 13)), (slice(-3, None), slice(None, 4)),
                                        (slice(1, 100), slice(5, 6))])
def test_rectangle_sum_matches_numpy(dtype, rows, cols, parallel):
    data = make(dtype)
    out = rectangle_sum(data, rows, cols)
    assert out.dtype == np.float64 and out.shape == (SHAPE[2],)
    np.testing.assert_allclose(out, reference_rect(data, rows, cols), rtol=1e-12)


def test_rectangle_sum_integer_sums_are_exact():
    data = make(np.uint16)
    assert np.array_equal(rectangle_sum(data, slice(1, 6), slice(2, 11)),
                          reference_rect(data, slice(1, 6), slice(2, 11)))


@pytest.mark.parametrize("rows, cols", [(slice(3, 3), slice(0, 5)), (slice(5, 2), slice(0, 5)),
                                        (slice(0, 5), slice(20, 30))])
def test_rectangle_sum_of_empty_region_is_zero(rows, cols):
    out = rectangle_sum(make(np.float32), rows, cols)
    assert np.array_equal(out, np.zeros(SHAPE[2]))


def test_rectangle_sum_of_non_contiguous_and_odd_dtypes_falls_back_to_numpy():
    data = make(np.float64)
    view = data[:, ::2, 1:]                                   # strided
    np.testing.assert_allclose(rectangle_sum(view, slice(1, 5), slice(0, 4)),
                               reference_rect(view, slice(1, 5), slice(0, 4)), rtol=1e-12)
    half = data.astype(np.float16)
    np.testing.assert_allclose(rectangle_sum(half, slice(0, 3), slice(0, 3)),
                               reference_rect(half, slice(0, 3), slice(0, 3)), rtol=1e-12)
    flags = data > 500
    np.testing.assert_array_equal(rectangle_sum(flags, slice(0, 7), slice(0, 13)),
                                  flags.sum(axis=(0, 1)))


def test_rectangle_sum_propagates_nan_like_numpy():
    data = make(np.float32)
    data[3, 4, 5] = np.nan
    out = rectangle_sum(data, slice(2, 5), slice(3, 6))
    assert np.isnan(out[5]) and np.isfinite(np.delete(out, 5)).all()
    np.testing.assert_allclose(out, reference_rect(data, slice(2, 5), slice(3, 6)), rtol=1e-12)


@pytest.mark.parametrize("bad, message", [(np.zeros((4, 5)), "shape"),
                                          (np.zeros((2, 3, 4), complex), "real"),
                                          (np.zeros((2, 3, 4), object), "real")])
def test_rectangle_sum_rejects_bad_data(bad, message):
    with pytest.raises(ValueError, match=message):
        rectangle_sum(bad, slice(0, 1), slice(0, 1))


def test_rectangle_sum_rejects_strided_slices():
    with pytest.raises(ValueError, match="step 1"):
        rectangle_sum(make(np.float32), slice(0, 5, 2), slice(0, 3))
    with pytest.raises(ValueError, match="slice"):
        rectangle_sum(make(np.float32), 3, slice(0, 3))


# ------------------------------------------------------------------ masked_sum

@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_sum_matches_numpy_for_ellipse_and_polygon(dtype, parallel):
    data = make(dtype)
    for roi in (EllipseROI(1.0, 2.5, 1.6, 1.2), PolygonROI([(-2, 1), (3, 1.5), (0.5, 4)])):
        mask = roi.mask(Y, X)
        assert mask.any()
        np.testing.assert_allclose(masked_sum(data, mask),
                                   data[mask].sum(axis=0, dtype=np.float64), rtol=1e-12)


def test_masked_sum_of_empty_mask_is_zero_and_shape_is_checked():
    data = make(np.float32)
    assert np.array_equal(masked_sum(data, np.zeros(SHAPE[:2], bool)), np.zeros(SHAPE[2]))
    with pytest.raises(ValueError, match="mask of shape"):
        masked_sum(data, np.ones((3, 3), bool))


# ------------------------------------------------------------------ energy windows

def test_energy_channel_slice_takes_channel_centres_inside_either_order():
    # centres 500.0, 500.25, ... ; [500.2, 501.0] holds 500.25 .. 501.0 -> channels 1..4
    assert energy_channel_slice(E, 500.2, 501.0) == slice(1, 5)
    assert energy_channel_slice(E, 501.0, 500.2) == slice(1, 5)
    assert energy_channel_slice(E, 400.0, 500.1) == slice(0, 1)   # clipped to the axis
    assert energy_channel_slice(E, 505.4, 900.0) == slice(22, 23)


@pytest.mark.parametrize("lo, hi, message", [(400, 450, "outside"), (600, 700, "outside"),
                                             (500.3, 500.4, "no channel"), (np.nan, 501, "finite")])
def test_energy_channel_slice_rejects_bad_windows(lo, hi, message):
    with pytest.raises(ValueError, match=message):
        energy_channel_slice(E, lo, hi)


@pytest.mark.parametrize("dtype", DTYPES)
def test_energy_window_map_matches_numpy(dtype, parallel):
    data = make(dtype)
    out = energy_window_map(data, E, 503.0, 501.1)
    assert out.dtype == np.float32 and out.shape == SHAPE[:2]
    expected = data[:, :, 5:13].sum(axis=2, dtype=np.float64)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_energy_window_map_on_a_strided_view_and_nan():
    data = make(np.float64)
    view = data[::2]
    axis = E
    np.testing.assert_allclose(energy_window_map(view, axis, 500, 502),
                               view[:, :, :9].sum(axis=2), rtol=1e-6)
    data[2, 3, 4] = np.nan
    out = energy_window_map(data, axis, 500, 502)
    assert np.isnan(out[2, 3]) and np.isfinite(np.delete(out.ravel(), 2 * 13 + 3)).all()


def test_energy_window_map_checks_the_axis():
    with pytest.raises(ValueError, match="does not match"):
        energy_window_map(make(np.float32), AxisCalibration("E", "eV", 1, 0, 10), 1, 5)


# ------------------------------------------------------------------ line scans

def test_horizontal_line_of_zero_width_reads_one_row():
    data = make(np.float32)
    row, c0, c1 = 3, 2, 11
    line = LineROI(X.values()[c0], Y.values()[row], X.values()[c1], Y.values()[row], 0.0)
    axis, spectra = line_scan(data, Y, X, line)
    assert spectra.dtype == np.float32 and spectra.shape == (c1 - c0 + 1, SHAPE[2])
    np.testing.assert_allclose(spectra, data[row, c0:c1 + 1], rtol=1e-6)
    assert (axis.name, axis.units, axis.offset, axis.size) == ("Position", "nm", 0.0, c1 - c0 + 1)
    assert axis.scale == pytest.approx(X.scale)


def test_vertical_line_with_width_averages_neighbouring_columns():
    data = make(np.float64)
    col = 6
    line = LineROI(X.values()[col], Y.values()[6], X.values()[col], Y.values()[0], 3 * X.scale)
    axis, spectra = line_scan(data, Y, X, line)
    expected = data[::-1, col - 1:col + 2].mean(axis=1)      # from row 6 up to row 0
    np.testing.assert_allclose(spectra, expected, rtol=1e-6)
    assert axis.size == 7


def test_diagonal_line_samples_one_pixel_apart_at_the_nearest_pixel():
    data = make(np.int32)
    line = LineROI(X.values()[1], Y.values()[0], X.values()[7], Y.values()[6], 0.0)
    axis, spectra = line_scan(data, Y, X, line)
    n = int(np.floor(6 * np.sqrt(2))) + 1                    # 9 samples, one pixel apart
    t = np.arange(n) / (6 * np.sqrt(2))
    rows = np.floor(6 * t + 0.5).astype(int)
    cols = np.floor(1 + 6 * t + 0.5).astype(int)
    np.testing.assert_allclose(spectra, data[rows, cols], rtol=1e-6)
    assert axis.scale == pytest.approx(6 * np.sqrt(2) * 0.5 / (6 * np.sqrt(2)))


def test_line_partly_outside_the_image_gives_nan_there():
    data = make(np.float32)
    line = LineROI(X.values()[10], Y.values()[2], X.values()[10] + 5 * X.scale, Y.values()[2], 0)
    _, spectra = line_scan(data, Y, X, line)
    np.testing.assert_allclose(spectra[:3], data[2, 10:13], rtol=1e-6)
    assert np.isnan(spectra[3:]).all()


def test_zero_length_line_is_one_pixel():
    data = make(np.float32)
    axis, spectra = line_scan(data, Y, X, LineROI(X.values()[4], Y.values()[5], X.values()[4],
                                                  Y.values()[5]))
    assert axis.size == 1
    np.testing.assert_allclose(spectra[0], data[5, 4], rtol=1e-6)


def test_mean_spectra_at_matches_fancy_indexing(parallel):
    data = make(np.float32)
    rng = np.random.default_rng(4)
    rows = rng.integers(0, SHAPE[0], (11, 3))
    cols = rng.integers(0, SHAPE[1], (11, 3))
    rows[2, 1] = cols[2, 1] = -1                             # missing sample
    rows[5] = cols[5] = -1                                   # no sample at all
    out = mean_spectra_at(data, rows, cols)
    for k in range(11):
        ok = rows[k] >= 0
        if ok.any():
            np.testing.assert_allclose(out[k], data[rows[k][ok], cols[k][ok]].mean(axis=0), rtol=1e-6)
        else:
            assert np.isnan(out[k]).all()
    strided = data[:, :, ::2]
    np.testing.assert_allclose(mean_spectra_at(strided, rows[:2], cols[:2]),
                               strided[rows[:2], cols[:2]].mean(axis=1), rtol=1e-6)
    with pytest.raises(ValueError, match="outside"):
        mean_spectra_at(data, rows + 10, cols)


def test_line_pixels_work_on_a_sub_block_for_lazy_data():
    """The chunk-friendly path: gather from the bounding box only."""
    data = make(np.float32)
    line = LineROI(-1.5, 1.5, 3.5, 4.0, 1.0)
    _, rows, cols = line_pixels(Y, X, line)
    ok = rows >= 0
    r0, r1, c0, c1 = rows[ok].min(), rows[ok].max() + 1, cols[ok].min(), cols[ok].max() + 1
    block = data[r0:r1, c0:c1].copy()
    local = mean_spectra_at(block, np.where(ok, rows - r0, -1), np.where(ok, cols - c0, -1))
    np.testing.assert_array_equal(local, line_scan(data, Y, X, line)[1])


# ------------------------------------------------------------------ tracker

@pytest.mark.parametrize("dtype", [np.float32, np.uint16, np.float64])
def test_tracker_follows_a_random_drag_like_numpy(dtype):
    data = make(dtype, shape=(31, 37, 19), seed=1)
    rng = np.random.default_rng(2)
    tracker = RectangleSumTracker(data, recompute_every=10_000)
    r0, c0, h, w = 5, 5, 9, 12
    for move in range(200):
        if move % 50 == 49:                                  # a resize now and then
            h, w = rng.integers(1, 20), rng.integers(1, 25)
        elif move % 37 == 0:                                 # a jump
            r0, c0 = rng.integers(-5, 30), rng.integers(-5, 35)
        else:                                                # a drag step, kept mostly inside
            r0 = int(np.clip(r0 + rng.integers(-2, 3), -2, 31 - h + 2))
            c0 = int(np.clip(c0 + rng.integers(-2, 3), -2, 37 - w + 2))
        rows, cols = slice(max(r0, 0), max(r0 + h, 0)), slice(max(c0, 0), max(c0 + w, 0))
        out = tracker.update(rows, cols)
        expected = reference_rect(data, rows, cols)
        if np.dtype(dtype).kind == "u":
            assert np.array_equal(out, expected), move
        else:
            np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())
    assert tracker.n_incremental > 100                      # mostly incremental
    assert tracker.n_full >= 4                               # jumps and resizes re-read


def test_tracker_reads_strips_not_the_whole_rectangle(monkeypatch):
    data = make(np.float32, shape=(40, 40, 8))
    reads = []
    original = spectrum_sums.block_sum

    def counting(d, r0, r1, c0, c1):
        reads.append((r1 - r0) * (c1 - c0))
        return original(d, r0, r1, c0, c1)

    import batteryscope.analysis.spectrum_image as si
    monkeypatch.setattr(si, "block_sum", counting)
    tracker = RectangleSumTracker(data)
    tracker.update(slice(10, 30), slice(10, 30))
    assert reads == [400]
    reads.clear()
    tracker.update(slice(11, 31), slice(12, 32))              # one row down, two columns right
    assert sum(reads) == 2 * (20 + 2 * 19) and len(reads) == 4


def test_tracker_recovers_from_nan_and_recomputes_periodically():
    data = make(np.float64, shape=(12, 12, 5))
    data[4, 4, 2] = np.nan
    tracker = RectangleSumTracker(data, recompute_every=3)
    out = tracker.update(slice(3, 6), slice(3, 6))
    assert np.isnan(out[2])
    out = tracker.update(slice(3, 6), slice(5, 8))            # NaN pixel left the rectangle
    np.testing.assert_allclose(out, reference_rect(data, slice(3, 6), slice(5, 8)), rtol=1e-12)
    assert np.isfinite(out).all()
    before = tracker.n_full
    for k in range(8):                                        # 3 incremental, then a full one
        tracker.update(slice(3, 6), slice(6 + k % 2, 9 + k % 2))
    assert tracker.n_full - before == 2 and tracker.n_incremental == 6
    assert tracker.region == (slice(3, 6), slice(7, 10))
    np.testing.assert_allclose(tracker.full_recompute(),
                               reference_rect(data, *tracker.region), rtol=1e-12)


def test_tracker_returns_copies_and_handles_empty_rectangles():
    data = make(np.float32)
    tracker = RectangleSumTracker(data)
    assert tracker.region is None
    out = tracker.update(slice(1, 3), slice(1, 3))
    out[:] = -1
    assert (tracker.update(slice(1, 3), slice(1, 3)) >= 0).all()
    assert np.array_equal(tracker.update(slice(4, 4), slice(1, 3)), np.zeros(SHAPE[2]))
    with pytest.raises(ValueError, match="recompute_every"):
        RectangleSumTracker(data, recompute_every=0)


@pytest.mark.parametrize("dtype", [np.float32, np.uint16, np.complex64])
def test_warm_up_compiles_for_the_dtype_or_skips_unsupported(dtype):
    from batteryscope.analysis.spectrum_sums import warm_up

    warm_up(dtype)
    name = np.dtype(dtype).name
    compiled = [str(sig) for kernel in (spectrum_sums._rect_sum_serial, spectrum_sums._pixel_list_sum,
                                        spectrum_sums._channel_window_sum, spectrum_sums._gather_mean)
                for sig in kernel.signatures]
    if np.dtype(dtype).kind == "c":  # not a kernel dtype: nothing compiled, nothing raised
        assert not any(name in sig for sig in compiled)
    else:
        assert sum(name in sig for sig in compiled) >= 4
