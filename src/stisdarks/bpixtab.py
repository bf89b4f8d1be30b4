"""Bad-pixel table (BPIXTAB) flags, placed in an image as calstis' DQICORR places them."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["flag_bad_pixels"]


def flag_bad_pixels(
    dq: np.ndarray,
    rows: Iterable[tuple[int, int, int, int, int]],
    ltv: tuple[float, float],
) -> np.ndarray:
    """OR the flags of BPIXTAB ``rows`` into ``dq`` (in place) and return it.

    Parameters
    ----------
    dq : ndarray (int16)
        The image's DQ.
    rows : iterable of (PIX1, PIX2, LENGTH, AXIS, VALUE)
        Runs in 1-indexed detector pixels; ``AXIS`` 1 runs along x, 2 along y.
    ltv : (float, float)
        The image's ``LTV1``, ``LTV2`` (unbinned data): a run starts at image pixel
        ``int(PIX − 1 + LTV)``, as calstis truncates; runs are clipped to the image.
    """
    ny, nx = dq.shape
    ltv1, ltv2 = ltv
    for pix1, pix2, length, axis, value in rows:
        x, y = int(pix1 - 1 + ltv1), int(pix2 - 1 + ltv2)
        flag = np.int16(value)
        if axis == 1 and 0 <= y < ny:
            dq[y, max(x, 0) : max(min(x + length, nx), 0)] |= flag
        elif axis == 2 and 0 <= x < nx:
            dq[max(y, 0) : max(min(y + length, ny), 0), x] |= flag
    return dq
