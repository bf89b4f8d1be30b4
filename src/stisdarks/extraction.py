"""Box extraction of a 1-D spectrum along a trace, as calstis' x1d does it (simplified).

For each column ``x`` the source box is centred on ``EXTRLOCY[x]`` (0-indexed pixel
rows, as in the ``_sx1`` table after subtracting 1 — see :func:`trace_rows`) and
``EXTRSIZE`` pixels tall; pixels partly inside the box count with the fraction inside.
The two background boxes (``BK1SIZE``/``BK2SIZE`` tall, centred ``BK1OFFST``/``BK2OFFST``
pixels from the trace) give a mean background per pixel, scaled to the source box.
No geometric rectification, no scattered-light model: both the synthetic pipeline
``_sx1`` and the native recalibration use this very function, so differences between
them come from the images, not from the extraction.
"""

from __future__ import annotations

import numpy as np

__all__ = ["box_weights", "extract_box", "trace_rows"]


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


def extract_box(
    image: np.ndarray,
    err: np.ndarray,
    dq: np.ndarray,
    centre: np.ndarray,
    extrsize: float,
    bk1offst: float,
    bk2offst: float,
    bk1size: float,
    bk2size: float,
    *,
    sdqflags: int = 31743,
) -> dict[str, np.ndarray]:
    """Extract gross, background and net counts per column.

    Parameters
    ----------
    image, err : ndarray (ny, nx)
        Counts (DN) and their errors.
    dq : ndarray (ny, nx)
        Data quality; flags are OR-ed into the output DQ over the source box.
    centre : ndarray (nx,)
        Trace centre, 0-indexed rows.
    extrsize, bk1offst, bk2offst, bk1size, bk2size : float
        Box height and background offsets/heights, pixels (``_sx1`` columns).
    sdqflags : int
        Flags that make a pixel bad (reported in DQ; the pixel is still summed, as x1d).

    Returns
    -------
    dict
        ``gross``, ``background``, ``net``, ``net_error`` (float64, counts per column,
        summed over the box) and ``dq`` (int16).
    """
    image = np.asarray(image, dtype=np.float64)
    err = np.asarray(err, dtype=np.float64)
    ny, _nx = image.shape
    w_src = box_weights(ny, centre, extrsize)
    gross = (w_src * image).sum(axis=0)
    var_src = (w_src**2 * err**2).sum(axis=0)
    bk_sum = np.zeros(image.shape[1])
    bk_n = np.zeros(image.shape[1])
    bk_var = np.zeros(image.shape[1])
    for off, size in ((bk1offst, bk1size), (bk2offst, bk2size)):
        if size <= 0:
            continue
        w = box_weights(ny, np.asarray(centre) + off, size)
        bk_sum += (w * image).sum(axis=0)
        bk_n += w.sum(axis=0)
        bk_var += (w**2 * err**2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        bk_per_pix = np.where(bk_n > 0, bk_sum / bk_n, 0.0)
        bk_var_per_pix = np.where(bk_n > 0, bk_var / bk_n**2, 0.0)
    npix = w_src.sum(axis=0)
    background = bk_per_pix * npix
    net = gross - background
    net_error = np.sqrt(var_src + bk_var_per_pix * npix**2)
    flags = np.bitwise_or.reduce(np.where(w_src > 0, np.asarray(dq, dtype=np.int16), 0), axis=0)
    return {
        "gross": gross,
        "background": background,
        "net": net,
        "net_error": net_error,
        "dq": (flags & sdqflags).astype(np.int16),
    }
