"""calstis x1d for a first-order CCD spectrum, from the box per column.

A NumPy version of what hstcal's calstis6 (``cs6.e``, ``pkg/stis/lib/cs6``) computes for one
``_sx1`` row of a first-order CCD spectrum with the unweighted extraction, *given* the extraction
box per column: the box centre ``y_box`` (reference pixels, as the ``_sx1``'s ``EXTRLOCY``), its
height ``EXTRSIZE``, the background boxes ``BK1SIZE``/``BK2SIZE`` at ``BK1OFFST``/``BK2OFFST``,
the background fit order ``BACKORD`` and tilt (``BKTCOEFF``) and the background smoothing.  It
follows the C code operation by operation (float32 where calstis uses ``float``):

* the box edges are fractional: pixel ``j`` counts with the fraction of ``[j-0.5, j+0.5]`` inside
  ``[y - EXTRSIZE/2, y + EXTRSIZE/2]``, and row 0 of the image is never used; flagged pixels are
  **not** excluded (calstis6 sets ``sdqflags = 0`` for the unweighted extraction): the output
  ``DQ`` is the OR of the DQ of the box pixels (plus 2048 when more than 1/3 of the background
  pixels were rejected);
* background pixels are bilinearly interpolated at the (possibly tilted) background-box positions
  (``Interp2D``); only DQ bit 4 (``DETECTORPROB``, also set off the image) in one of the four
  neighbours excludes one; the fit is iteratively 3-sigma clipped (the first sigma is the RMS
  about *zero*); ``BACKORD`` 0 (mean) and 1 (straight line in the row);
* with background smoothing (``cs0.e``'s and ``cs6.e``'s default: ``median``, order 3; not an
  XTRACTAB column but a calstis6 argument) the ``BACKGROUND`` column is a running median (really
  ``[i-5, i+4]``) then a polynomial fit over columns 10..N-10, ``NET = GROSS - BACKGROUND`` and
  ``NET_ERROR`` has no background term: ``sqrt(sum(area * ERR**2)) / EXPTIME``;
* flux calibration multiplies by the float32 conversion factor per column
  (``h c / (A_HST T(lambda) T_ap(lambda) lambda dlambda) * ATODGAIN``) and the errors by the CCD
  Q-factor (:func:`qfactor`, > 1 below 3425 Angstrom).

:func:`reextract_sx1` re-extracts a pipeline ``_sx1`` from a new (e.g. dark-swapped) ``_crj`` of
the same exposure with this, along the pipeline row's own trace and boxes.  The core is shared with
:func:`stisdarks.x1dtables.extract_like_x1d` (the twin of ``cs6.e`` for the synthetic tables).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from stisdarks.errors import InputFileError
from stisdarks.fitsio import atomic_path, ext_data, step_complete

__all__ = [
    "SX1_COLUMNS",
    "XtractRow",
    "extract_columns",
    "extrlocy_from_y_box",
    "flux_calibrate",
    "inverse_sensitivity",
    "qfactor",
    "read_xtractab_row",
    "recover_conversion",
    "reextract_sx1",
    "y_box_from_extrlocy",
]

log = logging.getLogger(__name__)

# hstcal constants (pkg/stis/include/calstis6.h, stisdq.h)
HST_AREA = 45238.93416
H_PLANCK = 6.6260755e-27
C_LIGHT = 2.9979245800e10
CM_PER_ANGSTROM = 1.0e-8
HCFACTOR = 299792.458  # km/s
DETECTORPROB = 4
CALIBDEFECT = 512
X1D_BAD_BACKGROUND = 2048
MAX_CLIP = 5
BKS_MODES = ("median", "average", "off")

#: Column names of a real ``_sx1`` table (order as written by calstis6, see o56502010_sx1.fits).
SX1_COLUMNS = (
    "SPORDER", "NELEM", "WAVELENGTH", "GROSS", "BACKGROUND", "NET", "FLUX", "ERROR", "NET_ERROR",
    "DQ", "A2CENTER", "EXTRSIZE", "MAXSRCH", "BK1SIZE", "BK2SIZE", "BK1OFFST", "BK2OFFST",
    "EXTRLOCY", "OFFSET",
)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# coordinates
# ----------------------------------------------------------------------------------------------


def _lt0(ltv: Sequence[float], ltm: Sequence[float]) -> tuple[float, float, float, float]:
    """hstcal ``GetLT0``: zero-indexed (ltv0, ltv1) and (ltm0, ltm1) from the header values."""
    ltm0, ltm1 = float(ltm[0]), float(ltm[1])
    return float(ltv[0]) + ltm0 - 1.0, float(ltv[1]) + ltm1 - 1.0, ltm0, ltm1


def extrlocy_from_y_box(y_box: np.ndarray, ltv=(0.0, 0.0), ltm=(1.0, 1.0)) -> np.ndarray:
    """The ``EXTRLOCY`` column (float32, 1-indexed image pixels) of a box centre ``y_box``."""
    _, ltv1, _, ltm1 = _lt0(ltv, ltm)
    return (np.asarray(y_box, dtype=np.float64) * ltm1 + ltv1 + 1.0).astype(np.float32)


def _smooth_trace(extrlocy: np.ndarray, max_degree: int, slack: float = 0.1) -> np.ndarray | None:
    """The lowest-degree polynomial (<= ``max_degree``) consistent with float32 ``extrlocy``.

    Consistent: within ``0.5 + slack`` float32 spacings of every value (a least-squares fit of
    rounded values lands a few hundredths of a spacing off near the rounding boundaries).
    """
    y32 = np.asarray(extrlocy, dtype=np.float32)
    y = y32.astype(np.float64)
    if y.size < 2 or not np.all(np.isfinite(y)):
        return None
    spacing = np.spacing(np.abs(y32)).astype(np.float64)
    x = np.arange(y.size, dtype=np.float64)
    for degree in range(1, min(max_degree, y.size - 1) + 1):
        fit = np.polynomial.Chebyshev.fit(x, y, degree)(x)
        if np.all(np.abs(fit - y) <= (0.5 + slack) * spacing):
            return fit
    return None


def y_box_from_extrlocy(
    extrlocy: np.ndarray,
    ltv=(0.0, 0.0),
    ltm=(1.0, 1.0),
    *,
    smooth: bool = True,
    max_degree: int = 9,
) -> np.ndarray:
    """Box centre per column in reference pixels (0-indexed, float64) from ``EXTRLOCY``.

    ``EXTRLOCY`` is calstis' double ``y_box`` (the SPTRCTAB trace plus offsets) rounded to
    float32: half a float32 ulp is 4e-6 pixel near row 100 and 3e-5 near row 512, which moves
    the box edges and the bilinear background interpolation by that much (tens of float32 ulps
    in ``GROSS``/``NET``).  With ``smooth`` the trace is taken as the lowest-degree polynomial
    (up to ``max_degree``) that stays within 0.6 float32 spacings of ``EXTRLOCY`` in *every*
    column, when there is one: calstis' traces are smooth, and for a smooth trace this recovers
    ``y_box`` to ~1e-8 pixel (not when all columns round the same way, e.g. a dyadic slope:
    then the fit cannot see the common rounding offset).  Otherwise the float32 values are used.
    """
    _, ltv1, _, ltm1 = _lt0(ltv, ltm)
    y = np.asarray(extrlocy, dtype=np.float64)
    if smooth:
        fit = _smooth_trace(np.asarray(extrlocy), max_degree)
        if fit is not None:
            y = fit
    return (y - 1.0 - ltv1) / ltm1


# ----------------------------------------------------------------------------------------------
# extraction core
# ----------------------------------------------------------------------------------------------


def _nint(x: np.ndarray) -> np.ndarray:
    """stis.h NINT: round half away from zero, then C truncation."""
    return np.where(x >= 0.0, np.trunc(x + 0.5), np.trunc(x - 0.5)).astype(np.int64)


def _interp_column(sci, err, dq, xx: np.ndarray, yy: np.ndarray):
    """hstcal ``Interp2D`` with ``sdqflags = 0``, vectorised over points (float32 arithmetic)."""
    ny, nx = sci.shape
    f32 = np.float32
    iix, iiy = _nint(xx), _nint(yy)
    out = (iix < 0) | (iix > nx - 1) | (iiy < 0) | (iiy > ny - 1)
    ii = np.clip(np.trunc(xx).astype(np.int64), 0, nx - 2)
    ij = np.clip(np.trunc(yy).astype(np.int64), 0, ny - 2)
    q = (xx - ii).astype(f32)
    p = f32(1.0) - q
    s = (yy - ij).astype(f32)
    r = f32(1.0) - s
    w0, w1, w2, w3 = p * r, q * r, p * s, q * s
    ii_, ij_ = np.where(out, 0, ii), np.where(out, 0, ij)
    a, b = sci[ij_, ii_], sci[ij_, ii_ + 1]
    c, d = sci[ij_ + 1, ii_], sci[ij_ + 1, ii_ + 1]
    value = w0 * a + w1 * b + w2 * c + w3 * d
    o_dq = dq[ij_, ii_] | dq[ij_, ii_ + 1] | dq[ij_ + 1, ii_] | dq[ij_ + 1, ii_ + 1]
    value = np.where(out, f32(0.0), value)
    o_dq = np.where(out, DETECTORPROB, o_dq)
    return value.astype(f32), o_dq.astype(np.int64)


def _background(
    sci, err, dq, ycen: np.ndarray, *, sizes, offsets, backord: int, bktilt, ltv0, ltv1, ltm0, ltm1
):
    """``CalcBack``/``X1DBack``: per-column coefficients, variances, sigma and DQ flag."""
    nx = sci.shape[1]
    ipix = np.arange(nx)
    rpix = (ipix - ltv0) / ltm0
    tilt = np.broadcast_to(np.asarray(bktilt, dtype=np.float64), (nx,))
    sin_t = np.where(tilt == 0.0, 0.0, np.sin(tilt / 180.0 * math.pi))
    cos_t = np.where(tilt == 0.0, 1.0, np.cos(tilt / 180.0 * math.pi))
    boxes = []
    for size, off in zip(sizes, offsets, strict=True):
        xc = rpix + off * sin_t
        yc = ycen + off * cos_t
        x1 = xc - (size / 2.0 * sin_t)
        y1 = yc - (size / 2.0 * cos_t) + 0.5
        xx = x1 * ltm0 + ltv0
        yy = y1 * ltm1 + ltv1
        isize = int(_nint(np.asarray(size)))
        for _ in range(isize):
            o_sci, o_dq = _interp_column(sci, err, dq, xx, yy)
            boxes.append((yy.copy(), o_sci.astype(np.float64), o_dq))
            xx = xx + sin_t
            yy = yy + cos_t  # in double, as X1DBack
    nbck = len(boxes)
    bck0, bck1 = np.zeros(nx), np.zeros(nx)
    vbck0, vbck1 = np.zeros(nx), np.zeros(nx)
    sigma = np.full(nx, np.finfo(np.float64).max / 3.1)
    ebck = np.zeros(nx)
    dqbck = np.zeros(nx, dtype=np.int64)
    if nbck == 0:
        return bck0, bck1, vbck0, vbck1, ebck, dqbck
    active = np.ones(nx, dtype=bool)
    for iclip in range(1, MAX_CLIP + 1):
        npts, sumx, sumy, sumx2, sumy2, sumxy, new_sigma = (np.zeros(nx) for _ in range(7))
        nfbck = np.zeros(nx, dtype=np.int64)
        nsbck = np.zeros(nx, dtype=np.int64)
        for yy, o_sci, o_dq in boxes:
            flagged = (o_dq & DETECTORPROB) != 0
            residual = np.abs(o_sci - (bck0 + bck1 * yy))
            keep = ~flagged & (residual <= 3.0 * sigma)
            npts = np.where(keep, npts + 1.0, npts)
            sumx = np.where(keep, sumx + yy, sumx)
            sumy = np.where(keep, sumy + o_sci, sumy)
            sumx2 = np.where(keep, sumx2 + yy * yy, sumx2)
            sumxy = np.where(keep, sumxy + yy * o_sci, sumxy)
            sq = (o_sci.astype(np.float32) * o_sci.astype(np.float32)).astype(
                np.float64
            )  # float product in C
            sumy2 = np.where(keep, sumy2 + sq, sumy2)
            new_sigma = np.where(keep, new_sigma + residual * residual, new_sigma)
            nfbck += flagged
            nsbck += ~flagged & ~keep
        frac = (nfbck + nsbck).astype(np.float32) / np.float32(nbck)
        dq_it = np.where(frac > np.float32(0.33333), X1D_BAD_BACKGROUND, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            if backord == 1:
                delta = npts * sumx2 - sumx * sumx
                ok = np.abs(delta) > 0.0
                b0 = np.where(ok, (sumx2 * sumy - sumx * sumxy) / delta, 0.0)
                b1 = np.where(ok, (sumxy * npts - sumx * sumy) / delta, 0.0)
                v0 = np.where(ok, sumx2 / delta, 0.0)
                v1 = np.where(ok, npts / delta, 0.0)
            else:
                b0 = np.where(npts > 0.0, sumy / npts, 0.0)
                v0 = np.where(npts > 1.0, (sumy2 - sumy * sumy / npts) / (npts - 1.0), 0.0)
                b1 = np.zeros(nx)
                v1 = np.zeros(nx)
            new_sig = np.sqrt(new_sigma / (npts - 1.0))
        upd = active
        bck0, bck1 = np.where(upd, b0, bck0), np.where(upd, b1, bck1)
        vbck0, vbck1 = np.where(upd, v0, vbck0), np.where(upd, v1, vbck1)
        dqbck = np.where(upd, dq_it, dqbck)
        more = upd & (npts > 1.0)
        sigma = np.where(more, new_sig, sigma)
        ebck = np.where(more, new_sig, ebck)
        active = more & ~((nsbck == 0) & (iclip > 1))
        if not active.any():
            break
    return bck0, bck1, vbck0, vbck1, ebck, dqbck


def _gaussj(a: list[list[float]], b: list[float]) -> list[float]:
    """Numerical-Recipes Gauss-Jordan with full pivoting (hstcal ``Sgaussj``), solution only."""
    n = len(a)
    ipiv = [0] * n
    for _ in range(n):
        big = 0.0
        row = col = 0
        for j in range(n):
            if ipiv[j] != 1:
                for k in range(n):
                    if ipiv[k] == 0 and abs(a[j][k]) >= big:
                        big = abs(a[j][k])
                        row, col = j, k
        ipiv[col] += 1
        if row != col:
            a[row], a[col] = a[col], a[row]
            b[row], b[col] = b[col], b[row]
        pivinv = 1.0 / a[col][col]
        a[col][col] = 1.0
        a[col] = [v * pivinv for v in a[col]]
        b[col] *= pivinv
        for j in range(n):
            if j != col:
                t = a[j][col]
                a[j][col] = 0.0
                a[j] = [a[j][m] - a[col][m] * t for m in range(n)]
                b[j] -= b[col] * t
    return b


def _seqsum(v: np.ndarray) -> float:
    """Left-to-right double sum (as a C loop), not NumPy's pairwise sum."""
    return float(np.add.accumulate(np.asarray(v, dtype=np.float64))[-1]) if v.size else 0.0


def _smooth_background(back: np.ndarray, order: int, mode: str) -> np.ndarray:
    """``SmoothBack`` for the CCD: 9-pixel ``BoxcarFilter`` (really [i-5, i+4]), then a poly fit."""
    n = back.size
    f32 = np.float32
    src = back.astype(f32)
    out = np.empty(n, dtype=f32)
    if mode == "median":
        for i in range(n):
            w = np.sort(src[max(0, i - 5) : min(i + 4, n - 1) + 1])
            m = w.size
            h = m // 2
            out[i] = w[h] if m % 2 else (w[h - 1] + w[h]) / f32(2.0)
    else:  # "average": running sum over [i-4, i+4] (calstis BKS_AVERAGE)
        total, cnt = 0.0, 0
        w2 = 9 // 2
        for j in range(w2):
            total += float(src[j])
            cnt += 1
        out[0] = f32(total / cnt)
        for i in range(1, n):
            w2 += 1
            if w2 < n:
                total += float(src[w2])
                cnt += 1
            w1 = w2 - 9
            if w1 > 0:
                total -= float(src[w1 - 1])
                cnt -= 1
            out[i] = f32(total / cnt)
    idx = np.arange(10, n - 10 + 1)
    ax = idx.astype(np.float64)
    ay = out[idx].astype(np.float64)
    avx = _seqsum(ax) / idx.size
    avy = _seqsum(ay) / idx.size
    x = ax - avx
    y = ay - avy
    nterm = order + 1
    basis = [np.array([math.pow(v, float(j)) for v in x]) for j in range(nterm)]
    covar = [[0.0] * nterm for _ in range(nterm)]
    beta = [0.0] * nterm
    for l_ in range(nterm):
        wgt = basis[l_] * 1.0  # sig2i = 1/sqrt(1)
        for m in range(l_ + 1):
            covar[l_][m] = _seqsum(wgt * basis[m])
        beta[l_] = _seqsum(y * wgt)
    for j in range(1, nterm):
        for k in range(j):
            covar[k][j] = covar[j][k]
    coef = _gaussj(covar, beta)
    fit = np.zeros(idx.size)
    for j in range(nterm):
        fit = fit + coef[j] * np.array([math.pow(v - avx, float(j)) for v in ax])
    fit = fit + avy
    out[idx] = fit.astype(f32)
    return out


def extract_columns(
    sci: np.ndarray,
    err: np.ndarray,
    dq: np.ndarray,
    *,
    y_box: np.ndarray,
    extrsize: float,
    bk1size: float,
    bk2size: float,
    bk1offst: float,
    bk2offst: float,
    exptime: float,
    backord: int = 0,
    bktilt: float | np.ndarray = 0.0,
    ltv: Sequence[float] = (0.0, 0.0),
    ltm: Sequence[float] = (1.0, 1.0),
    backcorr: bool = True,
    bks_mode: str = "median",
    bks_order: int = 3,
) -> dict[str, np.ndarray]:
    """calstis6's unweighted extraction of one first-order row, from the box per column.

    Parameters
    ----------
    sci, err, dq : ndarray, shape (ny, nx)
        The image set (``_crj``/``_flt`` SCI, ERR, DQ); any subarray or binning.
    y_box : ndarray, shape (nx,)
        Box centre per image column in **reference** (unbinned detector, 0-indexed) pixels:
        calstis' ``y_box`` (:func:`y_box_from_extrlocy` of an ``_sx1``'s ``EXTRLOCY``).
    extrsize, bk1size, bk2size, bk1offst, bk2offst : float
        Box heights and background offsets in reference pixels (the XTRACTAB values; an
        ``_sx1``'s columns divided by ``LTM2_2``).
    exptime : float
        SCI ``EXPTIME`` (s).
    backord : int
        Background fit order (0 = clipped mean, 1 = clipped straight line in the row).
    bktilt : float or ndarray (nx,)
        Background-box tilt in degrees (XTRACTAB ``BKTCOEFF`` polynomial: :meth:`XtractRow.bktilt`).
    ltv, ltm : (float, float)
        Header ``LTV1/LTV2`` and ``LTM1_1/LTM2_2`` (1-indexed FITS convention).
    backcorr : bool
        ``BACKCORR``: subtract the background.
    bks_mode : {"median", "average", "off"}
        Background smoothing (calstis6 argument; ``cs0.e``/``cs6.e`` default ``median``).
    bks_order : int
        Order of the polynomial fitted to the smoothed background (default 3).

    Returns
    -------
    dict
        ``GROSS``, ``BACKGROUND``, ``NET``, ``NET_ERROR`` (float32, counts/s; ``NET_ERROR``
        **before** the Q-factor, i.e. calstis' ``error``), ``DQ`` (int64), ``EXTRLOCY``,
        ``EXTRSIZE``, ``BK1SIZE``, ``BK2SIZE``, ``BK1OFFST``, ``BK2OFFST`` (image pixels, float32).
    """
    if bks_mode not in BKS_MODES:
        raise ValueError(f"bks_mode must be one of {BKS_MODES}, not {bks_mode!r}")
    f32 = np.float32
    sci = np.asarray(sci, dtype=f32)
    err = np.asarray(err, dtype=f32)
    dq = np.asarray(dq).astype(np.int64) & 0xFFFF
    ny, nx = sci.shape
    y_box = np.asarray(y_box, dtype=np.float64)
    if y_box.shape != (nx,):
        raise ValueError(f"y_box has shape {y_box.shape}, the image has {nx} columns")
    ltv0, ltv1, ltm0, ltm1 = _lt0(ltv, ltm)
    ipix = np.arange(nx)
    extrsize = float(extrsize)
    yimg = y_box * ltm1 + ltv1
    ilow = yimg - extrsize * ltm1 / 2.0
    ihigh = yimg + extrsize * ltm1 / 2.0

    def near(v):
        t = np.trunc(v)
        return np.where(v - t < 0.5, t, t + 1.0).astype(np.int64)

    j1, j2 = near(ilow), near(ihigh)
    s1 = 0.5 - (ilow - j1)
    s2 = 0.5 + ihigh - j2

    if backcorr:
        bck0, bck1, vbck0, vbck1, _ebck, dqbck = _background(
            sci, err, dq, y_box, sizes=(float(bk1size), float(bk2size)),
            offsets=(float(bk1offst), float(bk2offst)), backord=int(backord), bktilt=bktilt,
            ltv0=ltv0, ltv1=ltv1, ltm0=ltm0, ltm1=ltm1,
        )  # fmt: skip
    else:
        bck0 = bck1 = vbck0 = vbck1 = np.zeros(nx)
        dqbck = np.zeros(nx, dtype=np.int64)
    smooth = bks_mode != "off"

    acc_sum, acc_back, acc_net, acc_err = (np.zeros(nx) for _ in range(4))
    odq = np.zeros(nx, dtype=np.int64)
    touched = np.zeros(nx, dtype=bool)

    def accum(j, area, ok):
        nonlocal acc_sum, acc_back, acc_net, acc_err, odq, touched
        jj = np.clip(j, 0, ny - 1)
        pix = sci[jj, ipix].astype(np.float64)
        perr = err[jj, ipix].astype(np.float64)
        back = bck0 + bck1 * j
        backvar = 0.0 if smooth else vbck0 + vbck1 * j * j
        acc_back = np.where(ok, acc_back + back * area, acc_back)
        acc_sum = np.where(ok, acc_sum + pix * area, acc_sum)
        acc_net = np.where(ok, acc_net + (pix - back) * area, acc_net)
        acc_err = np.where(ok, acc_err + (perr * perr + backvar) * area, acc_err)
        odq = np.where(ok, odq | dq[jj, ipix], odq)
        touched |= ok

    accum(j1, s1, (j1 > 0) & (j1 < ny))
    accum(j2, s2, (j2 > j1) & (j2 > 0) & (j2 < ny))
    nmid = int(max(0, (j2 - j1 - 1).max()))
    for k in range(1, nmid + 1):
        j = j1 + k
        accum(j, 1.0, (j2 > j1 + 1) & (j <= j2 - 1) & (j > 0) & (j < ny))
    odq = odq | dqbck
    good = touched & (exptime > 0.0)
    gross = np.where(good, (acc_sum.astype(f32).astype(np.float64) / exptime), 0.0).astype(f32)
    backg = np.where(good, (acc_back.astype(f32).astype(np.float64) / exptime), 0.0).astype(f32)
    net = np.where(good, (acc_net.astype(f32).astype(np.float64) / exptime), 0.0).astype(f32)
    error32 = np.where(acc_err > 0.0, np.sqrt(np.where(acc_err > 0, acc_err, 0.0)), 0.0).astype(f32)
    error = np.where(good, error32.astype(np.float64) / exptime, 0.0).astype(f32)
    if smooth:
        backg = _smooth_background(backg, bks_order, bks_mode)
        net = (gross - backg).astype(f32)
    return {
        "GROSS": gross,
        "BACKGROUND": backg,
        "NET": net,
        "NET_ERROR": error,
        "DQ": odq,
        "EXTRLOCY": (y_box * ltm1 + ltv1 + 1.0).astype(f32),
        "EXTRSIZE": f32(extrsize * ltm1),
        "BK1SIZE": f32(bk1size * ltm1),
        "BK2SIZE": f32(bk2size * ltm1),
        "BK1OFFST": f32(bk1offst * ltm1),
        "BK2OFFST": f32(bk2offst * ltm1),
    }


# ----------------------------------------------------------------------------------------------
# flux calibration
# ----------------------------------------------------------------------------------------------


def _interp1d(x: np.ndarray, wl: np.ndarray, f: np.ndarray, extrapolate: bool) -> np.ndarray:
    """hstcal ``interp1d`` (clamped) / ``extrap1d`` (linear extrapolation), vectorised."""
    x = np.asarray(x, dtype=np.float64)
    n = wl.size
    i = np.clip(np.searchsorted(wl, x, side="right") - 1, 0, n - 2)
    p0 = (wl[i + 1] - x) / (wl[i + 1] - wl[i])
    y = f[i] * p0 + f[i + 1] * (1.0 - p0)
    lo, hi = x <= wl[0], x >= wl[-1]
    if extrapolate:
        ylo = f[0] + (f[1] - f[0]) * (x - wl[0]) / (wl[1] - wl[0])
        yhi = f[-2] + (f[-1] - f[-2]) * (x - wl[-2]) / (wl[-1] - wl[-2])
        return np.where(lo, ylo, np.where(hi, yhi, y))
    return np.where(lo, f[0], np.where(hi, f[-1], y))


def qfactor(
    wave: np.ndarray,
    extrsize: float,
    gross: np.ndarray,
    *,
    exptime: float,
    meandark: float,
    readnse: float,
    atodgain: float,
    ncombine: int,
    hfactor: float = 1.0,
) -> np.ndarray:
    """calstis6's CCD ``QFactor`` per column (float32): error inflation below 3425 Angstrom.

    ``sqrt(((S t + D w) g / n + R**2 w) / ((S t / Q + D w) g / n + R**2 w))`` with ``S`` the
    gross count rate (0 if negative), ``w`` the ``EXTRSIZE`` column (image pixels, float32),
    ``D = MEANDARK``, ``R = READNSE``, ``g = ATODGAIN``, ``n = NCOMBINE``, ``t = EXPTIME`` and
    ``Q(lambda)`` interpolated in calstis' table at the observed wavelength
    ``WAVELENGTH / hfactor`` (``hfactor = 1 - V_HELIO / c`` when ``HELCORR`` was done).
    """
    q_wave = np.array([1127.09, 2066.33, 2213.93, 2339.25, 3424.86, 11000.00])
    q_value = np.array([3.00, 1.50, 1.35, 1.40, 1.00, 1.00])
    wl = np.asarray(wave, dtype=np.float64) / hfactor
    q = _interp1d(wl, q_wave, q_value, extrapolate=False)
    gross = np.asarray(gross, dtype=np.float32)
    s = np.where(gross > 0, gross.astype(np.float64), 0.0)
    w = float(np.float32(extrsize))
    g, n, t, d, r = (
        float(atodgain),
        float(ncombine),
        float(exptime),
        float(meandark),
        float(readnse),
    )
    num = (s * t + d * w) * g / n + r * r * w
    den = (s * t / q + d * w) * g / n + r * r * w
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(num / den).astype(np.float32)


def inverse_sensitivity(
    wave: np.ndarray,
    phot_wave: np.ndarray,
    phot_thru: np.ndarray,
    aper_wave: np.ndarray,
    aper_thru: np.ndarray,
    *,
    atodgain: float = 1.0,
    hfactor: float = 1.0,
) -> np.ndarray:
    """calstis6 ``AbsFlux6``'s conversion factor per column (float32, 0 where calstis flags it).

    ``h c / (A_HST * T(lambda) * T_ap(lambda) * lambda * dlambda * 1e-8) * ATODGAIN`` with
    ``T`` linearly extrapolated from the PHOTTAB and ``T_ap`` clamped from the APERTAB; no
    PCTAB/GACTAB/TDSTAB factors (all 1).  Columns where ``T``, ``T_ap`` or the dispersion is
    not positive are 0 (calstis: ``FLUX = ERROR = 0``, ``DQ |= 512``).
    """
    f32 = np.float32
    wave = np.asarray(wave, dtype=np.float64)
    nx = wave.size
    photfactor = H_PLANCK * C_LIGHT / HST_AREA
    wl = wave / hfactor
    response = _interp1d(wl, np.asarray(phot_wave, float), np.asarray(phot_thru, float), True)
    thr = _interp1d(wl, np.asarray(aper_wave, float), np.asarray(aper_thru, float), False)
    dsp = np.empty(nx)
    dsp[1:-1] = (wave[2:] - wave[:-2]) / 2.0
    dsp[0] = wave[1] - wave[0]
    dsp[-1] = wave[-1] - wave[-2]
    dsp = dsp / hfactor
    bad = (thr <= 0.0) | (dsp <= 0.0) | (response <= 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        corr = (photfactor / (response * thr * wl * dsp * CM_PER_ANGSTROM)).astype(f32)
        corr = (corr.astype(np.float64) * atodgain).astype(f32)
    return np.where(bad | ~(corr > 0), f32(0.0), corr).astype(f32)


def flux_calibrate(
    columns: dict[str, np.ndarray], corr: np.ndarray, q: np.ndarray
) -> dict[str, np.ndarray]:
    """``FLUX``, ``ERROR``, Q-corrected ``NET_ERROR`` and ``DQ`` as calstis6's ``AbsFlux6``.

    Parameters
    ----------
    columns : dict
        :func:`extract_columns`' result (``NET``, pre-Q ``NET_ERROR``, ``DQ``).
    corr : ndarray (nx,)
        float32 conversion factor (:func:`inverse_sensitivity` or :func:`recover_conversion`);
        columns where it is not positive get ``FLUX = ERROR = 0``, ``DQ |= 512`` and an
        uncorrected ``NET_ERROR``, as in calstis.
    q : ndarray (nx,)
        :func:`qfactor` (float32).

    Returns
    -------
    dict
        A copy of ``columns`` with ``FLUX``, ``ERROR``, ``NET_ERROR`` and ``DQ`` set.
    """
    f32 = np.float32
    corr = np.asarray(corr, dtype=f32)
    q = np.asarray(q, dtype=f32)
    net = np.asarray(columns["NET"], dtype=f32)
    error = np.asarray(columns["NET_ERROR"], dtype=f32)
    bad = ~(corr > 0)
    out = dict(columns)
    out["FLUX"] = np.where(bad, f32(0.0), net * corr).astype(f32)
    out["ERROR"] = np.where(bad, f32(0.0), error * (corr * q)).astype(f32)
    out["NET_ERROR"] = np.where(bad, error, error * q).astype(f32)
    out["DQ"] = np.where(bad, np.asarray(columns["DQ"]) | CALIBDEFECT, columns["DQ"])
    return out


def _ulp_neighbours(c0: np.ndarray, k: int) -> np.ndarray:
    """float32 values ``k`` ulps from ``c0`` (elementwise)."""
    c = np.asarray(c0, dtype=np.float32).copy()
    direction = np.float32(np.inf) if k > 0 else np.float32(-np.inf)
    for _ in range(abs(k)):
        c = np.nextafter(c, direction)
    return c


def recover_conversion(
    row: dict[str, np.ndarray], q: np.ndarray, *, cte: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """calstis' float32 conversion factor per column, read back from a pipeline ``_sx1`` row.

    calstis writes ``FLUX = float32(NET * c)``, ``NET_ERROR = float32(e * q)`` and
    ``ERROR = float32(e * float32(c * q))`` with one float32 factor ``c`` per column (independent
    of the data: sensitivity, aperture throughput, dispersion, ATODGAIN) and the pre-Q error ``e``.
    The factor is the float32 value within 3 ulp of ``FLUX / NET`` (or ``ERROR / NET_ERROR``)
    for which those equalities hold, the one nearest the ratio when several do.  With
    ``cte`` (``CTECORR = COMPLETE``) ``FLUX`` also holds the data-dependent CTI correction and
    only the ``ERROR`` equality is used.

    Parameters
    ----------
    row : mapping
        The pipeline row's ``NET``, ``FLUX``, ``NET_ERROR`` and ``ERROR``.
    q : ndarray
        The Q-factor of the pipeline row (:func:`qfactor` of its ``GROSS``).
    cte : bool
        Whether the pipeline applied the CTI correction to ``FLUX``.

    Returns
    -------
    corr : ndarray (float32)
        The factor; 0 where calstis flagged the column (``FLUX = ERROR = 0`` with a non-zero
        ``NET_ERROR``); interpolated between neighbours where the row holds no information
        (``NET`` and ``NET_ERROR`` both 0).
    exact : ndarray (bool)
        Columns where a factor satisfying every equality was found.
    interpolated : ndarray (bool)
        Columns whose factor was interpolated.
    """
    f32 = np.float32
    net = np.asarray(row["NET"], dtype=f32)
    flux = np.asarray(row["FLUX"], dtype=f32)
    nerr = np.asarray(row["NET_ERROR"], dtype=f32)
    ferr = np.asarray(row["ERROR"], dtype=f32)
    q = np.asarray(q, dtype=f32)
    n = net.size
    bad = (ferr == 0) & (flux == 0) & (nerr != 0)
    use_flux = (net != 0) & np.isfinite(flux) & (flux != 0) & (not cte)
    use_err = (nerr != 0) & (ferr != 0) & np.isfinite(ferr) & (q > 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r_flux = flux.astype(np.float64) / net.astype(np.float64)
        r_err = ferr.astype(np.float64) / nerr.astype(np.float64)
        c0 = np.where(use_flux, r_flux, np.where(use_err, r_err, np.nan)).astype(f32)
        e0 = (nerr.astype(np.float64) / q.astype(np.float64)).astype(f32)
    known = (use_flux | use_err) & ~bad & np.isfinite(c0) & (c0 > 0)
    # pre-Q error candidates: float32(e * q) == NET_ERROR
    e_cands = []
    for j in (0, -1, 1, -2, 2):
        e = _ulp_neighbours(e0, j)
        with np.errstate(over="ignore", invalid="ignore"):
            e_cands.append((e, (e * q).astype(f32) == nerr))
    corr = np.where(known, c0, f32(0.0)).astype(f32)
    exact = np.zeros(n, dtype=bool)
    for k in (0, -1, 1, -2, 2, -3, 3):
        c = _ulp_neighbours(c0, k)
        with np.errstate(over="ignore", invalid="ignore"):
            ok_flux = ~use_flux | ((net * c).astype(f32) == flux)
            cq = (c * q).astype(f32)
            ok_err = ~use_err
            for e, e_ok in e_cands:
                ok_err = ok_err | (e_ok & ((e * cq).astype(f32) == ferr))
        take = known & ~exact & ok_flux & ok_err
        corr = np.where(take, c, corr)
        exact |= take
    interpolated = ~known & ~bad
    if interpolated.any() and known.any():
        idx = np.arange(n)
        corr[interpolated] = np.interp(idx[interpolated], idx[known], corr[known].astype(float))
    elif interpolated.any():
        corr[interpolated] = 0.0
    corr[bad] = 0.0
    return corr.astype(f32), exact, interpolated & known.any()


# ----------------------------------------------------------------------------------------------
# XTRACTAB
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class XtractRow:
    """The XTRACTAB row calstis6 uses (sizes and offsets in reference pixels).

    calstis6 has no XTRACTAB column for the background smoothing: it is an argument of
    ``calstis6`` (``cs0.e`` always uses ``median`` order 3; ``cs6.e`` ``-bm``/``-bb``/``-bn``/
    ``-bo``), so it is not part of this row.
    """

    aperture: str
    opt_elem: str
    cenwave: int
    sporder: int
    extrsize: float
    bk1size: float
    bk2size: float
    bk1offst: float
    bk2offst: float
    bktcoeff: tuple[float, ...]
    backord: int
    xtracalg: str
    maxsrch: int

    def bktilt(self, nx: int, ltv: Sequence[float] = (0.0, 0.0), ltm=(1.0, 1.0)) -> np.ndarray:
        """Background-box tilt (degrees) per image column (calstis6 ``BoxTilt``)."""
        ltv0, _, ltm0, _ = _lt0(ltv, ltm)
        rpix = np.trunc((np.arange(nx) - ltv0) / ltm0) + 1.0
        angle = np.zeros(nx)
        for i, c in enumerate(self.bktcoeff):
            angle = angle + c * np.power(rpix, float(i))
        return angle


def _pseudo_aperture(aperture: str, propaper: str) -> str:
    """hstcal ``pseudoap``: append a PROPAPER suffix ``E1``/``E2``/``D1`` to APERTURE."""
    for suffix in ("E1", "E2", "D1"):
        if propaper.endswith(suffix) and not aperture.endswith(suffix):
            return aperture + suffix
    return aperture


def read_xtractab_row(
    path: str | os.PathLike, *, aperture: str, opt_elem: str, cenwave: int, sporder: int = 1
) -> XtractRow:
    """The row of an XTRACTAB calstis6 selects (``GetXtract``).

    Rows match on ``APERTURE``, ``OPT_ELEM`` (exact, or ``ANY``) and ``CENWAVE`` (or -1), and
    then ``SPORDER``; the first matching row is used.  ``aperture`` is the header ``APERTURE``
    with calstis' pseudo-aperture suffix (see :func:`reextract_sx1`).
    """
    with fits.open(path) as hdul:
        data = hdul[1].data
        names = set(data.columns.names)
        need = {"APERTURE", "OPT_ELEM", "CENWAVE", "SPORDER", "EXTRSIZE", "BK1SIZE", "BK2SIZE",
                "BK1OFFST", "BK2OFFST", "BACKORD"}  # fmt: skip
        if not need <= names:
            raise InputFileError(
                f"{Path(path).name} lacks XTRACTAB columns {sorted(need - names)}; "
                "give the XTRACTAB the pipeline used (primary header keyword XTRACTAB)"
            )

        def same_str(v, want):
            v = str(v).strip()
            return v == "ANY" or v == want

        def same_int(v, want):
            return int(v) == -1 or int(v) == int(want)

        for rec in data:
            if not (
                same_str(rec["APERTURE"], aperture)
                and same_str(rec["OPT_ELEM"], opt_elem)
                and same_int(rec["CENWAVE"], cenwave)
                and int(rec["SPORDER"]) == int(sporder)
            ):
                continue
            ncoeff = int(rec["NCOEFFBK"]) if "NCOEFFBK" in names else 0
            bkt = tuple(float(c) for c in rec["BKTCOEFF"][:ncoeff]) if "BKTCOEFF" in names else ()
            return XtractRow(
                aperture=str(rec["APERTURE"]).strip(), opt_elem=str(rec["OPT_ELEM"]).strip(),
                cenwave=int(rec["CENWAVE"]), sporder=int(rec["SPORDER"]),
                extrsize=float(np.float32(rec["EXTRSIZE"])), bk1size=float(np.float32(rec["BK1SIZE"])),
                bk2size=float(np.float32(rec["BK2SIZE"])), bk1offst=float(np.float32(rec["BK1OFFST"])),
                bk2offst=float(np.float32(rec["BK2OFFST"])), bktcoeff=bkt, backord=int(rec["BACKORD"]),
                xtracalg=str(rec["XTRACALG"]).strip() if "XTRACALG" in names else "UNWEIGHTED",
                maxsrch=int(rec["MAXSRCH"]) if "MAXSRCH" in names else 0,
            )  # fmt: skip
    raise InputFileError(
        f"{Path(path).name} has no row for APERTURE={aperture} OPT_ELEM={opt_elem} "
        f"CENWAVE={cenwave} SPORDER={sporder}; give the XTRACTAB the pipeline used"
    )


# ----------------------------------------------------------------------------------------------
# re-extraction of a pipeline _sx1
# ----------------------------------------------------------------------------------------------


def _header_value(headers, key: str, default=None):
    for hdr in headers:
        if key in hdr:
            return hdr[key]
    return default


def reextract_sx1(
    pipeline_sx1: str | os.PathLike,
    crj: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    new_darkfile: str,
    xtractab: str | os.PathLike | None = None,
    bks_mode: str = "median",
    bks_order: int = 3,
    y_box: np.ndarray | None = None,
    empirical_cte: bool | None = None,
    stamp: Callable[[fits.Header], None] | None = None,
) -> Path:
    """Write ``dest``: the pipeline ``_sx1`` re-extracted from ``crj`` as calstis6 would.

    Every row of the pipeline ``_sx1`` is re-extracted from the (dark-swapped) ``crj`` image set
    along the row's own ``EXTRLOCY`` with its ``EXTRSIZE``, ``BK1SIZE``/``BK2SIZE`` and
    ``BK1OFFST``/``BK2OFFST`` (:func:`extract_columns`).  ``BACKORD`` and the background tilt come
    from the matching ``xtractab`` row when it is given (:func:`read_xtractab_row`; else
    ``BACKORD`` 0 and no tilt are assumed: the ``_sx1`` does not record them); the smoothing is
    calstis6's (``median``, order 3, unless told otherwise: it is not an XTRACTAB column).

    ``WAVELENGTH``, ``A2CENTER``, ``MAXSRCH``, ``OFFSET`` and the box columns are kept.  The
    flux conversion is the pipeline's own: calstis' float32 factor per column read back from
    the pipeline row (:func:`recover_conversion`; ``FLUX / NET`` up to float32 rounding,
    interpolated where the pipeline row has ``NET = NET_ERROR = 0``), so ``FLUX = NET * c``,
    ``ERROR = e * c * Q`` and ``NET_ERROR = e * Q`` with ``e`` the new pre-Q error and ``Q``
    (:func:`qfactor`) from the new ``GROSS`` and the ``crj``'s ``MEANDARK``, ``NCOMBINE``,
    ``READNSE``, ``ATODGAIN`` and ``EXPTIME``.  With ``CTECORR = COMPLETE`` the pipeline FLUX
    also holds calstis' CTI correction, which depends on the data; it is then carried over as
    the pipeline's ``FLUX / NET`` ratio (approximate).

    The primary header gets ``DARKFILE = new_darkfile``, ``FILENAME`` and a ``HISTORY`` line;
    the file is written atomically; the inputs are not modified.

    Parameters
    ----------
    pipeline_sx1, crj, dest : path-like
        The pipeline ``_sx1``, the image set to extract (same exposure, same geometry), output.
    new_darkfile : str
        Value for the ``DARKFILE`` keyword.
    xtractab : path-like, optional
        The XTRACTAB the pipeline used.
    bks_mode, bks_order
        calstis6's background smoothing (``"median"``/``"average"``/``"off"``, order).
    y_box : ndarray, optional
        calstis' own box centre (reference pixels, float64), shape ``(nx,)`` or ``(nrows, nx)``,
        when it is known exactly (e.g. from the SPTRCTAB of the synthetic archive); by default it
        is :func:`y_box_from_extrlocy` of the row's ``EXTRLOCY``, which is calstis' value rounded
        to float32 (a few float32 ulps in the extracted columns, see there).
    empirical_cte : bool, optional
        Whether ``FLUX`` carries calstis' empirical CTI correction (``CTECORR``): None, as
        the pipeline ``_sx1`` did; False, never (a ``crj`` corrected pixel by pixel, as
        stis_cti sets ``CTECORR = OMIT``): the conversion factor is then read from
        ``ERROR / NET_ERROR`` alone and the output's ``CTECORR`` is ``OMIT`` when it was
        ``COMPLETE``.
    stamp : callable, optional
        Called with the output's primary header before it is written (more keywords).

    Returns
    -------
    Path
        ``dest``.
    """
    with fits.open(crj) as hc:
        chdr, shdr = hc[0].header.copy(), hc["SCI", 1].header.copy()
        sci = ext_data(hc["SCI", 1], np.float32)
        err = ext_data(hc["ERR", 1], np.float32)
        dq = ext_data(hc["DQ", 1], np.int16)
    with fits.open(pipeline_sx1) as hs:
        out = fits.HDUList([h.copy() for h in hs])
    primary, thdr = out[0].header, out[1].header
    exptime = float(_header_value((shdr, thdr), "EXPTIME", chdr.get("TEXPTIME", 0.0)))
    ltv = (float(shdr.get("LTV1", 0.0)), float(shdr.get("LTV2", 0.0)))
    ltm = (float(shdr.get("LTM1_1", 1.0)), float(shdr.get("LTM2_2", 1.0)))
    _, _, _, ltm1 = _lt0(ltv, ltm)
    noise = {
        "exptime": exptime,
        "meandark": float(_header_value((shdr, chdr), "MEANDARK", 0.0)),
        "ncombine": int(_header_value((shdr, chdr), "NCOMBINE", 1)),
        "readnse": float(_header_value((chdr, primary), "READNSE", 0.0)),
        "atodgain": float(_header_value((chdr, primary), "ATODGAIN", 1.0)),
    }

    backcorr = step_complete(primary, "BACKCORR") if "BACKCORR" in primary else True
    fluxcorr = step_complete(primary, "FLUXCORR") if "FLUXCORR" in primary else True
    pipeline_cte = step_complete(primary, "CTECORR")
    cte = pipeline_cte if empirical_cte is None else (pipeline_cte and empirical_cte)
    if pipeline_cte and not cte:
        primary["CTECORR"] = "OMIT"
    hfactor = 1.0
    if step_complete(primary, "HELCORR") and "V_HELIO" in thdr:
        hfactor = 1.0 - float(thdr["V_HELIO"]) / HCFACTOR
    aperture = _pseudo_aperture(
        str(_header_value((chdr, primary), "APERTURE", "")).strip(),
        str(_header_value((chdr, primary), "PROPAPER", "")).strip()
        if str(_header_value((chdr, primary), "SCLAMP", "NONE")).strip() == "NONE"
        else "",
    )
    table = out[1].data
    nx = sci.shape[1]
    if y_box is not None:
        y_box = np.broadcast_to(np.asarray(y_box, dtype=np.float64), (len(table), nx))
    for irow, row in enumerate(table):
        extrlocy = np.asarray(row["EXTRLOCY"], dtype=np.float32)
        if extrlocy.size != nx:
            raise InputFileError(
                f"{Path(pipeline_sx1).name} has {extrlocy.size} columns but {Path(crj).name} "
                f"is {nx} pixels wide; give the _crj of the same exposure"
            )
        backord, bktilt = 0, 0.0
        if xtractab is not None:
            xtr = read_xtractab_row(
                xtractab, aperture=aperture, opt_elem=str(_header_value((chdr, primary), "OPT_ELEM", "")).strip(),
                cenwave=int(_header_value((chdr, primary), "CENWAVE", 0)), sporder=int(row["SPORDER"]),
            )  # fmt: skip
            if xtr.xtracalg.upper() != "UNWEIGHTED":
                raise InputFileError(
                    f"XTRACTAB row for {xtr.opt_elem}/{xtr.cenwave} asks for XTRACALG={xtr.xtracalg}; "
                    "only the unweighted extraction is re-done natively: use calibrator: calstis"
                )
            backord, bktilt = xtr.backord, xtr.bktilt(nx, ltv, ltm)
        cols = extract_columns(
            sci, err, dq,
            y_box=y_box_from_extrlocy(extrlocy, ltv, ltm) if y_box is None else y_box[irow],
            extrsize=float(row["EXTRSIZE"]) / ltm1, bk1size=float(row["BK1SIZE"]) / ltm1,
            bk2size=float(row["BK2SIZE"]) / ltm1, bk1offst=float(row["BK1OFFST"]) / ltm1,
            bk2offst=float(row["BK2OFFST"]) / ltm1, exptime=exptime, backord=backord,
            bktilt=bktilt, ltv=ltv, ltm=ltm, backcorr=backcorr, bks_mode=bks_mode,
            bks_order=bks_order,
        )  # fmt: skip
        wave = np.asarray(row["WAVELENGTH"], dtype=np.float64)
        if fluxcorr:
            old = {k: np.asarray(row[k]) for k in ("NET", "FLUX", "NET_ERROR", "ERROR", "GROSS")}
            q_old = qfactor(wave, row["EXTRSIZE"], old["GROSS"], hfactor=hfactor, **noise)
            corr, _exact, _interp = recover_conversion(old, q_old, cte=pipeline_cte)
            q_new = qfactor(wave, row["EXTRSIZE"], cols["GROSS"], hfactor=hfactor, **noise)
            cols = flux_calibrate(cols, corr, q_new)
            if cte:
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio = old["FLUX"].astype(np.float64) / old["NET"].astype(np.float64)
                ok = np.isfinite(ratio) & (old["NET"] != 0)
                if ok.any():
                    idx = np.arange(ratio.size)
                    ratio = np.interp(idx, idx[ok], ratio[ok])
                    cols["FLUX"] = np.where(
                        corr > 0, cols["NET"].astype(np.float64) * ratio, 0.0
                    ).astype(np.float32)
        else:
            cols["FLUX"] = np.zeros(nx, np.float32)
            cols["ERROR"] = cols["NET_ERROR"].copy()
        for key in ("GROSS", "BACKGROUND", "NET", "FLUX", "ERROR", "NET_ERROR", "DQ"):
            row[key] = cols[key]
    primary["DARKFILE"] = new_darkfile
    primary["FILENAME"] = Path(dest).name
    primary.add_history(
        f"stisdarks x1d: re-extracted from {Path(crj).name} (DARKFILE {new_darkfile}) along the "
        "pipeline EXTRLOCY/boxes; pipeline flux conversion"
    )
    if stamp is not None:
        stamp(primary)
    if cte:
        log.warning(
            "%s: CTECORR=COMPLETE; the re-extracted FLUX keeps the pipeline's FLUX/NET ratio, "
            "whose CTI part was computed from the pipeline GROSS/BACKGROUND",
            Path(pipeline_sx1).name,
        )
    with atomic_path(dest) as tmp:
        out.writeto(tmp, overwrite=True)
    return Path(dest)
