"""Comparison figures, one PNG each (matplotlib, Agg).

Images are shown with ``origin="lower"`` (detector rows upward), an asinh stretch
between percentiles, and labelled colour bars with units.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from astropy.io import fits  # noqa: E402
from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval  # noqa: E402
from matplotlib.colors import SymLogNorm, TwoSlopeNorm  # noqa: E402

from stisdarks.binning import fit_reference, readout_of  # noqa: E402
from stisdarks.extraction import box_weights, trace_rows  # noqa: E402
from stisdarks.fitsio import atomic_path, ext_data  # noqa: E402

__all__ = [
    "plot_dark",
    "plot_ratio",
    "plot_crj_comparison",
    "plot_image_comparison",
    "plot_spectra",
    "plot_truth",
    "choose_zoom",
]

log = logging.getLogger(__name__)


def _save(fig, path: os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return Path(path)


def _sci(path: os.PathLike) -> np.ndarray:
    with fits.open(path) as hdul:
        return ext_data(hdul["SCI", 1], np.float32)


def _name(path: os.PathLike) -> str:
    return Path(path).name


def plot_dark(path: os.PathLike, dark_fits: os.PathLike, title: str) -> Path:
    """A dark reference file (e⁻/s), asinh stretch, hot pixels counted in the title."""
    data = _sci(dark_fits)
    norm = ImageNormalize(data, interval=PercentileInterval(99.8), stretch=AsinhStretch(0.05))
    fig, ax = plt.subplots(figsize=(7, 6.2))
    im = ax.imshow(data, origin="lower", cmap="gray", norm=norm, interpolation="nearest")
    fig.colorbar(im, ax=ax, label="dark current (e⁻/s at 18 °C)")
    n_hot = int(np.count_nonzero(data > 0.1))
    ax.set_title(
        f"{title}\n{_name(dark_fits)} — {n_hot} pixels > 0.1 e⁻/s, median {np.median(data):.4f} e⁻/s"
    )
    ax.set_xlabel("column (pixel)")
    ax.set_ylabel("row (pixel)")
    return _save(fig, path)


def _science_readout(science: os.PathLike | None) -> tuple[fits.Header, tuple[int, int]] | None:
    """The SCI header and shape of the science's first image set (headers only), or None."""
    if science is None:
        return None
    header = fits.getheader(science, "SCI")
    return header, (int(header["NAXIS2"]), int(header["NAXIS1"]))


def _dark_in_science_pixels(dark: os.PathLike, readout) -> np.ndarray:
    """A dark's SCI as calstis applies it to the science (``readout``): cut and summed to it."""
    with fits.open(dark) as hdul:
        triple = tuple(ext_data(hdul[e, 1]) for e in ("SCI", "ERR", "DQ"))
        dark_header = hdul["SCI", 1].header
    if readout is None:
        return triple[0]
    header, shape = readout
    return fit_reference(triple, dark_header, header, shape, average=False, what=_name(dark))[0]


def _readout_label(readout) -> str:
    if readout is None:
        return ""
    b1, b2 = readout_of(*readout).bin
    return f" — in the science's pixels (binned {b1}x{b2})" if (b1, b2) != (1, 1) else ""


def plot_ratio(
    path: os.PathLike,
    weekdark: os.PathLike,
    pipeline_dark: os.PathLike,
    science: os.PathLike | None = None,
) -> Path:
    """Weekdark / pipeline dark on a diverging colour map centred on 1.

    Both darks are floored at five times the pipeline dark's median before dividing, so
    the noise of the dark-current floor shows as 1 (white) and hot pixels stand out:
    red where the weekdark is hotter (hot pixels the pipeline dark missed), blue where
    the pipeline dark was hotter (pixels that annealed or cooled). With ``science`` (a
    calibrated product), both darks are first cut and binned to its readout as calstis
    applies them, so a binned or subarray observation sees its own pixels.
    """
    readout = _science_readout(science)
    week = _dark_in_science_pixels(weekdark, readout)
    pipe = _dark_in_science_pixels(pipeline_dark, readout)
    floor = max(5.0 * float(np.median(pipe)), 1e-3)
    ratio = np.maximum(week, floor) / np.maximum(pipe, floor)
    vmax = max(2.0, float(np.percentile(ratio, 99.95)))
    fig, ax = plt.subplots(figsize=(7, 6.2))
    im = ax.imshow(
        ratio, origin="lower", cmap="RdBu_r", norm=TwoSlopeNorm(vcenter=1.0, vmin=0.0, vmax=vmax),
        interpolation="nearest",
    )  # fmt: skip
    fig.colorbar(im, ax=ax, label=f"ratio (both darks floored at {floor:.3f} e⁻/s)")
    new_hot = int(np.count_nonzero((week > 0.1) & (pipe <= 0.1)))
    cooled = int(np.count_nonzero((pipe > 0.1) & (week <= 0.1)))
    # a weekdark of CTI-corrected darks has back the charge the traps took from its hot
    # pixels, which the pipeline's dark (of trailed darks) lacks: not all of them are new
    cti = "\nCTI-corrected darks: charge back in hot pixels, no trails"
    ax.set_title(
        f"weekdark / pipeline dark ({_name(pipeline_dark)}){_readout_label(readout)}\n"
        f"{new_hot} pixels newly above 0.1 e⁻/s, {cooled} cooled"
        + (cti if _cti_corrected(weekdark) else "")
    )
    ax.set_xlabel("column (pixel)")
    ax.set_ylabel("row (pixel)")
    return _save(fig, path)


def _extraction_mask(shape, sx1: os.PathLike | None) -> np.ndarray:
    if sx1 is None:
        return np.ones(shape, dtype=bool)
    with fits.open(sx1) as hdul:
        row = hdul[1].data[0]
        return box_weights(shape[0], trace_rows(row["EXTRLOCY"]), float(row["EXTRSIZE"])) > 0


def _box_sum(image: np.ndarray, size: int) -> np.ndarray:
    """Sum over the ``size`` x ``size`` box around each pixel (edges mirrored), by cumulative sums."""
    half = size // 2
    padded = np.pad(image, half, mode="symmetric")
    c = np.pad(padded.cumsum(axis=0).cumsum(axis=1), ((1, 0), (1, 0)))
    return c[size:, size:] - c[:-size, size:] - c[size:, :-size] + c[:-size, :-size]


def choose_zoom(
    diff: np.ndarray, region: np.ndarray, half: int = 25
) -> tuple[slice, slice, tuple[int, int]]:
    """Window of ±``half`` pixels around the largest change inside ``region`` (kept inside the image)."""
    # the strongest change (summed over 5x5, so a cluster beats a lone pixel of equal height);
    # the pixel's own change breaks the tie between the 25 boxes that hold a lone pixel
    change = np.abs(np.where(region, diff, 0)).astype(np.float64)
    score = _box_sum(change, 5) + 1e-6 * change
    cy, cx = np.unravel_index(int(np.argmax(score)), diff.shape)
    ny, nx = diff.shape
    y0 = int(np.clip(cy - half, 0, max(0, ny - 2 * half - 1)))
    x0 = int(np.clip(cx - half, 0, max(0, nx - 2 * half - 1)))
    return (
        slice(y0, min(ny, y0 + 2 * half + 1)),
        slice(x0, min(nx, x0 + 2 * half + 1)),
        (int(cy), int(cx)),
    )


#: a recalibrated product's name in the figures: stis_cti's for a CTI-corrected one
_CTI_NAMES = {"_crj": "_crc", "_sx1": "_s1c"}


def _cti_corrected(path: os.PathLike) -> bool:
    """Whether a product or dark was corrected for CTI (primary ``PCTECORR = COMPLETE``)."""
    from stisdarks.cti.common import cti_corrected

    return cti_corrected(fits.getheader(path, 0))


def _recal_label(path: os.PathLike, kind: str) -> str:
    """``recalibrated _crj (weekdark)``, or ``CTI-corrected _crc (CTI weekdark)`` when the
    product was corrected for CTI (``PCTECORR = COMPLETE``, :mod:`stisdarks.calibrators.cti`)."""
    if _cti_corrected(path):
        return f"CTI-corrected {_CTI_NAMES[kind]} (CTI weekdark)"
    return f"recalibrated {kind} (weekdark)"


def plot_crj_comparison(
    path: os.PathLike,
    pipeline_crj: os.PathLike,
    recal_crj: os.PathLike,
    sx1: os.PathLike | None = None,
) -> Path:
    """Pipeline vs recalibrated ``_crj`` and their difference, zoomed where the change is largest."""
    old, new = _sci(pipeline_crj), _sci(recal_crj)
    diff = old - new
    region = _extraction_mask(old.shape, sx1)
    ys, xs, centre = choose_zoom(diff, region)
    norm = ImageNormalize(np.concatenate([old[ys, xs].ravel(), new[ys, xs].ravel()]),
                          interval=PercentileInterval(99.5), stretch=AsinhStretch(0.1))  # fmt: skip
    extent = (xs.start - 0.5, xs.stop - 0.5, ys.start - 0.5, ys.stop - 0.5)
    fig, axes = plt.subplots(1, 3, figsize=(15, 5), sharey=True)
    for ax, data, label in (
        (axes[0], old, "pipeline _crj"),
        (axes[1], new, _recal_label(recal_crj, "_crj")),
    ):
        im = ax.imshow(
            data[ys, xs],
            origin="lower",
            cmap="gray",
            norm=norm,
            extent=extent,
            interpolation="nearest",
        )
        ax.set_title(label)
        fig.colorbar(im, ax=ax, label="counts (DN)", fraction=0.046)
    d = diff[ys, xs]
    lim = max(float(np.nanmax(np.abs(d))), 1e-6)
    im = axes[2].imshow(
        d,
        origin="lower",
        cmap="RdBu_r",
        vmin=-lim,
        vmax=lim,
        extent=extent,
        interpolation="nearest",
    )
    axes[2].set_title("pipeline − recalibrated")
    fig.colorbar(im, ax=axes[2], label="counts (DN)", fraction=0.046)
    if sx1 is not None:
        with fits.open(sx1) as hdul:
            row = hdul[1].data[0]
            cols = np.arange(xs.start, xs.stop)
            trace = trace_rows(row["EXTRLOCY"])[cols]
            half = float(row["EXTRSIZE"]) / 2
        for ax in axes:
            ax.plot(cols, trace - half, color="orange", lw=0.8, ls="--")
            ax.plot(cols, trace + half, color="orange", lw=0.8, ls="--", label="extraction box")
        axes[0].legend(loc="upper right", fontsize=8)
    for ax in axes:
        ax.set_xlabel("column (pixel)")
    axes[0].set_ylabel("row (pixel)")
    fig.suptitle(
        f"{_name(pipeline_crj)}: zoom on ({centre[1]}, {centre[0]}), where the new dark changed the extraction region most"
    )
    return _save(fig, path)


def plot_image_comparison(
    path: os.PathLike, pipeline_crj: os.PathLike, recal_crj: os.PathLike
) -> Path:
    """An image's pipeline vs recalibrated ``_crj`` and their difference, zoomed on removed hot pixels.

    Hot pixels are counted over the whole image as ``summary.json`` counts them
    (:func:`stisdarks.summary.image_hot_pixels`, σ from the recalibrated ``_crj``'s ERR),
    so stars and galaxies are not among them. The zoom (±25 pixels) is centred where the
    removed ones — hot in the pipeline ``_crj``, not in the recalibrated one — changed
    most (:func:`choose_zoom`; anywhere in the image when none was removed); they are
    circled in the first panel, those left in the second.
    """
    from stisdarks.summary import image_hot_pixels, image_noise  # the summary's definition

    old, new = _sci(pipeline_crj), _sci(recal_crj)
    with fits.open(recal_crj) as hdul:
        noise = image_noise(ext_data(hdul["ERR", 1], np.float32), new)
    before, after = image_hot_pixels(old, noise), image_hot_pixels(new, noise)
    removed = before & ~after
    n_before, n_after = int(np.count_nonzero(before)), int(np.count_nonzero(after))
    diff = old - new
    ys, xs, centre = choose_zoom(diff, removed if removed.any() else np.ones(diff.shape, bool))
    norm = ImageNormalize(np.concatenate([old[ys, xs].ravel(), new[ys, xs].ravel()]),
                          interval=PercentileInterval(99.5), stretch=AsinhStretch(0.1))  # fmt: skip
    extent = (xs.start - 0.5, xs.stop - 0.5, ys.start - 0.5, ys.stop - 0.5)
    fig, axes = plt.subplots(1, 3, figsize=(15, 5), sharey=True)
    panels = (
        (axes[0], old, removed, "tab:red", f"pipeline _crj: {n_before} hot pixels (removed circled)"),
        (axes[1], new, after, "tab:orange", f"{_recal_label(recal_crj, '_crj')}: {n_after} left (circled)"),
    )  # fmt: skip
    for ax, data, marked, colour, label in panels:
        im = ax.imshow(data[ys, xs], origin="lower", cmap="gray", norm=norm, extent=extent,
                       interpolation="nearest")  # fmt: skip
        my, mx = np.nonzero(marked[ys, xs])
        ax.scatter(mx + xs.start, my + ys.start, s=90, facecolors="none", edgecolors=colour, lw=0.9)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_title(label, fontsize=10)
        fig.colorbar(im, ax=ax, label="counts (DN)", fraction=0.046)
    d = diff[ys, xs]
    lim = max(float(np.nanmax(np.abs(d))), 1e-6)
    # a hot pixel's change spans 10–10⁵ DN: logarithmic beyond the noise, linear within it
    linear = max(float(np.median(noise)), 1e-6)
    im = axes[2].imshow(d, origin="lower", cmap="RdBu_r", extent=extent, interpolation="nearest",
                        norm=SymLogNorm(linthresh=linear, vmin=-max(lim, 2 * linear),
                                        vmax=max(lim, 2 * linear)))  # fmt: skip
    axes[2].set_title("pipeline − recalibrated (logarithmic beyond the noise)", fontsize=10)
    fig.colorbar(im, ax=axes[2], label="counts (DN)", fraction=0.046)
    for ax in axes:
        ax.set_xlabel("column (pixel)")
    axes[0].set_ylabel("row (pixel)")
    fig.suptitle(
        f"{_name(pipeline_crj)}: {n_before - n_after} hot pixels removed by the weekdark "
        f"({n_before} → {n_after} over the whole image); zoom on ({centre[1]}, {centre[0]})"
    )
    return _save(fig, path)


def plot_spectra(path: os.PathLike, pipeline_sx1: os.PathLike, recal_sx1: os.PathLike) -> Path:
    """Pipeline and recalibrated FLUX, and their difference."""
    with fits.open(pipeline_sx1) as h1, fits.open(recal_sx1) as h2:
        r1, r2 = h1[1].data[0], h2[1].data[0]
        wave = np.asarray(r1["WAVELENGTH"])
        f1, f2 = np.asarray(r1["FLUX"], float), np.asarray(r2["FLUX"], float)
        unit = h1[1].columns["FLUX"].unit or "erg/s/cm²/Å"
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, height_ratios=[2, 1])
    ax1.plot(wave, f1, lw=0.8, color="tab:red", label="pipeline _sx1")
    ax1.plot(wave, f2, lw=0.8, color="tab:blue", label=_recal_label(recal_sx1, "_sx1"))
    ax1.set_ylabel(f"flux ({unit})")
    ax1.legend()
    lo, hi = np.nanpercentile(np.concatenate([f1, f2]), [1, 99.5])
    pad = 0.15 * (hi - lo)
    ax1.set_ylim(lo - pad, hi + pad)
    delta = f1 - f2
    ax2.plot(wave, delta, lw=0.8, color="k")
    ax2.axhline(0, color="gray", lw=0.5)
    ax2.set_ylabel("pipeline − recalibrated")
    ax2.set_xlabel("wavelength (Å)")
    ax1.set_title(
        f"{_name(pipeline_sx1)}: median change {np.nanmedian(delta):.3g}, RMS {np.sqrt(np.nanmean(delta**2)):.3g} {unit}"
    )
    return _save(fig, path)


def _running_median(values: np.ndarray, width: int = 15) -> np.ndarray:
    """Median over ``width`` columns (edges: the nearest full window), NaNs ignored."""
    pad = width // 2
    padded = np.pad(np.asarray(values, float), pad, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)
    return np.nanmedian(windows, axis=1)


def plot_truth(
    path: os.PathLike,
    truth_fits: os.PathLike,
    truth_json: os.PathLike,
    pipeline_crj: os.PathLike,
    recal_crj: os.PathLike,
    pipeline_sx1: os.PathLike,
    recal_sx1: os.PathLike,
    pipeline_dark: os.PathLike,
    weekdark: os.PathLike,
) -> Path:
    """The products against the synthetic truth: the spectrum, and the darks' trails.

    Left: the injected spectrum and the pipeline's and the recalibrated ``NET`` (electrons
    per second, a running median over 15 columns), and below, each over the truth. Right:
    the pipeline's dark and the weekdark along the columns of the bright isolated hot
    pixels, over each one's true rate, averaged (:func:`stisdarks.truth.trail_profile`):
    a trailed dark keeps less than its rate in the hot pixel and puts the rest in the
    rows read after it. The numbers are :func:`stisdarks.truth.measure_against_truth`'s.
    """
    from stisdarks.truth import TRAIL_ROWS, measure_against_truth

    measured = measure_against_truth(
        truth_fits, truth_json, pipeline_crj=pipeline_crj, recal_crj=recal_crj,
        pipeline_sx1=pipeline_sx1, recal_sx1=recal_sx1, pipeline_dark=pipeline_dark,
        weekdark=weekdark,
    )  # fmt: skip
    with fits.open(truth_fits) as hdul:
        spectrum = hdul["SPECTRUM"].data
        wave, truth = np.asarray(spectrum["WAVELENGTH"]), np.asarray(spectrum["NET"], float)
    nets = {}
    for label, sx1 in (("pipeline", pipeline_sx1), ("recalibrated", recal_sx1)):
        with fits.open(sx1) as hdul:
            gain = float(hdul[0].header.get("ATODGAIN", 1.0))
            nets[label] = np.asarray(hdul[1].data[0]["NET"], float) * gain
    fig, axes = plt.subplots(
        2, 2, figsize=(13, 6.5), gridspec_kw={"height_ratios": [3, 1.3], "width_ratios": [1.6, 1]}
    )
    top, bottom = axes[0, 0], axes[1, 0]
    colours = {"pipeline": "tab:grey", "recalibrated": "tab:blue"}
    labels = {"pipeline": f"pipeline {_name(pipeline_sx1)}",
              "recalibrated": _recal_label(recal_sx1, "_sx1")}  # fmt: skip
    top.plot(wave, truth, color="black", lw=1.2, label="injected (truth)")
    for key, net in nets.items():
        if net.size != truth.size:
            continue
        deviation = measured["spectrum"][key]["median_relative"]
        top.plot(wave, _running_median(net), color=colours[key], lw=1,
                 label=f"{labels[key]}: {100 * deviation:+.1f} %")  # fmt: skip
        ratio = _running_median(net / np.where(truth > 0, truth, np.nan))
        bottom.plot(wave, ratio, color=colours[key], lw=1)
    bottom.axhline(1.0, color="black", lw=0.8)
    top.set_ylabel("NET (e⁻/s)")
    top.legend(fontsize=8, title="median deviation from the truth", title_fontsize=8)
    top.set_title("spectrum against the injected one (running median, 15 columns)")
    bottom.set_ylabel("/ truth")
    bottom.set_xlabel("wavelength (Å)")
    # the darks' trails
    prof, notes = axes[0, 1], axes[1, 1]
    notes.axis("off")
    darks = (("pipeline_dark", f"pipeline dark {_name(pipeline_dark)}", "tab:grey"),
             ("weekdark", "weekdark, CTI-corrected darks" if _cti_corrected(weekdark)
              else "weekdark", "tab:blue"))  # fmt: skip
    lines = []
    for key, label, colour in darks:
        block = measured["dark_trails"].get(key) or {}
        if not block.get("profile"):
            continue
        offsets = np.asarray(block["offsets"])
        prof.step(offsets, block["profile"], where="mid", color=colour, label=label)
        lines.append(f"{label}: hot pixel {100 * block['peak']:.0f} %, "
                     f"trail {100 * block['trail']:.1f} % of its rate")  # fmt: skip
        n = block["hot_pixels"]
    if lines:
        prof.axvspan(0.5, TRAIL_ROWS + 0.5, color="tab:orange", alpha=0.15,
                     label=f"the {TRAIL_ROWS} rows read after it")  # fmt: skip
        prof.set_yscale("symlog", linthresh=0.01)
        prof.set_xlabel("rows read after the hot pixel")
        prof.set_ylabel("dark / the hot pixel's true rate")
        prof.set_title(f"the darks around {n} bright isolated hot pixels (mean)")
        prof.legend(fontsize=8)
        trails = measured["science_trails"]
        science = [
            f"{who}: {trails[who]['mean_e']:+.0f} e⁻"
            for who in ("pipeline", "recalibrated")
            if (trails.get(who) or {}).get("mean_e") is not None
        ]
        text = "\n".join(lines)
        if science:
            text += ("\n\nleft in the science _crj, rows read after minus before"
                     " (mean):\n" + ";  ".join(science))  # fmt: skip
        notes.text(0, 0.95, text, va="top", fontsize=8.5, wrap=True)
    else:
        prof.text(0.5, 0.5, "no bright isolated hot pixel in the darks' pixels", ha="center")
        prof.axis("off")
    fig.suptitle(f"{_name(recal_sx1).split('_')[0]}: against the synthetic archive's truth")
    fig.tight_layout()
    return _save(fig, path)
