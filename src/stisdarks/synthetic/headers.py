"""STIS-shaped FITS headers for the synthetic archive."""

from __future__ import annotations

import numpy as np
from astropy.io import fits

__all__ = ["primary_header", "switches", "image_set", "empty_extension", "CALSTIS_STEPS"]

#: calstis switches of a CCD spectroscopic observation, in header order
CALSTIS_STEPS = (
    "DQICORR", "ATODCORR", "BLEVCORR", "BIASCORR", "CRCORR", "RPTCORR", "EXPSCORR", "DARKCORR",
    "FLATCORR", "SHADCORR", "PHOTCORR", "WAVECORR", "X1DCORR", "X2DCORR", "BACKCORR", "HELCORR",
    "DISPCORR", "FLUXCORR", "CTECORR", "SC2DCORR", "GEOCORR", "SGEOCORR", "STATFLAG",
)  # fmt: skip


def primary_header(**cards) -> fits.Header:
    """A STIS CCD primary header with the given keywords over the common ones."""
    base = {
        "TELESCOP": "HST", "INSTRUME": "STIS", "DETECTOR": "CCD", "NEXTEND": 3, "CCDAMP": "D",
        "CCDGAIN": 1, "CCDOFFST": 3, "BINAXIS1": 1, "BINAXIS2": 1, "ATODGAIN": 1.0, "READNSE": 5.0,
    }  # fmt: skip
    base.update(cards)
    hdr = fits.Header()
    for key, value in base.items():
        hdr[key] = value
    return hdr


def switches(state: str, performed: tuple[str, ...]) -> dict[str, object]:
    """calstis switches: ``state`` (PERFORM or COMPLETE) for ``performed``, OMIT for the rest."""
    out: dict[str, object] = {k: (state if k in performed else "OMIT") for k in CALSTIS_STEPS}
    out["STATFLAG"] = True
    return out


def image_set(ver: int, sci, err, dq, cards: dict) -> list[fits.ImageHDU]:
    """SCI, ERR and DQ extensions of one image set, each with ``cards``."""
    out = []
    for name, data, dtype in (
        ("SCI", sci, np.float32),
        ("ERR", err, np.float32),
        ("DQ", dq, np.int16),
    ):
        hdu = fits.ImageHDU(np.asarray(data, dtype=dtype), name=name, ver=ver)
        for key, value in cards.items():
            hdu.header[key] = value
        out.append(hdu)
    return out


def empty_extension(name: str, ver: int, shape: tuple[int, int], cards: dict) -> fits.ImageHDU:
    """A header-only constant extension (``PIXVALUE = 0``), as ERR and DQ of raw STIS files."""
    hdu = fits.ImageHDU(name=name, ver=ver)
    hdu.header["PIXVALUE"] = 0
    hdu.header["NPIX1"] = shape[1]
    hdu.header["NPIX2"] = shape[0]
    for key in ("EXPTIME", "EXPSTART", "EXPEND", "LTV1", "LTV2", "LTM1_1", "LTM2_2"):
        if key in cards:
            hdu.header[key] = cards[key]
    return hdu
