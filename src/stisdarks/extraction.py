"""The ``_sx1`` extraction box as pixel fractions (for the figures and the summary).

The extraction itself is calstis' x1d, reproduced by :mod:`stisdarks.x1d`.

For each column ``x`` the source box is centred on ``EXTRLOCY[x]`` (0-indexed pixel
rows, as in the ``_sx1`` table after subtracting 1 — see :func:`trace_rows`) and
``EXTRSIZE`` pixels tall; pixels partly inside the box count with the fraction inside.
"""

from __future__ import annotations

import numpy as np

__all__ = ["box_weights", "trace_rows"]


def trace_rows(extrlocy: np.ndarray) -> np.ndarray:
    """Convert the ``_sx1`` ``EXTRLOCY`` column (1-indexed FITS pixels) to 0-indexed rows."""
    return np.asarray(extrlocy, dtype=np.float64) - 1.0


def box_weights(ny: int, centre: np.ndarray, size: float) -> np.ndarray:
    """Fraction of each pixel row inside a box per column.

    Parameters
    ----------
    ny : int
        Number of rows.
    centre : ndarray, shape (nx,)
        Box centre per column (0-indexed rows, pixel ``j`` spans ``[j-0.5, j+0.5]``).
    size : float
        Box height (pixels).

    Returns
    -------
    ndarray, shape (ny, nx)
    """
    rows = np.arange(ny, dtype=np.float64)[:, None]
    lo = np.asarray(centre, dtype=np.float64)[None, :] - size / 2.0
    hi = lo + size
    return np.clip(np.minimum(rows + 0.5, hi) - np.maximum(rows - 0.5, lo), 0.0, 1.0)
