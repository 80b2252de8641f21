"""The demo specimens, composed from the generators in ``batteryscope.analysis.specimens``.

The EELS specimen needs continuum cross-sections, which come from exspy (hydrogenic GOS)
through :mod:`batteryscope.app.eels_cross_sections`; the analysis layer never imports
exspy itself.
"""
from __future__ import annotations


def lfp_antisite(*, seed: int = 0):
    """LiFePO4 [010] HAADF + ABF pair with Fe-on-Li antisite columns."""
    from batteryscope.analysis.specimens.lfp_antisite import lfp_antisite_pair

    return lfp_antisite_pair(seed=seed)


def lfp_staging(*, seed: int = 0):
    """Half-charged LiFePO4 ABF (+ HAADF) with a Li-staged domain."""
    from batteryscope.analysis.specimens.lfp_li_staging import lfp_li_staging_abf

    return lfp_li_staging_abf(seed=seed)


def layered_oxide_eels(*, seed: int = 0, acquisition=None, **options):
    """Dual-EELS spectrum image of a Li-rich layered-oxide particle surface.

    ``options`` go to :func:`~batteryscope.analysis.specimens.layered_oxide_si.layered_oxide_dual_eels`
    (``nav_shape``, ``pixel_size_nm``, ``noise``).
    """
    from batteryscope.analysis.specimens.eels_acquisition import DualEELSAcquisition
    from batteryscope.analysis.specimens.layered_oxide_si import (LAYERED_OXIDE_EDGES,
                                                                  layered_oxide_dual_eels)

    from .eels_cross_sections import hydrogenic_cross_sections

    acq = acquisition or DualEELSAcquisition()
    sigma = hydrogenic_cross_sections(LAYERED_OXIDE_EDGES, acq.core_loss_axis().values(),
                                      **acq.microscope_parameters())
    return layered_oxide_dual_eels(sigma, seed=seed, acquisition=acq, **options)


def lithiation_movie(*, seed: int = 0):
    """In-situ movie of a lithiation front along a SnO2 nanowire, with its bias log."""
    from batteryscope.analysis.specimens.lithiation_movie import nanowire_lithiation_movie

    return nanowire_lithiation_movie(seed=seed)


#: Demo specimens in the order the demo opens them.
DEMO_SPECIMENS = {
    "lfp_antisite": lfp_antisite,
    "lfp_staging": lfp_staging,
    "layered_oxide_eels": layered_oxide_eels,
    "lithiation_movie": lithiation_movie,
}
