"""Poisson-weighted PCA: low-rank truth + Poisson noise, against HyperSpy's decomposition."""
import numpy as np
import pytest

from batteryscope.analysis.eels.pca import poisson_pca

NY, NX, N = 32, 40, 256


def _low_rank(rank=3):
    """Expected counts of a ``rank``-component SI: background decay, two edges, maps."""
    e = np.arange(N, dtype=float)
    comps = [100 * np.exp(-e / 120.0),
             30 * np.exp(-0.5 * ((e - 80) / 4.0) ** 2) + 5.0 * (e > 75),
             20 * np.exp(-0.5 * ((e - 160) / 3.0) ** 2) + 8.0 * (e > 150),
             15 * np.exp(-0.5 * ((e - 210) / 5.0) ** 2),
             40 * np.exp(-0.5 * ((e - 40) / 2.0) ** 2)]
    yy, xx = np.mgrid[:NY, :NX]
    maps = [1 + 0.5 * np.sin(xx / 7.0), np.clip((xx - 10) / 20.0, 0, 1),
            np.exp(-((yy - 16) ** 2 + (xx - 25) ** 2) / 100.0), (yy / NY) ** 2,
            np.cos(yy / 5.0) ** 2 * (xx > 20)]
    return np.stack(maps[:rank], -1) @ np.stack(comps[:rank])


@pytest.fixture(scope="module")
def data():
    truth = _low_rank(3)
    return truth, np.random.default_rng(1).poisson(truth).astype(np.float32)


def _weighted_rms(a, res):
    w = res.pixel_scale[..., None] * res.channel_scale
    return np.sqrt(np.mean((a / w) ** 2))


def test_rank_and_reconstruction_error_as_expected(data):
    truth, noisy = data
    before = noisy.copy()
    res = poisson_pca(noisy, n_components=12)
    np.testing.assert_array_equal(noisy, before)
    assert res.suggested_components == 3
    # weighted noise ≈ 1/sqrt(grand mean) (Keenan–Kotula: flat after weighting)
    assert abs(res.noise_level * np.sqrt(noisy.mean()) - 1) < 0.05
    p = NY * NX
    raw = _weighted_rms(noisy - truth, res)
    for k in (3, 5, 8):
        rec = res.reconstruct(k)
        assert rec.dtype == np.float32 and rec.shape == noisy.shape
        expected = res.noise_level * np.sqrt(k * (p + N - k) / (p * N))   # projected noise
        assert 0.85 < _weighted_rms(rec - truth, res) / expected < 1.25
    assert _weighted_rms(res.reconstruct() - truth, res) < 0.15 * raw
    # too few components leave signal behind: error far above the noise projection
    err2, err3 = (_weighted_rms(res.reconstruct(k) - truth, res) for k in (2, 3))
    assert err2 > 1.5 * err3
    assert np.all(res.reconstruct(0) == 0)
    # scree data: decreasing, and the whole sum of squares is accounted for
    ratio = res.explained_variance_ratio
    assert np.all(np.diff(ratio) <= 0) and ratio.sum() < 1
    noise_share = res.noise_level ** 2 * (p - 3) * (N - 3) / res.total_sum_of_squares
    assert abs(ratio[:3].sum() - (1 - noise_share)) < 1e-3


@pytest.mark.parametrize("rank", [1, 5])
def test_rank_suggestion_follows_the_truth(rank):
    truth = _low_rank(rank)             # each component above the detectability limit
    noisy = np.random.default_rng(rank).poisson(truth).astype(np.float64)
    res = poisson_pca(noisy, n_components=10)
    assert res.suggested_components == rank
    assert res.factors.dtype == np.float64


def test_plain_svd_on_gaussian_noise_with_negatives():
    truth = _low_rank(3) - 20.0               # an offset: negatives, and one more component
    noisy = truth + np.random.default_rng(3).normal(0, 2.0, truth.shape)
    res = poisson_pca(noisy, n_components=8, poisson=False)
    assert res.suggested_components == 4 and abs(res.noise_level / 2.0 - 1) < 0.05
    np.testing.assert_allclose(res.pixel_scale, 1.0)


def test_matches_hyperspy_poissonian_decomposition(data):
    hs = pytest.importorskip("hyperspy.api")
    truth, noisy = data
    ours = poisson_pca(noisy.astype(np.float64), n_components=10)
    sig = hs.signals.Signal1D(noisy.astype(np.float64))
    sig.decomposition(normalize_poissonian_noise=True, algorithm="SVD", output_dimension=10,
                      print_info=False)
    theirs = np.asarray(sig.learning_results.explained_variance)
    ours_rel = ours.singular_values ** 2 / ours.singular_values[0] ** 2
    theirs_rel = theirs / theirs[0]
    np.testing.assert_allclose(ours_rel[:3], theirs_rel[:3], rtol=1e-6)     # signal components
    np.testing.assert_allclose(ours_rel[3:], theirs_rel[3:], rtol=0.08)     # noise floor (sketch)
    model = sig.get_decomposition_model(3).data
    assert np.abs(model - ours.reconstruct(3)).max() < 1e-4 * truth.max()


@pytest.mark.parametrize("bad, kwargs, message", [
    (np.full((4, 5, 16), np.nan), {}, "NaN"),
    (-np.ones((4, 5, 16)), {}, "negative"),
    (np.ones(16), {}, "several pixels"),
    (np.ones((4, 5, 16)), {"n_components": 30}, "n_components"),
    (np.ones((4, 5, 16)), {"n_components": 2.5}, "n_components"),
    (np.ones((4, 5, 16), dtype=complex), {}, "real"),
])
def test_bad_input_gives_clear_errors(bad, kwargs, message):
    with pytest.raises(ValueError, match=message):
        poisson_pca(bad, **kwargs)


def test_reconstruct_rejects_bad_component_counts(data):
    res = poisson_pca(data[1], n_components=4)
    with pytest.raises(ValueError, match="n_components"):
        res.reconstruct(5)
