"""Fourier-log and Fourier-ratio deconvolution of plural scattering, per pixel over an SI.

Both follow Egerton, *EELS in the Electron Microscope*, 3rd ed. (2011), §4.2 (and Johnson &
Spence, J. Phys. D 7 (1974) 771). Spectra have shape (..., n_channels); the leading axes
are pixels, processed in chunks (``chunk_pixels``) with real FFTs along the last axis, in
float32 for float32 input (output float32) and float64 otherwise. Single precision costs
nothing measurable: where rounding dominates ``Ĵ`` (high frequencies), the resolution
kernel ``R̂`` is as small as ``Ẑ`` (noise-free SSD shape error 2.5e-5 in float32, 2.1e-5
in float64; 2048 channels, t/λ 0.3–2). Sums (``I_0``, ``I_t``, t/λ) are always float64.

Forward model
    A low-loss spectrum is ``J = Z * D`` with ``Z`` the zero-loss peak (area ``I_0``) and
    ``D̂ = exp(τŜ)`` in Fourier space (Poisson sum of the self-convolutions of the
    single-scattering distribution ``S`` of unit area, ``τ = t/λ``). A core-loss spectrum
    is ``C = K * J / I_t``: the single-scattering core loss ``K`` broadened by the
    low-loss of the same pixel (plural scattering) and by its drift.

Fourier-log  ``SSD = IFFT[R̂ · I_0 · ln(Ĵ/Ẑ)]`` = ``I_0 τ S * R``.
    ``Z`` is the zero-loss part of each spectrum: the channels from the start of the axis up
    to the first minimum after the ZLP (:func:`.low_loss.zero_loss_threshold`, the same
    split as :func:`.low_loss.t_over_lambda`, so ``t/λ = ln(I_t/I_0)`` here equals that
    function's) or a zero-loss model supplied by the caller. ``R`` (unit area) sets the
    resolution and keeps the noise at frequencies where ``Ẑ`` vanishes from being
    amplified: the normalised zero-loss itself (``reconvolve="zero_loss"``, Egerton
    Eq. 4.9, output on the input axis with the pixel's drift) or a Gaussian centred at 0 eV
    of the axis (``"gaussian"``, output drift-corrected: 0 eV loss lands on the axis's 0 eV).
    The complex logarithm is taken on its principal branch, which is exact while
    ``|Im τŜ| < π``; as ``|Ŝ| <= 1`` that is guaranteed for t/λ < π, and pixels at least that
    thick are flagged (at t/λ = 4 the principal branch gives an SSD off by > 100 %, and
    unwrapping the phase along frequency fails on shot noise).
Fourier-ratio  ``K_out = IFFT[R̂ · Ĉ/Ĵ] · I_0`` (``normalise="zero_loss"``, Egerton §4.2.2,
    exspy's convention: edge counts for ``I_0``, the unscattered beam) or ``· I_t``
    (``"total"``: edge counts for the whole beam, i.e. ``K``). The Gaussian is centred at
    the low-loss channel of 0 eV, so the result lies on the core-loss axis in the
    specimen's frame (the drift shared by both spectra cancels); ``"zero_loss"``
    reconvolution keeps the drift. The core-loss should be background-subtracted.

Edges and wrap-around
    Each spectrum is continued past its last channel by a cos² decay (``tail_channels``,
    from the mean of the last 5 channels down to 0) and zero-padded to at least the full
    linear-convolution length, so nothing wraps into the data and no step at the end rings
    (the input itself is never modified). Fourier-ratio pads to the core-loss length plus
    twice the low-loss length: the inverse of the plural scattering reaches further than the
    low loss itself (with one low-loss length only, 0.3 % of a t/λ = 1.5 edge wraps round).

Flags
    ``valid`` is False (and every output of the pixel NaN) where a spectrum holds a NaN or
    inf, the zero-loss peak is not found, ``I_0 <= 0`` or ``I_t < I_0``, or negative
    channels of the low-loss hold more than 0.1 % of its absolute intensity (a dark or
    offset error, not shot noise), or the ZLP has no measurable FWHM when the kernel
    width comes from it; Fourier-log also where t/λ >= π (above).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft

from ..calibration import AxisCalibration
from . import _spectral_fft as _f
from .low_loss import zero_loss_threshold

__all__ = ["FourierLogResult", "FourierRatioResult", "fourier_log_deconvolution",
           "fourier_ratio_deconvolution", "extract_zero_loss"]

RECONVOLUTION = ("zero_loss", "gaussian")
NORMALISATION = ("zero_loss", "total")
NEGATIVE_FRACTION_LIMIT = 1e-3
#: Fourier-log is exact on the logarithm's principal branch only below this t/λ.
MAX_T_OVER_LAMBDA = np.pi


@dataclass(frozen=True)
class FourierLogResult:
    """Output of :func:`fourier_log_deconvolution` (shapes: ``(...)`` = the pixels).

    Attributes
    ----------
    single_scattering : ndarray of shape (..., n_channels)
        ``I_0 τ S * R`` on the input axis (counts per channel); NaN where not valid.
    zero_loss : ndarray of shape (..., n_channels)
        The zero-loss spectra used (extracted or given).
    t_over_lambda, zero_loss_intensity, total_intensity : ndarray of shape (...)
        ``ln(I_t/I_0)``, ``I_0`` and ``I_t`` (float64; NaN where not valid).
    resolution_fwhm_eV : ndarray of shape (...)
        FWHM of the reconvolution kernel ``R`` (the zero-loss FWHM or the Gaussian's).
    valid : ndarray of bool, shape (...)
    """

    single_scattering: np.ndarray
    zero_loss: np.ndarray
    t_over_lambda: np.ndarray
    zero_loss_intensity: np.ndarray
    total_intensity: np.ndarray
    resolution_fwhm_eV: np.ndarray
    valid: np.ndarray


@dataclass(frozen=True)
class FourierRatioResult:
    """Output of :func:`fourier_ratio_deconvolution` (shapes: ``(...)`` = the pixels).

    Attributes
    ----------
    single_scattering : ndarray of shape (..., n_core)
        Deconvolved core loss on the core-loss axis; NaN where not valid.
    t_over_lambda, zero_loss_intensity, total_intensity : ndarray of shape (...)
        Of the low-loss spectra (float64).
    resolution_fwhm_eV : ndarray of shape (...)
    valid : ndarray of bool, shape (...)
    """

    single_scattering: np.ndarray
    t_over_lambda: np.ndarray
    zero_loss_intensity: np.ndarray
    total_intensity: np.ndarray
    resolution_fwhm_eV: np.ndarray
    valid: np.ndarray


def extract_zero_loss(spectra, energy_axis: AxisCalibration, *, search=(-10.0, 10.0),
                      max_width_eV=20.0) -> np.ndarray:
    """Zero-loss part of low-loss spectra: the counts up to the first minimum after the ZLP.

    Parameters
    ----------
    spectra : ndarray of shape (..., n_channels)
    energy_axis : AxisCalibration
    search, max_width_eV : optional
        See :func:`.low_loss.zero_loss_threshold`.

    Returns
    -------
    ndarray of shape (..., n_channels)
        The spectra with every channel after the minimum set to 0 (float64); all NaN where
        the minimum is not found.
    """
    data = _f.check_spectra(spectra, energy_axis, "spectra")
    stop = _zero_loss_stop(data, energy_axis, search, max_width_eV)
    found = stop >= 0
    keep = np.arange(data.shape[-1]) <= stop[..., None]
    z = np.where(keep, data, 0.0).astype(np.float64)
    z[~found] = np.nan
    return z


def _zero_loss_stop(data, energy_axis, search, max_width_eV):
    """Last channel of the zero-loss window per pixel (-1 where not found)."""
    thr = zero_loss_threshold(data, energy_axis, search=search, max_width_eV=max_width_eV)
    found = np.isfinite(thr)
    stop = np.rint(energy_axis.index_of(np.where(found, thr, 0.0))).astype(np.int64)
    return np.where(found, stop, -1)


def _check_zero_on_axis(axis, what):
    if not axis.offset <= 0.0 <= axis.high:
        raise ValueError(f"{what} axis [{axis.offset}, {axis.high}] eV must contain 0 eV "
                         "(the zero-loss peak)")


def _check_choice(value, choices, name):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _low_loss_block(block, stop, z_given):
    """Zero-loss (P, n), I_0, I_t and the validity of a block of low-loss spectra."""
    n = block.shape[1]
    if z_given is None:
        z = np.where(np.arange(n)[None, :] <= stop[:, None], block, 0.0)
        found = stop >= 0
    else:
        z = z_given
        found = np.ones(block.shape[0], dtype=bool)
    total, i0 = block.sum(axis=1), z.sum(axis=1)
    finite = np.isfinite(total) & np.isfinite(i0)       # a NaN or inf anywhere shows in the sum
    if not finite.all():
        block = np.where(finite[:, None], block, 0.0)
        z = np.where(finite[:, None], z, 0.0)
        total, i0 = block.sum(axis=1), z.sum(axis=1)
    negative = -np.minimum(block, 0.0).sum(axis=1)
    ok = (finite & found & (i0 > 0) & (total >= i0)
          & (negative <= NEGATIVE_FRACTION_LIMIT * (total + 2 * negative)))
    return z, i0, total, ok


def _kernel(reconvolve, z_hat, z, i0, fwhm_eV, scale, length, centre):
    """rfft of the unit-area reconvolution kernel and its FWHM (eV) per row."""
    fw = _f.fwhm_channels(z) * scale
    if reconvolve == "zero_loss":
        with np.errstate(divide="ignore", invalid="ignore"):
            return z_hat / i0[:, None], fw
    if fwhm_eV is not None:
        fw = np.full(z.shape[0], float(fwhm_eV))
    sigma = np.where(np.isfinite(fw), fw, 1.0) / scale / _f.FWHM_PER_SIGMA
    return _f.gaussian_transform(length, centre, sigma), fw


def _check_fwhm(fwhm_eV, scale):
    if fwhm_eV is not None and not (np.isfinite(fwhm_eV) and fwhm_eV >= scale):
        raise ValueError(f"fwhm_eV must be finite and at least one channel ({scale} eV), "
                         f"got {fwhm_eV}")


def fourier_log_deconvolution(spectra, energy_axis: AxisCalibration, *, zero_loss=None,
                              reconvolve="zero_loss", fwhm_eV=None, tail_channels=None,
                              search=(-10.0, 10.0), max_width_eV=20.0, chunk_pixels=1024,
                              progress=None) -> FourierLogResult:
    """Single-scattering distribution of low-loss spectra by Fourier-log deconvolution.

    Parameters
    ----------
    spectra : ndarray of shape (..., n_channels)
        Low-loss spectra (counts) from below the ZLP to well past the plural scattering.
    energy_axis : AxisCalibration
        Their energy axis; it must contain 0 eV.
    zero_loss : ndarray broadcastable to ``spectra``, optional
        Zero-loss model (e.g. fitted); default: extracted by :func:`extract_zero_loss`.
    reconvolve : {"zero_loss", "gaussian"}, optional
        Resolution kernel ``R`` (module docstring).
    fwhm_eV : float, optional
        Gaussian FWHM; default the FWHM of each pixel's zero-loss peak.
    tail_channels : int, optional
        Length of the smooth decay appended past the last channel (default n/16, >= 16).
    search, max_width_eV : optional
        ZLP search window and maximum width for the extraction.
    chunk_pixels : int, optional
        Spectra per FFT block (memory: ~100 bytes × channels × chunk_pixels).
    progress : callable, optional
        Called with the fraction done after every block.

    Returns
    -------
    FourierLogResult
    """
    data = _f.check_spectra(spectra, energy_axis, "spectra")
    _check_zero_on_axis(energy_axis, "the low-loss")
    _check_choice(reconvolve, RECONVOLUTION, "reconvolve")
    _check_fwhm(fwhm_eV, energy_axis.scale)
    lead, n = data.shape[:-1], data.shape[-1]
    flat = data.reshape(-1, n)
    z_flat = None
    if zero_loss is None:
        stop = _zero_loss_stop(data, energy_axis, search, max_width_eV).reshape(-1)
    else:
        z_arr = np.asarray(zero_loss)
        if np.iscomplexobj(z_arr) or not np.issubdtype(z_arr.dtype, np.number):
            raise ValueError(f"zero_loss must be real numbers, got dtype {z_arr.dtype}")
        try:
            z_flat = np.broadcast_to(z_arr, data.shape).reshape(-1, n)
        except ValueError:
            raise ValueError(f"zero_loss of shape {z_arr.shape} does not broadcast to the "
                             f"spectra {data.shape}") from None
        stop = None
    tail = _f.default_tail(n, tail_channels)
    length = next_fast_len(2 * (n + tail), real=True)
    centre = energy_axis.index_of(0.0)
    dtype = _f.out_dtype(data)
    ssd = np.empty(flat.shape, dtype=dtype)
    z_out = np.empty(flat.shape, dtype=dtype)
    stats = np.empty((4, flat.shape[0]))
    valid = np.empty(flat.shape[0], dtype=bool)
    for sl in _f.iter_chunks(flat.shape[0], chunk_pixels):
        block = flat[sl].astype(np.float64)
        z_given = None if z_flat is None else z_flat[sl].astype(np.float64)
        z, i0, total, ok = _low_loss_block(block, None if stop is None else stop[sl], z_given)
        with np.errstate(divide="ignore", invalid="ignore"):
            ok &= np.log(total / i0) < MAX_T_OVER_LAMBDA
        z[~ok] = 0.0
        z[~ok, 0] = 1.0                                     # placeholder, output set to NaN
        block = np.where(ok[:, None], block, z)
        j_hat = rfft(_f.extend_with_tail(block, tail, length, dtype), axis=1)
        z_hat = rfft(z.astype(dtype), length, axis=1)
        log_ratio = _f.log_ratio(j_hat, z_hat)       # 0 only where Ẑ underflows, so R̂ ≈ 0
        kern, fw = _kernel(reconvolve, z_hat, z, i0, fwhm_eV, energy_axis.scale, length, centre)
        if reconvolve == "gaussian" and fwhm_eV is None:
            ok &= np.isfinite(fw)                            # no ZLP width: no default kernel
        out = irfft(kern.astype(log_ratio.dtype) * log_ratio * i0[:, None].astype(dtype), length,
                    axis=1)[:, :n]
        out[~ok] = np.nan
        ssd[sl] = out
        z[~ok] = np.nan
        z_out[sl] = z
        with np.errstate(divide="ignore", invalid="ignore"):
            stats[:, sl] = np.where(ok, [np.log(total / i0), i0, total, fw], np.nan)
        valid[sl] = ok
        if progress is not None:
            progress(sl.stop / flat.shape[0])
    return FourierLogResult(
        single_scattering=ssd.reshape(data.shape), zero_loss=z_out.reshape(data.shape),
        t_over_lambda=stats[0].reshape(lead), zero_loss_intensity=stats[1].reshape(lead),
        total_intensity=stats[2].reshape(lead), resolution_fwhm_eV=stats[3].reshape(lead),
        valid=valid.reshape(lead))


def fourier_ratio_deconvolution(core_loss, core_axis: AxisCalibration, low_loss,
                                low_loss_axis: AxisCalibration, *, reconvolve="gaussian",
                                fwhm_eV=None, normalise="zero_loss", tail_channels=None,
                                search=(-10.0, 10.0), max_width_eV=20.0, chunk_pixels=512,
                                progress=None) -> FourierRatioResult:
    """Single-scattering core loss by Fourier-ratio deconvolution with the pixel's low loss.

    Parameters
    ----------
    core_loss : ndarray of shape (..., n_core)
        Background-subtracted core-loss spectra.
    core_axis : AxisCalibration
        Their energy axis.
    low_loss : ndarray of shape (..., n_low) or (n_low,)
        Low-loss spectra of the same pixels (same dispersion), or one for all pixels.
    low_loss_axis : AxisCalibration
        Their energy axis; it must contain 0 eV.
    reconvolve : {"gaussian", "zero_loss"}, optional
        Resolution kernel (module docstring).
    fwhm_eV : float, optional
        Gaussian FWHM; default each pixel's zero-loss FWHM.
    normalise : {"zero_loss", "total"}, optional
        Scale the result to ``I_0`` (Egerton, exspy) or to the whole low-loss ``I_t``.
    tail_channels, search, max_width_eV, chunk_pixels, progress : optional
        As in :func:`fourier_log_deconvolution`.

    Returns
    -------
    FourierRatioResult
    """
    core = _f.check_spectra(core_loss, core_axis, "core_loss")
    low = _f.check_spectra(low_loss, low_loss_axis, "low_loss")
    _check_zero_on_axis(low_loss_axis, "the low-loss")
    _check_choice(reconvolve, RECONVOLUTION, "reconvolve")
    _check_choice(normalise, NORMALISATION, "normalise")
    _check_fwhm(fwhm_eV, low_loss_axis.scale)
    if abs(core_axis.scale - low_loss_axis.scale) > 1e-6 * low_loss_axis.scale:
        raise ValueError(f"core-loss and low-loss dispersions differ ({core_axis.scale} vs "
                         f"{low_loss_axis.scale} eV/channel): resample one first")
    lead, n_c, n_l = core.shape[:-1], core.shape[-1], low.shape[-1]
    if low.ndim > 1 and low.shape[:-1] != lead:
        raise ValueError(f"low_loss pixels {low.shape[:-1]} do not match the core-loss pixels "
                         f"{lead}")
    stop = _zero_loss_stop(low, low_loss_axis, search, max_width_eV).reshape(-1)
    low_flat = low.reshape(-1, n_l)
    core_flat = core.reshape(-1, n_c)
    p = core_flat.shape[0]
    tail = _f.default_tail(max(n_c, n_l), tail_channels)
    length = next_fast_len(n_c + 2 * (n_l + tail), real=True)
    centre = low_loss_axis.index_of(0.0)
    dtype = _f.out_dtype(core, low)
    out_all = np.empty(core_flat.shape, dtype=dtype)
    stats = np.empty((4, p))
    valid = np.empty(p, dtype=bool)
    for sl in _f.iter_chunks(p, chunk_pixels):
        rows = np.arange(sl.start, sl.stop) if low.ndim > 1 else np.zeros(sl.stop - sl.start, int)
        block_l = low_flat[rows].astype(np.float64)
        z, i0, total, ok = _low_loss_block(block_l, stop[rows], None)
        block_c = core_flat[sl].astype(np.float64)
        ok &= np.all(np.isfinite(block_c), axis=1)
        z[~ok] = 0.0
        z[~ok, 0] = 1.0
        block_l[~ok] = z[~ok]
        block_c[~ok] = 0.0
        j_hat = rfft(_f.extend_with_tail(block_l, tail, length, dtype), axis=1)
        c_hat = rfft(_f.extend_with_tail(block_c, tail, length, dtype), axis=1)
        kern, fw = _kernel(reconvolve, rfft(z.astype(dtype), length, axis=1)
                           if reconvolve == "zero_loss" else None, z, i0, fwhm_eV,
                           low_loss_axis.scale, length, centre)
        if reconvolve == "gaussian" and fwhm_eV is None:
            ok &= np.isfinite(fw)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = kern.astype(c_hat.dtype) * c_hat / j_hat
        ratio[~np.isfinite(ratio)] = 0.0
        norm = i0 if normalise == "zero_loss" else total
        out = irfft(ratio, length, axis=1)[:, :n_c] * norm[:, None].astype(dtype)
        out[~ok] = np.nan
        out_all[sl] = out
        with np.errstate(divide="ignore", invalid="ignore"):
            stats[:, sl] = np.where(ok, [np.log(total / i0), i0, total, fw], np.nan)
        valid[sl] = ok
        if progress is not None:
            progress(sl.stop / p)
    return FourierRatioResult(
        single_scattering=out_all.reshape(core.shape), t_over_lambda=stats[0].reshape(lead),
        zero_loss_intensity=stats[1].reshape(lead), total_intensity=stats[2].reshape(lead),
        resolution_fwhm_eV=stats[3].reshape(lead), valid=valid.reshape(lead))
