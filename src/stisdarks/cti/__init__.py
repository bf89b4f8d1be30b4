"""CTI correction of STIS CCD data with stis_cti (a dependency, not a rewrite).

stis_cti's ``StisPixCteCorr.CteCorr`` corrects one overscan-trimmed 1024-column CCD
image (a dark ``_flt``, or the ``_blt`` basic2d makes of a science ``_raw``) for the
charge-transfer inefficiency, with the parameters of a ``PCTETAB`` named in its primary
header. This module runs it on copies only (stis_cti edits its inputs in place), checks
beforehand what would make it crash or silently do the wrong thing, stamps superdarks
built from corrected darks as stis_cti's ``copy_dark_keywords`` does, and says which
science stis_cti serves (its ``viable_ccd_file``). stis_cti is imported only inside the
functions that need it: it pulls in stsci.tools, and importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import io
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from types import ModuleType

from astropy.io import fits

from stisdarks.atomic import TEMP_PREFIX, atomic_path, remove_temporaries_of
from stisdarks.errors import InputFileError, StisDarksError

__all__ = [
    "PCTE_KEYWORDS", "default_pctetab", "pctetab_version", "pctetab_validity", "cte_name",
    "check_ctecorr_input", "set_pctetab", "run_ctecorr", "correct_dark", "correct_darks",
    "is_corrected_with", "stamp_superdark", "cti_refusal",
]  # fmt: skip

log = logging.getLogger(__name__)

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


def _ctecorr_module() -> ModuleType:
    """stis_cti's ``StisPixCteCorr``, imported on first use (stsci.tools' warnings muted)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "(GFIT|NMPFIT) is deprecated", UserWarning)
        from stis_cti import StisPixCteCorr
    return StisPixCteCorr


def default_pctetab() -> Path:
    """The PCTETAB stis_cti uses by default: the last ``*_pcte.fits`` of its package data.

    Found without importing stis_cti (its package directory, as
    ``importlib.resources.files("stis_cti") / "data"`` names it).
    """
    from importlib.util import find_spec

    spec = find_spec("stis_cti")
    if spec is None or not spec.submodule_search_locations:
        raise StisDarksError("stis_cti is not installed; pip install 'stis-cti>=1.6.2'")
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    found = sorted(glob.glob(os.path.join(glob.escape(str(data)), "*_pcte.fits")))
    if not found:
        raise StisDarksError(f"stis_cti ships no *_pcte.fits in {data}; reinstall stis-cti")
    return Path(found[-1])


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


def _ctecorr_problem(primary: fits.Header, images: list[fits.Header], pctetab: Path) -> str:
    """What makes CteCorr crash on, or wrongly correct, a file with these headers ("": nothing)."""
    nextend, detector = int(primary.get("NEXTEND", 0)), str(primary.get("DETECTOR", "")).strip()
    if detector != "CCD" or nextend < 3 or nextend % 3 or not images:
        return (
            f"is not a STIS CCD image-set file (DETECTOR={detector!r}, NEXTEND={nextend}); "
            "stis_cti corrects CCD _flt files only"
        )
    widths = sorted({int(h.get("NAXIS1", 0)) for h in images if h.get("NAXIS", 0) == 2})
    if widths != [CCD_COLUMNS]:
        return (
            f"has SCI/ERR images {widths or 'without data'} columns wide; stis_cti needs "
            f"unbinned, overscan-trimmed images of {CCD_COLUMNS} columns (a _flt, not a _raw)"
        )
    amp = str(primary.get("CCDAMP", "D")).strip()
    if amp not in ("A", "B", "C", "D"):
        return f"was read through amplifier {amp!r}; CteCorr knows amplifiers A-D only"
    for key, what in (("PCTECORR", "pixel-based"), ("CTECORR", "empirical")):
        if str(primary.get(key, "")).strip() == "COMPLETE":
            return f"already has the {what} CTI correction ({key}=COMPLETE); pass it uncorrected"
    if "TEXPSTRT" not in primary:
        return "has no TEXPSTRT (CteCorr scales the CTI by it); download it again from MAST"
    mjd, ranges = float(primary["TEXPSTRT"]), pctetab_validity(pctetab)
    if any(a <= mjd < b for a, b in ranges):
        return ""
    valid = ", ".join(f"MJD {a:g}-{b:g}" for a, b in ranges)
    return (
        f"has TEXPSTRT {mjd:.2f} ({_mjd_datetime(mjd):%Y-%m-%d}), outside the validity of "
        f"PCTETAB {pctetab.name} ({valid}); use a PCTETAB that covers it (cti.pctetab)"
    )


def check_ctecorr_input(path: os.PathLike, pctetab: os.PathLike) -> None:
    """Refuse what CteCorr would crash on or correct wrongly, before it runs.

    Raises
    ------
    InputFileError
        One line naming the file, the problem and the fix: not a CCD image-set file,
        not 1024 unbinned columns, an unknown amplifier, already corrected, no
        ``TEXPSTRT`` or one outside the PCTETAB's validity.
    """
    name = Path(path).name
    try:
        with fits.open(path) as hdul:
            primary = hdul[0].header
            images = [h.header for h in hdul[1:] if h.header.get("EXTNAME") in ("SCI", "ERR")]
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{name} cannot be read as FITS ({exc}); download it again") from exc
    problem = _ctecorr_problem(primary, images, Path(pctetab))
    if problem:
        raise InputFileError(f"{name} {problem}")


def set_pctetab(header: fits.Header, pctetab: os.PathLike) -> None:
    """Set ``PCTETAB`` (absolute path) and ``CTECORR`` PERFORM → OMIT, as stis_cti does."""
    value = os.path.abspath(pctetab)
    if "$" in value:
        raise StisDarksError(f"PCTETAB path {value} contains '$', which stis_cti reads as dir$file")
    after = "DARKFILE" if "DARKFILE" in header else None
    header.set("PCTETAB", value, "Pixel-based CTI param table", after=after)
    if str(header.get("CTECORR", "")).strip() == "PERFORM":
        header["CTECORR"] = "OMIT"


def run_ctecorr(src: os.PathLike, out: os.PathLike) -> Path:
    """Run ``CteCorr(src, outFits=out)``; its printout goes to the log.

    ``src`` must already name its PCTETAB (:func:`set_pctetab`). On failure ``out`` may be
    left as an uncorrected copy: the caller writes it in a scratch directory.

    Raises
    ------
    StisDarksError
        When CteCorr fails or writes no corrected ``out``.
    """
    ctecorr = _ctecorr_module().CteCorr
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            # CteCorr globs its input: escape [*? in directory names
            ctecorr(glob.escape(os.fspath(src)), outFits=os.fspath(out))
    except Exception as exc:
        raise StisDarksError(
            f"stis_cti's CteCorr failed on {Path(src).name}: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        for line in printed.getvalue().splitlines():
            if line.strip():
                log.info("stis_cti: %s", line.rstrip())
    if not Path(out).is_file() or fits.getval(out, "PCTECORR", 0, default="") != "COMPLETE":
        raise StisDarksError(
            f"stis_cti's CteCorr wrote no corrected file for {Path(src).name} (is there a ',' "
            "or '$' in its directory's path?)"
        )
    return Path(out)


def correct_dark(
    src: os.PathLike, dest: os.PathLike, *, pctetab: os.PathLike | None = None
) -> Path:
    """CTI-correct one dark ``_flt`` into ``dest`` with stis_cti's ``CteCorr``; ``src`` untouched.

    The work happens in a scratch directory beside ``dest``, named as a temporary of
    ``dest`` (:mod:`stisdarks.atomic`: a killed job's scratch is removed when it reruns)
    and removed whatever happens, so the uncorrected copy CteCorr leaves behind when it
    fails never reaches ``dest``. ``dest`` gets ``FILENAME`` = its name, and ``PCTETAB``
    = ``pctetab`` (default: :func:`default_pctetab`) as an absolute path.

    Raises
    ------
    InputFileError
        When stis_cti cannot correct ``src`` (:func:`check_ctecorr_input`).
    """
    src, dest = Path(src), Path(dest)
    table = Path(pctetab) if pctetab else default_pctetab()
    if not table.is_file():
        raise InputFileError(f"PCTETAB {table} does not exist; fix cti.pctetab")
    check_ctecorr_input(src, table)
    dest.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(
        tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{dest.stem}-", suffix=dest.suffix, dir=dest.parent)
    )
    try:
        copy = scratch / src.name
        shutil.copyfile(src, copy)
        with fits.open(copy, mode="update") as hdul:
            set_pctetab(hdul[0].header, table)
        corrected = run_ctecorr(copy, scratch / cte_name(src.name))
        with fits.open(corrected, mode="update") as hdul:
            hdul[0].header["FILENAME"] = dest.name
        with atomic_path(dest) as tmp:
            os.replace(corrected, tmp)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log.info("CTI-corrected %s into %s (PCTETAB %s)", src.name, dest.name, table.name)
    return dest


def is_corrected_with(path: os.PathLike, pctetab: os.PathLike) -> bool:
    """Whether ``path`` is a complete CTI-corrected dark made with ``pctetab``.

    Its FITS structure is whole (:func:`stisdarks.fitsblocks.verify_fits`), ``PCTECORR`` is
    ``COMPLETE``, and its ``PCTETAB`` names a table of the same file name and ``PCTE_VER``.
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
        str(header.get("PCTECORR", "")).strip() == "COMPLETE"
        and Path(str(header.get("PCTETAB", ""))).name == table.name
        and str(header.get("PCTE_VER", "")).strip() == pctetab_version(table)
    )


def correct_darks(
    sources: list[os.PathLike], dest_dir: os.PathLike, *, pctetab: os.PathLike | None = None
) -> list[Path]:
    """CTI-correct every dark of ``sources`` into ``dest_dir`` (``<root>_cte.fits`` each).

    A dark already corrected there with the same PCTETAB (:func:`is_corrected_with`) is
    kept: a job killed half-way through a period's darks resumes with the next one, after
    removing what the killed one left half-written. Each corrected dark appears atomically
    (:func:`correct_dark`); the sources are untouched.

    Returns
    -------
    list of Path
        The corrected darks, in the order of ``sources``.
    """
    table = Path(pctetab) if pctetab else default_pctetab()
    dest_dir = Path(dest_dir)
    out, done = [], 0
    for i, src in enumerate(sources, 1):
        dest = dest_dir / cte_name(Path(src).name)
        remove_temporaries_of(dest)  # a killed run's (each dark lies in one period: ours)
        if is_corrected_with(dest, table):
            log.info(
                "%s: already CTI-corrected with %s, kept (%d/%d)",
                dest.name,
                table.name,
                i,
                len(sources),
            )
        else:
            correct_dark(src, dest, pctetab=table)
            done += 1
            log.info("CTI-corrected %d/%d darks", i, len(sources))
        out.append(dest)
    log.info("%d darks CTI-corrected, %d kept from an earlier run", done, len(sources) - done)
    return out


def stamp_superdark(
    path_or_hdul: os.PathLike | fits.HDUList,
    last_dark_header: fits.Header,
    *,
    basedark: os.PathLike | str | None = None,
) -> None:
    """Mark a basedark or weekdark built from CTI-corrected darks as stis_cti does.

    The :data:`PCTE_KEYWORDS` of the last component dark's primary header are copied into
    the superdark's primary header (after ``DRK_VS_T`` when it has one; ``PCTEFRAC`` is
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
    if str(last_dark_header.get("PCTECORR", "")).strip() != "COMPLETE":
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
    kind = "Basedark" if basedark is None else "Weekdark"
    header.add_history(" ")
    header.add_history(f"{kind} created from CTI-corrected component darks (stis_cti")
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
