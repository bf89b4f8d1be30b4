"""Reference files of the synthetic archive (``oref/``), in the structure calstis reads.

- CRREJTAB: STScI's own STIS CCD table ``j3m1403io_crr.fits`` (shipped in
  ``stisdarks/data``), so CR-SPLIT = 2 spectra are combined with the ``minimum`` initial
  guess, as in the real pipeline.
- CCDTAB: one row per amplifier and gain, with STScI's columns.
- BPIXTAB: bad columns, blemishes and known hot pixels (``PIX1``, ``PIX2``, ``LENGTH``,
  ``AXIS``, ``VALUE``), applied by calstis' DQICORR to raw data and present in the DQ of
  every synthetic dark.
- BIASFILE (DN), PFLTFILE and the pipeline DARKFILE (e⁻/s at 18 °C): images of the
  archive's geometry with its ``LTV`` keywords.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from astropy.io import fits

from stisdarks.bpixtab import flag_bad_pixels
from stisdarks.fitsio import write_hdul_atomic
from stisdarks.synthetic.detector import ATODGAIN, READNSE
from stisdarks.synthetic.geometry import CCD_NPIX, Geometry
from stisdarks.synthetic.headers import primary_header

__all__ = [
    "CRRTAB",
    "CCDTAB",
    "BPIXTAB",
    "BIASFILE",
    "PFLTFILE",
    "DARKFILE",
    "BIAS_LEVEL",
    "SATURATE",
    "BLEV_CLIP",
    "Refs",
    "BadPixels",
    "write_crrejtab",
    "write_ccdtab",
    "bad_pixel_table",
    "write_reference_image",
]

CRRTAB = "j3m1403io_crr.fits"
CCDTAB = "syn_ccd.fits"
BPIXTAB = "syn_bpx.fits"
BIASFILE = "syn_bia.fits"
PFLTFILE = "syn_pfl.fits"
DARKFILE = "syn_pipe_drk.fits"
BIAS_LEVEL = 1500.0  # DN
SATURATE = 33000.0  # DN
BLEV_CLIP = 5.0

BAD_DETECTOR = 4
HOT = 16
LARGE_BLEMISH = 32
SMALL_BLEMISH = 1024


@dataclass(frozen=True)
class Refs:
    """The reference data the synthetic calibration uses (``(sci, err, dq)`` triples)."""

    dark: tuple[np.ndarray, np.ndarray, np.ndarray]  # e-/s
    dark_header: fits.Header
    flat: tuple[np.ndarray, np.ndarray, np.ndarray]
    bias: tuple[np.ndarray, np.ndarray, np.ndarray]  # DN
    bpix: list[tuple[int, int, int, int, int]]
    darkfile: str = DARKFILE  # the pipeline dark's file name in oref/ (the science's DARKFILE)


@dataclass(frozen=True)
class BadPixels:
    """BPIXTAB rows and the DQ they give an image of the archive's geometry."""

    rows: list[tuple[int, int, int, int, int]]
    dq: np.ndarray


def write_crrejtab(oref: Path) -> Path:
    """Copy STScI's STIS CCD CRREJTAB into ``oref``."""
    dest = oref / CRRTAB
    with resources.as_file(resources.files("stisdarks") / "data" / CRRTAB) as src:
        shutil.copyfile(src, dest)
    return dest


def write_ccdtab(oref: Path) -> Path:
    """A CCDTAB with STScI's columns: amplifiers A and D, gains 1 and 4, unbinned and binned."""
    rows = [
        (amp, gain, b1, b2)
        for amp in ("D", "A")
        for gain in (1, 4)
        for b1, b2 in ((1, 1), (1, 2), (2, 1), (2, 2))
    ]
    n = len(rows)
    ccd = fits.BinTableHDU.from_columns(
        [
            fits.Column("CCDAMP", "1A", array=[r[0] for r in rows]),
            fits.Column("CCDGAIN", "J", array=[r[1] for r in rows]),
            fits.Column("BINAXIS1", "J", array=[r[2] for r in rows]),
            fits.Column("BINAXIS2", "J", array=[r[3] for r in rows]),
            fits.Column("CCDOFFST", "J", array=[3] * n),
            fits.Column("ATODGAIN", "E", array=[ATODGAIN[r[1]] for r in rows]),
            fits.Column("CCDBIAS", "E", array=[BIAS_LEVEL] * n),
            fits.Column("READNSE", "E", array=[READNSE[r[1]] for r in rows]),
            fits.Column("SATURATE", "E", array=[SATURATE] * n),
            fits.Column("BLEV_CLIP", "E", array=[BLEV_CLIP] * n),
            fits.Column("PEDIGREE", "8A", array=["INFLIGHT"] * n),
            fits.Column("DESCRIP", "9A", array=["synthetic"] * n),
        ]
    )
    primary = fits.Header({"FILETYPE": "CCD PARAMETERS", "INSTRUME": "STIS", "DETECTOR": "CCD"})
    return write_hdul_atomic(fits.HDUList([fits.PrimaryHDU(header=primary), ccd]), oref / CCDTAB)


def bad_pixel_table(
    rng: np.random.Generator, geometry: Geometry, known_hot: tuple[np.ndarray, np.ndarray]
) -> BadPixels:
    """BPIXTAB rows (1-indexed detector pixels) and the DQ image they give.

    Three bad columns (4), twenty small blemishes (1024, 3-pixel runs along x), two large
    blemishes (32, 6×6) and the given known hot pixels (16, from an earlier dark).
    """
    rows: list[tuple[int, int, int, int, int]] = []
    y0 = geometry.first_row
    for x in rng.choice(np.arange(40, CCD_NPIX - 40), 3, replace=False):
        rows.append((int(x) + 1, 1, CCD_NPIX, 2, BAD_DETECTOR))
    for _ in range(20):
        x = int(rng.integers(10, CCD_NPIX - 10))
        y = int(rng.integers(y0 + 2, y0 + geometry.rows - 2))
        rows.append((x + 1, y + 1, 3, 1, SMALL_BLEMISH))
    for _ in range(2):
        x = int(rng.integers(20, CCD_NPIX - 20))
        y = int(rng.integers(y0 + 6, y0 + geometry.rows - 12))
        rows.extend((x + 1, y + 1 + k, 6, 1, LARGE_BLEMISH) for k in range(6))
    ys, xs = known_hot
    rows.extend((int(x) + 1, int(y) + y0 + 1, 1, 1, HOT) for y, x in zip(ys, xs, strict=True))
    dq = flag_bad_pixels(np.zeros(geometry.shape, np.int16), rows, geometry.ltv)
    return BadPixels(rows, dq)


def write_bpixtab(oref: Path, bad: BadPixels) -> Path:
    """Write the BPIXTAB (STScI's columns; ``SIZAXIS1/2`` = the full detector)."""
    cols = list(zip(*bad.rows, strict=True))
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("PIX1", "I", array=np.asarray(cols[0], np.int16)),
            fits.Column("PIX2", "I", array=np.asarray(cols[1], np.int16)),
            fits.Column("LENGTH", "I", array=np.asarray(cols[2], np.int16)),
            fits.Column("AXIS", "I", array=np.asarray(cols[3], np.int16)),
            fits.Column("VALUE", "I", array=np.asarray(cols[4], np.int16)),
        ]
    )
    # calstis reads SIZAXIS1/2 from the table's own header
    table.header["SIZAXIS1"] = CCD_NPIX
    table.header["SIZAXIS2"] = CCD_NPIX
    primary = fits.Header(
        {
            "FILETYPE": "DATA QUALITY INITIALIZATION TABLE",
            "INSTRUME": "STIS",
            "DETECTOR": "CCD",
            "SIZAXIS1": CCD_NPIX,
            "SIZAXIS2": CCD_NPIX,
            "PEDIGREE": "INFLIGHT 01/01/2021",
            "DESCRIP": "synthetic bad pixels for the stisdarks demo",
        }
    )
    return write_hdul_atomic(fits.HDUList([fits.PrimaryHDU(header=primary), table]), oref / BPIXTAB)


def write_reference_image(path: Path, geometry: Geometry, sci, err, dq, **cards) -> fits.Header:
    """A one-image-set reference file (primary + SCI/ERR/DQ) of the archive's geometry."""
    primary = primary_header(CCDAMP="ANY", CCDGAIN=-1, CCDOFFST=-1, NEXTEND=3, **cards)
    hdus = [fits.PrimaryHDU(header=primary)]
    for name, data, dtype in (
        ("SCI", sci, np.float32),
        ("ERR", err, np.float32),
        ("DQ", dq, np.int16),
    ):
        hdu = fits.ImageHDU(np.asarray(data, dtype=dtype), name=name, ver=1)
        for key, value in geometry.image_cards().items():
            hdu.header[key] = value
        hdus.append(hdu)
    write_hdul_atomic(fits.HDUList(hdus), path)
    return primary
