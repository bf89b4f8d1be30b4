"""The native calibrator: the dark swapped in the pipeline ``_flt`` and ``_crj``, the
spectrum re-extracted from the new ``_crj``.

The dark swap (:mod:`stisdarks.darkswap`) on each pipeline ``_flt`` image set and on the
pipeline ``_crj`` is exact: calstis subtracts the dark after CR rejection. A spectrum is
then re-extracted from the new ``_crj`` as calstis' x1d does (:mod:`stisdarks.x1d`) along
the pipeline ``_sx1``'s own trace (``EXTRLOCY``), box and background regions, converted to
flux with the pipeline's own per-column factor. An image (no ``_sx1``) gets its ``_flt``
and ``_crj`` only. No hstcal is needed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from astropy.io import fits

from stisdarks.binning import fit_reference
from stisdarks.crrejtab import resolve_reference
from stisdarks.darkswap import bad_pixel_dq, flat_field, mean_dark, swap_dark_imset
from stisdarks.errors import InputFileError, StisDarksError
from stisdarks.fitsio import atomic_path, count_imsets, ext_data, step_complete
from stisdarks.x1d import reextract_sx1

__all__ = ["dark_for", "read_dark", "recalibrate", "swap_dark_file"]

log = logging.getLogger(__name__)


def read_dark(path: os.PathLike) -> tuple[tuple[np.ndarray, ...], fits.Header, fits.Header]:
    """A dark's ``(SCI, ERR, DQ)``, primary header and SCI header, as :func:`dark_for` takes it."""
    with fits.open(path) as hdul:
        triple = (
            ext_data(hdul["SCI", 1], np.float32),
            ext_data(hdul["ERR", 1], np.float32),
            ext_data(hdul["DQ", 1], np.int16),
        )
        return triple, hdul[0].header.copy(), hdul["SCI", 1].header.copy()


def dark_for(
    dark: tuple[tuple[np.ndarray, ...], fits.Header, fits.Header],
    what: str,
    primary: fits.Header,
    sci_header: fits.Header,
    shape: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, fits.Header]:
    """The dark as calstis applies it to this image set: ``(sci, err, dq, primary_header)``.

    Cut and summed to the science readout (:func:`stisdarks.binning.fit_reference`);
    a dark of another amplifier cannot serve the data.
    """
    triple, dark_primary, dark_sci = dark
    amp, dark_amp = (str(h.get("CCDAMP", "ANY")).strip().upper() for h in (primary, dark_primary))
    if dark_amp not in ("ANY", "", amp):
        raise StisDarksError(
            f"the {what} was read through amplifier {dark_amp} but the science through {amp}; "
            "a dark serves data of its own amplifier only"
        )
    return (
        *fit_reference(triple, dark_sci, sci_header, shape, average=False, what=what),
        dark_primary,
    )


def swap_dark_file(
    src: os.PathLike,
    dest: os.PathLike,
    old_dark: os.PathLike,
    new_dark: os.PathLike,
    *,
    oref_search=(),
    new_name: str,
) -> Path:
    """Write ``dest``: the calibrated ``src`` (``_flt`` or ``_crj``) with its dark swapped.

    The darks may be unbinned full frames (as STScI's and the weekdark are): each is cut
    and binned to the data's readout, as calstis does, and the data's own ATODGAIN is used.
    """
    old_read, new_read = read_dark(old_dark), read_dark(new_dark)
    with fits.open(src) as hdul:
        out = fits.HDUList([h.copy() for h in hdul])
    primary = out[0].header
    if not step_complete(primary, "DARKCORR"):
        raise InputFileError(
            f"{Path(src).name} is not dark-corrected (DARKCORR={primary.get('DARKCORR')})"
        )
    gain = float(primary.get("ATODGAIN", 1.0))
    flat = None
    for k in range(1, count_imsets(out) + 1):
        sci_hdu, err_hdu, dq_hdu = out["SCI", k], out["ERR", k], out["DQ", k]
        sci = ext_data(sci_hdu, np.float32)
        if flat is None:  # every image set of a file has the same readout
            old = dark_for(old_read, "pipeline dark", primary, sci_hdu.header, sci.shape)
            new = dark_for(new_read, "new dark", primary, sci_hdu.header, sci.shape)
            flat = flat_field(primary, sci_hdu.header, sci.shape, oref_search)
            bpix = bad_pixel_dq(primary, sci_hdu.header, sci.shape, oref_search)
        new_sci, new_err, new_dq = swap_dark_imset(
            sci, ext_data(err_hdu, np.float32), ext_data(dq_hdu, np.int16), sci_hdu.header, old, new,
            flat, gain, protected_dq=bpix,
        )  # fmt: skip
        if "MEANDARK" in sci_hdu.header:
            sci_hdu.header["MEANDARK"] = mean_dark(new, sci_hdu.header, gain)
        for hdu, data in ((sci_hdu, new_sci), (err_hdu, new_err), (dq_hdu, new_dq)):
            hdu.data = data
            for key in ("PIXVALUE", "NPIX1", "NPIX2"):
                hdu.header.remove(key, ignore_missing=True)
    primary["DARKFILE"] = new_name
    primary["FILENAME"] = Path(dest).name
    primary.add_history(
        f"stisdarks native dark swap: pipeline dark {Path(old_dark).name} replaced by {new_name}"
    )
    with atomic_path(dest) as tmp:
        out.writeto(tmp, overwrite=True)
    return Path(dest)


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
    """Swap ``pipeline_dark`` for ``weekdark`` in ``flt`` and ``crj``; re-extract ``sx1`` (if given).

    ``raw`` and ``wav`` are not read (the pipeline products are); ``new_name`` is the
    ``DARKFILE`` the products get. Writes and returns ``out``.
    """
    search = [oref_dir] if oref_dir else []
    log.info("native dark swap: %s -> %s", Path(pipeline_dark).name, new_name)
    swap_dark_file(flt, out["flt"], pipeline_dark, weekdark, oref_search=search, new_name=new_name)
    swap_dark_file(crj, out["crj"], pipeline_dark, weekdark, oref_search=search, new_name=new_name)
    if sx1 is None:
        log.info("no _sx1: the _flt and _crj are the whole recalibration")
        return out
    xtractab = resolve_reference(fits.getheader(sx1, 0).get("XTRACTAB", "N/A"), search)
    reextract_sx1(sx1, out["crj"], out["sx1"], new_darkfile=new_name, xtractab=xtractab)
    return out
