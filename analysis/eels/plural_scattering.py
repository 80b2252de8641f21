"""Forward convolution of model components with a measured low-loss spectrum.

A core-loss spectrum recorded in a specimen of thickness t is its single-scattering
distribution convolved with the normalised low-loss spectrum of the same area (zero-loss
peak + plasmons + their multiples; Egerton, *EELS in the Electron Microscope*, 3rd ed.
2011, ch. 4.3). Instead of deconvolving the data (Fourier-ratio: noise amplified, and the
spectrum's ends wrap around), a model can be convolved with the low loss before it is
fitted. Energy losses only add, so channel ``i`` of the convolved model needs the
component only at channels ``≤ i`` (plus the zero-loss width): nothing beyond the end of
the recorded axis is needed, and an edge near the end of the range is modelled as well
as one in the middle. exspy's ``EELSModel(ll=...)`` does the same with per-pixel FFTs.

The power-law background is *not* convolved: it is fitted to the recorded counts, which
already contain plural scattering.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

from ..calibration import AxisCalibration

__all__ = ["LowLossKernel", "low_loss_kernel"]


@dataclass(frozen=True)
class LowLossKernel:
    """Normalised low-loss spectrum on the core-loss dispersion.

    ``weights[j]`` is the probability of an energy loss ``(j - zero_index) · dispersion``;
    they sum to 1.
    """

    weights: np.ndarray
    zero_index: int
    dispersion_eV: float

    def convolve(self, columns: np.ndarray) -> np.ndarray:
        """Convolve every column of ``columns`` (n_channels, k) along energy; same shape."""
        cols = np.asarray(columns, dtype=np.float64)
        squeeze = cols.ndim == 1
        if squeeze:
            cols = cols[:, None]
        n = cols.shape[0]
        full = fftconvolve(cols, self.weights[:, None], mode="full", axes=0)
        # channel i of the result: sum_j w[j] col[i - (j - zero_index)]
        out = full[self.zero_index:self.zero_index + n]
        return out[:, 0] if squeeze else out


def low_loss_kernel(low_loss, low_axis: AxisCalibration, dispersion_eV: float, *,
                    max_loss_eV: float | None = None) -> LowLossKernel:
    """Kernel from one low-loss spectrum (counts, 1-D) whose axis holds 0 eV.

    The zero-loss peak must sit at 0 eV on ``low_axis`` (align it first, e.g. with
    :func:`.low_loss.align_energy`): a residual offset shifts the whole model by the same
    amount. The spectrum is rebinned onto ``dispersion_eV`` conserving counts (linear
    interpolation of the cumulative sum), so low- and core-loss may use different
    dispersions. ``max_loss_eV`` truncates the plural-scattering tail (default: the whole
    axis). Negative counts (noise after dark subtraction) are kept: they average out.

    Raises ValueError for a spectrum without 0 eV on its axis, with non-finite values, or
    with a total that is not positive.
    """
    y = np.asarray(low_loss, dtype=np.float64)
    if y.ndim != 1 or y.size != low_axis.size:
        raise ValueError(f"low loss must be one spectrum of {low_axis.size} channels, "
                         f"got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("the low-loss spectrum has non-finite channels")
    if not low_axis.offset < 0 < low_axis.high:
        raise ValueError(f"the low-loss axis {low_axis.offset:g}–{low_axis.high:g} eV does "
                         "not hold the zero-loss peak at 0 eV")
    if not dispersion_eV > 0:
        raise ValueError(f"dispersion must be > 0, got {dispersion_eV}")
    total = float(y.sum())
    if not total > 0:
        raise ValueError("the low-loss spectrum has no counts")
    # channel edges of the low-loss axis and the cumulative counts at them
    edges = low_axis.offset - 0.5 * low_axis.scale + low_axis.scale * np.arange(low_axis.size + 1)
    cum = np.concatenate([[0.0], np.cumsum(y)])
    hi = low_axis.high + 0.5 * low_axis.scale if max_loss_eV is None else min(
        max_loss_eV, low_axis.high + 0.5 * low_axis.scale)
    lo = edges[0]
    k_lo = int(np.floor(lo / dispersion_eV + 0.5))
    k_hi = int(np.floor(hi / dispersion_eV - 0.5))
    centres = dispersion_eV * np.arange(k_lo, k_hi + 1)
    new_edges = np.concatenate([centres - 0.5 * dispersion_eV, [centres[-1] + 0.5 * dispersion_eV]])
    counts = np.diff(np.interp(new_edges, edges, cum))
    return LowLossKernel(weights=counts / counts.sum(), zero_index=-k_lo,
                         dispersion_eV=float(dispersion_eV))
