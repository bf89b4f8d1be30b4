"""The native dark swap: replace the pipeline dark by another in calibrated STIS CCD data.

calstis subtracts ``DARK · f · EXPTIME / ATODGAIN`` from each image set (after bias,
before the flat), with ``f = 1 + DRK_VS_T (OCCDHTAV − REF_TEMP)`` for side-2 data
(``REF_TEMP``/``DRK_VS_T`` from the dark file's primary header), then divides by the
flat. So, image set by image set::

    SCI_new = SCI_old + (DARK_old · f_old − DARK_new · f_new) · EXPTIME / ATODGAIN / FLAT

For a CR-SPLIT ``_crj`` the dark is subtracted after the rejection with the total
EXPTIME and the exposure-weighted OCCDHTAV, so the same formula is exact on the
``_crj`` itself (``docs/calstis.md``). For binned or subarray data, DARK and FLAT are
the unbinned reference files cut and binned to the data as calstis does
(:mod:`stisdarks.binning`), and ATODGAIN is the data's own (4 at gain 4).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
from astropy.io import fits

from stisdarks.binning import binned_bad_pixels, fit_reference
from stisdarks.crrejtab import resolve_reference
from stisdarks.errors import InputFileError
from stisdarks.fitsio import ext_data, step_complete

__all__ = [
    "FLAT_ZERO_FLAG",
    "SIDE2_MJD",
    "apply_dark_and_flat",
    "bad_pixel_dq",
    "dark_scale_factor",
    "flat_field",
    "mean_dark",
    "remove_dark_and_flat",
    "scaled_dark_median",
    "swap_dark_imset",
]

log = logging.getLogger(__name__)

SIDE2_MJD = 52091.0
#: the DQ bit calstis' FLATCORR sets where the flat is 0 (the pixel is left undivided)
FLAT_ZERO_FLAG = 512


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


def _read_flat(key: str, name: str, oref_search):
    path = resolve_reference(name, oref_search)
    if path is None:
        raise InputFileError(f"{key} {name} not found; sync the references (crds) or set oref")
    with fits.open(path) as hdul:
        triple = (
            ext_data(hdul["SCI", 1], np.float32),
            ext_data(hdul["ERR", 1], np.float32),
            ext_data(hdul["DQ", 1], np.int16),
        )
        return triple, hdul["SCI", 1].header.copy()


def flat_field(
    primary_header: fits.Header,
    sci_header: fits.Header,
    shape: tuple[int, int],
    oref_search: Sequence[os.PathLike] = (),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The flat calstis divided an image set by: ``PFLTFILE · DFLTFILE · LFLTFILE``, fitted to it.

    As calstis' FLATCORR: P and D multiplied with ``mult2d`` (errors combined, DQ OR),
    the low-order flat expanded bilinearly to their size (``unbin2d``, variances
    interpolated), then the product cut and averaged to the image's readout
    (:func:`stisdarks.binning.fit_reference`) when the data are binned or a subarray.
    Ones (error 0) when FLATCORR was not done.

    Parameters
    ----------
    primary_header, sci_header : Header
        The calibrated file's primary header and the image set's SCI header (``LTV``/``LTM``).
    shape : (rows, columns)
        The image set's shape.
    oref_search : sequence of path-like
        Directories to look for the flats in.
    """
    ones = (np.ones(shape, np.float32), np.zeros(shape, np.float32), np.zeros(shape, np.int16))
    if not step_complete(primary_header, "FLATCORR"):
        return ones
    flat: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    flat_header: fits.Header | None = None
    for key in ("PFLTFILE", "DFLTFILE"):
        name = str(primary_header.get(key, "")).strip()
        if not name or name.upper() == "N/A":
            continue
        part, header = _read_flat(key, name, oref_search)
        if flat is not None and part[0].shape != flat[0].shape:
            raise InputFileError(
                f"{key} {name} is {part[0].shape[1]}x{part[0].shape[0]}, not the size of the other flat"
            )
        flat = part if flat is None else _mult2d(flat, part)
        flat_header = flat_header if flat_header is not None else header
    name = str(primary_header.get("LFLTFILE", "")).strip()
    if name and name.upper() != "N/A":
        low, _ = _read_flat("LFLTFILE", name, oref_search)
        target = flat[0].shape if flat is not None else shape
        expanded = (
            _expand(low[0], target),
            np.sqrt(np.maximum(_expand(low[1].astype(np.float32) ** 2, target), 0)).astype(
                np.float32
            ),
            np.zeros(target, np.int16),
        )
        flat = expanded if flat is None else _mult2d(flat, expanded)
        flat_header = flat_header if flat_header is not None else sci_header
    if flat is None or flat_header is None:
        raise InputFileError(
            "FLATCORR is COMPLETE but no flat file is named; the header is inconsistent"
        )
    return fit_reference(flat, flat_header, sci_header, shape, average=True, what="flat field")


def bad_pixel_dq(
    primary_header: fits.Header,
    sci_header: fits.Header,
    shape: tuple[int, int],
    oref_search: Sequence[os.PathLike] = (),
) -> np.ndarray:
    """The DQ calstis' DQICORR gave the data from the BPIXTAB (zeros when there is none).

    Rows ``(PIX1, PIX2, LENGTH, AXIS, VALUE)`` in detector pixels, placed with the image's
    ``LTV``/``LTM`` as calstis does: directly for unbinned data (runs clipped to the
    image), through a detector-sized array ORed bin by bin for binned data
    (:func:`stisdarks.binning.binned_bad_pixels`).
    """
    dq = np.zeros(shape, np.int16)
    name = str(primary_header.get("BPIXTAB", "")).strip()
    if not step_complete(primary_header, "DQICORR") or not name or name.upper() == "N/A":
        return dq
    path = resolve_reference(name, oref_search)
    if path is None:
        log.warning(
            "BPIXTAB %s not found: the dark swap cannot tell its flags from the dark's", name
        )
        return dq
    opt_elem = str(primary_header.get("OPT_ELEM", "")).strip()
    with fits.open(path) as hdul:
        table, theader = hdul[1].data, hdul[1].header
        sizaxis = (int(theader.get("SIZAXIS1", 1024)), int(theader.get("SIZAXIS2", 1024)))
        has_opt = "OPT_ELEM" in table.columns.names
        rows = [
            (int(r["PIX1"]), int(r["PIX2"]), int(r["LENGTH"]), int(r["AXIS"]), int(r["VALUE"]))
            for r in table
            if not has_opt or str(r["OPT_ELEM"]).strip() in ("ANY", opt_elem)
        ]
    return binned_bad_pixels(dq, rows, sci_header, sizaxis)


def _mult2d(a, b):
    """calstis ``mult2d``: product, errors ``sqrt((a·e_b)² + (b·e_a)²)``, DQ OR."""
    sci = (a[0] * b[0]).astype(np.float32)
    err = np.sqrt((a[0].astype(np.float64) * b[1]) ** 2 + (b[0].astype(np.float64) * a[1]) ** 2)
    return sci, err.astype(np.float32), (a[2] | b[2]).astype(np.int16)


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


def _dark_scale(
    sci_header: fits.Header,
    dark: tuple[np.ndarray, np.ndarray, np.ndarray, fits.Header],
    atodgain: float,
) -> np.float32:
    """The float32 number calstis multiplies the dark by for this image set."""
    factor = dark_scale_factor(
        sci_header.get("OCCDHTAV"), float(sci_header.get("EXPSTART", 0.0)), dark[3]
    )
    return np.float32(factor * float(sci_header["EXPTIME"]) / atodgain)


def mean_dark(
    dark: tuple[np.ndarray, np.ndarray, np.ndarray, fits.Header],
    sci_header: fits.Header,
    atodgain: float,
) -> float:
    """calstis' ``MEANDARK`` of an image set: median of the scaled dark (DN) over DQ = 0."""
    return scaled_dark_median(dark[0], dark[2], _dark_scale(sci_header, dark, atodgain))


def scaled_dark_median(dark_sci: np.ndarray, dark_dq: np.ndarray, k: float) -> float:
    """Median of ``dark_sci · k`` (float32) over the pixels with DQ = 0, or 0 (calstis ``MedSciVal``)."""
    good = dark_dq == 0
    return float(np.median(dark_sci[good] * np.float32(k))) if good.any() else 0.0


def swap_dark_imset(
    sci: np.ndarray,
    err: np.ndarray,
    dq: np.ndarray,
    sci_header: fits.Header,
    old_dark: tuple[np.ndarray, np.ndarray, np.ndarray, fits.Header],
    new_dark: tuple[np.ndarray, np.ndarray, np.ndarray, fits.Header],
    flat: tuple[np.ndarray, np.ndarray, np.ndarray],
    atodgain: float,
    protected_dq: np.ndarray | int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Swap the dark of one calibrated image set, as if calstis had used the new dark.

    Parameters
    ----------
    sci, err, dq : ndarray
        The calibrated image set (DN, flat-fielded).
    sci_header : Header
        Its SCI header (``EXPTIME``, ``EXPSTART``, ``OCCDHTAV``).
    old_dark, new_dark : tuple
        ``(sci, err, dq, primary_header)`` of the pipeline dark and of the new dark (e⁻/s).
    flat : tuple
        ``(sci, err, dq)`` of the flat calstis divided by (:func:`flat_field`); pixels
        where it is 0 are left alone (calstis leaves them undivided and flags 512).
    atodgain : float
        e⁻/DN.
    protected_dq : ndarray or int
        DQ bits the data have from another source than the dark (the BPIXTAB flags,
        :func:`bad_pixel_dq`): never cleared.

    Returns
    -------
    sci, err, dq
        SCI: the old scaled dark added back, the new one subtracted, through the flat.
        ERR: undone and redone as calstis forms it — the flat-field term (``e_F·a/F²``)
        removed, the old dark's error removed and the new one's added in quadrature before
        the flat, the flat term added for the new value. DQ: the bits only the old dark had
        (and the flat does not have) cleared, every bit of the new dark ORed in, as calstis'
        ``sub2d`` ORs the DARKFILE's DQ. A bit that the old dark shares with another source
        of the pipeline DQ (the BPIXTAB, the bias) cannot be told apart and is cleared too.
    """
    k_old = _dark_scale(sci_header, old_dark, atodgain)
    k_new = _dark_scale(sci_header, new_dark, atodgain)
    fsci, ferr, fdq = flat
    good = fsci != 0
    safe = np.where(good, fsci, 1).astype(np.float32)
    delta = (old_dark[0].astype(np.float32) * k_old - new_dark[0].astype(np.float32) * k_new) / safe
    new_sci = np.where(good, sci + delta, sci).astype(np.float32)
    f64, fe64 = safe.astype(np.float64), ferr.astype(np.float64)
    a_old = sci.astype(np.float64) * f64  # the dark-subtracted value before the flat
    a_new = new_sci.astype(np.float64) * f64
    var_a = (err.astype(np.float64) ** 2 - (fe64 * a_old / f64**2) ** 2) * f64**2
    var_a += (
        -((old_dark[1].astype(np.float64) * k_old) ** 2)
        + (new_dark[1].astype(np.float64) * k_new) ** 2
    )
    var = np.maximum(var_a, 0) / f64**2 + (fe64 * a_new / f64**2) ** 2
    new_err = np.where(good, np.sqrt(var), err).astype(np.float32)
    removable = old_dark[2] & ~new_dark[2] & ~fdq & ~np.asarray(protected_dq, np.int16)
    new_dq = ((dq & ~removable) | new_dark[2]).astype(np.int16)
    log.debug("dark swap: dark scaled by %.4f (old) and %.4f (new) DN per e-/s", k_old, k_new)
    return new_sci, new_err, new_dq


#: float32 steps tried on either side of the inverse (calstis' two roundings lose at most
#: about one step each)
_INVERSE_STEPS = 3


def _exact_inverse(
    estimate: np.ndarray, sci: np.ndarray, scaled: np.ndarray, flat: np.ndarray, good: np.ndarray
) -> np.ndarray:
    """The float32 value nearest ``estimate`` that calstis' arithmetic takes to ``sci``.

    calstis computes ``float32(float32(x − scaled) / flat)`` (``x − scaled`` where the flat
    is 0); the values ``estimate ± 1..`` :data:`_INVERSE_STEPS` float32 steps are tried,
    nearest first, and the first that gives ``sci`` exactly is kept. Where several would
    (the rounding lost information) the nearest to the real-valued inverse is taken; where
    none does, ``estimate`` is kept.
    """
    found = np.zeros(sci.shape, bool)
    out = estimate.copy()
    up, down = estimate.copy(), estimate.copy()
    candidates = [estimate]
    for _ in range(_INVERSE_STEPS):
        down = np.nextafter(down, np.float32(-np.inf))
        up = np.nextafter(up, np.float32(np.inf))
        candidates += [down, up]
    for x in candidates:
        a = x - scaled
        forward = np.where(good, a / flat, a)
        hit = ~found & (forward == sci)
        out[hit] = x[hit]
        found |= hit
    return out


def remove_dark_and_flat(
    sci: np.ndarray,
    err: np.ndarray,
    dq: np.ndarray,
    sci_header: fits.Header,
    dark: tuple[np.ndarray, np.ndarray, np.ndarray, fits.Header],
    flat: tuple[np.ndarray, np.ndarray, np.ndarray],
    atodgain: float,
    *,
    protected_dq: np.ndarray | int = 0,
    clear_dq: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undo calstis' DARKCORR and FLATCORR on one calibrated image set: back to bias-subtracted DN.

    The inverse of :func:`apply_dark_and_flat`: ``a = SCI · FLAT`` (``SCI`` where the flat
    is 0, which calstis left undivided), then the scaled dark added back; of the float32
    values around it, the nearest one that calstis' own float32 arithmetic takes back to
    ``SCI`` exactly is kept (:func:`_exact_inverse`), so SCI is calstis' input wherever its
    rounding lost no information.

    Parameters
    ----------
    sci, err, dq : ndarray
        A calibrated image set (a ``_flt``'s, DN, dark-subtracted and flat-fielded).
    sci_header : Header
        Its SCI header (``EXPTIME``, ``EXPSTART``, ``OCCDHTAV``).
    dark : tuple
        ``(sci, err, dq, primary_header)`` of the dark calstis subtracted (e⁻/s), fitted
        to the image set.
    flat : tuple
        ``(sci, err, dq)`` of the flat it divided by (:func:`flat_field`).
    atodgain : float
        e⁻/DN.
    protected_dq : ndarray or int
        DQ bits the data have from another source than the dark and the flat (the
        BPIXTAB's, :func:`bad_pixel_dq`): never cleared.
    clear_dq : int
        Bits cleared everywhere (e.g. the cosmic-ray flag of an earlier rejection).

    Returns
    -------
    sci, err, dq
        SCI (float32): ``SCI · FLAT + DARK · k``. ERR (float32): the flat-field term and the
        dark's error removed in quadrature (what basic2d's noise model and the bias left).
        DQ (int16): the bits the dark or the flat gave (and ``FLAT_ZERO_FLAG`` where the
        flat is 0) cleared unless protected, and ``clear_dq`` cleared. A bit that the
        dark or flat shares with another source of the DQ (saturation, the bias file)
        cannot be told apart and is cleared too.
    """
    k = _dark_scale(sci_header, dark, atodgain)
    fsci, ferr, fdq = flat
    good = fsci != 0
    f64 = np.where(good, fsci, 1).astype(np.float64)
    fe64 = np.where(good, ferr, 0).astype(np.float64)
    scaled32 = dark[0].astype(np.float32) * k
    a = sci.astype(np.float64) * f64
    out_sci = _exact_inverse(
        (a + scaled32.astype(np.float64)).astype(np.float32), np.asarray(sci, np.float32),
        scaled32, np.where(good, fsci, 1).astype(np.float32), good,
    )  # fmt: skip
    var = (err.astype(np.float64) ** 2 - (fe64 * a / f64**2) ** 2) * f64**2
    var -= (dark[1].astype(np.float64) * np.float64(k)) ** 2
    out_err = np.sqrt(np.maximum(var, 0)).astype(np.float32)
    zero_flag = np.where(good, np.int16(0), np.int16(FLAT_ZERO_FLAG))
    removable = (dark[2] | fdq | zero_flag) & ~np.asarray(protected_dq, np.int16)
    out_dq = (dq & ~removable & ~np.int16(clear_dq)).astype(np.int16)
    return out_sci, out_err, out_dq


def apply_dark_and_flat(
    sci: np.ndarray,
    err: np.ndarray,
    dq: np.ndarray,
    sci_header: fits.Header,
    dark: tuple[np.ndarray, np.ndarray, np.ndarray, fits.Header],
    flat: tuple[np.ndarray, np.ndarray, np.ndarray],
    atodgain: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """calstis' DARKCORR then FLATCORR on one bias-subtracted image set (DN).

    DARKCORR (``sub2d``): ``a = SCI − float32(DARK · k)``, ``k = f · EXPTIME / ATODGAIN``
    (:func:`dark_scale_factor`), errors in quadrature, DQ OR. FLATCORR (``div2d``):
    ``a / FLAT``, ``ERR = sqrt((e/F)² + (e_F·a/F²)²)``, DQ OR; where the flat is 0 the
    pixel is left undivided and flagged :data:`FLAT_ZERO_FLAG`. SCI in float32 as calstis
    computes it; ERR in float64, rounded once.

    Parameters
    ----------
    sci, err, dq : ndarray
        The bias-subtracted image set.
    sci_header, dark, flat, atodgain
        As :func:`remove_dark_and_flat`.

    Returns
    -------
    sci, err, dq
        float32, float32, int16.
    """
    k = _dark_scale(sci_header, dark, atodgain)
    fsci, ferr, fdq = flat
    good = fsci != 0
    a = np.asarray(sci, np.float32) - dark[0].astype(np.float32) * k
    f32 = np.where(good, fsci, 1).astype(np.float32)
    out_sci = np.where(good, a / f32, a).astype(np.float32)
    var_a = err.astype(np.float64) ** 2 + (dark[1].astype(np.float64) * np.float64(k)) ** 2
    f64, fe64 = f32.astype(np.float64), np.where(good, ferr, 0).astype(np.float64)
    var = var_a / f64**2 + (fe64 * a.astype(np.float64) / f64**2) ** 2
    out_err = np.sqrt(var).astype(np.float32)
    zero_flag = np.where(good, np.int16(0), np.int16(FLAT_ZERO_FLAG))
    out_dq = (np.asarray(dq, np.int16) | dark[2] | fdq | zero_flag).astype(np.int16)
    return out_sci, out_err, out_dq
