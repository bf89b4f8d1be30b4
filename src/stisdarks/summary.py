"""``summary.json``: what was used and what changed.

- the darks used (anneal period and week);
- hot pixels (dark current above a threshold, 0.1 e⁻/s by default) in the basedark,
  the weekdark and the pipeline dark;
- hot pixels left in the science ``_crj`` extraction region before (pipeline) and after
  (recalibrated): pixels inside the pipeline ``_sx1`` extraction box that stand more
  than ``k = 5`` sigmas above the median of the 7 pixels around them along their row
  (the dispersion direction, along which the spectrum is smooth, unlike across the
  narrow trace), sigma being the recalibrated ``_crj``'s own ERR (read noise and the
  Poisson noise of source and sky), or the robust scatter where ERR is 0;
- for an image (no ``_sx1``), hot pixels left in the whole ``_crj`` before and after,
  told from stars and galaxies by their sharpness (:func:`image_hot_pixels`);
- the median and RMS change of the spectrum;
- the engine that built the basedark and weekdark and the calibrator that made the
  recalibrated products, as recorded in their headers (``SDENGINE``, ``SDCALIB``) when
  they were built, not as the configuration would resolve them now.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from stisdarks import defaults
from stisdarks.cti.common import cti_corrected
from stisdarks.engines.common import ENGINE_KEYWORD
from stisdarks.extraction import box_weights, trace_rows
from stisdarks.fitsio import atomic_path, ext_data

__all__ = [
    "hot_pixel_count",
    "row_median",
    "residual_hot_pixels",
    "image_hot_pixels",
    "image_noise",
    "IMAGE_DEFINITION",
    "spectrum_change",
    "build_summary",
    "write_summary",
    "recorded",
]


def _sci(path: os.PathLike) -> np.ndarray:
    with fits.open(path) as hdul:
        return ext_data(hdul["SCI", 1], np.float32)


def hot_pixel_count(dark_sci: np.ndarray, threshold: float = defaults.HOT_PIXEL_THRESHOLD) -> int:
    """Pixels whose dark current exceeds ``threshold`` (e⁻/s)."""
    return int(np.count_nonzero(np.asarray(dark_sci) > threshold))


def extraction_region(shape: tuple[int, int], sx1: os.PathLike) -> np.ndarray:
    """Boolean mask of the pipeline ``_sx1``'s source box on the detector."""
    with fits.open(sx1) as hdul:
        row = hdul[1].data[0]
        return box_weights(shape[0], trace_rows(row["EXTRLOCY"]), float(row["EXTRSIZE"])) > 0


def residual_hot_pixels(
    crj_sci: np.ndarray, region: np.ndarray, k: float = 5.0, noise: float | None = None
) -> int:
    """Isolated positive outliers (> ``k`` σ above their 1×7 row median) inside ``region``.

    ``noise`` defaults to the robust scatter (1.4826 MAD) of the residual over the region.
    Pass the same ``noise`` for the before and after images to compare them fairly.
    """
    rows, resid = _row_residual(crj_sci, region)
    if noise is None:
        noise = _robust(resid[region[rows]])
    elif np.ndim(noise):
        noise = np.asarray(noise)[rows]
    return int(np.count_nonzero(region[rows] & (resid > k * noise)))


def _row_residual(crj_sci: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows that ``region`` touches, and the image minus its 1×7 row median on them.

    A row's median filter needs only that row, so the (few) rows of the extraction box
    are filtered, not the whole image.
    """
    rows = np.flatnonzero(np.any(region, axis=1))
    data = crj_sci[rows].astype(np.float64)
    return rows, data - row_median(data)


def _robust(vals: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(vals - np.median(vals)))) or 1.0


def row_median(data: np.ndarray, width: int = 7) -> np.ndarray:
    """Median of each pixel's ``width`` neighbours along its row, the row's ends mirrored.

    The same numbers as ``scipy.ndimage.median_filter(data, size=(1, width))`` (mode
    ``reflect``), without importing scipy in the summary job.
    """
    half = width // 2
    padded = np.pad(data, ((0, 0), (half, half)), mode="symmetric")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, width, axis=1), axis=-1)


def robust_noise(crj_sci: np.ndarray, region: np.ndarray) -> float:
    """1.4826 × MAD of the residual from a 1×7 row median, over ``region``."""
    rows, resid = _row_residual(crj_sci, region)
    return _robust(resid[region[rows]])


#: the 8 pixels around a pixel, and the 16 of the border of its 5 x 5 box
_NEIGHBOURS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))
_RING = tuple((dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if max(abs(dy), abs(dx)) == 2)
#: ``summary.json``'s words for :func:`image_hot_pixels`
IMAGE_DEFINITION = (
    "pixels that are the maximum of their 3x3 neighbourhood, stand more than 5 sigma above the median "
    "of the 16 pixels around that neighbourhood (the border of the 5x5 box; sigma: the recalibrated "
    "_crj ERR), and are sharper than a star: their 8 neighbours together exceed that median by less "
    "than the pixel itself does (or by less than 3 sigma x sqrt(8), their own noise); the 2 pixels "
    "along each edge are not examined"
)


def image_hot_pixels(sci: np.ndarray, noise: np.ndarray | float, k: float = 5.0) -> np.ndarray:
    """Residual hot pixels of a calibrated image: sharp single-pixel peaks, not stars (boolean mask).

    A pixel counts when all of these hold:

    1. it is the maximum of its 3 × 3 neighbourhood (a peak);
    2. its excess ``e`` over the local background ``b`` — the median of the 16 pixels of the
       border of its 5 × 5 box, which a single hot pixel does not reach — exceeds ``k`` σ,
       σ being ``noise`` at the pixel;
    3. it is sharper than the PSF allows: the summed excess of its 8 neighbours over ``b``
       is below ``max(e, 3 σ √8)``.

    Why the third test tells hot pixels from sources: dark current collects in one pixel, so a
    hot pixel's neighbours hold only noise (their sum scatters by σ √8 around 0, and the
    bound 3 σ √8 keeps a faint hot pixel whatever its neighbours' noise), whereas a point
    source seen through the STIS CCD (PSF FWHM ≈ 2 pixels) puts more light into the 8 pixels
    around its peak than into the peak: about three times as much for a Gaussian of σ = 0.8
    pixel integrated over the pixels (more when it is centred off the pixel's centre), still
    more than the peak for any PSF wider than σ ≈ 0.5 pixel, and a galaxy's smooth profile
    more still. So a star or a galaxy's centre fails ``sum < e`` however bright, and one
    faint enough to pass ``sum < 3 σ √8`` has a peak below ``k`` σ. A cosmic ray left in
    the ``_crj`` (one that hit the same pixel in every image set), a single-pixel event like
    a hot pixel, counts alike in the pipeline and the recalibrated image. A hot pixel
    touching another (or a star) may be missed; the 2 pixels along the edges are not
    examined (their 5 × 5 box leaves the image).

    Parameters
    ----------
    sci : ndarray
        The image (DN).
    noise : ndarray or float
        σ per pixel (DN) or one value: pass the same for the images to compare.
    k : float
        Threshold in σ.
    """
    data = np.asarray(sci, dtype=np.float64)
    ny, nx = data.shape
    mask = np.zeros(data.shape, dtype=bool)
    if ny < 5 or nx < 5:
        return mask

    def shifted(dy: int, dx: int) -> np.ndarray:
        return data[2 + dy : ny - 2 + dy, 2 + dx : nx - 2 + dx]

    centre = shifted(0, 0)
    peak = np.ones(centre.shape, dtype=bool)
    for dy, dx in _NEIGHBOURS:
        peak &= centre >= shifted(dy, dx)
    ys, xs = np.nonzero(peak)  # about a ninth of the pixels: the tests below run on those
    background = np.median(np.stack([shifted(dy, dx)[ys, xs] for dy, dx in _RING]), axis=0)
    excess = centre[ys, xs] - background
    sigma = np.broadcast_to(np.asarray(noise, dtype=np.float64), data.shape)[2:-2, 2:-2][ys, xs]
    around = sum(shifted(dy, dx)[ys, xs] for dy, dx in _NEIGHBOURS) - 8 * background
    hot = (excess > k * sigma) & (around < np.maximum(excess, 3.0 * np.sqrt(8.0) * sigma))
    mask[ys[hot] + 2, xs[hot] + 2] = True
    return mask


def image_noise(err: np.ndarray, sci: np.ndarray) -> np.ndarray:
    """σ per pixel for :func:`image_hot_pixels`: ``err`` (a ``_crj``'s ERR), or where it is 0
    the image's robust scatter (1.4826 MAD of the differences of neighbours along rows, / √2)."""
    err = np.asarray(err, dtype=np.float64)
    if np.all(err > 0):
        return err
    diff = np.diff(np.asarray(sci, dtype=np.float64), axis=1).ravel()
    return np.where(err > 0, err, _robust(diff) / np.sqrt(2.0))


def spectrum_change(pipeline_sx1: os.PathLike, recal_sx1: os.PathLike) -> dict[str, Any]:
    """Median and RMS of (pipeline − recalibrated) FLUX and NET."""
    with fits.open(pipeline_sx1) as h1, fits.open(recal_sx1) as h2:
        r1, r2 = h1[1].data[0], h2[1].data[0]
        out: dict[str, Any] = {}
        for col in ("FLUX", "NET"):
            d = np.asarray(r1[col], float) - np.asarray(r2[col], float)
            out[f"median_{col.lower()}"] = float(np.nanmedian(d))
            out[f"rms_{col.lower()}"] = float(np.sqrt(np.nanmean(d**2)))
            out[f"max_abs_{col.lower()}"] = float(np.nanmax(np.abs(d)))
        out["units"] = {
            "flux": h1[1].columns["FLUX"].unit or "erg/s/cm**2/Angstrom",
            "net": h1[1].columns["NET"].unit or "counts/s",
        }
        out["definition"] = "pipeline minus recalibrated, over all columns"
    return out


#: primary keyword of the recalibrated products naming the calibrator that made them
#: (written by ``stages.recalibrate``); ``ENGINE_KEYWORD`` is the darks' (``engines``)
CALIBRATOR_KEYWORD = "SDCALIB"
UNKNOWN = "unknown (not recorded: built by an older stisdarks)"


def recorded(path: os.PathLike, keyword: str) -> str:
    """The value of ``keyword`` in the primary header of ``path`` (:data:`UNKNOWN` if absent)."""
    value = str(fits.getheader(path, 0).get(keyword, "")).strip()  # getval has no default
    return value or UNKNOWN


def _one_or_each(values: dict[str, str]) -> str:
    """``"native"`` when every product agrees, else ``"basedark: refstis; weekdark: native"``."""
    distinct = set(values.values())
    if len(distinct) == 1:
        return distinct.pop()
    return "; ".join(f"{k}: {v}" for k, v in values.items())


def _rootnames(csv_path: os.PathLike) -> list[str]:
    with open(csv_path, newline="") as fh:
        return [row["rootname"] for row in csv.DictReader(fh)]


def build_summary(
    *,
    science: os.PathLike,
    period: os.PathLike,
    darks_used: os.PathLike,
    week: os.PathLike,
    basedark: os.PathLike,
    weekdark: os.PathLike,
    references: os.PathLike,
    pipeline_crj: os.PathLike,
    recal_crj: os.PathLike,
    pipeline_sx1: os.PathLike | None = None,
    recal_sx1: os.PathLike | None = None,
    pipeline_flt: os.PathLike | None = None,
    threshold: float = defaults.HOT_PIXEL_THRESHOLD,
    archive_root: os.PathLike | None = None,
) -> dict[str, Any]:
    """Assemble ``summary.json`` from the workflow's artifacts.

    A spectrum (``pipeline_sx1`` and ``recal_sx1`` given) gets ``kind: "spectrum"``, the
    hot pixels of its extraction region (``science_extraction_region``) and the change of
    its spectrum (``spectrum_change``); an image (neither given) gets ``kind: "image"`` and
    the hot pixels of the whole ``_crj`` (``science_image``, :func:`image_hot_pixels`).
    With ``pipeline_flt``, ``cosmic_rays`` holds STScI's cosmic-ray monitor verdict on the
    pipeline's CR rejection (:func:`stisdarks.cosmic_rays.cosmic_ray_verdict`: flags inside
    and outside the extraction box; "not applicable" for an image). With ``archive_root``,
    a synthetic archive that keeps the truth of the observation, ``cti.truth`` measures the
    pipeline's and the recalibrated products against it (:mod:`stisdarks.truth`: the
    spectrum against the injected one, the hot pixels' trails); None otherwise.
    """
    if (pipeline_sx1 is None) != (recal_sx1 is None):
        raise ValueError("give both pipeline_sx1 and recal_sx1 (a spectrum) or neither (an image)")
    facts = json.loads(Path(science).read_text())
    per = json.loads(Path(period).read_text())
    refs = json.loads(Path(references).read_text())
    base_names, week_names = _rootnames(darks_used), _rootnames(week)
    old, new = _sci(pipeline_crj), _sci(recal_crj)
    with fits.open(recal_crj) as hdul:
        err = ext_data(hdul["ERR", 1], np.float32).astype(np.float64)
    if pipeline_sx1 is not None and recal_sx1 is not None:
        kind = "spectrum"
        region = extraction_region(old.shape, pipeline_sx1)
        noise = np.where(err > 0, err, robust_noise(new, region))
        before = residual_hot_pixels(old, region, noise=noise)
        after = residual_hot_pixels(new, region, noise=noise)
        science_part: dict[str, Any] = {
            "science_extraction_region": {
                "pixels": int(np.count_nonzero(region)),
                "hot_pixels_pipeline": before,
                "hot_pixels_recalibrated": after,
                "removed": before - after,
                "definition": "pixels in the _sx1 extraction box more than 5 sigma above the median of the 7 "
                "pixels along their row (sigma: the recalibrated _crj ERR)",
            },
            "spectrum_change": spectrum_change(pipeline_sx1, recal_sx1),
        }
    else:
        kind = "image"
        noise = image_noise(err, new)
        before = int(np.count_nonzero(image_hot_pixels(old, noise)))
        after = int(np.count_nonzero(image_hot_pixels(new, noise)))
        ny, nx = old.shape
        science_part = {
            "science_image": {
                "pixels": max(ny - 4, 0) * max(nx - 4, 0),
                "hot_pixels_pipeline": before,
                "hot_pixels_recalibrated": after,
                "removed": before - after,
                "definition": IMAGE_DEFINITION,
            }
        }
    if pipeline_flt is not None:
        from stisdarks.cosmic_rays import cosmic_ray_verdict

        science_part["cosmic_rays"] = cosmic_ray_verdict(pipeline_flt, pipeline_sx1)
    with fits.open(weekdark) as hw:
        taskname = hw[0].header.get("TASKNAME", "")
        dark_cti = cti_corrected(hw[0].header)
    science_cti = cti_corrected(fits.getheader(recal_crj, 0))
    engines = {
        name: recorded(path, ENGINE_KEYWORD)
        for name, path in (("basedark", basedark), ("weekdark", weekdark))
    }
    return {
        "obs_id": facts["obs_id"],
        "kind": kind,
        "observation_start": facts["start_iso"],
        "period": {k: per[k] for k in ("start", "end", "source")},
        "darks": {
            "period": {"n": len(base_names), "rootnames": base_names},
            "week": {"n": len(week_names), "rootnames": week_names},
        },
        "hot_pixels": {
            "threshold_e_per_s": threshold,
            "basedark": hot_pixel_count(_sci(basedark), threshold),
            "weekdark": hot_pixel_count(_sci(weekdark), threshold),
            "pipeline_dark": hot_pixel_count(_sci(refs["pipeline_dark"]), threshold),
            "pipeline_dark_file": refs["pipeline_darkfile"],
        },
        **science_part,
        "engine": _one_or_each(engines),
        "calibrator": recorded(recal_crj, CALIBRATOR_KEYWORD),
        "cti": {
            # CTI-corrected by stis_cti: the darks (basedark, weekdark) and the recalibration
            "darks": dark_cti,
            "science": science_cti,
            # why stis_cti cannot serve this observation (None: it can)
            "refusal": facts.get("cti_refusal"),
            # the products against the synthetic archive's truth (None: real data)
            "truth": _against_truth(
                archive_root,
                facts["obs_id"],
                pipeline_crj=pipeline_crj,
                recal_crj=recal_crj,
                pipeline_sx1=pipeline_sx1,
                recal_sx1=recal_sx1,
                pipeline_dark=refs["pipeline_dark"],
                weekdark=weekdark,
            ),
        },
        "weekdark_taskname": taskname,
    }


def _against_truth(archive_root: os.PathLike | None, obs_id: str, **products) -> dict | None:
    """:func:`stisdarks.truth.measure_against_truth` where the archive keeps a truth."""
    from stisdarks.truth import measure_against_truth, truth_files

    found = truth_files(archive_root, obs_id) if archive_root else None
    return measure_against_truth(*found, **products) if found else None


def write_summary(path: os.PathLike, data: dict[str, Any]) -> Path:
    """Write ``summary.json`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
    return Path(path)
