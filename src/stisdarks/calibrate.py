"""Recalibrate a science observation with a new dark: ``calstis`` or the ``native`` dark swap.

``calstis``
    stistools' ``calstis`` on a copy of the ``_raw`` (and ``_wav``) with ``DARKFILE``
    pointing at the weekdark (:mod:`stisdarks.calstis`); needs hstcal's ``cs0.e``.
``native``
    The dark swap of :mod:`stisdarks.darkswap` on each pipeline ``_flt`` image set and on
    the pipeline ``_crj`` (exact: calstis subtracts the dark after CR rejection), then the
    spectrum re-extracted from the new ``_crj`` along the pipeline ``_sx1``'s own trace
    (``EXTRLOCY``), box and background regions, converted to flux with the pipeline's own
    FLUX/NET ratio.
``auto``
    ``calstis`` when ``cs0.e`` is on ``PATH``, else ``native``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from astropy.io import fits

from stisdarks.darkswap import bad_pixel_dq, flat_field, swap_dark_imset
from stisdarks.errors import InputFileError, StisDarksError
from stisdarks.extraction import extract_box, trace_rows
from stisdarks.fitsio import atomic_path, ext_data
from stisdarks.hstcal import choose

__all__ = ["CALIBRATORS", "resolve_calibrator", "recalibrate", "swap_dark_file", "reextract_sx1"]

log = logging.getLogger(__name__)

CALIBRATORS = ("auto", "native", "calstis")


def resolve_calibrator(calibrator: str = "auto") -> str:
    """``native`` or ``calstis`` (``auto``: calstis when ``cs0.e`` is on PATH)."""
    return choose("calibrator", calibrator, "calstis", "set calibrator: native")


def _read_dark(path: os.PathLike):
    with fits.open(path) as hdul:
        return (
            ext_data(hdul["SCI", 1], np.float32),
            ext_data(hdul["ERR", 1], np.float32),
            ext_data(hdul["DQ", 1], np.int16),
            hdul[0].header.copy(),
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
    """Write ``dest``: the calibrated ``src`` (``_flt`` or ``_crj``) with its dark swapped."""
    old, new = _read_dark(old_dark), _read_dark(new_dark)
    with fits.open(src) as hdul:
        out = fits.HDUList([h.copy() for h in hdul])
    primary = out[0].header
    if str(primary.get("DARKCORR", "")).strip() != "COMPLETE":
        raise InputFileError(
            f"{Path(src).name} is not dark-corrected (DARKCORR={primary.get('DARKCORR')})"
        )
    gain = float(primary.get("ATODGAIN", 1.0))
    nimsets = sum(1 for h in out if h.header.get("EXTNAME") == "SCI")
    flat = None
    for k in range(1, nimsets + 1):
        sci_hdu, err_hdu, dq_hdu = out["SCI", k], out["ERR", k], out["DQ", k]
        sci = ext_data(sci_hdu, np.float32)
        if old[0].shape != sci.shape or new[0].shape != sci.shape:
            raise StisDarksError(
                f"{Path(src).name} is {sci.shape[1]}x{sci.shape[0]} but a dark is {new[0].shape[1]}x{new[0].shape[0]}; "
                "binned or subarray data need calibrator: calstis"
            )
        if flat is None:
            flat = flat_field(primary, sci.shape, oref_search)
            bpix = bad_pixel_dq(primary, sci_hdu.header, sci.shape, oref_search)
        new_sci, new_err, new_dq = swap_dark_imset(
            sci, ext_data(err_hdu, np.float32), ext_data(dq_hdu, np.int16), sci_hdu.header, old, new,
            flat, gain, protected_dq=bpix,
        )  # fmt: skip
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


def reextract_sx1(
    pipeline_sx1: os.PathLike, crj: os.PathLike, dest: os.PathLike, new_name: str
) -> Path:
    """Re-extract the spectrum of ``crj`` along the pipeline ``_sx1``'s trace and convert with its FLUX/NET."""
    with fits.open(crj) as hc:
        image = ext_data(hc["SCI", 1], np.float32)
        err = ext_data(hc["ERR", 1], np.float32)
        dq = ext_data(hc["DQ", 1], np.int16)
        texptime = float(hc["SCI", 1].header.get("EXPTIME", hc[0].header.get("TEXPTIME", 1.0)))
    with fits.open(pipeline_sx1) as hs:
        out = fits.HDUList([h.copy() for h in hs])
    table = out[1].data
    for row in table:
        ext = extract_box(
            image, err, dq, trace_rows(row["EXTRLOCY"]), float(row["EXTRSIZE"]), float(row["BK1OFFST"]),
            float(row["BK2OFFST"]), float(row["BK1SIZE"]), float(row["BK2SIZE"]),
        )  # fmt: skip
        old_net = np.asarray(row["NET"], dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(
                old_net != 0, np.asarray(row["FLUX"], dtype=np.float64) / old_net, np.nan
            )
        # columns where the pipeline NET was 0 borrow the ratio of the nearest column that has one
        if np.isnan(ratio).any() and np.isfinite(ratio).any():
            idx = np.arange(ratio.size)
            ok = np.isfinite(ratio)
            ratio = np.interp(idx, idx[ok], ratio[ok])
        ratio = np.nan_to_num(ratio)
        net = ext["net"] / texptime
        row["GROSS"] = ext["gross"] / texptime
        row["BACKGROUND"] = ext["background"] / texptime
        row["NET"] = net
        row["NET_ERROR"] = ext["net_error"] / texptime
        row["FLUX"] = net * ratio
        row["ERROR"] = ext["net_error"] / texptime * np.abs(ratio)
        row["DQ"] = ext["dq"]
    out[0].header["DARKFILE"] = new_name
    out[0].header["FILENAME"] = Path(dest).name
    out[0].header.add_history(
        "stisdarks: spectrum re-extracted from the dark-swapped _crj along the pipeline trace"
    )
    with atomic_path(dest) as tmp:
        out.writeto(tmp, overwrite=True)
    return Path(dest)


def recalibrate(
    raw: os.PathLike,
    flt: os.PathLike,
    crj: os.PathLike,
    sx1: os.PathLike,
    weekdark: os.PathLike,
    pipeline_dark: os.PathLike,
    outdir: os.PathLike,
    *,
    calibrator: str = "auto",
    oref_dir: os.PathLike | None = None,
    obs_id: str,
    wav: os.PathLike | None = None,
) -> dict[str, Path]:
    """Recalibrate with ``weekdark``; write ``outdir/{obs_id}_{flt,crj,sx1}.fits``.

    Inputs are never modified. Returns ``{"flt": ..., "crj": ..., "sx1": ...}``.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    out = {k: outdir / f"{obs_id}_{k}.fits" for k in ("flt", "crj", "sx1")}
    chosen = resolve_calibrator(calibrator)
    search = [oref_dir] if oref_dir else []
    new_name = f"{obs_id}_weekdark.fits"  # DARKFILE of the products, whichever calibrator
    if chosen == "native":
        log.info("native dark swap: %s -> %s", Path(pipeline_dark).name, new_name)
        swap_dark_file(
            flt, out["flt"], pipeline_dark, weekdark, oref_search=search, new_name=new_name
        )
        swap_dark_file(
            crj, out["crj"], pipeline_dark, weekdark, oref_search=search, new_name=new_name
        )
        reextract_sx1(sx1, out["crj"], out["sx1"], new_name)
        return out
    from stisdarks.calstis import run_calstis

    return run_calstis(
        raw, weekdark, out, obs_id=obs_id, oref_dir=oref_dir, wav=wav, dark_name=new_name
    )
