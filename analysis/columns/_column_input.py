"""Validation of the images and positions given to the column engine (clear ValueErrors)."""
from __future__ import annotations

import numpy as np

#: Smallest image the column engine accepts (pixels per side).
MIN_SIDE = 8


def check_image(image, name: str = "image") -> np.ndarray:
    """A finite, non-constant 2-D image of at least 8 × 8 pixels, as C-contiguous float64."""
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (ny, nx), got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) and not np.iscomplexobj(arr)):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if min(arr.shape) < MIN_SIDE:
        raise ValueError(f"{name} is too small for column analysis: {arr.shape} "
                         f"(need at least {MIN_SIDE} x {MIN_SIDE} pixels)")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values; mask or fill them first")
    if np.ptp(arr) == 0:
        raise ValueError(f"{name} is constant: there are no columns to find")
    return arr


def check_positions(xy, shape=None, name: str = "xy") -> np.ndarray:
    """Column positions as a C-contiguous float64 (n, 2) array of finite (x, y) values."""
    arr = np.asarray(xy, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name} must have shape (n, 2) holding (x, y), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite positions")
    if shape is not None and arr.size:
        ny, nx = shape
        outside = (arr[:, 0] < -0.5) | (arr[:, 0] > nx - 0.5) | (arr[:, 1] < -0.5) | (arr[:, 1] > ny - 0.5)
        if np.any(outside):
            raise ValueError(f"{int(outside.sum())} positions of {name} lie outside the image {shape}")
    return np.ascontiguousarray(arr)
