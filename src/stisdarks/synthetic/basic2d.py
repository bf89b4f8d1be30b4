"""calstis basic 2-D steps for the CCD, as the synthetic archive needs them.

The demo's pipeline products (``_flt``, ``_crj``) are what calstis makes of the demo's
``_raw``; this module computes them without hstcal, step by step as calstis 3.5
(hstcal ``pkg/stis/lib/cs1``) does, with the same float32/float64 evaluation order, so
that ``cs0.e`` run on the same ``_raw`` gives the same arrays to float rounding (checked
by ``tests/test_calstis_synthetic.py`` when hstcal is installed). See
``docs/calstis.md`` for the steps in words.

Image sets are ``(sci, err, dq)`` triples of float32, float32 and int16 arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stisdarks.binning import binned_bad_pixels
from stisdarks.darkswap import scaled_dark_median
from stisdarks.synthetic.geometry import Geometry

__all__ = [
    "SATURATED",
    "CALIBDEFECT",
    "dqicorr",
    "blevcorr",
    "init_err",
    "sub2d",
    "div2d",
    "darkcorr",
]

_F32 = np.float32
SATURATED = 256
CALIBDEFECT = 512


def dqicorr(
    raw: np.ndarray,
    geometry: Geometry,
    bpix: Sequence[tuple[int, int, int, int, int]],
    saturate: float,
) -> np.ndarray:
    """DQICORR of one raw CCD image set: saturation, then the bad-pixel table.

    Parameters
    ----------
    raw : ndarray
        The raw SCI (DN, overscan included).
    geometry : Geometry
        Its readout.
    bpix : sequence of (PIX1, PIX2, LENGTH, AXIS, VALUE)
        BPIXTAB rows (1-indexed detector positions; AXIS 1 = along x, 2 = along y);
        binned data are flagged through a detector-sized scratch array, as calstis does.
    saturate : float
        ``SATURATE`` of the CCDTAB row (DN).

    Returns
    -------
    ndarray (int16)
        The DQ of the raw image set. Aperture flagging is not applied: it is skipped for
        apertures longer than 45″ (``52X2``) and for darks.
    """
    dq = np.where(np.trunc(raw.astype(np.float32)) > saturate, SATURATED, 0).astype(np.int16)
    return binned_bad_pixels(dq, bpix, geometry.image_cards(raw=True))


def _line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
    """calstis' least-squares line from running sums (``BlevFit``/``DriftFit``): (slope, intercept)."""
    n = float(x.size)
    if n < 1:
        return None
    s1, s2, s3, s4 = float(np.sum(x)), float(np.sum(y)), float(np.sum(x * y)), float(np.sum(x * x))
    d = s4 - s1 * s1 / n
    if d == 0.0:
        return None
    xmean, ymean = s1 / n, s2 / n
    slope = (s3 - xmean * ymean * n) / d
    return slope, ymean - slope * xmean


def _reject_high_values(box: np.ndarray, clip: float) -> np.ndarray:
    """calstis ``rejectHighValues``: replace extreme values in the virtual overscan by a running median."""
    box = box.astype(np.float32).copy()
    values = box.astype(np.float64).ravel()
    median = float(np.median(values))
    dev = np.abs(values - median)
    mad = float(np.median(dev))
    keep = dev <= 4.5 * mad
    sigma = float(np.sqrt(np.sum(dev[keep] ** 2) / np.count_nonzero(keep)))
    limit = median + float(_F32(clip)) * sigma
    ny, nx = box.shape
    for j, i in zip(*np.nonzero(box.astype(np.float64) > limit), strict=True):
        if box[j, i] <= limit:  # an earlier replacement in this row may have changed it
            continue
        i0 = max(i - 10, 0)
        i1 = i0 + 20
        if i1 > nx - 1:
            i1 = nx - 1
            i0 = i1 - 20
        box[j, i] = _F32(np.median(box[j, i0 : i1 + 1].astype(np.float64)))
    return box


def blevcorr(
    raw: np.ndarray,
    dq: np.ndarray,
    geometry: Geometry,
    *,
    sdqflags: int,
    ccdbias: float,
    blev_clip: float,
) -> tuple[np.ndarray, np.ndarray, float]:
    """BLEVCORR of one raw amp-D image set: trim the overscan, subtract the bias level.

    Per output row the median of the bias-section columns (pixels without ``sdqflags``
    bits), fitted by a straight line in the row number; along rows, the slope of the
    column medians of the virtual overscan (after replacing extreme values), zero at the
    bias-section centre. A subarray has no virtual overscan and so no slope.

    Returns
    -------
    sci : ndarray (float32)
        Trimmed SCI minus the bias level.
    dq : ndarray (int16)
        Trimmed DQ.
    meanblev : float
        The ``MEANBLEV`` keyword.
    """
    sci = raw.astype(np.float32)
    rows = geometry.shape[0]
    b0, b1 = geometry.bias_section
    bottom, left = geometry.bottom, geometry.left
    js, levels = [], []
    for j in range(rows):
        line = sci[j + bottom, b0 : b1 + 1]
        good = (dq[j + bottom, b0 : b1 + 1] & sdqflags) == 0
        if good.any():
            js.append(j - rows // 2)
            levels.append(float(np.median(line[good].astype(np.float64))))
    fit = _line_fit(np.asarray(js, dtype=np.float64), np.asarray(levels, dtype=np.float64))
    slope_j, icept = fit if fit is not None else (0.0, float(ccdbias))
    level = icept + slope_j * (np.arange(rows, dtype=np.float64) - rows // 2)

    nx_out = sci.shape[1] - geometry.left - geometry.right
    slope_i, zero_col = 0.0, (b0 + b1) / 2.0 - left
    if bottom > 0:
        vx0, vx1 = left, sci.shape[1] - 1 - geometry.right
        box = _reject_high_values(sci[:bottom, vx0 : vx1 + 1], blev_clip)
        boxdq = dq[:bottom, vx0 : vx1 + 1]
        cols, meds = [], []
        for k in range(box.shape[1]):
            good = (boxdq[:, k] & sdqflags) == 0
            if good.any():
                cols.append(vx0 + k - (vx0 + vx1) // 2)
                meds.append(float(np.median(box[good, k].astype(np.float64))))
        fit = _line_fit(np.asarray(cols, dtype=np.float64), np.asarray(meds, dtype=np.float64))
        slope_i = fit[0] if fit is not None else 0.0
    drift = slope_i * (np.arange(nx_out, dtype=np.float64) - zero_col)
    trimmed = geometry.trim(sci).astype(np.float64)
    out = ((trimmed - level[:, None]) - drift[None, :]).astype(np.float32)
    meanblev = float(np.sum(level + slope_i * (nx_out // 2 - zero_col)) / rows)
    return out, geometry.trim(dq).astype(np.int16), meanblev


def init_err(sci: np.ndarray, atodgain: float, readnse: float) -> np.ndarray:
    """calstis ``doNoise`` for the CCD after BLEVCORR: Poisson + read noise, in DN."""
    g, rn = _F32(atodgain), _F32(readnse)
    value = sci.astype(np.float32) * g
    rn2 = rn * rn
    with np.errstate(invalid="ignore"):
        err = np.where(
            value > 0,
            np.sqrt((value + rn2).astype(np.float64)) / float(g),
            float(rn) / float(g),
        )
    return err.astype(np.float32)


def sub2d(a, b, k: float = 1.0):
    """calstis ``multk2d`` of ``b`` by ``k`` then ``sub2d``: SCI difference, ERR in quadrature, DQ OR."""
    kk = _F32(k)
    bsci, berr = b[0] * kk, b[1] * kk
    sci = a[0] - bsci
    err = np.sqrt(a[1].astype(np.float64) ** 2 + berr.astype(np.float64) ** 2)
    return sci.astype(np.float32), err.astype(np.float32), (a[2] | b[2]).astype(np.int16)


def div2d(a, flat):
    """calstis FLATCORR ``div2d``: divide by the flat; zero flat pixels get DQ 512 and stay."""
    f, ferr = flat[0].astype(np.float32), flat[1].astype(np.float32)
    good = f != 0
    safe = np.where(good, f, _F32(1))
    sci = np.where(good, a[0] / safe, a[0]).astype(np.float32)
    a64, f64 = a[0].astype(np.float64), safe.astype(np.float64)
    err = np.sqrt(
        (a[1].astype(np.float64) / f64) ** 2 + (ferr.astype(np.float64) * a64 / f64**2) ** 2
    )
    err = np.where(good, err, a[1]).astype(np.float32)
    dq = (a[2] | flat[2] | np.where(good, 0, CALIBDEFECT)).astype(np.int16)
    return sci, err, dq


def darkcorr(imset, dark, factor: float, exptime: float, atodgain: float):
    """calstis DARKCORR: subtract ``DARK · factor · EXPTIME / ATODGAIN``.

    Parameters
    ----------
    imset : tuple
        The image set (DN).
    dark : tuple
        The dark reference (e⁻/s) of the image set's size.
    factor : float
        The temperature factor (``stisdarks.darkswap.dark_scale_factor``).
    exptime, atodgain : float
        The image set's ``EXPTIME`` and the gain.

    Returns
    -------
    imset, meandark
        The dark-subtracted image set and ``MEANDARK`` (median of the scaled dark over
        its pixels with DQ = 0).
    """
    k = factor * exptime / atodgain
    return sub2d(imset, dark, k), scaled_dark_median(dark[0], dark[2], k)
