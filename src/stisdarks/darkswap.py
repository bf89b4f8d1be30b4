"""The native dark swap: replace the pipeline dark by another in calibrated STIS CCD data.

calstis subtracts ``DARK · f · EXPTIME / ATODGAIN`` from each image set (after bias,
before the flat), with ``f = 1 + DRK_VS_T (OCCDHTAV − REF_TEMP)`` for side-2 data
(``REF_TEMP``/``DRK_VS_T`` from the dark file's primary header), then divides by the
flat. So, image set by image set::

    SCI_new = SCI_old + (DARK_old · f_old − DARK_new · f_new) · EXPTIME / ATODGAIN / FLAT

For a CR-SPLIT ``_crj`` the dark is subtracted after the rejection with the total
EXPTIME and the exposure-weighted OCCDHTAV, so the same formula is exact on the
``_crj`` itself (``shared/DESIGN.md``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
from astropy.io import fits

from stisdarks.crrejtab import resolve_reference
from stisdarks.errors import InputFileError
from stisdarks.fitsio import ext_data

__all__ = ["SIDE2_MJD", "dark_scale_factor", "flat_field", "swap_dark_imset"]

log = logging.getLogger(__name__)

SIDE2_MJD = 52091.0
HOT_FLAG = 16


def dark_scale_factor(
    occdhtav: float | None, expstart_mjd: float, dark_primary_header: fits.Header
) -> float:
    """calstis' ``CCDFactor``: ``1 + DRK_VS_T (T − REF_TEMP)``, or 1 before side 2 / without a temperature."""
    if occdhtav is None or expstart_mjd < SIDE2_MJD:
        return 1.0
    t = float(occdhtav)
    if t <= 0:
        return 1.0
    ref_temp = float(dark_primary_header.get("REF_TEMP", 18.0))
    drk_vs_t = float(dark_primary_header.get("DRK_VS_T", 0.07))
    return 1.0 + drk_vs_t * (t - ref_temp)


def flat_field(
    primary_header: fits.Header, shape: tuple[int, int], oref_search: Sequence[os.PathLike] = ()
) -> np.ndarray:
    """The flat calstis divided by: ``PFLTFILE · DFLTFILE`` (LFLTFILE expanded bilinearly), or ones.

    Only unbinned full-size flats are supported here; anything else is a clear error.
    """
    if str(primary_header.get("FLATCORR", "")).strip() != "COMPLETE":
        return np.ones(shape, dtype=np.float32)
    flat = np.ones(shape, dtype=np.float32)
    used = []
    for key in ("PFLTFILE", "DFLTFILE"):
        name = str(primary_header.get(key, "")).strip()
        if not name or name.upper() == "N/A":
            continue
        path = resolve_reference(name, oref_search)
        if path is None:
            raise InputFileError(f"{key} {name} not found; sync the references (crds) or set oref")
        with fits.open(path) as hdul:
            data = ext_data(hdul["SCI", 1], np.float32)
        if data.shape != shape:
            raise InputFileError(
                f"{key} {name} is {data.shape[1]}x{data.shape[0]} but the data are {shape[1]}x{shape[0]}; "
                "binned or subarray data need calstis (calibrator: calstis)"
            )
        flat = flat * data
        used.append(name)
    name = str(primary_header.get("LFLTFILE", "")).strip()
    if name and name.upper() != "N/A":
        path = resolve_reference(name, oref_search)
        if path is None:
            raise InputFileError(
                f"LFLTFILE {name} not found; sync the references (crds) or set oref"
            )
        with fits.open(path) as hdul:
            low = ext_data(hdul["SCI", 1], np.float32)
        flat = flat * _expand(low, shape)
        used.append(name)
    if not used:
        raise InputFileError(
            "FLATCORR is COMPLETE but no flat file is named; the header is inconsistent"
        )
    return flat


def _expand(low: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear expansion of a low-order flat (calstis ``unbin2d``)."""
    out = low
    for axis, n_out in enumerate(shape):
        n_in = out.shape[axis]
        if n_in == n_out:
            continue
        b = n_out / n_in
        pos = (np.arange(n_out) - (b - 1) / 2) / b
        i0 = np.clip(np.floor(pos).astype(int), 0, n_in - 2)
        frac = pos - i0
        a = np.take(out, i0, axis=axis)
        c = np.take(out, i0 + 1, axis=axis)
        f = frac.reshape([-1 if k == axis else 1 for k in range(out.ndim)])
        out = a + (c - a) * f
    return out.astype(np.float32)


def swap_dark_imset(
    sci: np.ndarray,
    err: np.ndarray,
    dq: np.ndarray,
    sci_header: fits.Header,
    old_dark: tuple[np.ndarray, np.ndarray, np.ndarray, fits.Header],
    new_dark: tuple[np.ndarray, np.ndarray, np.ndarray, fits.Header],
    flat: np.ndarray,
    atodgain: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Swap the dark of one calibrated image set.

    Parameters
    ----------
    sci, err, dq : ndarray
        The calibrated image set (DN, flat-fielded).
    sci_header : Header
        Its SCI header (``EXPTIME``, ``EXPSTART``, ``OCCDHTAV``).
    old_dark, new_dark : tuple
        ``(sci, err, dq, primary_header)`` of the pipeline dark and of the new dark (e⁻/s).
    flat : ndarray
        The flat calstis divided by (ones if none); pixels where it is 0 are left alone.
    atodgain : float
        e⁻/DN.

    Returns
    -------
    sci, err, dq
        ERR: the old dark's error removed in quadrature, the new one's added. DQ: the old
        dark's hot-pixel flag (16) replaced by the new dark's.
    """
    exptime = float(sci_header["EXPTIME"])
    expstart = float(sci_header.get("EXPSTART", 0.0))
    temp = sci_header.get("OCCDHTAV")
    f_old = dark_scale_factor(temp, expstart, old_dark[3])
    f_new = dark_scale_factor(temp, expstart, new_dark[3])
    k = exptime / atodgain
    good = flat != 0
    safe_flat = np.where(good, flat, 1).astype(np.float32)
    delta = (
        old_dark[0].astype(np.float32) * np.float32(f_old * k)
        - new_dark[0].astype(np.float32) * np.float32(f_new * k)
    ) / safe_flat
    new_sci = np.where(good, sci + delta, sci).astype(np.float32)
    var = (
        err.astype(np.float64) ** 2
        - (old_dark[1].astype(np.float64) * f_old * k / safe_flat) ** 2
        + (new_dark[1].astype(np.float64) * f_new * k / safe_flat) ** 2
    )
    new_err = np.where(good, np.sqrt(np.maximum(var, 0)), err).astype(np.float32)
    old_hot = (old_dark[2] & HOT_FLAG) != 0
    new_hot = (new_dark[2] & HOT_FLAG) != 0
    new_dq = np.where(old_hot & ~new_hot, dq & ~np.int16(HOT_FLAG), dq)
    new_dq = np.where(new_hot, new_dq | np.int16(HOT_FLAG), new_dq).astype(np.int16)
    log.debug("dark swap: EXPTIME %.1f s, factors old %.4f new %.4f", exptime, f_old, f_new)
    return new_sci, new_err, new_dq
