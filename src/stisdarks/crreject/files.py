"""STIS files in, a calstis-shaped ``_crj`` out: the file side of the cosmic-ray rejection.

:func:`scan_imsets` finds the image sets of the inputs from their headers alone
(:func:`~stisdarks.crreject.fitsscan.scan_fits`) and hands over their SCI and DQ as row
sources, read when the rejection needs them. :func:`crreject_files` takes the noise model
and the CRREJTAB parameters from the headers, runs
:func:`~stisdarks.crreject.algorithm.crreject_rows`, and writes the ``_crj``
(:func:`combined_hdulist`) and, with CRMASK, copies of the inputs carrying the CR flags.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from stisdarks import __version__
from stisdarks.crreject.algorithm import CRResult, crreject_rows
from stisdarks.crreject.fitsscan import HduInfo, scan_fits
from stisdarks.crreject.kernel import CR_FLAG
from stisdarks.crreject.rows import ArrayRows, ConstantRows, FileHandles, FitsRows, RowSource
from stisdarks.crrejtab import CRParams, crparams_for
from stisdarks.errors import InputFileError, StisDarksError
from stisdarks.fitsio import atomic_path, constant_extension, ext_data

__all__ = ["ImsetRows", "scan_imsets", "combined_hdulist", "crreject_files"]

#: the package's logger: the rejection's messages are ``stisdarks.crreject``'s
log = logging.getLogger("stisdarks.crreject")


#: FITS BITPIX → stored type
_BITPIX = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


def _data_rows(
    path: Path, hdu: HduInfo, dtype: np.dtype | None, files: FileHandles | None = None
) -> RowSource:
    """The rows of ``hdu``'s data as ``ext_data(hdu, dtype)`` gives them, read lazily."""
    layout = hdu.layout
    naxis = int(layout.get("NAXIS", 0))
    if naxis == 0:
        value, shape = constant_extension(hdu.header)
        fill = dtype or (np.int16 if hdu.name == "DQ" else np.float32)
        return ConstantRows(value, shape, np.dtype(fill))
    bitpix = layout.get("BITPIX")
    if (
        hdu.offset is not None
        and naxis == 2
        and bitpix in _BITPIX
        and layout.get("BZERO", 0) == 0
        and layout.get("BSCALE", 1) == 1
        and "BLANK" not in layout
    ):
        disk = np.dtype(_BITPIX[bitpix])
        shape = (int(layout["NAXIS2"]), int(layout["NAXIS1"]))
        native = disk.newbyteorder("=")
        return FitsRows(path, hdu.offset, shape, disk, np.dtype(dtype or native), files)
    # scaled, compressed or unusual data: let astropy read it (whole, in memory)
    with fits.open(path, memmap=False) as hdul:
        data = ext_data(hdul[hdu.name, hdu.ver], dtype)
    return ArrayRows(data, data.dtype)


@dataclass(frozen=True)
class ImsetRows:
    """One image set of an input file, its SCI and DQ read a block of rows at a time."""

    path: Path
    extver: int
    primary: fits.Header
    sci_header: fits.Header
    sci: RowSource
    dq: RowSource


def scan_imsets(paths: Sequence[os.PathLike]) -> list[ImsetRows]:
    """Every usable image set (``IMSET_OK`` not False) of every file, in order, unread.

    Only the headers are read here (a missing or unreadable file, or one without SCI/DQ
    extensions, is one line naming it); the data are read when the rejection needs them,
    a block of rows at a time.
    """
    imsets: list[ImsetRows] = []
    files = FileHandles()
    for path in map(Path, paths):
        if not path.is_file():
            raise InputFileError(f"{path} does not exist; check the file name")
        try:
            scan = scan_fits(path)
            primary = scan.primary
        except (OSError, ValueError) as exc:
            raise InputFileError(f"{path} is not a readable FITS file ({exc})") from exc
        nimset = int(primary.get("NEXTEND", len(scan.hdus) - 1)) // 3
        for k in range(1, nimset + 1):
            sci, dq = scan.find("SCI", k), scan.find("DQ", k)
            if sci is None or dq is None:
                raise InputFileError(
                    f"{path.name} lacks SCI/DQ extension {k}; it is not a STIS FLT"
                )
            if sci.header.get("IMSET_OK", True) is False:
                log.info("%s[SCI,%d] has IMSET_OK=F: skipped", path.name, k)
                continue
            imsets.append(
                ImsetRows(
                    path,
                    k,
                    primary,
                    sci.header,
                    _data_rows(path, sci, None, files),
                    _data_rows(path, dq, np.int16, files),
                )
            )
    return imsets


def _noise_params(
    imsets: Sequence[ImsetRows],
) -> tuple[list[float], list[float], list[float]]:
    exptime, noise, gain = [], [], []
    for im in imsets:
        if "EXPTIME" not in im.sci_header:
            raise InputFileError(
                f"{im.path.name}[SCI,{im.extver}] has no EXPTIME; it is not a calibrated STIS image"
            )
        for key in ("READNSE", "ATODGAIN"):
            if key not in im.primary:
                raise InputFileError(
                    f"{im.path.name} has no {key} in its primary header; process it with calstis first"
                )
        g = float(im.primary["ATODGAIN"])
        if g == 0:
            raise InputFileError(f"{im.path.name} has ATODGAIN = 0; its header is corrupt")
        exptime.append(float(im.sci_header["EXPTIME"]))
        noise.append(float(np.float32(im.primary["READNSE"]) / np.float32(g)))
        gain.append(g)
    return exptime, noise, gain


def combined_hdulist(
    imsets: Sequence[ImsetRows], result: CRResult, params: CRParams
) -> fits.HDUList:
    """A calstis-shaped ``_crj`` HDU list (headers from image set 1 of the first input)."""
    first = imsets[0]
    primary = first.primary.copy()
    sci_hdr = first.sci_header.copy()
    n = len(imsets)
    exptimes = [float(im.sci_header["EXPTIME"]) for im in imsets]
    starts = [float(im.sci_header.get("EXPSTART", 0.0)) for im in imsets]
    ends = [float(im.sci_header.get("EXPEND", 0.0)) for im in imsets]
    exptot = np.float32(result.texptime)
    temptot = np.float32(0)
    for im, e in zip(imsets, exptimes, strict=True):
        temptot = np.float32(
            temptot + np.float32(im.sci_header.get("OCCDHTAV", -1.0)) * np.float32(e)
        )
    primary["TEXPTIME"] = float(exptot)
    primary["SKYSUM"] = float(np.float32(result.skysum))
    nrej = int(result.n_rejected.sum())
    if exptot > 0:
        primary["REJ_RATE"] = float(np.float32(nrej) / exptot)
    primary["TEXPSTRT"] = min(starts)
    primary["TEXPEND"] = max(ends)
    for key, value in params.header_cards().items():
        primary[key] = value
    primary["MEANEXP"] = float(np.float32(exptot / n))
    primary["NEXTEND"] = 3
    primary["CRCORR"] = "COMPLETE"
    primary["CAL_VER"] = f"stisdarks {__version__} (native calstis-2)"
    sci_hdr["EXPTIME"] = float(exptot)
    sci_hdr["EXPSTART"] = min(starts)
    sci_hdr["EXPEND"] = max(ends)
    sci_hdr["NCOMBINE"] = n
    if exptot > 0 and temptot > 0:
        sci_hdr["OCCDHTAV"] = float(np.float32(temptot / exptot))
    hdus = [fits.PrimaryHDU(header=primary)]
    for name, data in (("SCI", result.sci), ("ERR", result.err), ("DQ", result.dq)):
        if name == "SCI":
            hdr = sci_hdr
        else:
            hdr = scan_fits(first.path).find(name, first.extver).header.copy()
        for key in (
            "NAXIS",
            "NAXIS1",
            "NAXIS2",
            "PIXVALUE",
            "NPIX1",
            "NPIX2",
            "BITPIX",
            "XTENSION",
            "PCOUNT",
            "GCOUNT",
            "BSCALE",
            "BZERO",
        ):
            hdr.remove(key, ignore_missing=True, remove_all=True)
        hdus.append(fits.ImageHDU(data=data, header=hdr, name=name, ver=1))
    return fits.HDUList(hdus)


def crreject_files(
    inputs: Sequence[os.PathLike],
    output: os.PathLike,
    params: CRParams | None = None,
    overrides: dict | None = None,
    crmask_dir: os.PathLike | None = None,
) -> Path:
    """CR-reject every image set of ``inputs`` together and write a calstis-shaped ``_crj``.

    Parameters
    ----------
    inputs : sequence of path-like
        STIS files with SCI/ERR/DQ image sets (never modified).
    output : path-like
        The combined file, written atomically.
    params : CRParams, optional
        Parameters; by default read from the first input's CRREJTAB as calstis does.
    overrides : dict, optional
        Explicit parameter values that win over the table.
    crmask_dir : path-like, optional
        calstis writes the CR flags into the *input* DQ arrays when CRMASK is set; we never
        modify inputs, so with ``crmask_dir`` copies of the inputs carrying those flags are
        written there instead.
    """
    imsets = scan_imsets(inputs)
    if len(imsets) < 2:
        raise StisDarksError(
            f"cosmic-ray rejection needs at least 2 image sets; {len(imsets)} found in {len(inputs)} file(s)"
        )
    amps = {str(im.primary.get("CCDAMP", "")).strip() for im in imsets}
    if len(amps) > 1:
        raise StisDarksError(
            f"inputs mix CCD amplifiers {sorted(amps)}; combine one amplifier at a time"
        )
    exptime, noise, gain = _noise_params(imsets)
    if params is None:
        mean = float(np.sum(np.asarray(exptime, dtype=np.float32), dtype=np.float32)) / len(imsets)
        params = crparams_for(imsets[0].primary, len(imsets), mean, overrides)
    elif overrides:
        params = params.with_overrides(**overrides)
    log.info("CR rejection of %d image sets (%s)", len(imsets), params.source)
    result = crreject_rows(
        [im.sci for im in imsets],
        [im.dq for im in imsets],
        exptime,
        noise,
        gain,
        params,
        return_masks=crmask_dir is not None and params.crmask,
    )
    hdul = combined_hdulist(imsets, result, params)
    hdul[0].header["FILENAME"] = Path(output).name
    with atomic_path(output) as tmp:
        hdul.writeto(tmp, overwrite=True)
    if result.masks is not None:
        _write_crmask_copies(imsets, result.masks, Path(crmask_dir))
    log.info("wrote %s (%d rejected pixel-image pairs)", output, int(result.n_rejected.sum()))
    return Path(output)


def _write_crmask_copies(imsets: Sequence[ImsetRows], masks: np.ndarray, outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    by_file: dict[Path, list[tuple[int, np.ndarray]]] = {}
    for im, mask in zip(imsets, masks, strict=True):
        by_file.setdefault(im.path, []).append((im.extver, mask))
    for path, items in by_file.items():
        with fits.open(path) as hdul:
            copy = fits.HDUList([h.copy() for h in hdul])
        for extver, mask in items:
            dq = ext_data(copy["DQ", extver], np.int16)
            copy["DQ", extver].data = (
                (dq & np.int16(~CR_FLAG)) | np.where(mask, np.int16(CR_FLAG), np.int16(0))
            ).astype(np.int16)
        with atomic_path(outdir / path.name) as tmp:
            copy.writeto(tmp, overwrite=True)
