"""Atom-column engine: find, refine, sublattices, intensities, defects, strain (pure numerics, no Qt)."""
