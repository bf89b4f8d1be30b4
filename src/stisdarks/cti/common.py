"""What every CTI backend shares: the refusal rules, the keywords, the names, the PCTETAB.

The pixel-based CTI correction (stis_cti's ``CteCorr``, or this package's native port of
it: :mod:`stisdarks.cti.native`) works on one overscan-trimmed, 1024-column STIS CCD image
set file (a dark ``_flt``, or the ``_blt`` basic2d makes of a science ``_raw``), with the
parameters of the ``PCTETAB`` its primary header names. This module says which files and
which science it can correct and why not (:func:`check_ctecorr_input`,
:func:`cti_refusal`), names its products (:func:`cte_name`), finds the PCTETAB
(:func:`default_pctetab`: STScI's ``a02_stis_pcte.fits``, shipped with this package), and
stamps superdarks built from corrected darks as stis_cti's ``copy_dark_keywords`` does
(:func:`stamp_superdark`).
"""

from __future__ import annotations

import datetime
import os
import warnings
from pathlib import Path

from astropy.io import fits

from stisdarks.errors import InputFileError, StisDarksError
from stisdarks.fitsio import step_complete

__all__ = [
    "PCTE_KEYWORDS", "CTI_ENGINE_KEYWORD", "default_pctetab", "pctetab_version",
    "pctetab_validity", "cte_name", "check_ctecorr_input", "ctecorr_problem", "set_pctetab",
    "is_corrected_with", "stamp_superdark", "cti_refusal", "cti_corrected",
]  # fmt: skip

#: the primary keywords stis_cti's ``copy_dark_keywords`` copies from the last component
#: dark to a superdark, in header order
PCTE_KEYWORDS = (
    "PCTECORR", "PCTETAB", "PCTEFRAC", "PCTERNCL", "PCTENSMD", "PCTETRSH", "PCTESMIT",
    "PCTESHFT", "CTE_NAME", "CTE_VER", "PCTE_VER",
)  # fmt: skip
#: what stis_cti's ``viable_ccd_file`` accepts by default
EARLIEST_DATE = datetime.datetime(2009, 5, 1)
AMPLIFIERS = ("D",)
GAINS = (1, 4)
OFFSETS = (3,)
#: CteCorr's column scaling has one row per unbinned detector column
CCD_COLUMNS = 1024
_MJD0 = datetime.datetime(1858, 11, 17)
#: :data:`EARLIEST_DATE` as an MJD (54952)
EARLIEST_MJD = float((EARLIEST_DATE - _MJD0).days)
#: primary keyword of every file this package CTI-corrects: the backend that corrected it
CTI_ENGINE_KEYWORD = "SDCTIENG"
#: the PCTETAB used when none is configured (STScI's, as stis_cti 1.6.2 ships it)
DEFAULT_PCTETAB = Path(__file__).resolve().parents[1] / "data" / "a02_stis_pcte.fits"


def cti_corrected(header: fits.Header, key: str = "PCTECORR") -> bool:
    """Whether a primary header records a complete CTI correction (``key = COMPLETE``).

    ``PCTECORR`` is the pixel-based correction (stis_cti's, or this package's); ``CTECORR``
    the pipeline's empirical one.
    """
    return step_complete(header, key)


def default_pctetab() -> Path:
    """The PCTETAB used by default: STScI's ``a02_stis_pcte.fits`` (``PCTE_VER`` 0.2).

    The same file stis_cti 1.6.2 uses by default (the last ``*_pcte.fits`` of its package
    data), shipped with this package so that the native correction needs no stis_cti.
    """
    if not DEFAULT_PCTETAB.is_file():
        raise StisDarksError(f"{DEFAULT_PCTETAB} is missing; reinstall stisdarks")
    return DEFAULT_PCTETAB


def pctetab_version(path: os.PathLike) -> str:
    """``PCTE_VER`` of a PCTETAB (e.g. ``'0.2'``)."""
    return str(fits.getval(path, "PCTE_VER", 0)).strip()


def pctetab_validity(path: os.PathLike) -> list[tuple[float, float]]:
    """The MJD ranges ``[start, end)`` of ``TEXPSTRT`` a PCTETAB can correct.

    CteCorr needs a ``CHG_LEAK`` extension whose ``MJD1 <= TEXPSTRT < MJD2`` (else it
    crashes with ``UnboundLocalError``) and a ``TEXPSTRT`` not before the first CTE_SCALE
    point (else ``ValueError``); after the last one it extrapolates.
    """
    with fits.open(path) as hdul:
        first = float(min(hdul["CTE_SCALE"].data["MJD"]))
        leaks = [hdul[f"CHG_LEAK{i}"].header for i in range(1, hdul[0].header["NCHGLEAK"] + 1)]
    ranges = [(max(first, float(h["MJD1"])), float(h["MJD2"])) for h in leaks]
    return [(a, b) for a, b in ranges if a < b]


def cte_name(filename: str) -> str:
    """The name of a dark's CTI-corrected copy, as stis_cti names it (``x_flt.fits`` → ``x_cte.fits``)."""
    stem = filename.split(".fits")[0]
    for suffix in ("_flt", "_blt"):
        stem = stem.removesuffix(suffix)
    return f"{stem}_cte.fits"


def _mjd_datetime(mjd: float) -> datetime.datetime:
    return _MJD0 + datetime.timedelta(days=float(mjd))


def ctecorr_problem(primary: fits.Header, images: list[fits.Header], pctetab: Path) -> str:
    """What makes CteCorr crash on, or wrongly correct, a file with these headers ("": nothing).

    ``primary`` is the file's primary header, ``images`` its SCI and ERR headers; the text
    follows the file's name in :func:`check_ctecorr_input`'s message. The pixels are not
    looked at (NaN: :func:`check_ctecorr_input`).
    """
    nextend, detector = int(primary.get("NEXTEND", 0)), str(primary.get("DETECTOR", "")).strip()
    if detector != "CCD" or nextend < 3 or nextend % 3 or not images:
        return (
            f"is not a STIS CCD image-set file (DETECTOR={detector!r}, NEXTEND={nextend}); "
            "stis_cti corrects CCD _flt files only"
        )
    refusal = cti_refusal(primary, images[0])
    if refusal:
        return f"cannot be corrected for CTI: {refusal}; stis_cti corrects full-frame, unbinned, amplifier-D data at gain 1 or 4 taken from 2009-05-01 on"
    widths = sorted({int(h.get("NAXIS1", 0)) for h in images if h.get("NAXIS", 0) == 2})
    if widths != [CCD_COLUMNS]:
        return (
            f"has SCI/ERR images {widths or 'without data'} columns wide; stis_cti needs "
            f"unbinned, overscan-trimmed images of {CCD_COLUMNS} columns (a _flt, not a _raw)"
        )
    for key, what in (("PCTECORR", "pixel-based"), ("CTECORR", "empirical")):
        if cti_corrected(primary, key):
            return f"already has the {what} CTI correction ({key}=COMPLETE); pass it uncorrected"
    if "TEXPSTRT" not in primary:
        return "has no TEXPSTRT (CteCorr scales the CTI by it); download it again from MAST"
    from stisdarks.cti.trapmodel import read_pctetab

    try:  # the table itself, and whether it covers TEXPSTRT
        read_pctetab(pctetab, float(primary["TEXPSTRT"]))
    except InputFileError as exc:
        return f"cannot be corrected: {exc}"
    return ""


def check_ctecorr_input(path: os.PathLike, pctetab: os.PathLike) -> None:
    """Refuse what CteCorr would crash on or correct wrongly, before it runs.

    Raises
    ------
    InputFileError
        One line naming the file, the problem and the fix: not a CCD image-set file, data
        stis_cti does not correct (:func:`cti_refusal`: binned, a subarray, an amplifier
        other than D, a gain other than 1 or 4, before 2009-05-01), not 1024 columns,
        already corrected, no ``TEXPSTRT``, a PCTETAB that is missing, unreadable, of the
        wrong shape or does not cover ``TEXPSTRT``, or NaN/infinite pixels.
    """
    import numpy as np

    name = Path(path).name
    try:
        with fits.open(path) as hdul:
            primary = hdul[0].header
            units = [h for h in hdul[1:] if h.header.get("EXTNAME") in ("SCI", "ERR")]
            images = [h.header for h in units]
            problem = ctecorr_problem(primary, images, Path(pctetab))
            if not problem:
                bad = [
                    f"{h.header['EXTNAME']},{h.header.get('EXTVER', 1)}"
                    for h in units
                    if h.data is not None and not np.isfinite(h.data).all()
                ]
                if bad:
                    problem = (
                        f"has NaN or infinite pixels in {', '.join(bad[:3])}; CteCorr would "
                        "spread them along their columns: replace them (e.g. by 0, flagged in DQ)"
                    )
    except (OSError, ValueError, TypeError) as exc:
        raise InputFileError(f"{name} cannot be read as FITS ({exc}); download it again") from exc
    if problem:
        raise InputFileError(f"{name} {problem}")


def set_pctetab(header: fits.Header, pctetab: os.PathLike) -> None:
    """Set ``PCTETAB`` (absolute path) and ``CTECORR`` PERFORM → OMIT, as stis_cti does."""
    value = os.path.abspath(pctetab)
    if "$" in value:
        raise StisDarksError(f"PCTETAB path {value} contains '$', which stis_cti reads as dir$file")
    after = "DARKFILE" if "DARKFILE" in header else None
    # (a long path leaves no room for the comment: astropy truncates it, as it should)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Card is too long", fits.verify.VerifyWarning)
        header.set("PCTETAB", value, "Pixel-based CTI param table", after=after)
    if str(header.get("CTECORR", "")).strip() == "PERFORM":
        header["CTECORR"] = "OMIT"


def is_corrected_with(path: os.PathLike, pctetab: os.PathLike, engine: str | None = None) -> bool:
    """Whether ``path`` is a complete CTI-corrected dark made with ``pctetab``.

    Its FITS structure is whole (:func:`stisdarks.fitsblocks.verify_fits`), ``PCTECORR`` is
    ``COMPLETE``, its ``PCTETAB`` names a table of the same file name and ``PCTE_VER``, and,
    when ``engine`` is given, :data:`CTI_ENGINE_KEYWORD` names that backend.
    """
    from stisdarks.fitsblocks import verify_fits

    path, table = Path(path), Path(pctetab)
    if not path.is_file():
        return False
    try:
        verify_fits(path)
        header = fits.getheader(path, 0)
    except (StisDarksError, OSError, ValueError):
        return False
    return (
        cti_corrected(header)
        and Path(str(header.get("PCTETAB", ""))).name == table.name
        and str(header.get("PCTE_VER", "")).strip() == pctetab_version(table)
        and (engine is None or str(header.get(CTI_ENGINE_KEYWORD, "")).strip() == engine)
    )


def stamp_superdark(
    path_or_hdul: os.PathLike | fits.HDUList,
    last_dark_header: fits.Header,
    *,
    basedark: os.PathLike | str | None = None,
) -> None:
    """Mark a basedark or weekdark built from CTI-corrected darks as stis_cti does.

    The :data:`PCTE_KEYWORDS` (and :data:`CTI_ENGINE_KEYWORD`) of the last component dark's
    primary header are copied into the superdark's primary header (after ``DRK_VS_T`` when it has one; ``PCTEFRAC`` is
    thus the last dark's), then ``BASEDARK`` for a weekdark, then a HISTORY line. An open
    :class:`~astropy.io.fits.HDUList` is changed in memory, so a caller can stamp the
    engine's output under its temporary name before the rename; a path is opened in
    update mode.

    Parameters
    ----------
    path_or_hdul : path-like or HDUList
        The superdark.
    last_dark_header : astropy.io.fits.Header
        Primary header of the last CTI-corrected component dark.
    basedark : path-like or str, optional
        For a weekdark: the basedark it was built on (written as given).

    Raises
    ------
    StisDarksError
        When that dark is not CTI-corrected (``PCTECORR`` is not ``COMPLETE``).
    """
    if not cti_corrected(last_dark_header):
        raise StisDarksError(
            "the last component dark is not CTI-corrected (PCTECORR is not COMPLETE); "
            "build the superdark from the stis_cti-corrected darks"
        )
    if not isinstance(path_or_hdul, fits.HDUList):
        with fits.open(path_or_hdul, mode="update") as hdul:
            stamp_superdark(hdul, last_dark_header, basedark=basedark)
        return
    header = path_or_hdul[0].header
    for key in reversed(PCTE_KEYWORDS):
        value = last_dark_header.get(key, "unknown")
        comment = last_dark_header.comments[key] if key in last_dark_header else None
        if key in header:
            header[key] = value
        else:
            header.set(key, value, comment, after="DRK_VS_T" if "DRK_VS_T" in header else None)
    if basedark is not None:
        header.set("BASEDARK", os.fspath(basedark), "Used to make weekdark", after="PCTE_VER")
    engine = str(last_dark_header.get(CTI_ENGINE_KEYWORD, "stis_cti")).strip()
    header.set(
        CTI_ENGINE_KEYWORD,
        engine,
        "stisdarks CTI backend of its darks",
        after="BASEDARK" if basedark is not None else "PCTE_VER",
    )
    kind = "Basedark" if basedark is None else "Weekdark"
    header.add_history(" ")
    header.add_history(f"{kind} created from CTI-corrected component darks ({engine}")
    header.add_history(
        f"CteCorr, PCTE_VER {str(last_dark_header.get('PCTE_VER', '?')).strip()}) by stisdarks"
        + (f" using basedark {os.fspath(basedark)}." if basedark is not None else ".")
    )


def _observed(primary: fits.Header) -> datetime.datetime | None:
    """When the observation started: TDATEOBS + TTIMEOBS, else TEXPSTRT (MJD)."""
    date, time = primary.get("TDATEOBS"), primary.get("TTIMEOBS")
    if date is not None and time is not None:
        return datetime.datetime.strptime(f"{date.strip()} {time.strip()}", "%Y-%m-%d %H:%M:%S")
    if "TEXPSTRT" in primary:
        return _mjd_datetime(primary["TEXPSTRT"])
    return None


def cti_refusal(primary_header: fits.Header, sci_header: fits.Header | None = None) -> str | None:
    """Why stis_cti would not correct this science for CTI, or None when it would.

    The criteria of stis_cti's ``viable_ccd_file`` with its defaults: HST/STIS/CCD, not a
    target acquisition, observed on or after 2009-05-01 (``TDATEOBS`` + ``TTIMEOBS``, or
    ``TEXPSTRT`` when those are absent), amplifier D, gain 1 or 4, ``CCDOFFST`` 3, full
    frame, unbinned.

    Parameters
    ----------
    primary_header : astropy.io.fits.Header
        The ``_raw``'s primary header.
    sci_header : astropy.io.fits.Header, optional
        Its first SCI header (the rows of a subarray, when the primary lacks ``SIZAXIS2``).

    Returns
    -------
    str or None
        A short reason, e.g. ``"binned 2x1"`` or ``"amplifier A (stis_cti corrects amp D only)"``.
    """
    h = primary_header

    def text(key: str) -> str:
        return str(h.get(key, "")).strip()

    if (text("TELESCOP"), text("INSTRUME"), text("DETECTOR")) != ("HST", "STIS", "CCD"):
        return f"not an HST/STIS CCD observation ({text('INSTRUME')} {text('DETECTOR')})".strip()
    when = _observed(h)
    if when is None:
        return "no observation date (TDATEOBS/TTIMEOBS or TEXPSTRT)"
    if when < EARLIEST_DATE:
        return f"observed {when:%Y-%m-%d}, before {EARLIEST_DATE:%Y-%m-%d}"
    if "ACQ" in text("OBSMODE"):
        return "a target acquisition"
    if text("CCDAMP") not in AMPLIFIERS:
        return f"amplifier {text('CCDAMP')} (stis_cti corrects amp D only)"
    if h.get("CCDGAIN") not in GAINS:
        return f"gain {h.get('CCDGAIN')}"
    if h.get("CCDOFFST") not in OFFSETS:
        return f"CCDOFFST {h.get('CCDOFFST')}"
    if h.get("SUBARRAY"):
        rows = h.get("SIZAXIS2", (sci_header or {}).get("NAXIS2"))
        return f"a subarray ({rows} rows)" if rows else "a subarray"
    if (h.get("BINAXIS1"), h.get("BINAXIS2")) != (1, 1):
        return f"binned {h.get('BINAXIS1')}x{h.get('BINAXIS2')}"
    return None
