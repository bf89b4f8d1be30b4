"""Small FITS helpers shared by every module: atomic writes, constant arrays, checks.

:func:`atomic_path` lives in :mod:`stisdarks.atomic` (with the removal of what a killed
run leaves) and is re-exported here.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning

from stisdarks.atomic import atomic_path
from stisdarks.errors import InputFileError

__all__ = [
    "atomic_path",
    "write_hdul_atomic",
    "ext_data",
    "constant_extension",
    "verify_fits",
]


def write_hdul_atomic(hdul: fits.HDUList, path: str | os.PathLike) -> Path:
    """Write ``hdul`` to ``path`` atomically (temporary name, then rename)."""
    with atomic_path(path) as tmp:
        hdul.writeto(tmp, overwrite=True, output_verify="silentfix")
    return Path(path)


def constant_extension(hdr: fits.Header) -> tuple[float, tuple[int, int]]:
    """``(PIXVALUE, (NPIX2, NPIX1))`` of a header-only (constant) STIS extension.

    Raises
    ------
    InputFileError
        When the header has neither data nor ``PIXVALUE``/``NPIX1``: one line.
    """
    if "PIXVALUE" not in hdr or "NPIX1" not in hdr:
        raise InputFileError(
            f"extension {hdr.get('EXTNAME', '?')},{hdr.get('EXTVER', '?')} has no data and no "
            "PIXVALUE/NPIX1/NPIX2; the file is truncated or not a STIS product — re-download it"
        )
    return hdr["PIXVALUE"], (int(hdr.get("NPIX2", 1)), int(hdr["NPIX1"]))


def ext_data(
    hdu: fits.ImageHDU | fits.PrimaryHDU, dtype: type | np.dtype | None = None
) -> np.ndarray:
    """Return an image extension's data, expanding a header-only constant array.

    calstis writes constant ERR or DQ arrays with ``NAXIS = 0`` and the value in
    ``PIXVALUE`` (shape in ``NPIX1``/``NPIX2``); astropy then returns ``None``.

    Parameters
    ----------
    hdu : astropy HDU
        An image HDU (SCI, ERR or DQ).
    dtype : dtype, optional
        Cast the result to this type.

    Returns
    -------
    numpy.ndarray
    """
    data = hdu.data
    if data is None:
        value, shape = constant_extension(hdu.header)
        fill_dtype = dtype or (
            np.int16 if hdu.header.get("EXTNAME", "").upper() == "DQ" else np.float32
        )
        return np.full(shape, value, dtype=fill_dtype)
    return np.asarray(data, dtype=dtype) if dtype is not None else np.asarray(data)


def verify_fits(
    path: str | os.PathLike, expected_size: int | None = None, *, fix: str | None = None
) -> None:
    """Check that ``path`` is a complete, readable FITS file.

    Every header is parsed and verified, the extensions the primary header announces
    (``NEXTEND``) must be there, and every data unit must lie wholly inside the file (its
    size from its header): a truncated or cut file fails without reading the data, so
    checking a month of darks costs a fraction of a second, not a read of 560 MB.

    Parameters
    ----------
    path : path-like
        The file.
    expected_size : int, optional
        Its size in bytes, as the archive lists it.
    fix : str, optional
        What the message tells the user to do (default: fetch the file again, in the
        words that fit each problem).

    Raises
    ------
    InputFileError
        With a one-line message saying what is wrong (missing, wrong size, truncated,
        not FITS) and the fix.
    """
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"{p} does not exist; {fix or 'run the download step again'}")
    size = p.stat().st_size
    if expected_size is not None and expected_size > 0 and size != expected_size:
        raise InputFileError(
            f"{p} has {size} bytes but the archive lists {expected_size}; "
            f"{fix or 'delete it and download again'}"
        )
    if size == 0 or size % 2880 != 0:
        raise InputFileError(
            f"{p} is truncated ({size} bytes is not a multiple of the 2880-byte FITS block); "
            f"{fix or 'delete it and rerun to download it again'}"
        )
    try:
        with warnings.catch_warnings():
            # astropy's "may have been truncated" warning: said below, in one line
            warnings.simplefilter("ignore", AstropyUserWarning)
            with fits.open(p, memmap=False, lazy_load_hdus=False) as hdul:
                hdul.verify("exception")
                spans = [hdul.fileinfo(i) for i in range(len(hdul))]
                announced = int(hdul[0].header.get("NEXTEND", 0))
        end = max(info["datLoc"] + info["datSpan"] for info in spans)
    except Exception as exc:  # astropy raises many types here
        raise InputFileError(
            f"{p} is not a valid FITS file ({exc}); {fix or 'delete it and download again'}"
        ) from exc
    if announced > len(spans) - 1:
        raise InputFileError(
            f"{p} is truncated (NEXTEND = {announced} but it has {len(spans) - 1} extensions); "
            f"{fix or 'delete it and rerun to download it again'}"
        )
    if end > size:
        raise InputFileError(
            f"{p} is truncated (its headers describe {end} bytes, the file has {size}); "
            f"{fix or 'delete it and rerun to download it again'}"
        )
