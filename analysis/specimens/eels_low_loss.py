"""Low-loss EELS: zero-loss peak, single-scattering distribution, Poisson plural scattering.

Forward model
-------------
An electron crossing a specimen of thickness ``t`` undergoes ``n`` independent inelastic
events with Poisson probability ``P_n = exp(−τ) τⁿ / n!``, ``τ = t/λ`` (λ: inelastic mean
free path for the collection aperture used). If ``S(E)`` is the single-scattering
distribution (SSD) normalised to unit area, the energy-loss distribution of the
transmitted beam is

    D(E) = Σ_n P_n S^{*n}(E),      S^{*0} = δ(E),

and in Fourier space ``D̂ = exp(τ (Ŝ − 1))`` — the closed form of the same Poisson sum,
used here instead of truncating it. The recorded low-loss spectrum is ``D`` seen through
the instrument response, the zero-loss peak (ZLP) ``Z``: ``J = Z * D``. The ZLP area is
``exp(−τ)`` of the total, hence the log-ratio thickness ``τ = ln(I_t / I_0)``.

Building blocks and the values used by the specimen generators
--------------------------------------------------------------
* ZLP: split Gaussian, FWHM 0.8 eV (Schottky FEG, no monochromator), slightly wider on the
  energy-loss side (σ_high/σ_low = 1.15: the low-kinetic-energy tail of the emitted
  energy distribution). Its mode marks 0 eV loss.
* SSD of a transition-metal oxide: a Drude volume plasmon
  ``Im[−1/ε] = E_p² E Γ / ((E² − E_p²)² + (E Γ)²)`` at E_p ≈ 24 eV with Γ ≈ 6 eV, plus two
  weak Gaussian interband transitions (O 2p → TM 3d / 4sp) at ≈ 7.5 and 12.5 eV; every
  component is switched on above a band gap ``E_g`` (≈ 2 eV) by
  ``1 − exp(−(E − E_g)/1 eV)``. Semicore edges in this range (TM M2,3 at 47–68 eV,
  Li K at 55 eV) are not modelled.
* Inelastic mean free path from Iakoubovskii et al., Microsc. Res. Tech. 71 (2008) 626,
  Eq. 9, with the convergence/collection correction (θ_C = 20 mrad).
"""
from __future__ import annotations

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft
from scipy.stats import poisson

from .eels_line_shapes import asymmetric_gaussian_counts, channel_edges

#: Default interband transitions (centre eV, FWHM eV, fraction of the SSD area).
TM_OXIDE_INTERBAND = ((7.5, 3.0, 0.06), (12.5, 4.0, 0.06))


def zero_loss_peak(energy, *, centre_eV=0.0, fwhm_eV=0.8, asymmetry=1.15) -> np.ndarray:
    """Zero-loss peak of unit area, bin-integrated on the low-loss axis.

    Parameters
    ----------
    energy : ndarray of shape (n_channels,)
        Uniform low-loss axis (eV), channel centres.
    centre_eV : float or ndarray of shape (...), optional
        Position of the ZLP maximum (eV), e.g. the per-pixel energy drift.
    fwhm_eV : float, optional
        Full width at half maximum (eV).
    asymmetry : float, optional
        Width ratio of the energy-loss side to the energy-gain side.

    Returns
    -------
    ndarray of shape (..., n_channels)
        Fraction of the ZLP in each channel (float64).
    """
    return asymmetric_gaussian_counts(energy, centre_eV, fwhm_eV, asymmetry=asymmetry)


def _drude(loss, plasmon_eV, width_eV):
    return plasmon_eV**2 * loss * width_eV / ((loss**2 - plasmon_eV**2) ** 2 + (loss * width_eV) ** 2)


def low_loss_single_scattering(loss, *, plasmon_eV=24.0, plasmon_fwhm_eV=6.0,
                               band_gap_eV=2.0, interband=TM_OXIDE_INTERBAND) -> np.ndarray:
    """Single-scattering low-loss distribution of a transition-metal oxide, unit channel sum.

    Parameters
    ----------
    loss : ndarray of shape (n_channels,)
        Uniform energy-loss grid (eV) starting at 0 (``loss[k] = k * dispersion``).
    plasmon_eV, plasmon_fwhm_eV : float, optional
        Drude plasmon energy E_p and damping Γ (≈ FWHM), eV.
    band_gap_eV : float, optional
        Onset E_g below which the SSD is zero.
    interband : sequence of (centre_eV, fwhm_eV, fraction), optional
        Gaussian interband transitions; the plasmon takes the remaining fraction.

    Returns
    -------
    ndarray of shape (n_channels,)
        Float64 SSD normalised to a channel sum of 1.
    """
    e = np.asarray(loss, dtype=np.float64)
    channel_edges(e)
    if abs(e[0]) > 1e-9:
        raise ValueError(f"loss grid must start at 0 eV, starts at {e[0]}")
    if not 0 < band_gap_eV < plasmon_eV or plasmon_fwhm_eV <= 0:
        raise ValueError("need 0 < band_gap_eV < plasmon_eV and plasmon_fwhm_eV > 0")
    fractions = [w for _, _, w in interband]
    if any(w < 0 for w in fractions) or sum(fractions) >= 1:
        raise ValueError("interband fractions must be >= 0 and sum to < 1")
    above = np.clip(e - band_gap_eV, 0.0, None)
    onset = np.where(e > band_gap_eV, -np.expm1(-above / 1.0), 0.0)
    parts = [(_drude(e, plasmon_eV, plasmon_fwhm_eV), 1.0 - sum(fractions))]
    for centre, fwhm, frac in interband:
        sigma = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
        parts.append((np.exp(-0.5 * ((e - centre) / sigma) ** 2), frac))
    ssd = np.zeros_like(e)
    for shape, frac in parts:
        shape = shape * onset
        ssd += frac * shape / shape.sum()
    return ssd


def plural_scattering_weights(t_over_lambda, n_max: int) -> np.ndarray:
    """Poisson weights ``P_n = exp(−τ) τⁿ / n!`` for n = 0 … n_max.

    Parameters
    ----------
    t_over_lambda : float or ndarray of shape (...)
        Relative thickness τ >= 0.
    n_max : int
        Highest scattering order.

    Returns
    -------
    ndarray of shape (..., n_max + 1)
    """
    tau = _check_tau(t_over_lambda)[..., None]
    if n_max < 0:
        raise ValueError(f"n_max must be >= 0, got {n_max}")
    return poisson.pmf(np.arange(n_max + 1), tau)


def _check_tau(t_over_lambda) -> np.ndarray:
    tau = np.asarray(t_over_lambda, dtype=np.float64)
    if np.any(tau < 0) or not np.all(np.isfinite(tau)):
        raise ValueError("t_over_lambda must be finite and >= 0")
    return tau


def _ssd_transform(single_scattering, weights, length):
    """FFT of the SSD; with ``weights``, of the per-spectrum mixture of component SSDs."""
    s = np.asarray(single_scattering, dtype=np.float64)
    if weights is None:
        return rfft(s, length, axis=-1)
    w = np.asarray(weights, dtype=np.float64)
    if s.ndim != 2 or w.shape[-1] != s.shape[0]:
        raise ValueError("with weights, single_scattering must be (n_components, n_channels) "
                         "and weights (..., n_components)")
    components = rfft(s, length, axis=-1)      # the FFT is linear: mix the transforms
    return sum(w[..., k, None] * components[k] for k in range(s.shape[0]))


def plural_scattering(single_scattering, t_over_lambda, *, weights=None) -> np.ndarray:
    """Inelastic part (orders n >= 1) of the Poisson plural-scattering distribution.

    Computes ``Σ_{n>=1} P_n S^{*n}`` as ``IFFT[exp(τ(Ŝ − 1)) − exp(−τ)]`` on a grid
    zero-padded to twice the input length; what the n-fold self-convolutions put beyond
    that length wraps around (~1e-11 of the intensity for a 24 eV plasmon on a 500 eV
    grid).

    Parameters
    ----------
    single_scattering : ndarray of shape (..., n_channels)
        SSD on a loss grid starting at 0 eV, channel sum 1; with ``weights``, shape
        (n_components, n_channels).
    t_over_lambda : float or ndarray of shape (...)
        Relative thickness τ; broadcast against the leading axes of ``single_scattering``.
    weights : ndarray of shape (..., n_components), optional
        Per-spectrum mixing weights of the component SSDs (summing to 1).

    Returns
    -------
    ndarray of shape (..., n_channels)
        Float64; its channel sum is ``1 − exp(−τ)`` minus what lies beyond the grid.
    """
    tau = _check_tau(t_over_lambda)[..., None]
    n = np.shape(single_scattering)[-1]
    length = next_fast_len(2 * n, real=True)
    s_hat = _ssd_transform(single_scattering, weights, length)
    d_hat = np.exp(tau * (s_hat - 1.0)) - np.exp(-tau)
    # FFT round-off leaves ~1e-17 negatives where the distribution is empty
    return np.clip(irfft(d_hat, length, axis=-1)[..., :n], 0.0, None)


def low_loss_spectrum(energy, single_scattering, *, t_over_lambda, zlp_centre_eV=0.0,
                      zlp_fwhm_eV=0.8, zlp_asymmetry=1.15, weights=None) -> np.ndarray:
    """Recorded low-loss distribution ``J = Z * [exp(−τ) δ + Σ_{n>=1} P_n S^{*n}]``, unit area.

    Evaluated in one pass in Fourier space, ``Ĵ = Ẑ · exp(τ (Ŝ − 1))``, on a grid
    zero-padded to twice the axis length.

    Parameters
    ----------
    energy : ndarray of shape (n_channels,)
        Uniform low-loss axis (eV); it must start at least 4 ZLP FWHM below the ZLP.
    single_scattering : ndarray of shape (..., n_channels)
        SSD on the loss grid ``k * dispersion`` (k = 0 … n_channels − 1), channel sum 1;
        with ``weights``, shape (n_components, n_channels).
    t_over_lambda : float or ndarray of shape (...)
        Relative thickness τ per spectrum.
    zlp_centre_eV : float or ndarray of shape (...), optional
        ZLP maximum (energy drift) per spectrum.
    zlp_fwhm_eV, zlp_asymmetry : float, optional
        See :func:`zero_loss_peak`.
    weights : ndarray of shape (..., n_components), optional
        Per-spectrum mixing weights of component SSDs (e.g. bulk and surface phase).

    Returns
    -------
    ndarray of shape (..., n_channels)
        Fraction of the incident electrons per channel (float64).
    """
    e = np.asarray(energy, dtype=np.float64)
    channel_edges(e)
    centre = np.asarray(zlp_centre_eV, dtype=np.float64)
    if e[0] > np.min(centre) - 4 * zlp_fwhm_eV or e[-1] < np.max(centre) + 4 * zlp_fwhm_eV:
        raise ValueError("low-loss axis must extend at least 4 FWHM either side of the ZLP")
    if np.shape(single_scattering)[-1] != e.size:
        raise ValueError("single_scattering must have as many channels as the energy axis")
    tau = _check_tau(t_over_lambda)[..., None]
    length = next_fast_len(2 * e.size, real=True)
    s_hat = _ssd_transform(single_scattering, weights, length)
    zlp = zero_loss_peak(e, centre_eV=centre, fwhm_eV=zlp_fwhm_eV, asymmetry=zlp_asymmetry)
    spec = irfft(rfft(zlp, length, axis=-1) * np.exp(tau * (s_hat - 1.0)), length, axis=-1)
    return np.clip(spec[..., : e.size], 0.0, None)


def inelastic_mean_free_path(density_g_cm3, *, beam_energy_keV, convergence_mrad,
                             collection_mrad) -> float:
    """Total inelastic mean free path λ (nm) after Iakoubovskii et al. (2008), Eq. 9.

    ``λ = 200 F E0 / (11 ρ^0.3) / ln[(α² + β² + 2θ_E² + |α² − β²|) /
    (α² + β² + 2θ_C² + |α² − β²|) · θ_C² / θ_E²]``, with ``F = (1 + E0/1022) /
    (1 + E0/511)²``, ``θ_E = 5.5 ρ^0.3 / (F E0)`` mrad, ``θ_C = 20`` mrad, E0 in keV,
    ρ in g/cm³, angles in mrad.

    Parameters
    ----------
    density_g_cm3 : float
        Mass density of the specimen.
    beam_energy_keV, convergence_mrad, collection_mrad : float
        Incident energy and the convergence (α) and collection (β) semi-angles.

    Returns
    -------
    float
        λ in nm.
    """
    rho, e0, a, b = (float(v) for v in (density_g_cm3, beam_energy_keV,
                                        convergence_mrad, collection_mrad))
    if min(rho, e0, b) <= 0 or a < 0:
        raise ValueError("density, beam energy and collection angle must be > 0, convergence >= 0")
    f = (1 + e0 / 1022.0) / (1 + e0 / 511.0) ** 2
    theta_e = 5.5 * rho**0.3 / (f * e0)
    theta_c = 20.0
    num = a**2 + b**2 + 2 * theta_e**2 + abs(a**2 - b**2)
    den = a**2 + b**2 + 2 * theta_c**2 + abs(a**2 - b**2)
    return 200 * f * e0 / (11 * rho**0.3) / np.log(num / den * theta_c**2 / theta_e**2)
