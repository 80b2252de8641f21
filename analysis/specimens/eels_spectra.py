"""Core-loss EELS building blocks: white lines, O K fine structure, background, convolution.

Forward model of one recorded core-loss spectrum (counts per channel)
---------------------------------------------------------------------
Single scattering, in the specimen's energy frame::

    S(E) = D · 1e-10 nm²/barn · d · Σ_el N_el [σ_el(E − Δ_el) + F_el(E)]

with ``D`` the incident electrons per pixel, ``N_el`` the areal density (atoms/nm²),
``d`` the dispersion (eV/channel), ``σ_el`` the per-atom continuum partial cross-section
(barn/eV, e.g. exspy's hydrogenic GOS), ``Δ_el`` a chemical shift of the onset, and
``F_el`` the near-edge structure that atomic cross-sections lack: L3 and L2 white lines
(:func:`white_lines`) and the O K pre-peak and peaks (:func:`o_k_fine_structure`).
``F_el`` is bin-integrated, ``σ_el`` sampled at channel centres.

Recorded spectrum::

    C(E) = [S * J/I](E) + A (E − δ)^(−r)

``J/I`` is the low-loss spectrum of the same pixel normalised by its incident electrons
(ZLP + plural scattering, :func:`~.eels_low_loss.low_loss_spectrum`). Its ZLP sits at
the pixel's energy drift δ, so the convolution both adds plural scattering (satellites
at multiples of the plasmon energy) and shifts the core-loss by the same δ as the
low-loss: Fourier-ratio deconvolution with that low-loss gives ``S`` back.
``A (E − δ)^(−r)`` is the recorded pre-edge background (tails of valence and semicore
excitations, already plurally scattered), added after the convolution and shifted by δ.
Counts are then drawn from a Poisson distribution.
"""
from __future__ import annotations

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft

from .eels_edge_references import CONTINUUM_WINDOW_EV, OXYGEN_K, OxygenKReference
from .eels_line_shapes import channel_edges, pseudo_voigt_counts


def continuum_integral(cross_section, energy, *, onset_eV, window_eV=CONTINUUM_WINDOW_EV):
    """Integral of a continuum cross-section over ``[onset, onset + window)``.

    Parameters
    ----------
    cross_section : ndarray of shape (..., n_channels)
        Partial cross-section per atom (barn/eV) at the channel centres.
    energy : ndarray of shape (n_channels,)
        Uniform energy axis (eV) covering the window.
    onset_eV, window_eV : float
        Start and width of the window (eV).

    Returns
    -------
    float or ndarray of shape (...)
        Channel sum times dispersion (barn·eV) over the channels whose centres lie in
        the window.
    """
    edges = channel_edges(energy)
    e = np.asarray(energy, dtype=np.float64)
    if onset_eV < edges[0] or onset_eV + window_eV > edges[-1]:
        raise ValueError(f"window {onset_eV}–{onset_eV + window_eV} eV is outside the axis")
    inside = (e >= onset_eV) & (e < onset_eV + window_eV)
    return np.sum(np.asarray(cross_section)[..., inside], axis=-1) * (edges[1] - edges[0])


def white_lines(energy, *, l3_eV, l2_eV, area, l3_l2_ratio, l3_fwhm_eV, l2_fwhm_eV,
                lorentz_fraction=0.2) -> np.ndarray:
    """L3 and L2 white lines as two pseudo-Voigt peaks with a given area ratio.

    Parameters
    ----------
    energy : ndarray of shape (n_channels,)
        Uniform energy axis (eV).
    l3_eV, l2_eV : float or ndarray of shape (...)
        Peak positions (eV).
    area : float or ndarray of shape (...)
        Total white-line area ``A_L3 + A_L2`` (e.g. barn·eV per atom).
    l3_l2_ratio : float or ndarray of shape (...)
        ``A_L3 / A_L2`` (> 0).
    l3_fwhm_eV, l2_fwhm_eV : float
        Peak widths (eV).
    lorentz_fraction : float, optional
        Pseudo-Voigt mixing η.

    Returns
    -------
    ndarray of shape (..., n_channels)
        Area per channel, in the units of ``area``.
    """
    ratio = np.asarray(l3_l2_ratio, dtype=np.float64)
    if np.any(ratio <= 0) or np.any(np.asarray(area) < 0):
        raise ValueError("l3_l2_ratio must be > 0 and area >= 0")
    a3 = np.asarray(area) * ratio / (1.0 + ratio)
    a2 = np.asarray(area) / (1.0 + ratio)
    l3 = pseudo_voigt_counts(energy, l3_eV, l3_fwhm_eV, lorentz_fraction=lorentz_fraction, area=a3)
    return l3 + pseudo_voigt_counts(energy, l2_eV, l2_fwhm_eV,
                                    lorentz_fraction=lorentz_fraction, area=a2)


def o_k_fine_structure(energy, *, continuum_area, pre_peak_strength,
                       reference: OxygenKReference = OXYGEN_K) -> np.ndarray:
    """O K near-edge structure: pre-peak, main peak and multiple-scattering peak.

    Parameters
    ----------
    energy : ndarray of shape (n_channels,)
        Uniform energy axis (eV).
    continuum_area : float
        C50, the O K continuum per atom integrated over the 50 eV above the onset
        (barn·eV); the peak areas are fractions of it (see
        :mod:`~.eels_edge_references`).
    pre_peak_strength : float or ndarray of shape (...)
        Multiplier of the pre-peak area (1 for the layered bulk), >= 0.
    reference : OxygenKReference, optional
        Positions, widths and relative areas.

    Returns
    -------
    ndarray of shape (..., n_channels)
        Area per channel (barn·eV per O atom).
    """
    strength = np.asarray(pre_peak_strength, dtype=np.float64)
    if np.any(strength < 0) or continuum_area < 0:
        raise ValueError("pre_peak_strength and continuum_area must be >= 0")
    eta = reference.lorentz_fraction

    def peak(params):
        centre, fwhm, frac = params
        return pseudo_voigt_counts(energy, centre, fwhm, lorentz_fraction=eta,
                                   area=frac * continuum_area)

    fixed = peak(reference.main_peak) + peak(reference.third_peak)
    return fixed + strength[..., None] * peak(reference.pre_peak)


def power_law_background(energy, *, amplitude, exponent, shift_eV=0.0) -> np.ndarray:
    """Power-law background ``A (E − shift)^(−r)``.

    Parameters
    ----------
    energy : ndarray of shape (n_channels,)
        Energy axis (eV), all values above ``shift_eV``.
    amplitude, exponent, shift_eV : float or ndarray of shape (...)
        A (intensity per channel at 1 eV), r, and the energy drift δ.

    Returns
    -------
    ndarray of shape (..., n_channels)
    """
    e = np.asarray(energy, dtype=np.float64)
    shifted = e - np.asarray(shift_eV, dtype=np.float64)[..., None]
    if np.any(shifted <= 0):
        raise ValueError("power law needs energy > shift_eV on the whole axis")
    return np.asarray(amplitude)[..., None] * shifted ** (-np.asarray(exponent)[..., None])


def shift_spectra(spectra, shift_channels) -> np.ndarray:
    """Shift spectra to higher channels by a fractional amount (linear interpolation).

    ``out[..., i] = spectra[..., i − shift]``; beyond the ends the end values are repeated.

    Parameters
    ----------
    spectra : ndarray of shape (..., n_channels) or (n_channels,)
        Spectra (a 1-D spectrum is broadcast against ``shift_channels``).
    shift_channels : float or ndarray of shape (...)
        Shift in channels (positive: features move to higher energy).

    Returns
    -------
    ndarray of shape (..., n_channels)
    """
    s = np.asarray(spectra, dtype=np.float64)
    shift = np.asarray(shift_channels, dtype=np.float64)[..., None]
    if not np.all(np.isfinite(shift)):
        raise ValueError("shift_channels must be finite")
    n = s.shape[-1]
    x = np.clip(np.arange(n) - shift, 0.0, n - 1.0)
    i0 = np.minimum(np.floor(x).astype(np.intp), n - 2)
    frac = x - i0
    if s.ndim == 1:                       # one spectrum, many shifts: plain indexing
        lower, upper = s[i0], s[i0 + 1]
    else:
        full = np.broadcast_to(s, np.broadcast_shapes(s.shape, x.shape))
        lower = np.take_along_axis(full, i0, -1)
        upper = np.take_along_axis(full, i0 + 1, -1)
    return lower * (1.0 - frac) + upper * frac


def convolve_with_low_loss(core_loss, low_loss, *, zero_loss_index: int) -> np.ndarray:
    """Convolve single-scattering core-loss spectra with normalised low-loss spectra.

    ``out[i] = Σ_j core[i − j + m] · low_loss[j]`` with ``m = zero_loss_index``: the
    low-loss channel ``m`` is 0 eV loss and both axes share the dispersion. The core-loss
    is taken as zero below its axis and extended with its last value above it (only the
    energy-gain side of the ZLP, m channels, reaches there).

    Parameters
    ----------
    core_loss : ndarray of shape (..., n_core)
        Single-scattering core-loss spectra.
    low_loss : ndarray of shape (..., n_low)
        Low-loss spectra normalised to the incident intensity (channel sum ≈ 1).
    zero_loss_index : int
        Index of 0 eV loss on the low-loss axis (``−offset / dispersion``), >= 0.

    Returns
    -------
    ndarray of shape (..., n_core)
        Float64 recorded core-loss spectra.
    """
    core = np.asarray(core_loss, dtype=np.float64)
    low = np.asarray(low_loss, dtype=np.float64)
    m = int(zero_loss_index)
    if m != zero_loss_index or not 0 <= m < low.shape[-1]:
        raise ValueError(f"zero_loss_index must be an integer channel of the low-loss axis, got {zero_loss_index}")
    n_core = core.shape[-1]
    padded = np.concatenate([core, np.repeat(core[..., -1:], m, axis=-1)], axis=-1)
    length = next_fast_len(padded.shape[-1] + low.shape[-1] - 1, real=True)
    out = irfft(rfft(padded, length, axis=-1) * rfft(low, length, axis=-1), length, axis=-1)
    return np.clip(out[..., m: m + n_core], 0.0, None)   # drop FFT round-off negatives
