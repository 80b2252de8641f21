"""X-ray spike detection: injected spikes on the demo dual-EELS SI, sharp white lines kept."""
import numpy as np
import pytest

from batteryscope.analysis.eels import _spike_kernels as kernels
from batteryscope.analysis.eels.spikes import remove_spikes
from batteryscope.analysis.specimens.eels_acquisition import DualEELSAcquisition
from batteryscope.analysis.specimens.eels_line_shapes import gaussian_counts
from batteryscope.analysis.specimens.eels_spectra import white_lines
from batteryscope.analysis.specimens.layered_oxide_si import layered_oxide_dual_eels

E_CORE = DualEELSAcquisition().core_loss_axis().values()


def _edge(onset, peak, exponent=2.5):
    return np.where(E_CORE >= onset, peak * (onset / np.maximum(E_CORE, onset)) ** exponent, 0.0)


CROSS_SECTIONS = {"O_K": _edge(532.0, 23.0, 3.0), "Mn_L3": _edge(640.0, 32.0),
                  "Co_L3": _edge(779.0, 19.0), "Ni_L3": _edge(855.0, 14.0)}


@pytest.fixture(scope="module")
def demo():
    """Layered-oxide dual EELS: vacuum | surface layer | bulk, white lines, drifting ZLP."""
    spec = layered_oxide_dual_eels(CROSS_SECTIONS, seed=3, nav_shape=(16, 40), pixel_size_nm=0.25)
    return spec.signals[0].data, spec.signals[1].data


def _inject(clean, n_spikes, rng):
    """X-ray hits: 1–2 channels, 300–3000 counts, random pixels and channels."""
    data = clean.copy()
    truth = np.zeros(clean.shape, dtype=bool)
    ny, nx, n = clean.shape
    for _ in range(n_spikes):
        y, x, i, w = rng.integers(ny), rng.integers(nx), rng.integers(1, n - 3), rng.integers(1, 3)
        data[y, x, i:i + w] += rng.uniform(300.0, 3000.0)
        truth[y, x, i:i + w] = True
    return data, truth


def test_clean_demo_si_has_no_spikes_white_lines_and_zlp_kept(demo):
    low, core = demo
    for data in (low, core):
        res = remove_spikes(data)
        assert res.n_spikes == 0 and not res.mask.any()
        np.testing.assert_array_equal(res.repaired, data)
        assert res.repaired.dtype == np.float32
        assert 0.9 < res.gain < 1.6         # Poisson counts (+ the neighbour median's noise)


def test_injected_spikes_found_and_repaired(demo):
    _, core = demo
    data, truth = _inject(core, 200, np.random.default_rng(5))
    before = data.copy()
    res = remove_spikes(data)
    np.testing.assert_array_equal(data, before)                       # input untouched
    recall = np.count_nonzero(res.mask & truth) / np.count_nonzero(truth)
    false = np.count_nonzero(res.mask & ~truth)
    assert recall >= 0.95 and false <= 0.02 * np.count_nonzero(truth)
    # repaired channels are back to the clean counts within the noise
    err = (res.repaired - core)[truth & res.mask] / np.sqrt(np.maximum(core[truth & res.mask], 1))
    assert np.sqrt(np.mean(err ** 2)) < 3.0
    untouched = ~res.mask
    np.testing.assert_array_equal(res.repaired[untouched], data[untouched])


def _sharp_white_line_si(rng):
    """Core-loss SI across a steep interface: L3/L2 white lines (1 eV FWHM = 2 channels)
    whose strength jumps by 2× and position by 1.5 eV within one pixel, on a
    power-law background; Poisson counts."""
    ny, nx = 12, 24
    x = np.arange(nx)
    step = 0.5 * (1 + np.tanh((x - 11.5) / 0.5))                    # ~1 pixel wide
    area = 2e4 * (1 + step)
    l3 = 640.0 + 1.5 * step
    lines = white_lines(E_CORE, l3_eV=l3, l2_eV=l3 + 11.0, area=area, l3_l2_ratio=3.0 - step,
                        l3_fwhm_eV=1.0, l2_fwhm_eV=1.2)
    bg = 400.0 * (600.0 / E_CORE) ** 3
    expected = np.broadcast_to(bg + lines + 100.0 * (E_CORE > 640), (ny, nx, E_CORE.size))
    return expected, rng.poisson(expected).astype(np.float64)


def test_sharp_white_lines_across_an_interface_are_not_spikes():
    rng = np.random.default_rng(7)
    expected, data = _sharp_white_line_si(rng)
    peak = int(np.argmax(expected[0, 0]))
    assert expected[0, 0, peak] / expected[0, 0, peak - 3] > 5            # truly sharp
    assert remove_spikes(data).n_spikes == 0
    # a spike as tall as the white line next to it is still found
    spiked = data.copy()
    spiked[5, 11, peak + 30] += expected[5, 11].max()
    res = remove_spikes(spiked)
    assert res.n_spikes == 1 and res.mask[5, 11, peak + 30]


def test_single_spectrum_and_line_scan():
    e = np.arange(512, dtype=float)
    smooth = 200 * np.exp(-e / 300) + gaussian_counts(e, 250.0, 12.0, area=4e3)
    rng = np.random.default_rng(2)
    spec = rng.poisson(smooth).astype(np.float64)
    spec[100] += 400
    spec[300:302] += 250
    res = remove_spikes(spec)
    assert np.flatnonzero(res.mask).tolist() == [100, 300, 301] and res.n_spikes == 2
    assert abs(res.repaired[100] - smooth[100]) < 4 * np.sqrt(smooth[100])
    line = rng.poisson(np.broadcast_to(smooth, (30, 512))).astype(np.float32)
    line[7, 200] += 500
    res = remove_spikes(line)
    assert np.argwhere(res.mask).tolist() == [[7, 200]]


def test_neighbour_kernel_matches_numpy_on_odd_shapes():
    rng = np.random.default_rng(0)
    for shape in [(1, 1, 5), (3, 5, 7), (2, 1, 3), (4, 4, 1)]:
        data = rng.normal(size=shape).astype(np.float32)
        med, top = kernels.neighbour_stats(data)
        assert med.dtype == np.float32
        ny, nx, _ = shape
        for y in range(ny):
            for x in range(nx):
                nb = [data[yy, xx] for yy in range(y - 1, y + 2) for xx in range(x - 1, x + 2)
                      if (yy, xx) != (y, x) and 0 <= yy < ny and 0 <= xx < nx]
                np.testing.assert_allclose(med[y, x], np.median(nb, axis=0) if nb else data[y, x],
                                           rtol=1e-6)
                np.testing.assert_allclose(top[y, x], np.max(nb, axis=0) if nb else data[y, x])


def test_run_kernel_width_negative_lobe_and_neighbour_maximum():
    x = np.array([[0, 9, 0, 0, 9, 9, 9, 9, 0, 0, 0, 0, 9, -5, 0, 0, 0, 0, 9, 0.]])
    med = np.zeros_like(x)
    top = np.zeros_like(x)
    top[0, 18] = 8.0                                   # one neighbour nearly as high
    runs = kernels.spike_runs(x, med, top, np.ones(1), 1.0, 8.0, 4.0, 3.0, 3, 4.0)
    # 1: spike; 4–7: too wide; 12: negative lobe beside it; 18: not above every neighbour
    assert np.flatnonzero(runs[0]).tolist() == [1]


@pytest.mark.parametrize("bad, kwargs, message", [
    (np.full((3, 4, 64), np.nan), {}, "NaN"),
    (np.ones((2, 3, 4, 64)), {}, "spectrum image"),
    (np.ones(8), {}, "channels"),
    (np.ones((3, 4, 64)), {"threshold": 2.0}, "threshold"),
    (np.ones((3, 4, 64)), {"max_width": 0}, "max_width"),
    (np.ones((3, 4, 64), dtype=complex), {}, "real"),
])
def test_bad_input_gives_clear_errors(bad, kwargs, message):
    with pytest.raises(ValueError, match=message):
        remove_spikes(bad, **kwargs)
