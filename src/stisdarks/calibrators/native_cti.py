"""The native CTI calibrator: stis_cti's CTI-corrected science path without hstcal.

stis_cti corrects a science observation on its bias-subtracted image sets (``basic2d``'s
``_blt``) and runs calstis on the result (:mod:`.cti`). This module reaches the same
products from the pipeline's own ``_flt``, with no binaries:

1. each image set of the pipeline ``_flt`` is taken back to bias-subtracted DN: the flat
   field and the pipeline dark undone as calstis applied them
   (:func:`stisdarks.darkswap.remove_dark_and_flat`; the DQ bits of the dark, the flat and
   the pipeline's cosmic-ray flags cleared, the BPIXTAB's kept): the ``_blt``;
2. each is CTI-corrected with the PCTETAB and the backend of the weekdark's darks
   (``PCTETAB``, ``SDCTIENG``): the native backend on the arrays themselves
   (:func:`stisdarks.cti.correct.correct_imset`, bit for bit stis_cti's ``YCte``),
   stis_cti on a scratch file: the ``_cte``;
3. the cosmic rays are rejected from the corrected image sets by the native calstis-2
   (:func:`stisdarks.crreject.crreject_stack`) with the CRREJTAB row calstis would use,
   the CR flags (CRMASK) written into each image set;
4. the CTI weekdark is subtracted and the flat applied as calstis does
   (:func:`stisdarks.darkswap.apply_dark_and_flat`): to each image set → ``_flc``, to the
   combined image with its total exposure and mean temperature → ``_crc``;
5. a spectrum is re-extracted from the ``_crc`` along the pipeline ``_sx1``'s trace and
   boxes (:func:`stisdarks.x1d.reextract_sx1`), without calstis' empirical CTI
   correction, as stis_cti sets ``CTECORR = OMIT`` → ``_s1c``.

The products carry the keywords stis_cti's correction writes (``PCTECORR`` ...,
``PCTETAB``, :data:`~stisdarks.cti.CTI_ENGINE_KEYWORD`), ``DARKFILE = new_name``; each is
written atomically, the inputs are never modified. What the undo needs and the pipeline
``_flt`` lacks (a flat field, a recorded dark, data not yet CTI-corrected) is refused in
one line before anything is written (:func:`check_pipeline_flt`).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits

from stisdarks.calibrators.cti import pctetab_of
from stisdarks.calibrators.native import dark_for, read_dark
from stisdarks.crreject import CR_FLAG, ArrayRows, CRResult, ImsetRows, crreject_stack
from stisdarks.crreject.files import combined_hdulist
from stisdarks.crrejtab import CRParams, crparams_for, resolve_reference
from stisdarks.cti import CTI_ENGINE_KEYWORD, resolve_cti_engine, set_pctetab
from stisdarks.cti.common import PCTE_KEYWORDS, ctecorr_problem, cti_corrected
from stisdarks.darkswap import (
    apply_dark_and_flat,
    bad_pixel_dq,
    flat_field,
    mean_dark,
    remove_dark_and_flat,
)
from stisdarks.errors import InputFileError
from stisdarks.fitsio import atomic_path, count_imsets, ext_data, step_complete
from stisdarks.x1d import reextract_sx1

__all__ = [
    "NAME",
    "check_pipeline_flt",
    "cti_correct_imsets",
    "recalibrate",
    "reject_cosmic_rays",
    "undo_pipeline_calibration",
]

log = logging.getLogger(__name__)

#: what the products' ``SDCALIB`` says (the calstis path's is ``cti``)
NAME = "native-cti"
#: cores for the CTI correction of one image set (as the calstis path's, :mod:`.cti`)
THREADS = 2
#: an image set: SCI, ERR (float32) and DQ (int16)
Imset = tuple[np.ndarray, np.ndarray, np.ndarray]


def _text(header: fits.Header, key: str) -> str:
    return str(header.get(key, "")).strip()


def check_pipeline_flt(
    name: str, primary: fits.Header, pipeline_dark: os.PathLike, oref_search: Sequence[os.PathLike]
) -> None:
    """Refuse a pipeline ``_flt`` whose calibration cannot be undone, in one line.

    Parameters
    ----------
    name : str
        The file's name (for the message).
    primary : Header
        Its primary header.
    pipeline_dark : path-like
        The dark the pipeline subtracted (its ``DARKFILE``, resolved by the workflow).
    oref_search : sequence of path-like
        Where the reference files are.

    Raises
    ------
    InputFileError
        Naming the file, the problem and the fix: already CTI-corrected
        (``PCTECORR = COMPLETE``), no dark subtracted or recorded (``DARKCORR``,
        ``DARKFILE``, the file), no flat field (``FLATCORR``, a ``PFLTFILE``/``DFLTFILE``/
        ``LFLTFILE`` that cannot be found).
    """
    fix = "download the pipeline products again from MAST, or set calibrator: calstis"
    if cti_corrected(primary):
        raise InputFileError(
            f"{name} is already CTI-corrected (PCTECORR=COMPLETE); the native CTI path corrects "
            "the pipeline's uncorrected _flt: give that one (download it again from MAST)"
        )
    darkfile = _text(primary, "DARKFILE")
    if not step_complete(primary, "DARKCORR") or darkfile.upper() in ("", "N/A"):
        raise InputFileError(
            f"{name} records no dark (DARKCORR={_text(primary, 'DARKCORR') or 'missing'}, "
            f"DARKFILE={darkfile or 'missing'}); the native CTI path adds the pipeline's dark "
            f"back before the CTI correction and needs it: {fix}"
        )
    if not Path(pipeline_dark).is_file():
        raise InputFileError(
            f"{name}: its dark {darkfile} ({pipeline_dark}) does not exist; the native CTI path "
            "adds it back before the CTI correction: sync the references (crds)"
        )
    if not step_complete(primary, "FLATCORR"):
        raise InputFileError(
            f"{name} is not flat-fielded (FLATCORR={_text(primary, 'FLATCORR') or 'missing'}); "
            f"the native CTI path undoes the pipeline's flat field and needs it: {fix}"
        )
    for key in ("PFLTFILE", "DFLTFILE", "LFLTFILE"):
        flat = _text(primary, key)
        if flat and flat.upper() != "N/A" and resolve_reference(flat, oref_search) is None:
            raise InputFileError(
                f"{name}: its flat field {key}={flat} is not among the reference files; the "
                "native CTI path undoes the pipeline's flat field with it: sync the references "
                "(crds), or set calibrator: calstis"
            )


def undo_pipeline_calibration(
    hdul: fits.HDUList,
    pipeline_dark: os.PathLike,
    oref_search: Sequence[os.PathLike] = (),
) -> tuple[list[Imset], tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """The bias-subtracted image sets (a ``_blt``'s) of a pipeline ``_flt``.

    Parameters
    ----------
    hdul : HDUList
        The pipeline ``_flt`` (checked by :func:`check_pipeline_flt`); not modified.
    pipeline_dark : path-like
        The dark the pipeline subtracted.
    oref_search : sequence of path-like
        Where the flats and the BPIXTAB are.

    Returns
    -------
    imsets : list of (sci, err, dq)
        Each image set with the flat and the dark undone
        (:func:`stisdarks.darkswap.remove_dark_and_flat`), the cosmic-ray flag cleared.
    flat : tuple
        The flat field calstis divided by, fitted to the image sets.
    bpix : ndarray
        The BPIXTAB's DQ (kept in the image sets).
    """
    primary = hdul[0].header
    gain = float(primary.get("ATODGAIN", 1.0))
    dark = read_dark(pipeline_dark)
    imsets: list[Imset] = []
    flat = bpix = fitted = None
    for k in range(1, count_imsets(hdul) + 1):
        sci_hdu = hdul["SCI", k]
        sci = ext_data(sci_hdu, np.float32)
        if flat is None or bpix is None or fitted is None:  # one readout for all image sets
            fitted = dark_for(dark, "pipeline dark", primary, sci_hdu.header, sci.shape)
            flat = flat_field(primary, sci_hdu.header, sci.shape, oref_search)
            bpix = bad_pixel_dq(primary, sci_hdu.header, sci.shape, oref_search)
        imsets.append(
            remove_dark_and_flat(
                sci,
                ext_data(hdul["ERR", k], np.float32),
                ext_data(hdul["DQ", k], np.int16),
                sci_hdu.header,
                fitted,
                flat,
                gain,
                protected_dq=bpix,
                clear_dq=CR_FLAG,
            )
        )
    assert flat is not None and bpix is not None
    return imsets, flat, bpix


def cti_correct_imsets(
    imsets: Sequence[Imset],
    primary: fits.Header,
    sci_headers: Sequence[fits.Header],
    *,
    engine: str,
    threads: int = THREADS,
) -> tuple[list[Imset], fits.Header]:
    """CTI-correct bias-subtracted image sets as stis_cti's ``YCte`` corrects a ``_blt``.

    Parameters
    ----------
    imsets : sequence of (sci, err, dq)
        The image sets (DN), 1024 unbinned columns.
    primary : Header
        The primary header, naming the ``PCTETAB`` (:func:`stisdarks.cti.set_pctetab`),
        with ``TEXPSTRT``, ``ATODGAIN`` and ``CCDAMP``.
    sci_headers : sequence of Header
        Each image set's SCI header (written with the scratch file of a file backend).
    engine : str
        The CTI backend (``native``: on the arrays; another: on a scratch file).
    threads : int
        Cores for the columns of an image set (native).

    Returns
    -------
    imsets : list of (sci, err, dq)
        SCI and ERR corrected (float32, as ``YCte`` writes them), DQ unchanged.
    primary : Header
        A copy of ``primary`` with the keywords ``YCte`` sets and
        :data:`~stisdarks.cti.CTI_ENGINE_KEYWORD`.
    """
    name = resolve_cti_engine(engine)
    start = time.monotonic()
    if name == "native":
        out, header = _native_ctecorr(imsets, primary, threads)
    else:
        out, header = _file_ctecorr(imsets, primary, sci_headers, name, threads)
    header[CTI_ENGINE_KEYWORD] = (name, "stisdarks CTI backend that corrected it")
    log.info(
        "CTI correction (%s) of %d image set(s) in %.1f s", name, len(out), time.monotonic() - start
    )
    return out, header


def _native_ctecorr(
    imsets: Sequence[Imset], primary: fits.Header, threads: int
) -> tuple[list[Imset], fits.Header]:
    from stisdarks.cti.correct import correct_imset, ctecorr_keywords, stamp_ctecorr_header
    from stisdarks.cti.native import _set_threads, resolve_ref
    from stisdarks.cti.trapmodel import load_trap_model

    _set_threads(threads)
    header = primary.copy()
    atodgain = header.get("ATODGAIN", 1.0)
    ccdamp = _text(header, "CCDAMP") or "D"
    model = load_trap_model(resolve_ref(str(header["PCTETAB"])), header["TEXPSTRT"])
    out = []
    for sci, err, dq in imsets:
        new_sci, new_err = correct_imset(sci, err, atodgain, ccdamp, model)
        out.append((new_sci.astype(np.float32), new_err.astype(np.float32), dq))
    stamp_ctecorr_header(header, ctecorr_keywords(model, atodgain))
    return out, header


def _file_ctecorr(
    imsets: Sequence[Imset],
    primary: fits.Header,
    sci_headers: Sequence[fits.Header],
    engine: str,
    threads: int,
) -> tuple[list[Imset], fits.Header]:
    """A backend that corrects files (stis_cti): a scratch ``_blt`` in, its ``_cte`` read back."""
    from stisdarks.cti import ctecorr

    header = primary.copy()
    header["NEXTEND"] = 3 * len(imsets)
    hdus: list[fits.PrimaryHDU | fits.ImageHDU] = [fits.PrimaryHDU(header=header)]
    for k, ((sci, err, dq), sci_header) in enumerate(zip(imsets, sci_headers, strict=True), 1):
        for extname, data, hdr in (("SCI", sci, sci_header), ("ERR", err, None), ("DQ", dq, None)):
            hdus.append(fits.ImageHDU(data=data, header=hdr.copy() if hdr else None, name=extname))
            hdus[-1].ver = k
    with tempfile.TemporaryDirectory(prefix="sd-cte-") as scratch:
        blt = Path(scratch) / "science_blt.fits"
        fits.HDUList(hdus).writeto(blt)
        cte = ctecorr(blt, Path(scratch) / "science_cte.fits", engine=engine, threads=threads)
        with fits.open(cte) as hdul:
            out = [
                (
                    ext_data(hdul["SCI", k], np.float32),
                    ext_data(hdul["ERR", k], np.float32),
                    imsets[k - 1][2],
                )
                for k in range(1, len(imsets) + 1)
            ]
            header = hdul[0].header.copy()
    return out, header


def reject_cosmic_rays(
    imsets: Sequence[Imset],
    primary: fits.Header,
    sci_headers: Sequence[fits.Header],
    oref_search: Sequence[os.PathLike] = (),
) -> tuple[CRResult, CRParams]:
    """calstis-2 on the CTI-corrected image sets, with the CRREJTAB row calstis would use.

    The noise model is calstis' (``READNSE / ATODGAIN`` in DN, ``ATODGAIN``, each image
    set's ``EXPTIME``); the CRREJTAB row is chosen by the number of image sets and their
    mean exposure time (:func:`stisdarks.crrejtab.crparams_for`; spectroscopic data get no
    sky subtraction, as in calstis).

    Returns
    -------
    result : CRResult
        The combined image (DN over the total exposure, before the dark and the flat) and,
        with ``CRMASK``, the rejected pixels of each image set.
    params : CRParams
        The parameters used.
    """
    for key in ("READNSE", "ATODGAIN"):
        if key not in primary:
            raise InputFileError(
                f"the _flt has no {key} in its primary header; it is not calibrated"
            )
    gain = float(primary["ATODGAIN"])
    exptime = [float(h["EXPTIME"]) for h in sci_headers]
    noise = float(np.float32(primary["READNSE"]) / np.float32(gain))
    mean = float(np.sum(np.asarray(exptime, dtype=np.float32), dtype=np.float32)) / len(exptime)
    params = crparams_for(primary, len(imsets), mean, search=oref_search)
    log.info("CR rejection of %d image sets (%s)", len(imsets), params.source)
    result = crreject_stack(
        [im[0] for im in imsets], [im[2] for im in imsets], exptime, [noise] * len(imsets),
        [gain] * len(imsets), params, return_masks=params.crmask,
    )  # fmt: skip
    return result, params


def _write(hdul: fits.HDUList, dest: os.PathLike) -> None:
    """Write atomically (a long ``PCTETAB`` path leaves no room for its comment: no warning)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Card is too long", fits.verify.VerifyWarning)
        with atomic_path(dest) as tmp:
            hdul.writeto(tmp, overwrite=True)


def _stamp(header: fits.Header, *, dest: Path, new_name: str, source: str) -> None:
    header["DARKFILE"] = new_name
    header["FILENAME"] = dest.name
    header.add_history(
        f"stisdarks native CTI path: {source} taken back to bias-subtracted counts, "
        f"CTI-corrected, CR-rejected, dark {new_name} and flat applied"
    )


def recalibrate(
    raw: os.PathLike,
    flt: os.PathLike,
    crj: os.PathLike,
    sx1: os.PathLike | None,
    weekdark: os.PathLike,
    pipeline_dark: os.PathLike,
    out: dict[str, Path],
    *,
    oref_dir: os.PathLike | None,
    wav: os.PathLike | None,
    obs_id: str,
    new_name: str,
) -> dict[str, Path]:
    """stis_cti's CTI-corrected products from the pipeline ``flt``, natively (no hstcal).

    ``raw``, ``crj`` and ``wav`` are not read: the image sets come from the pipeline
    ``_flt`` (the module's docstring says how). ``pipeline_dark`` is the dark the pipeline
    subtracted, ``weekdark`` the CTI weekdark (its ``PCTETAB`` and ``SDCTIENG`` choose the
    correction, :func:`stisdarks.calibrators.cti.pctetab_of`), ``new_name`` the products'
    ``DARKFILE``. ``out`` maps ``flt``, ``crj`` (and ``sx1``) to their destinations (the
    workflow names them ``_flc``, ``_crc``, ``_s1c``); ``sx1`` None: no extraction.

    Raises
    ------
    InputFileError
        In one line, before anything is written, when the pipeline ``_flt`` cannot be taken
        back to bias-subtracted counts (:func:`check_pipeline_flt`) or corrected for CTI
        (:func:`stisdarks.cti.common.ctecorr_problem`: binned, a subarray, a PCTETAB that
        does not cover the date, ...), or has fewer than two image sets.
    """
    flt = Path(flt)
    search = [oref_dir] if oref_dir else []
    pctetab = pctetab_of(weekdark)
    engine = _text(fits.getheader(weekdark, 0), CTI_ENGINE_KEYWORD) or "auto"
    start = time.monotonic()
    with fits.open(flt) as hdul:
        template = fits.HDUList([h.copy() for h in hdul])
    primary = template[0].header.copy()
    check_pipeline_flt(flt.name, primary, pipeline_dark, search)
    sci_headers = [template["SCI", k].header for k in range(1, count_imsets(template) + 1)]
    # the header the correction sees: the weekdark's PCTETAB; CTECORR (calstis' empirical
    # correction of the _sx1 FLUX, not of the images) off, as stis_cti sets it
    set_pctetab(primary, pctetab)
    if step_complete(primary, "CTECORR"):
        primary["CTECORR"] = "OMIT"
    images = [template[e, k].header for k in range(1, len(sci_headers) + 1) for e in ("SCI", "ERR")]
    problem = ctecorr_problem(primary, images, pctetab)
    if problem:
        raise InputFileError(f"{flt.name} {problem}")
    if len(sci_headers) < 2:
        raise InputFileError(
            f"{flt.name} has {len(sci_headers)} image set; cosmic-ray rejection needs two or more"
        )
    blt, flat, _bpix = undo_pipeline_calibration(template, pipeline_dark, search)
    bad = [
        k
        for k, (s, e, _) in enumerate(blt, 1)
        if not (np.isfinite(s).all() and np.isfinite(e).all())
    ]
    if bad:
        raise InputFileError(
            f"{flt.name} has NaN or infinite pixels in image set(s) {bad}; CteCorr would spread "
            "them along their columns: set calibrator: calstis (recalibrates from the _raw)"
        )
    log.info("native CTI path: %s back to bias-subtracted counts", flt.name)
    cte, primary = cti_correct_imsets(blt, primary, sci_headers, engine=engine)
    result, params = reject_cosmic_rays(cte, primary, sci_headers, search)
    gain = float(primary.get("ATODGAIN", 1.0))
    new = read_dark(weekdark)
    fitted = dark_for(new, "new dark", primary, sci_headers[0], cte[0][0].shape)

    # _flc: each corrected image set with the CR flags, the dark and the flat
    flc = template
    for k, (c_sci, c_err, c_dq) in enumerate(cte, 1):
        if result.masks is not None:  # CRMASK: calstis writes the flags into the image sets
            flags = np.where(result.masks[k - 1], np.int16(CR_FLAG), np.int16(0))
            c_dq = ((c_dq & np.int16(~CR_FLAG)) | flags).astype(np.int16)
        header = flc["SCI", k].header
        new_imset = apply_dark_and_flat(c_sci, c_err, c_dq, header, fitted, flat, gain)
        if "MEANDARK" in header:
            header["MEANDARK"] = mean_dark(fitted, header, gain)
        for extname, data in zip(("SCI", "ERR", "DQ"), new_imset, strict=True):
            flc[extname, k].data = data
            for key in ("PIXVALUE", "NPIX1", "NPIX2"):
                flc[extname, k].header.remove(key, ignore_missing=True)
    flc[0].header = primary.copy()
    _stamp(flc[0].header, dest=Path(out["flt"]), new_name=new_name, source=flt.name)

    # _crc: the combined image, headers as calstis-2 writes them, then the dark and the flat
    rows = [
        ImsetRows(flt, k, primary, sci_headers[k - 1], ArrayRows(c[0], c[0].dtype), ArrayRows(c[2], c[2].dtype))
        for k, c in enumerate(cte, 1)
    ]  # fmt: skip
    crc = combined_hdulist(rows, result, params)
    header = crc["SCI", 1].header
    crc["SCI", 1].data, crc["ERR", 1].data, crc["DQ", 1].data = apply_dark_and_flat(
        result.sci, result.err, result.dq, header, fitted, flat, gain
    )
    header["MEANDARK"] = mean_dark(fitted, header, gain)
    _stamp(crc[0].header, dest=Path(out["crj"]), new_name=new_name, source=flt.name)

    _write(flc, out["flt"])
    _write(crc, out["crj"])
    if sx1 is not None:
        xtractab = resolve_reference(fits.getheader(sx1, 0).get("XTRACTAB", "N/A"), search)
        pcte = {
            k: (crc[0].header[k], crc[0].header.comments[k])
            for k in _PCTE_CARDS
            if k in crc[0].header
        }

        def stamp(h: fits.Header) -> None:
            for key, card in pcte.items():
                h[key] = card

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Card is too long", fits.verify.VerifyWarning)
            reextract_sx1(
                sx1, out["crj"], out["sx1"], new_darkfile=new_name, xtractab=xtractab,
                empirical_cte=False, stamp=stamp,
            )  # fmt: skip
    log.info(
        "native CTI path for %s: %s in %.1f s",
        obs_id,
        ", ".join(sorted(out)),
        time.monotonic() - start,
    )
    return dict(out)


#: the primary keywords of the correction an ``_s1c`` gets from its ``_crc``
_PCTE_CARDS = (*PCTE_KEYWORDS, CTI_ENGINE_KEYWORD)
