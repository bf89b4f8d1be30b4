"""The synthetic spectrum: source, trace, wavelength lamp, and the ``_sx1`` calstis makes.

The spectrum is a faint G430L-like continuum with absorption lines on a slightly tilted
trace. calstis extracts it (X1DCORR) with synthetic reference tables of the structure it
reads (:mod:`stisdarks.x1dtables`): the trace, a 7-pixel box, two 5-pixel background
boxes, a linear dispersion over 2900–5700 Å and a smooth throughput; the ``_sx1`` here is
what calstis makes of the ``_crj`` with them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from stisdarks.fitsio import write_hdul_atomic
from stisdarks.synthetic.geometry import Geometry
from stisdarks.synthetic.headers import CALSTIS_STEPS
from stisdarks.x1dtables import (
    SX1_COLUMNS,
    extract_like_x1d,
    read_x1d_setup,
    write_x1d_tables,
    x1d_header_cards,
    x1d_sci_cards,
)

__all__ = [
    "PERFORMED",
    "EXTRSIZE",
    "BKSIZE",
    "trace_of",
    "wavelengths",
    "source_spectrum",
    "source_image",
    "background_offset",
    "write_tables",
    "reference_keywords",
    "sci_keywords",
    "write_sx1",
    "lamp_raw",
]

#: calstis steps the demo's raw asks for (see docs/calstis.md for those left OMIT)
PERFORMED = (
    "DQICORR", "BLEVCORR", "BIASCORR", "CRCORR", "EXPSCORR", "DARKCORR", "FLATCORR", "X1DCORR",
    "BACKCORR", "DISPCORR", "FLUXCORR",
)  # fmt: skip
EXTRSIZE = 7.0
BKSIZE = 5.0


def trace_of(geometry: Geometry) -> np.ndarray:
    """Row (0-indexed image rows) of the spectrum per column: near the middle, slightly tilted."""
    ny, nx = geometry.shape
    xcol = np.arange(nx, dtype=np.float64)
    return ny / 2.0 + 0.3 + 1.5 * (xcol - nx / 2.0) / nx


def wavelengths(nx: int) -> np.ndarray:
    """Wavelength (Å) per column: G430L's range."""
    return np.linspace(2900.0, 5700.0, nx)


def source_spectrum(nx: int) -> np.ndarray:
    """The source's count rate per column (e⁻/s, the whole trace): a continuum with lines."""
    wave = wavelengths(nx)
    cont = 3.0 * (1 + 0.5 * np.sin((wave - 2900) / 2800 * np.pi))
    for line in (3934.0, 3968.0, 4101.0, 4340.0, 4861.0, 5175.0):
        cont *= 1 - 0.5 * np.exp(-0.5 * ((wave - line) / 4.0) ** 2)
    return cont


def source_image(shape: tuple[int, int], trace: np.ndarray) -> np.ndarray:
    """Count rate (e⁻/s per pixel) of the faint continuum with absorption lines, plus sky."""
    ny, nx = shape
    cont = source_spectrum(nx)
    rows = np.arange(ny)[:, None]
    psf = np.exp(-0.5 * ((rows - trace[None, :]) / 1.1) ** 2)
    psf /= psf.sum(axis=0, keepdims=True)
    return cont[None, :] * psf + 0.02


def background_offset(ny: int) -> float:
    """Distance (rows) of the two background boxes from the trace: inside the image."""
    return float(min(300, ny // 4))


def write_tables(oref: Path, geometry: Geometry, trace: np.ndarray) -> dict[str, str]:
    """Write the X1DCORR reference tables for this trace into ``oref``; keyword → ``oref$name``."""
    ny, nx = geometry.shape
    mid = (nx - 1) // 2
    return write_x1d_tables(
        oref, opt_elem="G430L", cenwave=4300, aperture="52X2", trace_row=float(trace[mid]),
        trace_slope=float(trace[mid + 1] - trace[mid]), ltv2=geometry.ltv[1], extrsize=EXTRSIZE,
        bk_offset=background_offset(ny), bk_size=BKSIZE, wave_range=(2900.0, 5700.0), nx=nx,
        prefix="syn",
    )  # fmt: skip


def reference_keywords(tables: dict[str, str]) -> dict[str, str]:
    """Primary-header reference keywords of the spectroscopic steps (the switches are in PERFORMED)."""
    return {
        key: value
        for key, (value, _) in x1d_header_cards(tables).items()
        if key not in CALSTIS_STEPS
    }


def sci_keywords() -> dict[str, object]:
    """SCI-header keywords calstis' x1d reads (WCS, no wavecal shift)."""
    cards = x1d_sci_cards(4300)
    return {k: v for k, (v, _) in cards.items() if k not in ("MEANDARK", "NCOMBINE")}


def write_sx1(
    path: Path, crj, crj_cards: dict, primary: fits.Header, oref: Path, tables: dict[str, str]
) -> Path:
    """Write the ``_sx1`` calstis' x1d makes of the calibrated ``crj`` image set."""
    sci, err, dq = crj
    row = extract_like_x1d(
        sci, err, dq, setup=read_x1d_setup(oref, tables), exptime=float(crj_cards["EXPTIME"]),
        ltv=(crj_cards["LTV1"], crj_cards["LTV2"]), ltm=(crj_cards["LTM1_1"], crj_cards["LTM2_2"]),
        atodgain=float(primary["ATODGAIN"]), readnse=float(primary["READNSE"]),
        meandark=float(crj_cards["MEANDARK"]), ncombine=int(crj_cards["NCOMBINE"]),
    )  # fmt: skip
    nx = sci.shape[1]
    formats = {"SPORDER": "I", "NELEM": "I", "WAVELENGTH": f"{nx}D", "DQ": f"{nx}I", "MAXSRCH": "I"}
    units = {"WAVELENGTH": "Angstroms", "GROSS": "Counts/s", "BACKGROUND": "Counts/s", "NET": "Counts/s",
             "FLUX": "erg/s/cm**2/Angstrom", "ERROR": "erg/s/cm**2/Angstrom", "NET_ERROR": "Counts/s"}  # fmt: skip
    cols = []
    for name in SX1_COLUMNS:
        value = np.asarray(row[name])
        fmt = formats.get(name, f"{nx}E" if value.ndim else "E")
        unit = units.get(name, None if name in ("SPORDER", "NELEM", "DQ") else "pixel")
        cols.append(fits.Column(name, fmt, array=[value], unit=unit))
    table = fits.BinTableHDU.from_columns(cols, name="SCI")
    for key in ("EXPTIME", "EXPSTART", "EXPEND"):
        table.header[key] = crj_cards[key]
    return write_hdul_atomic(fits.HDUList([fits.PrimaryHDU(header=primary), table]), path)


def lamp_raw(
    rng: np.random.Generator, geometry: Geometry, bias: float, noise_dn: float
) -> np.ndarray:
    """A raw wavecal (uint16, overscan included): emission lines along the slit."""
    ny_raw, nx_raw = geometry.raw_shape
    lamp = np.zeros((ny_raw, nx_raw))
    illuminated = geometry.trim(lamp)
    for col in rng.choice(geometry.shape[1], 12, replace=False):
        illuminated[:, col] += rng.uniform(200.0, 2000.0)
    lamp += bias + rng.normal(0, noise_dn, lamp.shape)
    return np.round(lamp).astype(np.uint16)
