"""The synthetic spectrum: source, trace, wavelength lamp, and the ``_sx1`` calstis makes.

The spectrum is a faint G430L-like continuum with absorption lines on a slightly tilted
trace. Its ``_sx1`` is a box extraction of the ``_crj`` along the trace.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from stisdarks.extraction import extract_box
from stisdarks.fitsio import write_hdul_atomic
from stisdarks.synthetic.geometry import Geometry

__all__ = [
    "PERFORMED",
    "EXTRSIZE",
    "BKSIZE",
    "trace_of",
    "wavelengths",
    "source_image",
    "reference_keywords",
    "write_sx1",
    "lamp_raw",
]

#: calstis steps the demo's raw asks for (see docs/calstis.md for those left OMIT)
PERFORMED = ("DQICORR", "BLEVCORR", "BIASCORR", "CRCORR", "EXPSCORR", "DARKCORR", "FLATCORR")
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


def _sensitivity(wave: np.ndarray) -> np.ndarray:
    """Flux per count rate (erg/s/cm²/Å per count/s)."""
    return 2.0e-15 * (1 + 0.3 * np.cos((wave - 2900) / 2800 * np.pi))


def source_image(shape: tuple[int, int], trace: np.ndarray) -> np.ndarray:
    """Count rate (e⁻/s per pixel) of the faint continuum with absorption lines, plus sky."""
    ny, nx = shape
    wave = wavelengths(nx)
    cont = 3.0 * (1 + 0.5 * np.sin((wave - 2900) / 2800 * np.pi))
    for line in (3934.0, 3968.0, 4101.0, 4340.0, 4861.0, 5175.0):
        cont *= 1 - 0.5 * np.exp(-0.5 * ((wave - line) / 4.0) ** 2)
    rows = np.arange(ny)[:, None]
    psf = np.exp(-0.5 * ((rows - trace[None, :]) / 1.1) ** 2)
    psf /= psf.sum(axis=0, keepdims=True)
    return cont[None, :] * psf + 0.02


def reference_keywords() -> dict[str, str]:
    """Reference-file keywords of the spectroscopic steps (none: those steps are OMIT)."""
    return {}


def _background_offset(ny: int) -> float:
    return float(min(300, ny // 4))


def write_sx1(path: Path, crj, crj_cards: dict, primary: fits.Header, trace: np.ndarray, oref: Path) -> Path:
    """Write the ``_sx1`` of the calibrated ``crj`` image set."""
    sci, err, dq = crj
    ny, nx = sci.shape
    bkoff = _background_offset(ny)
    ext = extract_box(sci, err, dq, trace, EXTRSIZE, -bkoff, bkoff, BKSIZE, BKSIZE)
    t_tot = float(crj_cards["EXPTIME"])
    wave = wavelengths(nx)
    sens = _sensitivity(wave)
    net = ext["net"] / t_tot
    cols = [
        fits.Column("SPORDER", "I", array=[1]),
        fits.Column("NELEM", "I", array=[nx]),
        fits.Column("WAVELENGTH", f"{nx}D", array=[wave], unit="Angstroms"),
        fits.Column("GROSS", f"{nx}E", array=[ext["gross"] / t_tot], unit="Counts/s"),
        fits.Column("BACKGROUND", f"{nx}E", array=[ext["background"] / t_tot], unit="Counts/s"),
        fits.Column("NET", f"{nx}E", array=[net], unit="Counts/s"),
        fits.Column("FLUX", f"{nx}E", array=[net * sens], unit="erg/s/cm**2/Angstrom"),
        fits.Column("ERROR", f"{nx}E", array=[ext["net_error"] / t_tot * sens], unit="erg/s/cm**2/Angstrom"),
        fits.Column("NET_ERROR", f"{nx}E", array=[ext["net_error"] / t_tot], unit="Counts/s"),
        fits.Column("DQ", f"{nx}I", array=[ext["dq"]]),
        fits.Column("A2CENTER", "E", array=[trace[nx // 2] + 1]),
        fits.Column("EXTRSIZE", "E", array=[EXTRSIZE]),
        fits.Column("MAXSRCH", "I", array=[0]),
        fits.Column("BK1SIZE", "E", array=[BKSIZE]),
        fits.Column("BK2SIZE", "E", array=[BKSIZE]),
        fits.Column("BK1OFFST", "E", array=[-bkoff]),
        fits.Column("BK2OFFST", "E", array=[bkoff]),
        fits.Column("EXTRLOCY", f"{nx}E", array=[trace + 1.0], unit="pixel"),
        fits.Column("OFFSET", "E", array=[0.0]),
    ]
    table = fits.BinTableHDU.from_columns(cols, name="SCI")
    table.header["EXPTIME"] = t_tot
    return write_hdul_atomic(fits.HDUList([fits.PrimaryHDU(header=primary), table]), path)


def lamp_raw(rng: np.random.Generator, geometry: Geometry, bias: float, noise_dn: float) -> np.ndarray:
    """A raw wavecal (uint16, overscan included): emission lines along the slit."""
    ny_raw, nx_raw = geometry.raw_shape
    lamp = np.zeros((ny_raw, nx_raw))
    illuminated = geometry.trim(lamp)
    for col in rng.choice(geometry.shape[1], 12, replace=False):
        illuminated[:, col] += rng.uniform(200.0, 2000.0)
    lamp += bias + rng.normal(0, noise_dn, lamp.shape)
    return np.round(lamp).astype(np.uint16)
