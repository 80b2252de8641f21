"""The column analysis behind ``batteryscope columns``: arrays in, a JSON-ready result out.

Steps (all numerics in :mod:`batteryscope.analysis.columns`):
1. find the bright columns of the lattice image (HAADF, or ABF if that is all there is),
   find the lattice, fit the structure's motif and place every site
   (:func:`~batteryscope.analysis.columns.sublattices.find_sublattices`);
2. measure every site's integrated intensity at its fixed position with the median
   fitted column width (HAADF; and ABF at the same sites when given);
3. antisites among the host (Li) columns against the reference (heaviest) columns of
   the HAADF image; Li staging from the ABF Li-site intensities (HAADF if no ABF); for
   structures with TM rows, the three-fold C2/m superstructure (fraction and variants).
"""
from __future__ import annotations

import numpy as np

from batteryscope.analysis.columns.antisites import detect_antisites
from batteryscope.analysis.columns.staging import staging_in_table
from batteryscope.analysis.columns.structures import ProjectedStructure
from batteryscope.analysis.columns.sublattices import find_sublattices, measure_sites

#: Z exponent of ABF dips (weak-absorption limit, as in the demo image model).
ABF_Z_EXPONENT = 1.0 / 3.0


def defect_sites(structure: ProjectedStructure) -> tuple[str, str]:
    """(host label, reference label): the Li-only site with most Li, and the brightest site."""
    labels = structure.labels
    li_only = [(s.n_atoms(), s.label) for s in structure.sites if set(s.atoms) == {"Li"}]
    if not li_only:
        raise ValueError(f"{structure.name} has no Li-only column to test for antisites")
    host = max(li_only)[1]
    ref = labels[int(np.argmax(structure.haadf_weights()))]
    return host, ref


def analyse_columns(image, structure: ProjectedStructure, *, pixel_size_A: float | None,
                    abf=None, image_is_abf: bool = False, fdr: float = 0.01,
                    edge_px: float | None = None) -> dict:
    """Run the column pipeline on arrays; JSON-ready dict with one row per column."""
    image = np.asarray(image, float)
    if abf is not None and np.shape(abf) != image.shape:
        raise ValueError(f"the ABF image {np.shape(abf)} and the lattice image {image.shape} "
                         "must have the same shape (simultaneously recorded)")
    weights = None
    if image_is_abf:
        weights = np.array([sum(n * _z(el) ** ABF_Z_EXPONENT for el, n in s.atoms.items())
                            for s in structure.sites])
    table, fits = find_sublattices(image, structure, pixel_size_A=pixel_size_A,
                                   dark_columns=image_is_abf, weights=weights)
    sigma = table.extra["sigma_px"]
    if not np.isfinite(sigma):
        raise ValueError("no column could be fitted: is this an atomic-resolution image?")
    main = measure_sites(image, table, sigma_px=sigma, dark_columns=image_is_abf)
    ny, nx = image.shape
    edge = 2.5 * sigma if edge_px is None else edge_px
    inside = (table.x >= edge) & (table.x <= nx - 1 - edge) & (table.y >= edge) & (table.y <= ny - 1 - edge)
    labels = table.labels
    n = len(table.x)
    antisite = np.zeros(n, dtype=bool)
    fe_fraction = np.full(n, np.nan)
    result: dict = {"structure": structure.name, "zone_axis": list(structure.zone_axis),
                    "pixel_size_A": pixel_size_A, "sigma_px": sigma,
                    "lattice": table.lattice.to_dict(pixel_size_A),
                    "n_columns": n, "n_found": table.extra["n_found"]}
    host = ref = None
    try:
        host, ref = defect_sites(structure)
    except ValueError as exc:
        result["antisite_note"] = str(exc)
    if host and not image_is_abf:
        hosts, refs = (labels == host) & inside, (labels == ref) & inside
        if hosts.sum() >= 5 and refs.sum() >= 1:
            s_host = structure.sites[structure.labels.index(host)].n_atoms()
            s_ref = structure.sites[structure.labels.index(ref)].n_atoms()
            res = detect_antisites(main.intensity[hosts], main.intensity[refs],
                                   host_errors=main.intensity_err[hosts], host_atoms=s_host,
                                   reference_atoms=s_ref, q=fdr)
            antisite[hosts] = res.antisite
            fe_fraction[hosts] = res.fe_fraction
            result["antisite_concentration"] = {"value": res.concentration, "err": res.concentration_err}
            result["antisites"] = {**res.summary(), "host_site": host, "reference_site": ref}
    elif host:
        result["antisite_note"] = "antisites need a HAADF image (Z contrast); only ABF given"
    if host:
        li_int = (measure_sites(abf, table, sigma_px=sigma, dark_columns=True).intensity
                  if abf is not None else main.intensity)
        try:
            st = staging_in_table(table, li_int, host_label=host, pixel_size_A=pixel_size_A,
                                  mask=inside)
            result["staging"] = {**st.to_dict(), "measured_on": "ABF" if (abf is not None or image_is_abf)
                                 else "HAADF"}
        except ValueError as exc:
            result["staging"] = {"detected": False, "period": None, "planes": [], "note": str(exc)}
    if "TM" in structure.labels and not image_is_abf:
        result["superstructure"] = _superstructure(table, main, inside)
    fit_index = table.extra["fit_index"]
    sig_col = np.where(fit_index >= 0, np.sqrt(fits.sigma_x * fits.sigma_y)[np.maximum(fit_index, 0)], sigma)
    px = pixel_size_A
    result["columns"] = [
        {"x_px": float(table.x[i]), "y_px": float(table.y[i]),
         "x_A": float(table.x[i] * px) if px else None, "y_A": float(table.y[i] * px) if px else None,
         "sublattice": str(labels[i]), "h": int(table.h[i]), "k": int(table.k[i]),
         "fitted": bool(fit_index[i] >= 0), "intensity": float(main.intensity[i]),
         "intensity_err": float(main.intensity_err[i]), "sigma_px": float(sig_col[i]),
         "antisite": bool(antisite[i]),
         "fe_fraction": float(fe_fraction[i]) if np.isfinite(fe_fraction[i]) else None}
        for i in range(n)]
    return result


def _superstructure(table, main, inside) -> dict:
    """Three-fold (C2/m) modulation along the TM rows (the shorter lattice vector)."""
    from batteryscope.analysis.columns.superstructure import threefold_map

    tm = (table.labels == "TM") & inside
    if tm.sum() < 6:
        return {"note": "too few TM columns"}
    row_axis = int(np.argmin(np.linalg.norm(table.lattice.basis, axis=1)))
    hk = np.column_stack([table.h, table.k])[tm]
    sm = threefold_map(hk[:, 1 - row_axis], hk[:, row_axis], main.intensity[tm], main.intensity_err[tm])
    return {**sm.to_dict(), "row_vector": "ab"[row_axis]}


def _z(element: str) -> int:
    from batteryscope.analysis.columns.structures import ATOMIC_NUMBER

    return ATOMIC_NUMBER[element]


CSV_FIELDS = ("x_px", "y_px", "x_A", "y_A", "sublattice", "h", "k", "fitted", "intensity",
              "intensity_err", "sigma_px", "antisite", "fe_fraction")


def columns_csv(result: dict) -> str:
    """One row per column, header line first (``#`` lines carry the field summary)."""
    lines = [f"# structure {result['structure']}, pixel size {result['pixel_size_A']} Å"]
    if "antisite_concentration" in result:
        c = result["antisite_concentration"]
        lines.append(f"# antisite concentration {c['value']:.5f} +- {c['err']:.5f}")
    if "staging" in result:
        s = result["staging"]
        lines.append(f"# staging detected {s['detected']} period {s['period']} planes {s['planes']}")
    lines.append(",".join(CSV_FIELDS))
    for row in result["columns"]:
        vals = []
        for f in CSV_FIELDS:
            v = row[f]
            vals.append("" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v)))
        lines.append(",".join(vals))
    return "\n".join(lines) + "\n"
