"""Cosmic-ray flags inside and outside the extraction box: were valid data rejected?

calstis' cosmic-ray rejection (step 2, :mod:`stisdarks.crreject`) assumes that the image
sets of a CR-SPLIT (or repeated) CCD exposure are registered. If the spectrum moves
between them — by as little as ~0.1 pixel (~5 mas unbinned) across the dispersion — the
rejection takes the spectrum itself for cosmic rays in one or more image sets, and the
combined ``_crj`` and ``_sx1`` lose counts (STIS ISR 1998-22 §4, STIS ISR 2019-02).
Where it rejects a pixel of an image set it sets the DQ bit 8192 (:data:`CR_FLAG`,
``DATAREJECT``) in that image set of the ``_flt`` (``CRMASK = yes``: a CR-split ``_flt``
holds ``NEXTEND = 3 ×`` image sets, SCI/ERR/DQ each).

STScI's STIS CCD cosmic-ray monitor (https://www.stsci.edu/~STIS/monitors/cosmic_rays/,
announced in the October 2024 STIS STAN) checks every CCD spectrum for this with
``stistools.ocrreject_exam``; this module computes the same numbers, with NumPy only:

- the fraction of the pixels inside the ``_sx1``'s extraction box flagged as cosmic
  rays, and of those outside it, averaged over the image sets (``AVG_EXTR_FRAC``,
  ``AVG_OUTSIDE_FRAC``), and their ratio (``AVG_RATIO``, ``combined_ratio``): ideally 1,
  as cosmic rays fall anywhere;
- the verdict of ``ocrreject_exam`` (stistools 1.4.9, its version 1.2): under the null
  hypothesis that cosmic rays land uniformly, the ``N = round(n_flagged / cr_size)``
  cosmic-ray hits (each flags ``cr_size = 2.4`` pixels on average) that fall in a box
  covering the fraction ``f`` of the image are binomial ``B(N, f)``; the ratio is
  significant — valid data flagged — when the box holds at least ``k* · cr_size``
  flagged pixels, ``k* = isf(α, N, f) + 1`` and ``α = 0.00135`` (the one-sided 3σ
  tail). For STScI's documented case odvkl1040 (36 % of the box flagged, 0.85 %
  outside) that means a ratio of 42.5 against a threshold of 1.40.

The box is the monitor's: in each column the rows whose centres lie within
``EXTRLOCY − 1 ± EXTRSIZE / 2`` (0-indexed), i.e. ``EXTRSIZE`` whole rows. It differs
from :func:`stisdarks.summary.extraction_region` (every row the box touches, partly
covered edge rows included) by the partly covered rows; pass ``region=`` to use that
one instead. Binned data: the ``_sx1`` is in the same (binned) pixels as the ``_flt``.

Two cases the monitor does not cover get their own verdict instead of an error: too few
flagged pixels for the test to decide (``insufficient``), and no box or no CR-split
(``not_applicable``). Every number of the returned dictionaries is a plain ``int``,
``float`` or ``None`` (JSON-serialisable, no NaN or infinity).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy.io import fits

from stisdarks.crreject import CR_FLAG
from stisdarks.errors import InputFileError
from stisdarks.fitsio import ext_data

__all__ = [
    "ALPHA",
    "CR_SIZE",
    "CR_FLAG",
    "FlagCounts",
    "box_region",
    "sx1_box",
    "count_flags",
    "flagged_fractions",
    "binomial_isf",
    "significance_threshold",
    "verdict",
    "cosmic_ray_verdict",
]

#: significance of the over-flagging test: the one-sided 3σ tail (``ocrreject_exam``'s ``alpha``)
ALPHA = 0.00135
#: mean number of pixels a cosmic-ray hit flags (``ocrreject_exam``'s ``cr_size``)
CR_SIZE = 2.4

#: what the numbers mean (for ``summary.json``)
DEFINITION = (
    "fraction of the pixels flagged as cosmic rays (DQ 8192) by calstis in the _flt image "
    "sets, inside the _sx1 extraction box (rows whose centres lie within EXTRLOCY ± "
    "EXTRSIZE/2) and outside it, averaged over the image sets; ratio = inside / outside; "
    "valid data flagged when the box holds more flagged pixels than uniformly spread cosmic "
    "rays would put there at the 3-sigma level (STScI's STIS cosmic-ray monitor, "
    "stistools.ocrreject_exam)"
)


@dataclass(frozen=True)
class FlagCounts:
    """Pixels flagged as cosmic rays in a stack of image sets, inside and outside a box.

    Attributes
    ----------
    image_sets : int
        Number of image sets.
    image_pixels : int
        Pixels of one image set.
    box_pixels : int or None
        Pixels of one image set inside the box; ``None`` when there is no box (imaging).
    inside, outside : int
        Flagged pixels summed over the image sets, inside and outside the box (without a
        box every flag counts as outside).
    """

    image_sets: int
    image_pixels: int
    box_pixels: int | None
    inside: int
    outside: int

    @property
    def flagged(self) -> int:
        """Flagged pixels of all image sets."""
        return self.inside + self.outside

    @property
    def overall_fraction(self) -> float | None:
        """Fraction of all pixels of all image sets that are flagged."""
        return _fraction(self.flagged, self.image_sets * self.image_pixels)

    @property
    def inside_fraction(self) -> float | None:
        """Mean over the image sets of the fraction of box pixels flagged (``None``: no box)."""
        if self.box_pixels is None:
            return None
        return _fraction(self.inside, self.image_sets * self.box_pixels)

    @property
    def outside_fraction(self) -> float | None:
        """Mean over the image sets of the fraction of the other pixels flagged."""
        if self.box_pixels is None:
            return None
        return _fraction(self.outside, self.image_sets * (self.image_pixels - self.box_pixels))

    @property
    def ratio(self) -> float | None:
        """``inside_fraction / outside_fraction``; ``None`` where undefined (nothing outside)."""
        inside, outside = self.inside_fraction, self.outside_fraction
        if inside is None or not outside:
            return None
        return inside / outside

    @property
    def box_fraction(self) -> float | None:
        """Fraction of an image set covered by the box."""
        if self.box_pixels is None:
            return None
        return _fraction(self.box_pixels, self.image_pixels)


def _fraction(num: int, den: int) -> float | None:
    return float(num) / float(den) if den > 0 else None


def box_region(shape: tuple[int, int], extrlocy: np.ndarray, extrsize: float) -> np.ndarray:
    """The extraction box as STScI's cosmic-ray monitor draws it: a boolean mask.

    In column ``x`` the rows ``j`` (0-indexed) with
    ``ceil(c − EXTRSIZE/2) ≤ j ≤ floor(c + EXTRSIZE/2)``, ``c = EXTRLOCY[x] − 1``: the
    rows whose centres lie inside the box. Computed in the precision of ``extrlocy``
    (float32 in an ``_sx1``), as ``ocrreject_exam`` does. Rows beyond the image are
    dropped (``ocrreject_exam`` refuses such a box).

    Parameters
    ----------
    shape : (rows, columns)
        The image's shape.
    extrlocy : ndarray, shape (columns,)
        The ``_sx1`` ``EXTRLOCY`` column (1-indexed pixel rows of the box centre).
    extrsize : float
        The ``_sx1`` ``EXTRSIZE`` (box height, pixels).

    Returns
    -------
    ndarray of bool, shape ``shape``

    Raises
    ------
    ValueError
        When ``extrlocy`` does not have one value per column.
    """
    ny, nx = shape
    centre = np.asarray(extrlocy) - 1
    if centre.shape != (nx,):
        raise ValueError(f"EXTRLOCY has {centre.size} values for an image of {nx} columns")
    half = np.asarray(extrsize, dtype=centre.dtype) / 2
    lower, upper = np.ceil(centre - half), np.floor(centre + half)
    rows = np.arange(ny)[:, None]
    return (rows >= lower[None, :]) & (rows <= upper[None, :])


def sx1_box(shape: tuple[int, int], sx1: os.PathLike) -> np.ndarray:
    """:func:`box_region` of the first row of an ``_sx1`` (or ``_x1d``) table.

    Raises
    ------
    InputFileError
        When the table has no ``EXTRLOCY``/``EXTRSIZE`` or its columns do not match ``shape``.
    """
    name = os.path.basename(os.fspath(sx1))
    with fits.open(sx1) as hdul:
        table = hdul[1].data
        if table is None or len(table) == 0:
            raise InputFileError(f"{name} holds no spectrum; give the pipeline _sx1 (or _x1d)")
        names = {c.upper() for c in table.columns.names}
        if not {"EXTRLOCY", "EXTRSIZE"} <= names:
            raise InputFileError(
                f"{name} has no EXTRLOCY/EXTRSIZE columns; give a calstis _sx1 (or _x1d) table"
            )
        row = table[0]
        extrlocy, extrsize = np.array(row["EXTRLOCY"]), row["EXTRSIZE"]
    if extrlocy.shape != (shape[1],):
        raise InputFileError(
            f"{name} has {extrlocy.size} columns but the _flt image sets {shape[1]}; "
            "give the _flt and _sx1 of the same observation (calibrated, overscan removed)"
        )
    return box_region(shape, extrlocy, extrsize)


def _cr_mask(dq: np.ndarray, flag: int) -> np.ndarray:
    dq = np.asarray(dq)
    if not np.issubdtype(dq.dtype, np.integer):
        raise ValueError(f"DQ arrays hold integers, not {dq.dtype}")
    return (dq & flag) != 0


def count_flags(
    dq_sets: Iterable[np.ndarray], region: np.ndarray | None, flag: int = CR_FLAG
) -> FlagCounts:
    """Count the pixels whose DQ has ``flag`` set, inside and outside ``region``.

    Parameters
    ----------
    dq_sets : iterable of 2-D integer arrays
        The DQ array of each image set (a 3-D array iterates over its image sets; a
        generator is read one image set at a time).
    region : 2-D bool array or None
        The extraction box; ``None``: no box (imaging), every flag counts as outside.
    flag : int
        DQ bit(s) of a rejected pixel (calstis' 8192).

    Returns
    -------
    FlagCounts

    Raises
    ------
    ValueError
        When there is no image set or the shapes differ.
    """
    mask = None if region is None else np.asarray(region, dtype=bool)
    n_sets = inside = outside = 0
    shape: tuple[int, ...] | None = None
    for dq in dq_sets:
        flags = _cr_mask(dq, flag)
        if shape is None:
            shape = flags.shape
            if flags.ndim != 2:
                raise ValueError(f"each image set's DQ must be 2-D, not of shape {flags.shape}")
            if mask is not None and mask.shape != shape:
                raise ValueError(f"region of shape {mask.shape} for image sets of {shape}")
        elif flags.shape != shape:
            raise ValueError(f"image sets of shapes {shape} and {flags.shape}")
        n_sets += 1
        total = int(np.count_nonzero(flags))
        n_in = 0 if mask is None else int(np.count_nonzero(flags & mask))
        inside += n_in
        outside += total - n_in
    if shape is None:
        raise ValueError("no image set to count")
    return FlagCounts(
        image_sets=n_sets,
        image_pixels=int(math.prod(shape)),
        box_pixels=None if mask is None else int(np.count_nonzero(mask)),
        inside=inside,
        outside=outside,
    )


def flagged_fractions(
    dq_sets: Iterable[np.ndarray], region: np.ndarray, flag: int = CR_FLAG
) -> tuple[float | None, float | None]:
    """Fractions of the pixels flagged inside and outside ``region``, averaged over the image sets.

    ``ocrreject_exam``'s ``avg_extr_frac`` and ``avg_outside_frac``; ``None`` for a side
    with no pixel. See :func:`count_flags` for the arguments.
    """
    counts = count_flags(dq_sets, region, flag)
    return counts.inside_fraction, counts.outside_fraction


def binomial_isf(q: float, n: int, p: float) -> int:
    """Smallest ``k ≥ 0`` with ``P(X > k) ≤ q`` for ``X ~ B(n, p)``.

    The same number as ``scipy.stats.binom.isf(q, n, p)``, without scipy: the tail is
    summed from the exact log-probabilities.

    Raises
    ------
    ValueError
        When ``q`` is not in (0, 1), ``n < 0`` or ``p`` not in [0, 1].
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"tail probability {q} is not between 0 and 1")
    if n < 0 or not 0.0 <= p <= 1.0:
        raise ValueError(f"no binomial distribution with n = {n}, p = {p}")
    if n == 0 or p == 0.0:
        return 0
    if p == 1.0:
        return n
    k = np.arange(n + 1, dtype=np.float64)
    # log C(n, k) = Σ_{j<k} log((n − j) / (j + 1))
    log_comb = np.concatenate(([0.0], np.cumsum(np.log(n - k[:-1]) - np.log(k[:-1] + 1.0))))
    log_pmf = log_comb + k * math.log(p) + (n - k) * math.log1p(-p)
    at_least = np.cumsum(np.exp(log_pmf)[::-1])[::-1]  # P(X ≥ k)
    above = np.append(at_least[1:], 0.0)  # P(X > k)
    return int(np.argmax(above <= q))


def significance_threshold(
    n_flagged: int, box_fraction: float, *, alpha: float = ALPHA, cr_size: float = CR_SIZE
) -> tuple[float, float | None]:
    """Flagged pixels inside the box, and the ratio, from which the excess is significant.

    ``ocrreject_exam``'s ``combined_ratio_threshold``: ``n_flagged`` pixels make
    ``N = round(n_flagged / cr_size)`` hits; the box, covering ``box_fraction`` of the
    image, holds ``B(N, box_fraction)`` of them if they land uniformly; more than
    ``k = isf(alpha, N, box_fraction)`` hits happen with probability ``≤ alpha``. The
    threshold is ``(k + 1) · cr_size`` pixels, i.e. the ratio
    ``(k + 1)·cr_size / (n_flagged − (k + 1)·cr_size) · (1 − f) / f``.

    Returns
    -------
    pixels : float
        Flagged pixels inside the box (all image sets) from which flagging is significant.
    ratio : float or None
        The same as a ratio of the inside to the outside fraction; ``None`` when even all
        ``n_flagged`` pixels inside the box would not reach it (``ocrreject_exam`` then
        returns a negative or infinite threshold).
    """
    if not 0.0 < box_fraction < 1.0:
        raise ValueError(f"box fraction {box_fraction} is not between 0 and 1")
    hits = int(round(n_flagged / cr_size))
    pixels = (binomial_isf(alpha, hits, box_fraction) + 1) * cr_size
    rest = n_flagged - pixels
    ratio = pixels / rest * (1.0 - box_fraction) / box_fraction if rest > 0 else None
    return float(pixels), ratio


def verdict(
    counts: FlagCounts, *, alpha: float = ALPHA, cr_size: float = CR_SIZE
) -> dict[str, Any]:
    """Judge whether calstis flagged valid data as cosmic rays in the extraction box.

    Parameters
    ----------
    counts : FlagCounts
        Flagged pixels inside and outside the box (:func:`count_flags`).
    alpha, cr_size : float
        Significance level and mean pixels per cosmic-ray hit (STScI's defaults).

    Returns
    -------
    dict
        ``inside_fraction``, ``outside_fraction``, ``ratio`` (``None`` where undefined),
        ``verdict`` (one sentence for the report), ``status`` (``ok``, ``overflagged``,
        ``insufficient`` or ``not_applicable``), ``ratio_threshold`` (``None`` where the
        test cannot decide), ``overall_fraction``, ``image_sets``, ``box_pixels`` (per
        image set), ``flagged_inside``, ``flagged_outside`` (pixels, all image sets),
        ``alpha``, ``cr_size`` and ``definition``.

        - ``overflagged``: the box holds significantly more flags than uniformly
          falling cosmic rays would put there: valid data were flagged, most likely
          because the CR-splits are misaligned;
        - ``ok``: it does not;
        - ``insufficient``: no flag at all, or so few that even all of them inside the box
          would not be significant;
        - ``not_applicable``: a single image set (no CR-split: calstis rejects nothing),
          or no extraction box (imaging; the overall fraction is given).
    """
    status, ratio_thr = "ok", None
    ratio = counts.ratio
    inside_f, outside_f = counts.inside_fraction, counts.outside_fraction
    overall = counts.overall_fraction or 0.0
    sets = f"{counts.image_sets} image sets" if counts.image_sets != 1 else "1 image set"
    if counts.image_sets < 2:
        status = "not_applicable"
        text = (
            "not applicable: a single image set (no CR-split), so calstis rejected no cosmic rays"
        )
    elif counts.box_pixels is None:
        status = "not_applicable"
        text = (
            f"not applicable: no extraction box (imaging) to compare with; {overall:.2%} of the "
            f"pixels of the {sets} were flagged as cosmic rays"
        )
    elif not 0 < counts.box_pixels < counts.image_pixels:
        status = "not_applicable"
        text = "not applicable: the extraction box covers none or all of the image"
    elif counts.flagged == 0:
        status = "insufficient"
        text = (
            f"insufficient: no pixel of the {sets} of the _flt is flagged as a cosmic ray "
            "(DQ 8192) — nothing to judge (was CRMASK off?)"
        )
    else:
        box_fraction = counts.box_pixels / counts.image_pixels
        pixels_thr, ratio_thr = significance_threshold(
            counts.flagged, box_fraction, alpha=alpha, cr_size=cr_size
        )
        if pixels_thr > min(counts.flagged, counts.image_sets * counts.box_pixels):
            status, ratio_thr = "insufficient", None
            text = (
                f"insufficient: only {counts.flagged} pixels are flagged as cosmic rays, too few "
                "to tell whether the extraction box is over-flagged"
            )
        else:
            shown = "undefined (no flag outside the box)" if ratio is None else f"{ratio:.2f}"
            limit = "no flag outside" if ratio_thr is None else f"a ratio of {ratio_thr:.2f}"
            numbers = (
                f"{inside_f:.2%} of the extraction-box pixels against {outside_f:.2%} of the "
                f"others were flagged as cosmic rays (ratio {shown}; over-flagging is "
                f"significant from {limit})"
            )
            if counts.inside >= pixels_thr:
                status = "overflagged"
                text = (
                    f"valid data flagged as cosmic rays: {numbers}. The CR-splits are probably "
                    "misaligned (the source moved between sub-exposures), and the combined "
                    "spectrum has lost counts: inspect the _flt DQ (8192) along the trace and "
                    "redo the CR rejection with less aggressive parameters (STIS ISR 2019-02)"
                )
            else:
                text = f"ok: {numbers}"
    return {
        "inside_fraction": inside_f,
        "outside_fraction": outside_f,
        "ratio": ratio,
        "verdict": text,
        "status": status,
        "ratio_threshold": ratio_thr,
        "overall_fraction": counts.overall_fraction,
        "image_sets": counts.image_sets,
        "box_pixels": counts.box_pixels,
        "flagged_inside": counts.inside if counts.box_pixels is not None else None,
        "flagged_outside": counts.outside if counts.box_pixels is not None else None,
        "alpha": alpha,
        "cr_size": cr_size,
        "definition": DEFINITION,
    }


def _dq_extensions(hdul: fits.HDUList) -> list[fits.ImageHDU]:
    return [h for h in hdul[1:] if str(h.header.get("EXTNAME", "")).strip().upper() == "DQ"]


def cosmic_ray_verdict(
    flt: os.PathLike,
    sx1: os.PathLike | None = None,
    *,
    region: np.ndarray | None = None,
    alpha: float = ALPHA,
    cr_size: float = CR_SIZE,
) -> dict[str, Any]:
    """:func:`verdict` for an observation's ``_flt`` and ``_sx1``.

    Parameters
    ----------
    flt : path-like
        The pipeline ``_flt``: its DQ extensions (one per image set) are read one at a time.
    sx1 : path-like, optional
        The pipeline ``_sx1`` (or ``_x1d``) whose first row gives the box
        (:func:`sx1_box`); without it and without ``region``, there is no box (imaging).
    region : 2-D bool array, optional
        The box to use instead, e.g. :func:`stisdarks.summary.extraction_region`.
    alpha, cr_size : float
        See :func:`verdict`.

    Raises
    ------
    InputFileError
        When the ``_flt`` has no DQ extension, or the image sets and the box differ in shape.
    """
    name = os.path.basename(os.fspath(flt))
    with fits.open(flt) as hdul:
        dq_hdus = _dq_extensions(hdul)
        if not dq_hdus:
            raise InputFileError(
                f"{name} has no DQ extension; give the calstis _flt (SCI, ERR, DQ per image set)"
            )
        first = ext_data(dq_hdus[0])
        if region is None and sx1 is not None:
            region = sx1_box(first.shape, sx1)
        if region is not None and np.shape(region) != first.shape:
            raise InputFileError(
                f"the extraction box is {np.shape(region)} pixels but {name}'s image sets "
                f"{first.shape}; give the _flt and _sx1 of the same observation"
            )
        try:
            counts = count_flags((ext_data(h) for h in dq_hdus), region)
        except ValueError as exc:
            raise InputFileError(
                f"{name}: {exc}; the file is damaged or not a calstis _flt"
            ) from exc
    return verdict(counts, alpha=alpha, cr_size=cr_size)
