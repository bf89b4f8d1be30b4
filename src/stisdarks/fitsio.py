"""Small FITS helpers shared by every module: atomic writes, constant arrays, checks.

:func:`atomic_path` lives in :mod:`stisdarks.atomic` (with the removal of what a killed
run leaves) and :func:`verify_fits` in :mod:`stisdarks.fitsblocks` (no astropy); both are
re-exported here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from astropy.io import fits

from stisdarks.atomic import atomic_path
from stisdarks.errors import InputFileError
from stisdarks.fitsblocks import verify_fits

__all__ = [
    "atomic_path",
    "write_hdul_atomic",
    "ext_data",
    "constant_extension",
    "verify_fits",
    "step_complete",
    "count_imsets",
]


def count_imsets(hdul: fits.HDUList) -> int:
    """How many image sets a STIS file holds: its ``SCI`` extensions."""
    return sum(1 for h in hdul[1:] if str(h.header.get("EXTNAME", "")).upper() == "SCI")


def step_complete(header: fits.Header, switch: str) -> bool:
    """Whether a calibration switch of a primary header says the step was done.

    ``header[switch]`` is ``COMPLETE`` (any case, blanks ignored); a missing switch is not.
    """
    return str(header.get(switch, "")).strip().upper() == "COMPLETE"


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
