"""Products measured against the synthetic archive's truth: the spectrum and the trails.

The synthetic archive knows what its detector saw (``truth/<obs>_truth.fits``: the
source's count rate, the charge before the readout, the injected spectrum; ``truth.json``:
the hot pixels with their rates and onsets). Two measures tell how close a product comes
to it, and so what the CTI correction does:

- **the spectrum** (:func:`spectrum_vs_truth`): the ``_sx1`` ``NET`` (× ``ATODGAIN``:
  electrons per second) against the source's injected count rate, column by column; the
  median of ``(net - truth) / truth`` is the flux lost (negative) or gained. The charge
  traps take a few percent of a faint trace's charge; the CTI correction gives it back.
- **the trails of the darks** (:func:`trail_profile`): at each bright, isolated hot pixel,
  the dark's value in the rows around it over the hot pixel's true rate, averaged over
  the hot pixels: ``peak`` (the hot pixel keeps that fraction of its charge) and ``trail``
  (the fraction found in the :data:`TRAIL_ROWS` rows read after it). The pipeline's dark,
  made of darks as they come, is trailed; a weekdark of CTI-corrected darks is not.
- **the trails left in the science** (:func:`trail_excess`): at the same hot pixels, the
  charge in the rows read after each minus that in the rows read before it, in electrons,
  in the dark-subtracted ``_crj``: what the dark's trails failed to cancel (the science's
  sky fills traps, so its trails are shorter than the dark's).

Both need the product to share the archive's pixels (unbinned, the archive's rows);
otherwise they say why they measured nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from stisdarks.fitsio import ext_data

__all__ = [
    "TRAIL_ROWS",
    "truth_files",
    "spectrum_vs_truth",
    "period_truth",
    "bright_hot_pixels",
    "trail_profile",
    "trail_excess",
    "measure_against_truth",
]

#: rows of a trail (and of the background before it) that :func:`trail_excess` sums
TRAIL_ROWS = 10
#: hot pixels brighter than this (e⁻/s) have trails worth measuring
BRIGHT_RATE = 1.0
#: keep this many rows between a measured hot pixel and the spectrum's trace
TRACE_CLEARANCE = 15
#: rows before and after a hot pixel that :func:`trail_profile` returns
PROFILE_ROWS = (5, 15)
#: no other hot pixel within this many rows of a measured one, nor the image's edge
ISOLATION = PROFILE_ROWS[1] + 2


def truth_files(archive_root: os.PathLike, obs_id: str) -> tuple[Path, Path] | None:
    """``(truth/<obs>_truth.fits, truth.json)`` of a synthetic archive, or None if absent."""
    root = Path(archive_root)
    pair = (root / "truth" / f"{obs_id}_truth.fits", root / "truth.json")
    return pair if all(p.is_file() for p in pair) else None


def period_truth(facts: dict[str, Any], mjd: float) -> tuple[list[dict], float]:
    """The hot pixels of the anneal period holding ``mjd``, and its pipeline dark's date.

    ``facts`` is the archive's ``truth.json``: the first period's at its top level, a second
    period's (an anneal cured the first's hot pixels) under ``second_period``.
    """
    second = facts.get("second_period") or {}
    if "hot_pixels" in second and second["start_mjd"] <= mjd < second["end_mjd"]:
        return second["hot_pixels"], float(second["pipeline_dark_mjd"])
    return facts["hot_pixels"], float(facts.get("pipeline_dark_mjd", mjd))


def _readout_step(header: fits.Header) -> int:
    """+1 when the rows read after a pixel are above it (amplifiers A, B), -1 (C, D) below.

    A reference dark says ``CCDAMP = ANY``: STScI's are made of amplifier-D darks.
    """
    from stisdarks.cti.trapmodel import readout_direction

    amp = str(header.get("CCDAMP", "D")).strip().upper()
    return readout_direction(amp if amp in ("A", "B", "C", "D") else "D")


def spectrum_vs_truth(sx1: os.PathLike, truth_fits: os.PathLike) -> dict[str, Any]:
    """An ``_sx1``'s ``NET`` against the injected spectrum, column by column.

    Returns
    -------
    dict
        ``median_relative`` (median of ``(net - truth) / truth``, over the columns with
        ``DQ == 0``), ``median_abs_relative``, ``columns`` (how many), or ``None`` values
        and a ``reason`` when the spectrum is binned or the archive kept no spectrum.
    """
    with fits.open(truth_fits) as hdul:
        if "SPECTRUM" not in hdul:
            return {"median_relative": None, "reason": "the truth has no spectrum (an image)"}
        truth = np.asarray(hdul["SPECTRUM"].data["NET"], float)
    with fits.open(sx1) as hdul:
        gain = float(hdul[0].header.get("ATODGAIN", 1.0))
        row = hdul[1].data[0]
        net = np.asarray(row["NET"], float) * gain
        dq = np.asarray(row["DQ"])
    if net.size != truth.size:
        return {
            "median_relative": None,
            "reason": f"{net.size} columns extracted, {truth.size} in the truth (binned)",
        }
    good = (dq == 0) & (truth > 0) & np.isfinite(net)
    rel = (net[good] - truth[good]) / truth[good]
    return {
        "median_relative": float(np.median(rel)),
        "median_abs_relative": float(np.median(np.abs(rel))),
        "columns": int(good.sum()),
    }


def bright_hot_pixels(
    hot_pixels: list[dict], mjd: float, shape: tuple[int, int], trace: np.ndarray | None
) -> list[tuple[int, int, float]]:
    """``(y, x, rate)`` of the hot pixels worth measuring at ``mjd``.

    Born by ``mjd``, brighter than :data:`BRIGHT_RATE`, at least :data:`ISOLATION` rows
    from the image's edges, :data:`TRACE_CLEARANCE` rows from the trace (row per column,
    if given in these pixels: a binned spectrum's is not), and with no other hot pixel of the period (whenever born) within
    :data:`ISOLATION` rows of their column.
    """
    ny, nx = shape
    columns: dict[int, list[int]] = {}
    for h in hot_pixels:
        columns.setdefault(int(h["x"]), []).append(int(h["y"]))
    chosen = []
    for h in hot_pixels:
        y, x, rate = int(h["y"]), int(h["x"]), float(h["rate"])
        if h["onset_mjd"] > mjd or rate < BRIGHT_RATE:
            continue
        if not (ISOLATION <= y < ny - ISOLATION and 0 <= x < nx):
            continue
        if trace is not None and trace.size == nx and abs(y - trace[x]) < TRACE_CLEARANCE:
            continue
        if any(0 < abs(other - y) <= ISOLATION for other in columns[x]):
            continue
        chosen.append((y, x, rate))
    return chosen


def trail_profile(dark: os.PathLike, hot: list[tuple[int, int, float]]) -> dict[str, Any]:
    """A dark's mean profile along the columns of ``hot``, in units of each one's true rate.

    Parameters
    ----------
    dark : path-like
        A dark reference file (SCI in e⁻/s, the archive's pixels).
    hot : list of (y, x, rate)
        The hot pixels (:func:`bright_hot_pixels`), rate in e⁻/s.

    Returns
    -------
    dict
        ``offsets`` (rows read after the hot pixel: negative before it), ``profile`` (the
        mean of ``(dark - background) / rate`` at each offset; the background is the mean
        of the rows read 2 to 5 before), ``peak`` (offset 0), ``trail`` (the sum over
        offsets 1 to :data:`TRAIL_ROWS`) and ``hot_pixels``.
    """
    with fits.open(dark) as hdul:
        primary = hdul[0].header
        sci = ext_data(hdul["SCI", 1], np.float32).astype(float)
    step = _readout_step(primary)
    before, after = PROFILE_ROWS
    offsets = np.arange(-before, after + 1)
    ny = sci.shape[0]
    rows = []
    for y, x, rate in hot:
        at = y + step * offsets
        if at.min() < 0 or at.max() >= ny:
            continue
        column = sci[at, x]
        background = column[: before - 1].mean()  # offsets -5 .. -2
        rows.append((column - background) / rate)
    if not rows:
        return {"offsets": offsets.tolist(), "profile": None, "peak": None, "trail": None,
                "hot_pixels": 0}  # fmt: skip
    profile = np.mean(rows, axis=0)
    zero = before
    return {
        "offsets": offsets.tolist(),
        "profile": [round(float(v), 6) for v in profile],
        "peak": float(profile[zero]),
        "trail": float(profile[zero + 1 : zero + 1 + TRAIL_ROWS].sum()),
        "hot_pixels": len(rows),
    }


def trail_excess(
    crj: os.PathLike, hot: list[tuple[int, int, float]], *, rows: int = TRAIL_ROWS
) -> dict[str, Any]:
    """The charge in the ``rows`` rows read after each hot pixel, less the rows read before.

    Parameters
    ----------
    crj : path-like
        A ``_crj`` (or ``_crc``): SCI in counts over the whole exposure.
    hot : list of (y, x, rate)
        The hot pixels (:func:`bright_hot_pixels`), in the ``_crj``'s pixels.
    rows : int
        Rows summed on each side.

    Returns
    -------
    dict
        ``mean_e`` (the mean excess, electrons), ``fraction`` (its mean ratio to each hot
        pixel's charge, ``rate × EXPTIME``), ``hot_pixels`` (how many).
    """
    with fits.open(crj) as hdul:
        primary = hdul[0].header
        sci = ext_data(hdul["SCI", 1], np.float32).astype(float)
        exptime = float(hdul["SCI", 1].header.get("EXPTIME", primary.get("TEXPTIME", 0.0)))
    gain = float(primary.get("ATODGAIN", 1.0))
    step = _readout_step(primary)
    excess, fraction = [], []
    for y, x, rate in hot:
        after = sci[[y + step * k for k in range(1, rows + 1)], x].sum()
        before = sci[[y - step * k for k in range(2, rows + 2)], x].sum()
        excess.append((after - before) * gain)
        fraction.append(excess[-1] / (rate * exptime) if exptime > 0 else np.nan)
    if not excess:
        return {"mean_e": None, "fraction": None, "hot_pixels": 0}
    return {
        "mean_e": float(np.mean(excess)),
        "fraction": float(np.nanmean(fraction)),
        "hot_pixels": len(excess),
    }


def measure_against_truth(
    truth_fits: os.PathLike,
    truth_json: os.PathLike,
    *,
    pipeline_crj: os.PathLike,
    recal_crj: os.PathLike,
    pipeline_sx1: os.PathLike | None = None,
    recal_sx1: os.PathLike | None = None,
    pipeline_dark: os.PathLike | None = None,
    weekdark: os.PathLike | None = None,
) -> dict[str, Any]:
    """The pipeline's and the recalibrated products against the truth (``summary.json``).

    Returns ``{"spectrum": {"pipeline": ..., "recalibrated": ...}, "dark_trails":
    {"pipeline_dark": ..., "weekdark": ...}, "science_trails": {"pipeline": ...,
    "recalibrated": ...}, "definition": ...}``; ``spectrum`` is None for an image.
    """
    with fits.open(truth_fits) as hdul:
        shape = hdul["SOURCE"].data.shape
    with fits.open(recal_crj) as hdul:
        crj_shape = hdul["SCI", 1].data.shape
        mjd = float(hdul[0].header.get("TEXPSTRT", 0.0))
    trace = None
    if pipeline_sx1 is not None:
        from stisdarks.extraction import trace_rows

        with fits.open(pipeline_sx1) as hdul:
            trace = trace_rows(hdul[1].data[0]["EXTRLOCY"])
    out: dict[str, Any] = {"spectrum": None}
    if pipeline_sx1 is not None and recal_sx1 is not None:
        out["spectrum"] = {
            "pipeline": spectrum_vs_truth(pipeline_sx1, truth_fits),
            "recalibrated": spectrum_vs_truth(recal_sx1, truth_fits),
        }
    # the hot pixels present in the pipeline's dark already: in every dark compared
    hot_pixels, pipeline_dark_mjd = period_truth(json.loads(Path(truth_json).read_text()), mjd)
    hot = bright_hot_pixels(hot_pixels, min(mjd, pipeline_dark_mjd), shape, trace)
    out["dark_trails"] = {
        name: trail_profile(path, hot) if path is not None else None
        for name, path in (("pipeline_dark", pipeline_dark), ("weekdark", weekdark))
    }
    if crj_shape != shape:
        reason = f"the science's pixels {crj_shape} are not the archive's {shape}"
        out["science_trails"] = {"pipeline": None, "recalibrated": None, "reason": reason}
    else:
        out["science_trails"] = {
            "pipeline": trail_excess(pipeline_crj, hot),
            "recalibrated": trail_excess(recal_crj, hot),
        }
    out["definition"] = (
        "spectrum: median over columns of (NET x ATODGAIN - injected) / injected. "
        f"dark_trails: at each bright isolated hot pixel (> {BRIGHT_RATE} e-/s), the dark's "
        "profile along its column over the true rate, averaged: peak (the hot pixel) and trail "
        f"(the {TRAIL_ROWS} rows read after it). science_trails: electrons in the _crj's "
        f"{TRAIL_ROWS} rows read after each minus the {TRAIL_ROWS} rows read before, mean"
    )
    return out
