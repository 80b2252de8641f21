"""EELS ionisation edges: look-up by element, by energy, and default analysis windows.

The onsets come from :mod:`batteryscope.analysis.eels.edge_table`, generated from exspy's
element database by ``scripts/generate_eels_edge_table.py`` so that the values match what
microscopists see in exspy, without importing exspy or hyperspy (seconds) at run time.
"""
from __future__ import annotations

from dataclasses import dataclass

from .edge_table import ATOMIC_NUMBER, EDGES

__all__ = [
    "Edge", "EdgeWindows", "edge", "edges_of", "edges_near", "edges_in_range",
    "quantification_edge", "default_windows",
]

#: Pre-edge background window: up to this wide (eV) ...
BACKGROUND_WIDTH_EV = 50.0
#: ... but never wider than this fraction of the onset (low-energy edges such as Li K).
BACKGROUND_MAX_FRACTION = 0.4
#: Gap (eV) between the end of the background window and the edge onset.
BACKGROUND_GAP_EV = 5.0
#: Background windows may not start below this energy (zero-loss peak and its tail).
MIN_BACKGROUND_START_EV = 15.0
#: Integration window width (eV) after the onset, the same for every edge family.
INTEGRATION_WIDTH_EV = 50.0
#: A window clipped to the spectrum range must keep at least this width (eV).
MIN_WINDOW_EV = 10.0

_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _family(shell: str) -> str:
    """Spin-orbit family of a shell: "L3" -> "L2,3", "M5" -> "M4,5", "K1a" -> "K"."""
    letter = shell[0]
    if letter == "K":
        return "K"
    if "," in shell:
        return shell
    digits = "".join(c for c in shell[1:] if c.isdigit())
    index = int(digits)
    if index == 1:
        return f"{letter}1"
    lower = index if index % 2 == 0 else index - 1
    return f"{letter}{lower},{lower + 1}"


@dataclass(frozen=True)
class Edge:
    """One ionisation edge of one element.

    Attributes
    ----------
    element : str
        Element symbol, e.g. ``"Mn"``.
    shell : str
        Shell as named by exspy: ``"K"``, ``"L3"``, ``"L2,3"``, ``"M5"``, ``"K1a"``, ...
    onset_eV : float
        Onset energy in eV.
    relevance : str
        ``"Major"`` or ``"Minor"`` (exspy's classification).
    """

    element: str
    shell: str
    onset_eV: float
    relevance: str

    @property
    def major(self) -> bool:
        """True for edges exspy marks as ``"Major"``."""
        return self.relevance == "Major"

    @property
    def family(self) -> str:
        """Spin-orbit family quantified together: ``"K"``, ``"L2,3"``, ``"M4,5"``, ..."""
        return _family(self.shell)

    @property
    def label(self) -> str:
        """Display label with subscripts, e.g. ``"Mn L₃"``, ``"O K"``, ``"P L₂,₃"``."""
        return f"{self.element} {self.shell.translate(_SUBSCRIPT)}"


@dataclass(frozen=True)
class EdgeWindows:
    """Energy windows (eV) for background subtraction and integration of one edge.

    Attributes
    ----------
    edge : Edge
        The edge the windows belong to.
    background : tuple of float
        ``(start, stop)`` of the pre-edge window used to fit the background.
    integration : tuple of float
        ``(start, stop)`` of the window the edge signal is integrated over.
    clipped : bool
        True when a window was shortened to fit inside the spectrum range.
    """

    edge: Edge
    background: tuple[float, float]
    integration: tuple[float, float]
    clipped: bool = False


def _symbol(element: str) -> str:
    symbol = element.strip().capitalize()
    if symbol not in EDGES:
        raise ValueError(f"unknown element {element!r}")
    return symbol


_ALL_EDGES: tuple[Edge, ...] = tuple(
    Edge(el, shell, onset, relevance)
    for el, shells in EDGES.items()
    for shell, (onset, relevance) in shells.items()
)


def edge(element: str, shell: str) -> Edge:
    """Return one edge, e.g. ``edge("mn", "L3")``.

    Parameters
    ----------
    element : str
        Element symbol, case-insensitive (``"mn"``, ``"MN"`` and ``"Mn"`` are the same).
    shell : str
        Shell name as in exspy (``"K"``, ``"L3"``, ``"L2,3"``, ``"M5"``), case-insensitive.

    Raises
    ------
    ValueError
        Unknown element, or a shell the element has no edge for (the message lists the
        element's edges).
    """
    symbol = _symbol(element)
    shells = EDGES[symbol]
    wanted = shell.strip().replace(" ", "").upper()
    for name, (onset, relevance) in shells.items():
        if name.upper() == wanted:
            return Edge(symbol, name, onset, relevance)
    known = ", ".join(e.shell for e in edges_of(symbol)) or "none"
    raise ValueError(f"{symbol} has no {shell!r} edge in the table; its edges are: {known}")


def edges_of(element: str, *, major_only: bool = False) -> list[Edge]:
    """All edges of one element, sorted by onset energy.

    Parameters
    ----------
    element : str
        Element symbol, case-insensitive.
    major_only : bool
        Keep only edges exspy marks as ``"Major"``.
    """
    symbol = _symbol(element)
    found = [e for e in _ALL_EDGES if e.element == symbol and (e.major or not major_only)]
    return sorted(found, key=lambda e: (e.onset_eV, e.shell))


def edges_near(energy_eV: float, *, tolerance_eV: float = 10.0,
               major_only: bool = True) -> list[Edge]:
    """Edges whose onset lies within ``tolerance_eV`` of ``energy_eV``, nearest first.

    Ties in distance are broken by onset energy, then atomic number, then shell.

    Raises
    ------
    ValueError
        If ``tolerance_eV`` is negative.
    """
    if tolerance_eV < 0:
        raise ValueError(f"tolerance_eV must be >= 0, got {tolerance_eV}")
    found = [e for e in _ALL_EDGES if (e.major or not major_only)
             and abs(e.onset_eV - energy_eV) <= tolerance_eV]
    return sorted(found, key=lambda e: (abs(e.onset_eV - energy_eV), e.onset_eV,
                                        ATOMIC_NUMBER[e.element], e.shell))


def edges_in_range(lo: float, hi: float, *, major_only: bool = True) -> list[Edge]:
    """Edges with ``lo <= onset <= hi`` (eV), sorted by onset energy.

    Raises
    ------
    ValueError
        If ``lo > hi``.
    """
    if lo > hi:
        raise ValueError(f"empty energy range: lo={lo} eV > hi={hi} eV")
    found = [e for e in _ALL_EDGES if (e.major or not major_only) and lo <= e.onset_eV <= hi]
    return sorted(found, key=lambda e: (e.onset_eV, ATOMIC_NUMBER[e.element], e.shell))


def quantification_edge(element: str) -> str:
    """The shell a microscopist usually quantifies an element with.

    Rule (by atomic number Z):

    * Z <= 14 (H to Si): the K edge (Li K 55 eV, C K 284 eV, O K 532 eV).
    * 15 <= Z <= 40 (P to Zr): the L2,3 edge, returned as ``"L3"`` (its onset starts the
      L2,3 family, e.g. Mn 640 eV, Fe 708 eV) or as ``"L2,3"`` where exspy lists the
      family as one edge (P, S, Cl, Ar).
    * Z >= 41: the M4,5 edge, returned as ``"M5"`` (La 832 eV, Ce 883 eV).

    This is a default, not physics: e.g. Si is also often measured at its L2,3 edge
    (99 eV) and Sr/Y/Zr at their M4,5 edges; pass the shell explicitly to :func:`edge`.

    Raises
    ------
    ValueError
        Unknown element, or the element lacks the shell the rule selects.
    """
    symbol = _symbol(element)
    z = ATOMIC_NUMBER[symbol]
    candidates = ("K",) if z <= 14 else ("L3", "L2,3") if z <= 40 else ("M5", "M4,5")
    for shell in candidates:
        if shell in EDGES[symbol]:
            return shell
    raise ValueError(f"{symbol} (Z={z}) has no {' or '.join(candidates)} edge in the table")


def _nominal_background(e: Edge) -> tuple[float, float]:
    width = min(BACKGROUND_WIDTH_EV, BACKGROUND_MAX_FRACTION * e.onset_eV)
    stop = e.onset_eV - BACKGROUND_GAP_EV
    return stop - width, stop


def default_windows(edge: Edge, *, spectrum_lo: float | None = None,
                    spectrum_hi: float | None = None) -> EdgeWindows:
    """Default background and integration windows for an edge.

    * Background: ``[onset - 5 - w, onset - 5]`` eV with ``w = min(50, 0.4 * onset)``,
      so low-energy edges get a narrower window (Li K at 55 eV: [28, 50] eV).
    * Integration: ``[onset, onset + 50]`` eV for every family. For L2,3 white lines this
      takes in both L3 and L2 and some continuum, and for M4,5 both M5 and M4, which is
      what a ratio/quantification over the whole family needs.

    When ``spectrum_lo``/``spectrum_hi`` are given, the windows are clipped to that range;
    a clipped window must stay at least 10 eV wide.

    Parameters
    ----------
    edge : Edge
        The edge, e.g. from :func:`edge`.
    spectrum_lo, spectrum_hi : float, optional
        Energy range (eV) covered by the spectrum.

    Raises
    ------
    ValueError
        If the background window would start below 15 eV (zero-loss region) or would
        contain the onset of another major edge of the same element (e.g. asking for
        Mn L2, whose background would hold Mn L3: use L3 for the L2,3 family), if the
        onset lies outside the spectrum, or if clipping leaves a window under 10 eV.
    """
    bg_lo, bg_hi = _nominal_background(edge)
    if bg_lo < MIN_BACKGROUND_START_EV:
        raise ValueError(
            f"{edge.label} at {edge.onset_eV:g} eV is too close to the zero-loss peak: its "
            f"background window would start at {bg_lo:g} eV (< {MIN_BACKGROUND_START_EV:g} eV)")
    for other in edges_of(edge.element, major_only=True):
        if other.shell != edge.shell and bg_lo <= other.onset_eV < edge.onset_eV:
            raise ValueError(
                f"the background window [{bg_lo:g}, {bg_hi:g}] eV of {edge.label} contains "
                f"the {other.label} onset ({other.onset_eV:g} eV); use {other.label} for the "
                f"{other.family} edge or choose the windows by hand")
    int_lo, int_hi = edge.onset_eV, edge.onset_eV + INTEGRATION_WIDTH_EV
    if spectrum_lo is None and spectrum_hi is None:
        return EdgeWindows(edge, (bg_lo, bg_hi), (int_lo, int_hi))
    lo = float("-inf") if spectrum_lo is None else float(spectrum_lo)
    hi = float("inf") if spectrum_hi is None else float(spectrum_hi)
    if not lo < hi:
        raise ValueError(f"empty spectrum range: {spectrum_lo} to {spectrum_hi} eV")
    if not lo < edge.onset_eV < hi:
        raise ValueError(f"{edge.label} at {edge.onset_eV:g} eV is outside the spectrum "
                         f"({lo:g} to {hi:g} eV)")
    clipped = bg_lo < lo or int_hi > hi
    bg_lo, bg_hi, int_hi = max(bg_lo, lo), min(bg_hi, hi), min(int_hi, hi)
    if bg_hi - bg_lo < MIN_WINDOW_EV:
        raise ValueError(
            f"the spectrum starts at {lo:g} eV, leaving less than {MIN_WINDOW_EV:g} eV of "
            f"pre-edge background for {edge.label} at {edge.onset_eV:g} eV")
    if int_hi - int_lo < MIN_WINDOW_EV:
        raise ValueError(
            f"the spectrum ends at {hi:g} eV, leaving less than {MIN_WINDOW_EV:g} eV "
            f"above {edge.label} at {edge.onset_eV:g} eV to integrate")
    return EdgeWindows(edge, (bg_lo, bg_hi), (int_lo, int_hi), clipped)
