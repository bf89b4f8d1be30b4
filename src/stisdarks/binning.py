"""Fit an unbinned reference image to a binned or subarray STIS CCD image, as calstis does.

STScI's dark monitor takes unbinned full-frame darks only; calstis serves every other
readout from them. Before subtracting a dark (``dodark.c``) or dividing by a flat
(``doflat.c``) it compares the two images' ``LTV``/``LTM`` keywords (``FindBin``): the
same corner, binning and size use the reference as it is, otherwise it cuts the
science image's area out of the reference and bins it (``bin2d``: darks and biases are
summed within a bin, flats averaged; errors combined in quadrature; DQ ORed). Bad-pixel
table flags reach binned data through a full-size scratch array ORed block by block
(``dodqi.c``). This module does the same, with calstis' float32 evaluation order, so
the results are identical to calstis'.

Coordinates follow the IRAF ``LTV``/``LTM`` convention of the image headers: image pixel
(1-indexed) = ``LTM`` · detector pixel + ``LTV``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from stisdarks.bpixtab import flag_bad_pixels
from stisdarks.errors import StisDarksError

__all__ = [
    "Readout",
    "BinPlan",
    "readout_of",
    "find_bin",
    "bin2d",
    "fit_reference",
    "binned_bad_pixels",
]

Triple = tuple[np.ndarray, np.ndarray, np.ndarray]

_F32 = np.float32
_TOLERANCE = 0.001  # dodqi.c FirstLast


def _nint(x: float) -> int:
    """calstis' ``NINT``: round half away from zero."""
    return int(x + 0.5) if x >= 0 else int(x - 0.5)


@dataclass(frozen=True)
class Readout:
    """Where an image sits on the detector: pixel size and first pixel (0-indexed, unbinned)."""

    bin: tuple[int, int]
    corner: tuple[int, int]
    shape: tuple[int, int]  # (rows, columns) of the image

    @property
    def label(self) -> str:
        """``2x1`` binning, corner and size in words (for messages)."""
        return (
            f"{self.shape[1]}x{self.shape[0]} pixels binned {self.bin[0]}x{self.bin[1]} "
            f"from detector pixel ({self.corner[0] + 1}, {self.corner[1] + 1})"
        )


def readout_of(header: fits.Header, shape: tuple[int, int]) -> Readout:
    """calstis ``GetCorner`` for the CCD: binning and corner from ``LTM``/``LTV``.

    Parameters
    ----------
    header : Header
        An image extension header (missing ``LTV``/``LTM`` mean 0 and 1).
    shape : (rows, columns)
        The image's shape.
    """
    ltm = (float(header.get("LTM1_1", 1.0)), float(header.get("LTM2_2", 1.0)))
    ltv = (float(header.get("LTV1", 0.0)), float(header.get("LTV2", 0.0)))
    if ltm[0] <= 0 or ltm[1] <= 0:
        raise StisDarksError(f"LTM1_1/LTM2_2 = {ltm} are not positive; the header is damaged")
    dbin = (1.0 / ltm[0], 1.0 / ltm[1])
    corner = tuple(_nint((b - 1.0) / 2.0 - b * v) for b, v in zip(dbin, ltv, strict=True))
    return Readout(bin=(_nint(dbin[0]), _nint(dbin[1])), corner=corner, shape=tuple(shape))  # type: ignore[arg-type]


@dataclass(frozen=True)
class BinPlan:
    """How to cut and bin a reference image down to an image: ``bin2d``'s arguments."""

    x0: int
    y0: int
    rx: int
    ry: int
    shape: tuple[int, int]  # output (rows, columns)


def find_bin(image: Readout, reference: Readout, what: str = "reference file") -> BinPlan | None:
    """calstis ``FindBin``: ``None`` when the reference serves as it is, else the cut and binning.

    Raises
    ------
    StisDarksError
        When the reference is binned more than the image, the binnings are not multiples,
        or the image reaches outside the reference (one line, saying why).
    """
    if (
        image.corner == reference.corner
        and image.bin == reference.bin
        and image.shape == reference.shape
    ):
        return None
    if reference.bin[0] > image.bin[0] or reference.bin[1] > image.bin[1]:
        raise StisDarksError(
            f"the {what} is binned {reference.bin[0]}x{reference.bin[1]}, more than the science "
            f"({image.bin[0]}x{image.bin[1]}); calstis cannot unbin it — use unbinned darks"
        )
    rx, ry = image.bin[0] // reference.bin[0], image.bin[1] // reference.bin[1]
    if rx * reference.bin[0] != image.bin[0] or ry * reference.bin[1] != image.bin[1]:
        raise StisDarksError(
            f"the science binning {image.bin[0]}x{image.bin[1]} is not a multiple of the {what}'s "
            f"{reference.bin[0]}x{reference.bin[1]}"
        )
    shift = (image.corner[0] - reference.corner[0], image.corner[1] - reference.corner[1])
    x0, y0 = shift[0] // reference.bin[0], shift[1] // reference.bin[1]
    if x0 * reference.bin[0] != shift[0] or y0 * reference.bin[1] != shift[1]:
        raise StisDarksError(
            f"the science starts at detector pixel ({image.corner[0] + 1}, {image.corner[1] + 1}), "
            f"not on a {reference.bin[0]}x{reference.bin[1]} pixel of the {what}; it cannot be binned to it"
        )
    ny, nx = image.shape
    if x0 < 0 or y0 < 0 or x0 + nx * rx > reference.shape[1] or y0 + ny * ry > reference.shape[0]:
        raise StisDarksError(
            f"the science ({image.label}) reaches outside the {what} ({reference.label}); "
            "a full-frame dark serves every readout"
        )
    return BinPlan(x0=x0, y0=y0, rx=rx, ry=ry, shape=(ny, nx))


def bin2d(ref: Triple, plan: BinPlan, *, average: bool) -> Triple:
    """calstis ``bin2d``: cut ``plan``'s area from ``ref`` and sum (or average) within bins.

    SCI is summed in float32 in calstis' order (rows of the bin, then columns); ERR is the
    square root of the float32 sum of squares; DQ is the OR. ``average`` divides both by
    the number of pixels per bin (flats); darks and biases are summed.
    """
    sci, err, dq = ref
    ny, nx = plan.shape
    rows = slice(plan.y0, plan.y0 + ny * plan.ry)
    cols = slice(plan.x0, plan.x0 + nx * plan.rx)
    sci, err, dq = sci[rows, cols], err[rows, cols], dq[rows, cols]
    if plan.rx == 1 and plan.ry == 1:
        return (
            sci.astype(_F32, copy=True),
            err.astype(_F32, copy=True),
            dq.astype(np.int16, copy=True),
        )
    s = np.zeros(plan.shape, _F32)
    e2 = np.zeros(plan.shape, _F32)
    q = np.zeros(plan.shape, np.int16)
    for j in range(plan.ry):
        for i in range(plan.rx):
            part = sci[j :: plan.ry, i :: plan.rx].astype(_F32)
            epart = err[j :: plan.ry, i :: plan.rx].astype(_F32)
            s += part
            e2 += epart * epart
            q |= dq[j :: plan.ry, i :: plan.rx].astype(np.int16)
    root = np.sqrt(e2.astype(np.float64))
    if average:
        weight = _F32(plan.rx * plan.ry)
        return (s / weight).astype(_F32), (root / float(weight)).astype(_F32), q
    return s, root.astype(_F32), q


def fit_reference(
    ref: Triple,
    ref_header: fits.Header,
    image_header: fits.Header,
    image_shape: tuple[int, int],
    *,
    average: bool,
    what: str = "reference file",
) -> Triple:
    """The reference image set as calstis applies it to an image (cut and binned if needed).

    Parameters
    ----------
    ref : (sci, err, dq)
        The reference file's image set.
    ref_header, image_header : Header
        Their SCI extension headers (``LTV``/``LTM``).
    image_shape : (rows, columns)
        The image's shape.
    average : bool
        Average within bins (flats) instead of summing (darks, biases).
    """
    plan = find_bin(
        readout_of(image_header, image_shape), readout_of(ref_header, ref[0].shape), what
    )
    if plan is None:
        return ref
    return bin2d(ref, plan, average=average)


def binned_bad_pixels(
    dq: np.ndarray,
    rows: Iterable[tuple[int, int, int, int, int]],
    header: fits.Header,
    sizaxis: tuple[int, int] = (1024, 1024),
) -> np.ndarray:
    """OR BPIXTAB flags into the DQ of an image of any binning (in place), as calstis' DQICORR.

    Unbinned data are flagged directly (:func:`stisdarks.bpixtab.flag_bad_pixels`); binned
    data through a detector-sized scratch array whose flags are ORed into every image
    pixel that lies wholly on it (``FirstLast``), bin by bin.

    Parameters
    ----------
    dq : ndarray (int16)
        The image's DQ.
    rows : iterable of (PIX1, PIX2, LENGTH, AXIS, VALUE)
        BPIXTAB rows (1-indexed detector pixels).
    header : Header
        The image's extension header (``LTV``/``LTM``).
    sizaxis : (int, int)
        The table's ``SIZAXIS1``, ``SIZAXIS2``.
    """
    ltm = (float(header.get("LTM1_1", 1.0)), float(header.get("LTM2_2", 1.0)))
    ltv = (float(header.get("LTV1", 0.0)), float(header.get("LTV2", 0.0)))
    if ltm == (1.0, 1.0):
        return flag_bad_pixels(dq, rows, ltv)
    scratch = flag_bad_pixels(np.zeros((sizaxis[1], sizaxis[0]), np.int16), rows, (0.0, 0.0))
    si_v = (ltv[0] + ltm[0] - 1.0, ltv[1] + ltm[1] - 1.0)
    rbin = (_nint(1.0 / ltm[0]), _nint(1.0 / ltm[1]))
    first, last, sfirst = [0, 0], [-1, -1], [0, 0]
    npix = (dq.shape[1], dq.shape[0])
    for k in range(2):
        for i in range(npix[k]):
            scr = (i - 0.5 - si_v[k]) / ltm[k]
            if scr + _TOLERANCE >= -0.5:
                first[k], sfirst[k] = i, _nint(scr + 0.5)
                break
        for i in range(npix[k] - 1, 0, -1):
            scr = (i + 0.5 - si_v[k]) / ltm[k]
            if scr - _TOLERANCE <= sizaxis[k] - 1.0 + 0.5:
                last[k] = i
                break
    nx, ny = last[0] - first[0] + 1, last[1] - first[1] + 1
    if nx <= 0 or ny <= 0:
        return dq
    block = scratch[sfirst[1] : sfirst[1] + ny * rbin[1], sfirst[0] : sfirst[0] + nx * rbin[0]]
    ored = np.zeros((ny, nx), np.int16)
    for j in range(rbin[1]):
        for i in range(rbin[0]):
            part = block[j :: rbin[1], i :: rbin[0]]
            ored[: part.shape[0], : part.shape[1]] |= part
    dq[first[1] : last[1] + 1, first[0] : last[0] + 1] |= ored
    return dq
