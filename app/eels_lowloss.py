"""The paired low-loss SI in ``batteryscope eels``: drift alignment, t/λ, plural scattering.

Every pixel of both SIs is shifted onto its zero-loss peak; the ROI's sums then give the
single-scattering core loss (Fourier-ratio deconvolution, used for window integration and
white lines) and the normalised low-loss kernel the model fit convolves its components
with (:mod:`batteryscope.analysis.eels.plural_scattering`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from batteryscope.analysis.calibration import AxisCalibration

from .eels_quantify import QuantificationError, _signal_data, _sum_roi


@dataclass(frozen=True)
class LowLossCorrection:
    """What the paired low loss gives the quantification of one ROI.

    aligned: core-loss data, every pixel shifted onto its zero-loss peak (NaN where shifted
    off the axis). core_sum: the ROI sum of ``aligned``, NaN in channels some ROI pixel
    lacks. single_scattering: Fourier-ratio deconvolution of the ROI sum (for white lines
    and window integration). kernel: the ROI's normalised low loss on the core-loss
    dispersion (for the model fit, which convolves instead of deconvolving). info: the
    JSON fields (t/λ, drift, ...). t_map: t/λ per pixel.
    """

    aligned: np.ndarray
    core_sum: np.ndarray
    single_scattering: np.ndarray
    kernel: object
    info: dict
    t_map: np.ndarray
    low_aligned: np.ndarray
    low_axis: AxisCalibration

    def single_scattering_maps(self, core_axis: AxisCalibration) -> np.ndarray:
        """Every pixel's single-scattering core loss (Fourier-ratio with its own low loss,
        float32); channels the alignment shifted off the axis are NaN again, and so is every
        channel of a pixel whose deconvolution is not valid."""
        from batteryscope.analysis.eels.deconvolution import fourier_ratio_deconvolution

        missing = np.isnan(self.aligned)
        result = fourier_ratio_deconvolution(np.nan_to_num(self.aligned), core_axis,
                                             np.nan_to_num(self.low_aligned), self.low_axis)
        ssd = np.asarray(result.single_scattering, dtype=np.float32)
        ssd[missing] = np.nan
        ssd[~np.asarray(result.valid)] = np.nan
        return ssd


def low_loss_correction(core_signal, lowloss_path, roi) -> LowLossCorrection:
    """Use the paired low-loss SI: per-pixel energy drift from its zero-loss peak (both SIs
    aligned on it), t/λ, the ROI's single-scattering core loss by Fourier-ratio
    deconvolution, and the ROI's low-loss kernel for forward convolution."""
    from batteryscope.analysis.eels.deconvolution import fourier_ratio_deconvolution
    from batteryscope.analysis.eels.low_loss import (align_energy, t_over_lambda,
                                                     zero_loss_position)
    from batteryscope.analysis.eels.plural_scattering import low_loss_kernel

    from .hyperspy_adapter import load_signals
    from .signal_description import axes_of

    signals = load_signals(lowloss_path)
    if len(signals) != 1:
        raise QuantificationError(f"{lowloss_path}: holds {len(signals)} datasets; expected "
                                  "one low-loss spectrum (image)")
    low = signals[0]
    low_e = [a for a in axes_of(low) if not a.navigate]
    if len(low_e) != 1 or low_e[0].units != "eV":
        raise QuantificationError(f"{lowloss_path}: not an EELS spectrum (no energy axis in eV)")
    low_e = low_e[0]
    if not low_e.offset < 0 < low_e.high:
        raise QuantificationError(f"{lowloss_path}: the low-loss axis {low_e.offset:g}–"
                                  f"{low_e.high:g} eV does not hold the zero-loss peak at 0 eV")
    core = _signal_data(core_signal)
    ll = _signal_data(low)
    if ll.shape[:-1] != core.shape[:-1]:
        raise QuantificationError(f"the low-loss scan {ll.shape[:-1]} does not match the "
                                  f"core-loss scan {core.shape[:-1]}")
    shifts = zero_loss_position(ll, low_e)
    if not np.any(np.isfinite(shifts)):
        raise QuantificationError(f"{lowloss_path}: no zero-loss peak found in any pixel")
    core_e = [a for a in axes_of(core_signal) if not a.navigate][0]
    drift = np.where(np.isfinite(shifts), shifts, np.nanmedian(shifts))
    aligned = align_energy(core.astype(np.float32), core_e, drift, fill="nan")
    ll_aligned = align_energy(ll.astype(np.float32), low_e, drift, fill="nan")
    t = t_over_lambda(ll, low_e)
    partial, missing = _sum_roi(aligned, roi, with_missing=True)
    core_sum = np.where(missing, np.nan, partial)     # the model fit leaves those out
    ll_sum = np.nan_to_num(_sum_roi(ll_aligned, roi))
    ssd = fourier_ratio_deconvolution(np.nan_to_num(partial), core_e, ll_sum, low_e)
    if not bool(ssd.valid):
        raise QuantificationError("Fourier-ratio deconvolution failed for the summed "
                                  f"spectrum (t/λ {float(ssd.t_over_lambda):.2f}); "
                                  "quantify without --lowloss")
    sel = t if roi is None else t[roi[1]:roi[3], roi[0]:roi[2]]
    info = {"thickness_t_over_lambda": float(np.nanmean(sel)),
            "thickness_t_over_lambda_std": float(np.nanstd(sel)),
            "energy_drift_eV": [float(np.nanmin(shifts)), float(np.nanmax(shifts))],
            "zero_loss_not_found_pixels": int(np.sum(~np.isfinite(shifts))),
            "single_scattering": "Fourier-ratio deconvolution of the summed core loss by "
                                 "the summed low loss (both drift-aligned); errors as Poisson"}
    try:
        kernel = low_loss_kernel(ll_sum, low_e, core_e.scale)
    except ValueError as exc:
        raise QuantificationError(f"{lowloss_path}: {exc}") from None
    return LowLossCorrection(aligned=aligned, core_sum=core_sum,
                             single_scattering=np.asarray(ssd.single_scattering, np.float64),
                             kernel=kernel, info=info, t_map=t, low_aligned=ll_aligned,
                             low_axis=low_e)
