"""X-ray spike detection and repair in EELS spectra and spectrum images.

An X-ray (or cosmic-ray) hit on the camera adds a large number of counts to one or a few
adjacent channels of one spectrum. Real structure, however sharp (white lines, the ZLP),
is shared by the neighbouring scan positions and changes smoothly from one to the next.
So a channel is a spike when

1. it stands far above the *expected* counts ``e``: for a spectrum image (ny, nx, n) the
   median of the 8 scan neighbours at that channel, scaled by the ratio of the pixel's
   total (channels above 1.5 × median + 8 sqrt(median) capped there) to the neighbours';
   for a line scan (n_pixels, n) the 2 neighbours along the line; for a single spectrum
   the running median over ``4·max_width + 1`` channels (a spectral test only, which
   cannot tell a spike from a real peak narrower than ``max_width``). In units of the
   noise ``σ = sqrt(gain · max(e, 1))`` (Poisson; the gain fitted robustly as the median
   squared residual over the median of χ²₁), ``z = (x − e)/σ > threshold``;
2. it also stands ``threshold/2`` σ above the scaled *maximum* of the neighbours: a sharp
   white line that moves or grows across a steep interface lies between its neighbours,
   a spike above all of them;
3. the run of such channels, grown into neighbours with ``z > 3``, is at most ``max_width``
   channels wide (a broad excess is real structure, e.g. a thicker pixel);
4. no channel within ``max_width + 2`` of the run has ``z < −threshold/2``: a peak that moved
   or changed shape (ZLP drift, chemical shift) leaves a negative lobe beside the positive
   one; a spike only adds counts.

Flagged channels are repaired from the expected counts ``e`` (neighbouring pixels) for
images and line scans, by linear interpolation along the spectrum for single spectra.
The input is never modified.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _spike_kernels as _k

__all__ = ["SpikeResult", "remove_spikes"]

GROW_THRESHOLD = 3.0
CHI2_1_MEDIAN = 0.454936423119572


@dataclass(frozen=True)
class SpikeResult:
    """Output of :func:`remove_spikes`.

    Attributes
    ----------
    mask : ndarray of bool, shape of the input
        True at spike channels.
    repaired : ndarray, shape of the input
        Copy with the spike channels replaced (float32 for float32 input, else float64).
    n_spikes : int
        Number of separate spikes (runs of flagged channels).
    gain : float
        Fitted noise variance per expected count (1 for an ideal counting detector).
    """

    mask: np.ndarray
    repaired: np.ndarray
    n_spikes: int
    gain: float


def _check(spectra, threshold, max_width):
    data = np.asarray(spectra)
    if np.iscomplexobj(data) or not np.issubdtype(data.dtype, np.number):
        raise ValueError(f"spectra must be real numbers, got dtype {data.dtype}")
    if not 1 <= data.ndim <= 3:
        raise ValueError("spectra must be a spectrum (n,), a line scan (n_pixels, n) or a "
                         f"spectrum image (ny, nx, n), got shape {data.shape}")
    if data.shape[-1] < 4 * max_width + 2:
        raise ValueError(f"spectra need at least {4 * max_width + 2} channels for "
                         f"max_width={max_width}, got {data.shape[-1]}")
    bad = ~np.isfinite(data)
    if np.any(bad):
        raise ValueError(f"spectra hold {int(bad.sum())} NaN or inf value(s): spike detection "
                         "needs finite counts")
    if not np.isfinite(threshold) or threshold <= GROW_THRESHOLD:
        raise ValueError(f"threshold must be > {GROW_THRESHOLD} (noise sigmas), got {threshold}")
    if int(max_width) != max_width or max_width < 1:
        raise ValueError(f"max_width must be a positive integer, got {max_width}")
    return data


def _reference(data, max_width):
    """Neighbour median and maximum (P, n) and the per-pixel scale (P,) of the expected counts."""
    n = data.shape[-1]
    dtype = np.float32 if data.dtype == np.float32 else np.float64
    x = np.ascontiguousarray(data, dtype=dtype)
    if data.ndim == 1:
        med = _k.running_median(x.reshape(1, n).astype(np.float64), 2 * max_width)
        return x.reshape(1, n), med, med, np.ones(1)
    image = x if data.ndim == 3 else x[None]
    med, top = _k.neighbour_stats(image)
    # the pixel's total relative to its neighbours', spikes capped so they cannot inflate it
    capped = np.minimum(image, 1.5 * med + 8.0 * np.sqrt(np.maximum(med, 1.0)))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = capped.sum(axis=-1, dtype=np.float64) / med.sum(axis=-1, dtype=np.float64)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    return x.reshape(-1, n), med.reshape(-1, n), top.reshape(-1, n), scale.reshape(-1)


def _gain(x, med, scale):
    """Noise variance per expected count: median of the squared residuals (every 7th channel
    with >= 5 expected counts) over the median of χ²₁."""
    flat = np.arange(0, x.size, 7)
    rows, cols = np.divmod(flat, x.shape[1])
    e = scale[rows] * med[rows, cols]
    keep = e >= 5.0
    if np.count_nonzero(keep) < 100:
        return 1.0
    ratio = (x[rows, cols][keep] - e[keep]) ** 2 / e[keep]
    gain = float(np.median(ratio) / CHI2_1_MEDIAN)
    return gain if gain > 0 else 1.0


def remove_spikes(spectra, *, threshold=8.0, max_width=3) -> SpikeResult:
    """Find X-ray spikes and return a mask and a repaired copy (module docstring).

    Parameters
    ----------
    spectra : ndarray of shape (n,), (n_pixels, n) or (ny, nx, n)
        Spectrum, line scan or spectrum image (counts, finite).
    threshold : float, optional
        Detection threshold in noise sigmas (> 3) above the neighbours' median; the channel
        must also stand ``threshold / 2`` sigmas above every neighbour.
    max_width : int, optional
        Widest spike (channels) after growing into the > 3σ neighbours.

    Returns
    -------
    SpikeResult
    """
    data = _check(spectra, threshold, max_width)
    x, med, top, scale = _reference(data, int(max_width))
    gain = _gain(x, med, scale)
    mask = _k.spike_runs(x, med, top, scale, gain, float(threshold), 0.5 * float(threshold),
                         GROW_THRESHOLD, int(max_width), 0.5 * float(threshold))
    dtype = np.float32 if data.dtype == np.float32 else np.float64
    if data.ndim == 1:
        repaired = _k.interpolate_runs(x.astype(np.float64), mask)[0].astype(dtype)
    else:
        repaired = x.copy()
        rows, cols = np.nonzero(mask)
        repaired[rows, cols] = scale[rows] * med[rows, cols]
    mask = mask.reshape(data.shape)
    starts = mask & ~np.concatenate([np.zeros(mask.shape[:-1] + (1,), bool), mask[..., :-1]], -1)
    return SpikeResult(mask=mask, repaired=repaired.reshape(data.shape).astype(dtype, copy=False),
                       n_spikes=int(starts.sum()), gain=gain)
