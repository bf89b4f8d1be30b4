"""The synthetic CCD image: a field of stars and galaxies seen through the clear 50CCD aperture.

The same readout, hot pixels, cosmic rays and calibration as the spectrum
(:mod:`stisdarks.synthetic.science`), with an imaging scene instead of a spectral trace
and the headers of a STIS CCD imaging observation (``OBSTYPE = IMAGING``, ``OPT_ELEM =
MIRVIS``, ``APERTURE = 50CCD``, a celestial WCS). Only the steps that make the ``_flt`` and
``_crj`` are PERFORM: PHOTCORR (photometric keywords, needs IMPHTTAB/APERTAB) and GEOCORR
(the geometrically corrected ``_sx2``, needs IDCTAB/SDSTFILE) are OMIT, as is every
spectroscopic step, so ``cs0.e`` makes exactly ``_flt`` and ``_crj`` of the ``_raw``.

The scene is fixed in fractions of the archive's rows and columns (not drawn from the
archive's random numbers), so every readout — a subarray, a binned full frame — sees the
same field in its own pixels: seven stars with a pixel-integrated STIS-like PSF (a
Gaussian core of σ = 0.8 pixel holding 80 % of the light and a σ = 2.5 pixel halo), two
exponential-disk galaxies and a uniform sky.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import erf

from stisdarks.synthetic.geometry import CCD_NPIX, Geometry

__all__ = [
    "PERFORMED",
    "OPT_ELEM",
    "APERTURE",
    "SKY_RATE",
    "PLATE_SCALE",
    "Star",
    "Galaxy",
    "STARS",
    "GALAXIES",
    "source_image",
    "primary_keywords",
    "wcs_cards",
]

#: calstis steps the image's raw asks for (everything else OMIT: no _sx2, no photometry)
PERFORMED = (
    "DQICORR", "BLEVCORR", "BIASCORR", "CRCORR", "EXPSCORR", "DARKCORR", "FLATCORR",
)  # fmt: skip
OPT_ELEM = "MIRVIS"
APERTURE = "50CCD"
SKY_RATE = 0.15  # e-/s per pixel through the clear aperture
PLATE_SCALE = 0.05078  # arcsec per unbinned pixel
PSF_CORE, PSF_HALO, HALO_FRACTION = 0.8, 2.5, 0.2  # sigma (pixels), halo share of the light
RA_TARG, DEC_TARG = 150.1, 2.21


@dataclass(frozen=True)
class Star:
    """A point source at a fraction ``(fy, fx)`` of the archive's rows and columns."""

    fy: float
    fx: float
    flux: float  # e-/s, all the light


@dataclass(frozen=True)
class Galaxy:
    """An exponential disk: ``I0 · exp(−r/h)``, ``r`` elliptical (axis ratio ``q``, angle ``theta``)."""

    fy: float
    fx: float
    peak: float  # e-/s per pixel at the centre
    scale: float  # h, pixels
    q: float
    theta: float  # radians from the columns' axis


#: the field; the brightest star peaks near 2.4·10⁴ e⁻ in 900 s (below SATURATE at gain 1)
STARS = (
    Star(0.50, 0.09, 150.0), Star(0.36, 0.21, 80.0), Star(0.63, 0.33, 40.0),
    Star(0.44, 0.47, 20.0), Star(0.57, 0.61, 10.0), Star(0.31, 0.78, 60.0),
    Star(0.68, 0.93, 5.0),
)  # fmt: skip
GALAXIES = (Galaxy(0.55, 0.70, 0.8, 5.0, 0.6, 0.5), Galaxy(0.40, 0.86, 1.5, 3.0, 0.8, -0.3))


def _pixel_profile(centre: float, n: int, sigma: float) -> tuple[slice, np.ndarray]:
    """A unit Gaussian integrated over the pixels ``centre ± 6σ`` of an ``n``-pixel axis."""
    lo = max(0, int(np.floor(centre - 6 * sigma)))
    hi = min(n, int(np.ceil(centre + 6 * sigma)) + 1)
    edges = np.arange(lo, hi + 1) - 0.5  # pixel k covers [k − 0.5, k + 0.5]
    cdf = 0.5 * (1 + erf((edges - centre) / (np.sqrt(2.0) * sigma)))
    return slice(lo, hi), np.diff(cdf)


def _add_star(image: np.ndarray, y0: float, x0: float, flux: float) -> None:
    ny, nx = image.shape
    for sigma, share in ((PSF_CORE, 1 - HALO_FRACTION), (PSF_HALO, HALO_FRACTION)):
        ys, py = _pixel_profile(y0, ny, sigma)
        xs, px = _pixel_profile(x0, nx, sigma)
        image[ys, xs] += flux * share * np.outer(py, px)


def _add_galaxy(image: np.ndarray, g: Galaxy, y0: float, x0: float) -> None:
    ny, nx = image.shape
    half = int(np.ceil(10 * g.scale))
    ys = slice(max(0, int(y0) - half), min(ny, int(y0) + half + 1))
    xs = slice(max(0, int(x0) - half), min(nx, int(x0) + half + 1))
    yy, xx = np.mgrid[ys, xs]
    c, s = np.cos(g.theta), np.sin(g.theta)
    u = (xx - x0) * c + (yy - y0) * s
    v = (-(xx - x0) * s + (yy - y0) * c) / g.q
    image[ys, xs] += g.peak * np.exp(-np.hypot(u, v) / g.scale)


def source_image(shape: tuple[int, int]) -> np.ndarray:
    """Count rate (e⁻/s per unbinned pixel) of the field on an image of ``shape``: stars, galaxies, sky."""
    ny, nx = shape
    image = np.full(shape, SKY_RATE, dtype=np.float64)
    for star in STARS:
        _add_star(image, star.fy * (ny - 1) + 0.23, star.fx * (nx - 1) - 0.31, star.flux)
    for galaxy in GALAXIES:
        _add_galaxy(image, galaxy, galaxy.fy * (ny - 1), galaxy.fx * (nx - 1))
    return image


def wcs_cards(geometry: Geometry, *, raw: bool = False) -> dict[str, object]:
    """A celestial WCS for an image extension: tangent plane, north up, the detector centre at the target.

    ``CRPIX`` follows the image's ``LTV``/``LTM`` (image = LTM · detector + LTV), so the raw
    (overscan included) and the calibrated image differ by the trimmed overscan, as
    calstis' BLEVCORR shifts them; the ``CD`` matrix is scaled by the binning.
    """
    ltv = geometry.raw_ltv if raw else geometry.ltv
    centre = CCD_NPIX / 2 + 0.5  # detector pixel (1-indexed) at the target
    scale = PLATE_SCALE / 3600.0
    return {
        "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN",
        "CRPIX1": geometry.ltm[0] * centre + ltv[0], "CRPIX2": geometry.ltm[1] * centre + ltv[1],
        "CRVAL1": RA_TARG, "CRVAL2": DEC_TARG,
        "CD1_1": -scale * geometry.bin[0], "CD1_2": 0.0, "CD2_1": 0.0, "CD2_2": scale * geometry.bin[1],
    }  # fmt: skip


def primary_keywords() -> dict[str, object]:
    """Primary-header keywords of a STIS CCD clear-aperture image (the readout's are the caller's)."""
    return {
        "OBSTYPE": "IMAGING", "OBSMODE": "ACCUM", "TARGNAME": "SYNTH-FIELD", "RA_TARG": RA_TARG,
        "DEC_TARG": DEC_TARG, "OPT_ELEM": OPT_ELEM, "APERTURE": APERTURE, "PROPAPER": APERTURE,
        "APER_FOV": "50x50", "FILTER": "Clear",
    }  # fmt: skip
