"""Colour maps offered for images, and gamma-corrected lookup tables built from them."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

#: Names shown to the user, in menu order. The diverging map is centred on the middle of
#: the levels, for strain and difference maps (set symmetric levels, e.g. -2 % … +2 %).
COLORMAPS = ("gray", "inferno", "viridis", "magma", "diverging (strain)")

#: pyqtgraph's bundled maps behind each name (CET-D1: perceptually uniform blue-white-red).
_BUNDLED = {"inferno": "inferno", "viridis": "viridis", "magma": "magma",
            "diverging (strain)": "CET-D1"}


def colormap(name: str) -> pg.ColorMap:
    """The :class:`pyqtgraph.ColorMap` called ``name``.

    Parameters
    ----------
    name : str
        One of :data:`COLORMAPS`.

    Returns
    -------
    pyqtgraph.ColorMap

    Raises
    ------
    ValueError
        For a name that is not in :data:`COLORMAPS`.
    """
    if name == "gray":
        return pg.ColorMap([0.0, 1.0], [(0, 0, 0), (255, 255, 255)], name="gray")
    if name not in _BUNDLED:
        raise ValueError(f"unknown colour map {name!r}; known: {', '.join(COLORMAPS)}")
    cmap = pg.colormap.get(_BUNDLED[name])
    cmap.name = name
    return cmap


def lookup_table(name: str | pg.ColorMap, gamma: float = 1.0, n: int = 512, *,
                 alpha: bool = False) -> np.ndarray:
    """Lookup table of ``n`` colours with a display gamma applied.

    Entry ``i`` (at ``x = i / (n - 1)`` between the black and white levels) has the colour
    the map gives at ``x ** gamma``: gamma < 1 brightens the dark end (weak Li or O
    columns next to heavy ones), gamma > 1 darkens it. The data are never changed.

    Parameters
    ----------
    name : str or pyqtgraph.ColorMap
        One of :data:`COLORMAPS`, or a colour map object.
    gamma : float, default 1.0
        Positive, finite exponent.
    n : int, default 512
        Number of entries (>= 2). Image views use 256: pyqtgraph's fast path.
    alpha : bool, default False
        Return RGBA (n, 4) instead of RGB (n, 3).

    Returns
    -------
    ndarray of uint8, shape (n, 3) or (n, 4)
    """
    if not (math.isfinite(gamma) and gamma > 0):
        raise ValueError(f"gamma must be positive and finite, got {gamma}")
    if n < 2:
        raise ValueError(f"a lookup table needs at least 2 entries, got {n}")
    cmap = name if isinstance(name, pg.ColorMap) else colormap(name)
    x = np.linspace(0.0, 1.0, int(n)) ** float(gamma)
    rgba = np.asarray(cmap.map(x, mode="byte"), dtype=np.uint8)
    return np.ascontiguousarray(rgba if alpha else rgba[:, :3])
