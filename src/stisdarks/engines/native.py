"""The native superdark engine: basedark and weekdark as refstis' ``make_basedark`` /
``make_weekdark`` make them, in NumPy, and calstis' cosmic-ray rejection of ``_flt`` files.

The same steps as refstis (temperature scaling to 18 °C, joining, calstis cosmic-ray
rejection, normalisation to e⁻/s, hot-pixel flagging, the weekdark's hot-pixel update
over the basedark, the reference-file header), reading the darks a block of rows at a
time (:mod:`stisdarks.crreject`): memory does not grow with the number of darks, inputs
are never modified and no calstis binary is needed. The statistics are refstis' own on
the same float32 data, so the hot-pixel flags agree: ``medfilt`` is the
``scipy.ndimage`` call it makes (:func:`medfilt_5x5`); ``sigma_clipped_stats`` is
astropy's iteration with the same NumPy calls, its medians taken from one sorted copy of
the data (:class:`ClippedStats`). The tests check both against scipy and astropy.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits

from stisdarks.crreject import (
    CRResult,
    ImsetRows,
    RowSource,
    ScaledRows,
    crreject_files,
    crreject_rows,
    scan_imsets,
)
from stisdarks.crrejtab import crparams_for
from stisdarks.engines.common import (
    DARK_VS_T,
    REF_TEMP,
    check_dark_inputs,
    engine_cards,
    geometry_cards,
)
from stisdarks.errors import InputFileError, StisDarksError
from stisdarks.fitsio import atomic_path, ext_data

__all__ = [
    "SIDE2_MJD",
    "temperature_factor",
    "make_basedark",
    "make_weekdark",
    "crreject",
]

log = logging.getLogger(__name__)

#: Side-2 electronics: dark temperature scaling applies to data after this MJD (2001-07-01)
SIDE2_MJD = 52091.0
HOT_FLAG = 16


def temperature_factor(occdhtav: float) -> float:
    """refstis' side-2 scaling to 18 °C: ``1 / (1 + 0.07 (OCCDHTAV − 18))``."""
    return 1.0 / (1.0 + DARK_VS_T * (float(occdhtav) - REF_TEMP))


def _stack(paths: Sequence[Path]) -> tuple[list[ImsetRows], list[RowSource]]:
    """The image sets of ``paths`` and their SCI, scaled to 18 °C where refstis scales them."""
    imsets = scan_imsets(paths)
    scaled: list[RowSource] = []
    for im in imsets:
        sci = im.sci
        if float(im.primary.get("TEXPSTRT", 0.0)) > SIDE2_MJD and "TEMPCORR" not in im.primary:
            if "OCCDHTAV" not in im.sci_header:
                raise InputFileError(
                    f"{im.path.name}[SCI,{im.extver}] has no OCCDHTAV; cannot scale to 18 C"
                )
            sci = ScaledRows(sci, temperature_factor(im.sci_header["OCCDHTAV"]))
        scaled.append(sci)
    return imsets, scaled


def _combine(
    paths: Sequence[Path], overrides: dict | None, threads: int = 2
) -> tuple[CRResult, list[ImsetRows]]:
    imsets, scaled = _stack(paths)
    exptime = [float(im.sci_header["EXPTIME"]) for im in imsets]
    noise = [
        float(np.float32(im.primary["READNSE"]) / np.float32(im.primary["ATODGAIN"]))
        for im in imsets
    ]
    gain = [float(im.primary["ATODGAIN"]) for im in imsets]
    mean = float(np.sum(np.asarray(exptime, dtype=np.float32), dtype=np.float32)) / len(imsets)
    params = crparams_for(imsets[0].primary, len(imsets), mean, overrides)
    log.info(
        "combining %d image sets from %d files (CR parameters: %s)",
        len(imsets),
        len(paths),
        params.source,
    )
    result = crreject_rows(
        scaled, [im.dq for im in imsets], exptime, noise, gain, params, threads=threads
    )
    return result, imsets


def _normalise(result: CRResult, imsets: Sequence[ImsetRows]) -> tuple[np.ndarray, np.ndarray]:
    """refstis ``normalize_crj``: divide by TEXPTIME/ATODGAIN (float32 data, Python-float factor)."""
    texptime = float(np.float32(result.texptime))
    gain = float(imsets[0].primary["ATODGAIN"])
    norm = texptime / gain
    return result.sci / norm, result.err / abs(norm)


class ClippedStats:
    """astropy's ``sigma_clipped_stats(data, sigma=σ, maxiters=m)`` of one array, for any σ.

    astropy (without bottleneck, which it never uses for float32) drops the non-finite
    values, then repeats: centre = ``np.nanmedian``, spread = ``np.nanstd``, keep the
    values within ``[centre − σ·spread, centre + σ·spread]``, until nothing changes or
    ``m`` times; and returns ``np.nanmean``, ``np.nanmedian``, ``np.nanstd`` of what is
    kept. This runs the same NumPy calls on the same arrays, except the medians: the kept
    values are always those within an interval, a run of one sorted copy of the data, so
    each median is read there instead of partitioning the data again (most of astropy's
    time). The median of a run is ``np.mean`` of its middle value or two, as
    ``np.median`` takes it.
    """

    def __init__(self, data: np.ndarray) -> None:
        values = np.asarray(data).ravel()
        finite = np.isfinite(values)
        self.values = values if finite.all() else values[finite]
        self.sorted = np.sort(self.values)

    def __call__(self, sigma: float, maxiters: int) -> tuple:
        """``(mean, median, std)`` of the clipped data, as astropy returns them."""
        data, lo, hi = self.values, 0, self.sorted.size
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for _ in range(maxiters):
                centre = self._median(lo, hi)
                spread = np.nanstd(data)
                low, high = centre - spread * sigma, centre + spread * sigma
                kept = data[(data >= low) & (data <= high)]
                lo = max(lo, int(np.searchsorted(self.sorted, low, side="left")))
                hi = min(hi, int(np.searchsorted(self.sorted, high, side="right")))
                changed = data.size != kept.size
                data = kept
                if not changed:
                    break
            return np.nanmean(data), self._median(lo, hi), np.nanstd(data)

    def _median(self, lo: int, hi: int):
        """``np.nanmedian`` of the values ``sorted[lo:hi]``."""
        run = self.sorted[lo:hi]
        if run.size == 0:
            return np.nanmedian(run)
        half = run.size // 2
        middle = run[half : half + 1] if run.size % 2 else run[half - 1 : half + 1]
        return np.mean(middle, axis=0)


def flag_basedark_hot_pixels(sci: np.ndarray, dq: np.ndarray) -> np.ndarray:
    """refstis ``update_sci`` then ``find_hotpix``: DQ = 16 on hot pixels (assigned, not OR-ed)."""
    # refstis also computes a 3x3 median filter of the image here but never uses it
    clipped = ClippedStats(sci)
    mean, _median, std = clipped(5, 50)
    fivesig = mean + 5.0 * std
    only_hotpix = np.where(sci >= fivesig, sci - mean, 0)
    dq = np.where(only_hotpix >= 0.1, HOT_FLAG, dq)
    mean, median, std = clipped(3, 40)
    five_sigma = median + 5 * std
    dq = np.array(dq, dtype=np.int16)
    dq[(sci > five_sigma) & (sci > mean + 0.1)] = HOT_FLAG
    return dq


def medfilt_5x5(image: np.ndarray) -> np.ndarray:
    """refstis' ``scipy.signal.medfilt(image, (5, 5))``.

    ``medfilt`` is ``scipy.ndimage.rank_filter`` at the middle rank with zero padding;
    called directly, because importing ``scipy.signal`` takes about a second.
    """
    from scipy.ndimage import rank_filter

    return rank_filter(image, 12, size=(5, 5), mode="constant")


def weekdark_update(
    crj_sci: np.ndarray,
    crj_err: np.ndarray,
    crj_dq: np.ndarray,
    base_sci: np.ndarray,
    base_err: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """refstis ``create_superdark``: the week's hot pixels over the basedark."""
    _mean, median, std = ClippedStats(crj_sci)(5, 40)
    p_five_sigma = median + (5 * std)
    log.info("weekdark hot pixels are above %.4g e-/s", p_five_sigma)
    _bmean, base_median, _bstd = ClippedStats(base_sci)(5, 40)
    zerodark = crj_sci - base_median
    only_hotpix = np.where(crj_sci >= p_five_sigma, zerodark, 0.0)
    basedark_med = medfilt_5x5(np.array(base_sci, dtype=np.float32))
    only_dark = np.where(base_sci >= p_five_sigma, basedark_med, base_sci)
    sci = only_dark + only_hotpix
    dq = np.where(only_hotpix >= p_five_sigma, HOT_FLAG, crj_dq)
    err = np.where(only_hotpix == 0, base_err, crj_err)
    return sci.astype(np.float32), err.astype(np.float32), dq.astype(np.int16)


def reference_primary_header(
    primaries: Sequence[fits.Header], names: Sequence[str], filename: str
) -> fits.Header:
    """The primary header refstis' ``update_header_from_input`` builds for a dark, from in-memory headers.

    Same keywords, values, order and HISTORY as refstis (so the output is a drop-in STIS
    ``DARKFILE``), without re-opening every input several times. Proposal numbers and
    titles are sorted (refstis lists them in ``set`` order, which varies between runs).
    """
    from astropy.time import Time

    def one(key: str):
        values = {h.get(key) for h in primaries}
        if len(values) != 1:
            raise StisDarksError(
                f"inputs disagree on {key} ({sorted(map(str, values))}); combine one mode at a time"
            )
        return values.pop()

    targname = str(one("TARGNAME")).strip()
    if targname != "DARK":
        raise StisDarksError(f"TARGNAME {targname!r} is not DARK; pass dark FLTs")
    gain = one("CCDGAIN")
    if gain not in (1, 4):
        raise StisDarksError(
            f"CCDGAIN {gain} is not 1 or 4; STIS superdarks exist only for these gains"
        )
    frequency = "Weekly" if gain == 1 else "Bi-Weekly"
    nimsets = sum(h["NEXTEND"] / 3 for h in primaries)  # a float, as refstis counts it
    proposals = sorted({h.get("PROPOSID") for h in primaries}, key=str)
    titles = sorted({h.get("PROPTTL1") for h in primaries}, key=str)
    times = sorted(
        [float(h["TEXPSTRT"]) for h in primaries] + [float(h["TEXPEND"]) for h in primaries]
    )
    days = [
        t.split()[0].split("-") for t in Time([times[0], times[-1]], format="mjd", scale="utc").iso
    ]
    start_str, end_str = (f"{d[2]}/{d[1]}/{d[0]}" for d in days)
    month, day, clock, year = Time(times[0], format="mjd").datetime.ctime().split()[1:]
    useafter = f"{month} {int(day):02d} {year} {clock}"

    hdr = fits.PrimaryHDU().header
    hdr["FILENAME"] = filename
    hdr["NEXTEND"] = 3
    hdr["TELESCOP"] = "HST"
    hdr["INSTRUME"] = "STIS"
    hdr["DETECTOR"] = ("CCD", "detector in use: CCD")
    hdr["CCDAMP"] = "ANY"
    hdr["CCDGAIN"] = -1
    hdr["CCDOFFST"] = -1
    hdr["OPT_ELEM"] = "ANY"
    hdr["APERTURE"] = "ANY"
    hdr["OBSTYPE"] = "ANY"
    hdr["BINAXIS1"] = one("BINAXIS1")
    hdr["BINAXIS2"] = one("BINAXIS2")
    hdr["FILETYPE"] = "DARK IMAGE"
    hdr["PEDIGREE"] = f"INFLIGHT {start_str} {end_str}"
    hdr["USEAFTER"] = useafter
    hdr["DESCRIP"] = (
        f"{frequency} gain={gain:d} dark for STIS CCD data taken after {useafter[:11]}".ljust(
            67, "-"
        )
    )
    hdr.add_comment("Reference file created by refstis.functions")
    hdr.add_history(f"Superdark image, combination of {nimsets} input dark frames taken in")
    hdr.add_history(
        f"CCDGAIN={hdr['CCDGAIN']}, BINAXIS1={hdr['BINAXIS1']}, BINAXIS2={hdr['BINAXIS2']} mode."
    )
    hdr.add_history(f"All input frames were from Proposal(s) {'/'.join(map(str, proposals))}:")
    for title in titles:
        hdr.add_history(title)
    hdr.add_history("The following input files were used:")
    for name in names:
        hdr.add_history(name)
    hdr.add_history("")
    hdr["REF_TEMP"] = int(REF_TEMP)  # as refstis writes it (an integer)
    hdr["DRK_VS_T"] = DARK_VS_T
    for line in _DARK_HISTORY:
        hdr.add_history(line)
    return hdr


_DARK_HISTORY = (
    "This superdark image is a combination of 2 images.",
    'The first is a "baseline dark" image which is a  ',
    "(typically) monthly average of (cosmic-ray-rejected)",
    "dark files. The second image is made locally within the",
    '"weekdark" script.',
    "These gain -1 darks are first",
    "corrected for temperature (C) using the factor",
    "1.0 / (1.0 + DRK_V_TMP * (OCCDHTAV - S2_REF_TEMP)) and then ",
    "combined together (cosmic rays are rejected in the",
    "combination) using calstis,",
    "and normalized to a dark time of 1 second. After that,",
    "hot pixels in that normalized dark are updated into the ",
    "baseline dark. These hot pixels have a value higher than ",
    "(baseline dark current + 5 sigma of the new dark).",
    "The pixels hotter than 0.1 electron/sec in this dark",
    "are being assigned a DQ value of 16.",
    "Previously hot pixels that have fully annealed out ",
    "between the observing dates of the baseline and the",
    "new dark are being assigned a value equal to that in",
    "a median-filtered (kernel = 5x5 pixels) version of",
    "the baseline dark.",
)


def _write_reference(
    output: os.PathLike,
    imsets: Sequence[ImsetRows],
    paths: Sequence[Path],
    sci: np.ndarray,
    err: np.ndarray,
    dq: np.ndarray,
    taskname: str,
    params_source: str,
) -> Path:
    """Write the reference file: refstis' primary header, SCI/ERR/DQ as refstis writes them."""
    output = Path(output)
    firsts = {}
    for im in imsets:
        firsts.setdefault(im.path, im.primary)
    primaries = [firsts[p] for p in paths]
    hdr = reference_primary_header(primaries, [p.name for p in paths], output.name)
    hdr["TASKNAME"] = taskname
    hdr.update(engine_cards("native"))
    hdr.add_history(f"Built by the stisdarks native engine; CR parameters: {params_source}")
    hdus = [fits.PrimaryHDU(header=hdr)]
    where = geometry_cards(imsets[0].sci_header)
    for name, data in (("SCI", sci), ("ERR", err), ("DQ", dq)):
        ext = fits.ImageHDU(data=data)
        ext.header["EXTNAME"] = name
        ext.header["EXTVER"] = 1
        ext.header["PCOUNT"] = 0
        ext.header["GROUNT"] = 1  # sic: refstis writes GROUNT
        ext.header.update(where)
        hdus.append(ext)
    with atomic_path(output) as tmp:
        fits.HDUList(hdus).writeto(tmp, overwrite=True, output_verify="exception")
    log.info("wrote %s", output)
    return output


def make_basedark(
    paths: Sequence[os.PathLike],
    output: os.PathLike,
    *,
    overrides: dict | None = None,
    threads: int = 2,
) -> Path:
    """Build a monthly basedark from dark FLTs, as refstis ``make_basedark`` does.

    Parameters
    ----------
    paths : sequence of path-like
        Bias-subtracted STIS CCD dark ``_flt`` files of one CCD mode (never modified).
    output : path-like
        The basedark (written atomically).
    overrides : dict, optional
        CR-rejection parameters replacing those of the inputs' CRREJTAB row (as calstis).
    threads : int
        Worker processes for the cosmic-ray rejection (see :mod:`stisdarks.crreject`); the
        result does not depend on it.
    """
    paths = check_dark_inputs(paths)
    result, imsets = _combine(paths, overrides, threads)
    sci, err = _normalise(result, imsets)
    dq = flag_basedark_hot_pixels(sci, result.dq)
    log.info("basedark: %d hot pixels flagged", int(np.count_nonzero(dq == HOT_FLAG)))
    return _write_reference(
        output, imsets, paths, sci, err, dq, "BASEDARK", _source(imsets, overrides)
    )


def make_weekdark(
    paths: Sequence[os.PathLike],
    basedark: os.PathLike,
    output: os.PathLike,
    *,
    overrides: dict | None = None,
    threads: int = 2,
) -> Path:
    """Build a weekdark on top of ``basedark``, as refstis ``make_weekdark`` does."""
    paths = check_dark_inputs(paths)
    base = Path(basedark)
    if not base.is_file():
        raise InputFileError(f"basedark {base} does not exist; build it first (stisdarks basedark)")
    with fits.open(base) as hb:
        try:
            base_sci = ext_data(hb["SCI", 1], np.float32)
            base_err = ext_data(hb["ERR", 1], np.float32)
        except KeyError as exc:
            raise InputFileError(
                f"{base.name} has no SCI/ERR extension; it is not a basedark"
            ) from exc
    result, imsets = _combine(paths, overrides, threads)
    if base_sci.shape != result.sci.shape:
        raise StisDarksError(
            f"basedark {base.name} is {base_sci.shape[1]}x{base_sci.shape[0]} but the darks are "
            f"{result.sci.shape[1]}x{result.sci.shape[0]}; use the basedark of the same binning"
        )
    sci, err = _normalise(result, imsets)
    sci, err, dq = weekdark_update(sci, err, result.dq, base_sci, base_err)
    log.info("weekdark: %d hot pixels flagged", int(np.count_nonzero(dq == HOT_FLAG)))
    return _write_reference(
        output, imsets, paths, sci, err, dq, "WEEKDARK", _source(imsets, overrides)
    )


def crreject(
    inputs: Sequence[os.PathLike], output: os.PathLike, *, overrides: dict | None = None
) -> Path:
    """CR-reject the image sets of ``inputs`` into one calstis-shaped ``_crj`` (:mod:`stisdarks.crreject`)."""
    return crreject_files(inputs, output, overrides=overrides)


def _source(imsets, overrides) -> str:
    name = str(imsets[0].primary.get("CRREJTAB", "defaults")).strip()
    return name + (f" with overrides {overrides}" if overrides else "")
