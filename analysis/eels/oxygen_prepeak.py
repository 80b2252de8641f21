"""O K pre-peak: intensity ratio to the main edge and peak positions, per pixel.

In layered and spinel transition-metal oxide cathodes the O K edge starts with a pre-peak
near 528–531 eV (O 1s → O 2p states hybridised with empty TM 3d states) before the main
edge (O 2p – TM 4sp, ~535–545 eV). Its intensity relative to the main edge falls where the
TM is reduced or O is lost (surface reconstruction to spinel / rock-salt), which is why it is
profiled from the surface into the bulk.

Definitions (after the pre-edge background is removed with a
:class:`~.background.BackgroundFit`):

* ``pre_peak`` = Σ counts − background over ``pre_peak_window``;
* ``main`` = Σ counts − background over ``main_window``;
* ``ratio = pre_peak / main``, with a first-order error that keeps the Poisson noise and the
  correlation of the two windows through the shared background fit;
* ``pre_peak_eV`` and ``main_peak_eV``: sub-channel maxima (Gaussian three-parameter fit
  of the log counts around the highest channel, weighted by Poisson variance), with errors.

The ratio of two window sums is a relative measure: compare it between pixels or samples
analysed with the same windows, energy resolution and thickness range (plural scattering
moves intensity from the pre-peak window to higher energies).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..calibration import AxisCalibration
from . import _edge_functionals as _fx
from ._peak_positions import peak_positions

FLAG_BACKGROUND = 1      # background fit failed or non-finite counts: values NaN
FLAG_NONPOSITIVE = 2     # main-edge intensity not above 3σ (no O K edge): ratio NaN
FLAG_PEAK = 4            # a peak maximum not found inside its window: position NaN
_CHUNK = 4096


@dataclass(frozen=True)
class OxygenPrePeak:
    """Per-pixel O K pre-peak results (float64 arrays of shape ``(...)``; flags uint8)."""

    ratio: np.ndarray
    ratio_std: np.ndarray
    pre_peak: np.ndarray
    pre_peak_std: np.ndarray
    main: np.ndarray
    main_std: np.ndarray
    pre_peak_eV: np.ndarray
    pre_peak_eV_std: np.ndarray
    main_peak_eV: np.ndarray
    main_peak_eV_std: np.ndarray
    flags: np.ndarray
    settings: dict


def oxygen_prepeak(spectra, energy_axis: AxisCalibration, *, background,
                   pre_peak_window=(527.0, 533.0), main_window=(533.0, 560.0),
                   main_peak_window=(534.0, 550.0), peak_fit_half_width_eV=(1.0, 2.0)
                   ) -> OxygenPrePeak:
    """O K pre-peak to main-edge intensity ratio and peak positions for every pixel.

    Parameters
    ----------
    spectra : ndarray of shape (..., n_channels)
        Recorded counts.
    energy_axis : AxisCalibration
    background : BackgroundFit or None
        Pre-edge fit below ``pre_peak_window`` (None if the spectra hold no background).
    pre_peak_window, main_window : (lo, hi)
        Integration windows (eV), in this order without overlap.
    main_peak_window : (lo, hi)
        Where the main-edge maximum is searched (eV).
    peak_fit_half_width_eV : (float, float)
        Half-width of the Gaussian fit around the pre-peak and main maxima (>= 2 channels
        each side are used in any case).

    Returns
    -------
    OxygenPrePeak
    """
    spectra = _fx.check_spectra(spectra, energy_axis)
    pw, mw, pkw = (tuple(float(v) for v in w) for w in (pre_peak_window, main_window,
                                                         main_peak_window))
    if not pw[1] <= mw[0]:
        raise ValueError(f"pre_peak_window {pw} must end at or below the start of main_window {mw}")
    lo, hi = min(pw[0], pkw[0]), max(mw[1], pkw[1])
    region = _fx.channel_slice(energy_axis, lo, hi, "O K range")
    background = _fx.check_background(background, spectra, energy_axis, lo)
    spw = _fx.channel_slice(energy_axis, *pw, "pre_peak_window")
    smw = _fx.channel_slice(energy_axis, *mw, "main_window")
    half = [max(2, int(round(h / energy_axis.scale))) for h in peak_fit_half_width_eV]
    spk = _fx.channel_slice(energy_axis, *pkw, "main_peak_window", min_channels=2 * half[1] + 3)
    _fx.channel_slice(energy_axis, *pw, "pre_peak_window", min_channels=2 * half[0] + 3)
    e = energy_axis.values()[region]
    loc = [slice(s.start - region.start, s.stop - region.start) for s in (spw, smw, spk)]
    weights = np.zeros((2, e.size))
    weights[0, loc[0]] = 1.0
    weights[1, loc[1]] = 1.0
    lead = spectra.shape[:-1]
    n_pix = int(np.prod(lead))
    flat = spectra.reshape(n_pix, spectra.shape[-1])
    vals = np.empty((n_pix, 2))
    cov = np.empty((n_pix, 2, 2))
    pos = np.empty((n_pix, 4))
    flags = np.zeros(n_pix, np.uint8)
    fits = _fx.flatten_fit(background, n_pix)
    for start in range(0, n_pix, _CHUNK):
        stop = min(start + _CHUNK, n_pix)
        fit = None if fits is None else fits(start, stop)
        raw, sub, jac, cv, failed = _fx.subtracted_block(flat[start:stop], energy_axis, fit, region)
        vals[start:stop], cov[start:stop] = _fx.functionals(raw, sub, jac, cv, weights)
        var = np.maximum(raw, 1.0)
        p0, s0, b0 = peak_positions(sub[:, loc[0]], var[:, loc[0]], e[loc[0]], half=half[0])
        p1, s1, b1 = peak_positions(sub[:, loc[2]], var[:, loc[2]], e[loc[2]], half=half[1])
        pos[start:stop] = np.stack([p0, s0, p1, s1], axis=1)
        bad_bg = failed | ~np.all(np.isfinite(raw), axis=1)
        flags[start:stop] |= np.where(bad_bg, FLAG_BACKGROUND, 0).astype(np.uint8)
        flags[start:stop] |= np.where(b0 | b1, FLAG_PEAK, 0).astype(np.uint8)
    ratio, ratio_std = _fx.ratio_with_error(vals[:, 0], vals[:, 1], cov[:, 0, 0], cov[:, 1, 1],
                                            cov[:, 0, 1])
    flags |= np.where(~(vals[:, 1] > 3.0 * np.sqrt(np.maximum(cov[:, 1, 1], 0.0))),
                      FLAG_NONPOSITIVE, 0).astype(np.uint8)
    bad = (flags & (FLAG_BACKGROUND | FLAG_NONPOSITIVE)) != 0
    ratio[bad], ratio_std[bad] = np.nan, np.nan
    vals[(flags & FLAG_BACKGROUND) != 0] = np.nan
    sd = np.sqrt(np.maximum(np.einsum("pii->pi", cov), 0.0))
    settings = {"pre_peak_window": pw, "main_window": mw, "main_peak_window": pkw,
                "peak_fit_half_width_channels": tuple(half)}
    r = lambda a: a.reshape(lead)  # noqa: E731
    return OxygenPrePeak(r(ratio), r(ratio_std), r(vals[:, 0]), r(sd[:, 0]), r(vals[:, 1]),
                         r(sd[:, 1]), r(pos[:, 0]), r(pos[:, 1]), r(pos[:, 2]), r(pos[:, 3]),
                         r(flags), settings)
