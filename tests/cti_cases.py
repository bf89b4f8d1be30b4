"""Deterministic STIS CCD ``_flt`` files for the CTI correction's fixtures (tests/data/cti).

Each case is a file that stis_cti 1.6.2 corrected once (``tests/data/cti/make_fixtures.py``,
where stis_cti is installed); what it wrote is recorded as hashes of its data units and its
primary keywords (``stis_cti_1.6.2.json``). ``tests/test_cti_fixtures.py`` builds the same
inputs, corrects them natively and compares, so the default install (no stis_cti, no C
compiler) still checks the native correction against stis_cti's own output. The inputs are
built from seeded NumPy generators and their hashes are recorded too: a change of input
(another NumPy drawing other numbers) is told apart from a change of the correction.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from astropy.io import fits

from stisdarks.cti import default_pctetab

#: name -> (rows, image sets, ATODGAIN, CCDGAIN, seed); full width (1024 columns) each
CASES = {
    # a full-frame dark: background, read noise, hot pixels, cosmic rays, negative pixels
    "dark_gain1_full_frame": (1024, 1, 1.0, 1, 1),
    # a CR-split science exposure at gain 4: two image sets of a 256-row strip
    "crsplit_gain4": (256, 2, 4.016, 4, 2),
}
TEXPSTRT = 59339.5  # 2021-05-05, the demo's date


def dark_electrons(rows: int, seed: int) -> np.ndarray:
    """Electrons of a 1100 s dark: Poisson background, 4.5 e- read noise, hot pixels of
    1e2-1e4 e-, cosmic rays to 5e4 e-, some negative pixels."""
    rng = np.random.default_rng(seed)
    cols = 1024
    image = rng.poisson(8.0, (rows, cols)) + rng.normal(0.0, 4.5, (rows, cols))
    n = rows * cols // 300
    image[rng.integers(0, rows, n), rng.integers(0, cols, n)] += rng.uniform(100, 1e4, n)
    for _ in range(n // 5):
        r, c = rng.integers(0, rows), rng.integers(0, cols - 3)
        image[r, c : c + 3] += rng.uniform(1e3, 5e4, 3)
    image[rng.integers(0, rows, n), rng.integers(0, cols, n)] -= rng.uniform(5, 25, n)
    return image


def write_case(name: str, path: Path) -> Path:
    """Write case ``name``'s input ``_flt`` (PCTETAB: the shipped table, by absolute path)."""
    rows, nimsets, atodgain, ccdgain, seed = CASES[name]
    primary = fits.PrimaryHDU()
    h = primary.header
    for key, value in dict(
        TELESCOP="HST", INSTRUME="STIS", DETECTOR="CCD", ROOTNAME=path.name[:9].upper(),
        OBSMODE="ACCUM", CCDAMP="D", CCDGAIN=ccdgain, CCDOFFST=3, SUBARRAY=False,
        BINAXIS1=1, BINAXIS2=1, ATODGAIN=atodgain, NEXTEND=3 * nimsets, TEXPSTRT=TEXPSTRT,
        PCTETAB=str(default_pctetab()), CTECORR="OMIT",
    ).items():  # fmt: skip
        h[key] = value
    hdus = [primary]
    for n in range(1, nimsets + 1):
        sci = (dark_electrons(rows, seed * 100 + n) / atodgain).astype(np.float32)
        err = (np.sqrt(np.abs(sci) * atodgain + 4.5**2) / atodgain).astype(np.float32)
        dq = np.zeros(sci.shape, np.int16)
        hdus += [
            fits.ImageHDU(sci, name="SCI", ver=n),
            fits.ImageHDU(err, name="ERR", ver=n),
            fits.ImageHDU(dq, name="DQ", ver=n),
        ]
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path


def unit_hashes(path: Path) -> dict[str, str]:
    """``{"SCI,1": sha256 of its data bytes, ...}`` of every image extension."""
    with fits.open(path) as hdul:
        return {
            f"{h.name},{h.ver}": hashlib.sha256(np.ascontiguousarray(h.data).tobytes()).hexdigest()
            for h in hdul[1:]
        }


#: the primary keywords stis_cti's YCte sets (their values are recorded)
YCTE_KEYWORDS = (
    "PCTECORR", "PCTEFRAC", "PCTERNCL", "PCTENSMD", "PCTETRSH", "PCTESMIT", "PCTESHFT",
    "CTE_NAME", "CTE_VER", "PCTE_VER", "ATODGAIN",
)  # fmt: skip


def keywords(path: Path) -> dict[str, object]:
    header = fits.getheader(path, 0)
    return {k: header[k] for k in YCTE_KEYWORDS}
