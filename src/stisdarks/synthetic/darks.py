"""Dark-monitor exposures of the synthetic archive: bias-subtracted ``_flt`` files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.time import Time

from stisdarks.fitsio import write_hdul_atomic
from stisdarks.synthetic.detector import ATODGAIN, READNSE
from stisdarks.synthetic.geometry import Geometry
from stisdarks.synthetic.headers import image_set, primary_header
from stisdarks.synthetic.reffiles import BPIXTAB, CCDTAB, CRRTAB

__all__ = ["DARK_EXPTIME", "DARK_PROPOSAL", "write_dark_flt"]

DARK_EXPTIME = 1100.0
DARK_PROPOSAL = 16511


def write_dark_flt(
    path: Path,
    geometry: Geometry,
    frame: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    start: float,
    exptime: float,
    temp: float,
    gain: int,
    amp: str,
    proposid: int = DARK_PROPOSAL,
    darkfile: str = "N/A",
) -> Path:
    """Write one dark ``_flt``: DQICORR, BLEVCORR and BIASCORR done, as the archive serves them.

    ``darkfile`` is the ``DARKFILE`` the pipeline named for it (the weekly dark of its week:
    the dark-monitor darks of one pipeline week share it; ``darks.week: pipeline`` groups by it).
    """
    root = path.name.split("_")[0]
    end = start + exptime / 86400.0
    when = Time(start, format="mjd", scale="utc").datetime
    primary = primary_header(
        ROOTNAME=root, FILENAME=path.name, **{"DATE-OBS": when.strftime("%Y-%m-%d"),
        "TIME-OBS": when.strftime("%H:%M:%S")}, OBSTYPE="IMAGING", OBSMODE="ACCUM", TARGNAME="DARK",
        OPT_ELEM="MIRVIS", APERTURE="50CCD", PROPAPER="50CCD", APER_FOV="50x50", CCDAMP=amp, CCDGAIN=gain,
        ATODGAIN=ATODGAIN[gain], READNSE=READNSE[gain], NRPTEXP=1, CRSPLIT=1, TEXPSTRT=start, TEXPEND=end,
        TEXPTIME=exptime, PROPOSID=proposid, PROPTTL1="CCD Dark Monitor", **geometry.subarray_cards(),
        CCDTAB=f"oref${CCDTAB}", CRREJTAB=f"oref${CRRTAB}", BPIXTAB=f"oref${BPIXTAB}", BIASFILE="N/A", DARKFILE=darkfile,
        DQICORR="COMPLETE", ATODCORR="OMIT", BLEVCORR="COMPLETE", BIASCORR="COMPLETE", CRCORR="OMIT",
        RPTCORR="OMIT", EXPSCORR="OMIT", DARKCORR="OMIT", FLATCORR="OMIT", SHADCORR="OMIT", PHOTCORR="OMIT",
        STATFLAG=False,
    )  # fmt: skip
    cards = {"EXPTIME": exptime, "EXPSTART": start, "EXPEND": end, "OCCDHTAV": temp,
             "EXPNAME": root, "ATODGAIN": ATODGAIN[gain], "READNSE": READNSE[gain],
             **geometry.image_cards()}  # fmt: skip
    sci, err, dq = frame
    write_hdul_atomic(
        fits.HDUList([fits.PrimaryHDU(header=primary), *image_set(1, sci, err, dq, cards)]), path
    )
    return path
