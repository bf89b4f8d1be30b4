"""A synthetic STIS CCD archive: one anneal period of darks and a faint CR-SPLIT spectrum.

The demo and the tests run on it through the same code paths as real MAST data. It
holds, for one anneal period (by default the notebook's 2021-04-07 02:35:41 –
2021-05-05 14:00:22):

- ``n_darks`` long (1100 s) dark FLTs, bias-subtracted DN, spread over the period, with
  a dark-current floor, a power-law population of hot pixels (some turning on part-way
  through the period), cosmic rays, read noise and housing temperatures around 18 °C
  (dark current scales by ``1 + 0.07 (T − 18)``);
- distractors the selection must drop: 60 s darks, gain-4 darks, amplifier-A darks and
  long darks just outside the period;
- a CR-SPLIT=2 G430L-like spectrum of a faint source near the end of the period
  (``_raw`` with overscan and bias, ``_flt``, ``_crj``, ``_sx1``, ``_wav``), calibrated
  the way calstis does (bias before CR rejection, dark and flat after) with a pipeline
  dark made ten days before the observation, so it misses the newest hot pixels;
- the reference files the headers name (``oref/``): the pipeline dark, CRREJTAB,
  CCDTAB, BIASFILE and PFLTFILE;
- ``index.csv`` (one row per file), ``anneal_periods.csv`` and ``truth.json`` (the hot
  pixels with their rates and onset times, for tests).

Everything is deterministic for a given seed. ``index.csv`` is written last, so its
presence means the archive is complete.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.time import Time

from stisdarks.crreject import crreject_stack
from stisdarks.crrejtab import CRParams, read_crrejtab
from stisdarks.extraction import extract_box
from stisdarks.fitsio import atomic_path, write_hdul_atomic

__all__ = ["DEFAULT_OBS_ID", "INDEX_COLUMNS", "blevcorr_amp_d", "generate_archive"]

log = logging.getLogger(__name__)

DEFAULT_OBS_ID = "odemo1010"
PERIOD_START = "2021-04-07 02:35:41"
PERIOD_END = "2021-05-05 14:00:22"
INDEX_COLUMNS = [
    "obs_id", "kind", "filename", "path", "instrument", "detector", "target", "start_mjd", "end_mjd",
    "exptime", "ccdgain", "ccdamp", "binaxis1", "binaxis2", "proposid", "size",
]  # fmt: skip

ATODGAIN = {1: 1.0, 4: 4.0}
READNSE = {1: 5.0, 4: 7.5}  # electrons
BIAS_LEVEL = 1500.0  # DN
DARK_FLOOR = 0.004  # e-/s
DARK_EXPTIME = 1100.0
SCI_EXPTIME = 900.0  # per CR-SPLIT image set
PIPELINE_DARK_AGE = 10.0  # days before the observation
DARKFILE = "syn_pipe_drk.fits"
CRRTAB = "syn_crr.fits"
CCDTAB = "syn_ccd.fits"
BIASFILE = "syn_bia.fits"
PFLTFILE = "syn_pfl.fits"


@dataclass(frozen=True)
class HotPixels:
    y: np.ndarray
    x: np.ndarray
    rate: np.ndarray  # e-/s at 18 C
    onset: np.ndarray  # MJD

    def image(self, shape: tuple[int, int], mjd: float) -> np.ndarray:
        """Dark current of the hot pixels switched on at ``mjd`` (e-/s at 18 C)."""
        img = np.zeros(shape, dtype=np.float64)
        on = self.onset <= mjd
        np.add.at(img, (self.y[on], self.x[on]), self.rate[on])
        return img


def _mjd(iso: str) -> float:
    return float(Time(iso, format="iso", scale="utc").mjd)


def _temp_factor(t: float) -> float:
    return 1.0 + 0.07 * (t - 18.0)


def _hot_pixels(rng, shape, n_hot, start, end, trace_rows, obs_mjd, pipe_mjd) -> HotPixels:
    ny, nx = shape
    # power law N(>r) ~ r^-1.5 between 0.15 and 30 e-/s
    rate = 0.15 * (1 - rng.random(n_hot)) ** (-1 / 1.5)
    rate = np.minimum(rate, 30.0)
    y = rng.integers(2, ny - 2, n_hot)
    x = rng.integers(2, nx - 2, n_hot)
    onset = np.where(rng.random(n_hot) < 0.65, start - 1.0, rng.uniform(start, end, n_hot))
    # hot pixels that appeared after the pipeline dark, inside the science extraction box
    n_late = max(6, n_hot // 150)
    cols = rng.choice(np.arange(8, nx - 8), n_late, replace=False)
    late_y = np.round(trace_rows[cols] + rng.integers(-2, 3, n_late)).astype(int)
    late_rate = rng.uniform(0.3, 3.0, n_late)
    late_onset = rng.uniform(pipe_mjd + 0.5, obs_mjd - 1.0, n_late)
    y = np.concatenate([y, late_y])
    x = np.concatenate([x, cols])
    rate = np.concatenate([rate, late_rate])
    onset = np.concatenate([onset, late_onset])
    # one hot pixel per position
    _, keep = np.unique(y * nx + x, return_index=True)
    keep.sort()
    return HotPixels(y[keep], x[keep], rate[keep], onset[keep])


def _cosmic_rays(rng, shape, exptime) -> np.ndarray:
    """Electrons deposited by cosmic rays over ``exptime``: short tracks (1-4 pixels), ~2 % of
    the pixels hit in 1100 s."""
    ny, nx = shape
    img = np.zeros(shape, dtype=np.float64)
    n = int(rng.poisson(0.0075 * ny * nx * exptime / 1000.0))
    ys = rng.integers(0, ny, n)
    xs = rng.integers(0, nx, n)
    amp = rng.lognormal(np.log(600), 0.8, n)
    length = rng.integers(1, 5, n)
    angle = rng.uniform(0, np.pi, n)
    for k in range(4):
        on = length > k
        yy = np.clip(np.round(ys[on] + k * np.sin(angle[on])).astype(int), 0, ny - 1)
        xx = np.clip(np.round(xs[on] + k * np.cos(angle[on])).astype(int), 0, nx - 1)
        np.add.at(img, (yy, xx), amp[on] * (0.7**k))
    return img


def _primary(**cards) -> fits.Header:
    hdr = fits.Header()
    base = {
        "TELESCOP": "HST", "INSTRUME": "STIS", "DETECTOR": "CCD", "NEXTEND": 3, "CCDAMP": "D", "CCDGAIN": 1,
        "CCDOFFST": 3, "BINAXIS1": 1, "BINAXIS2": 1, "ATODGAIN": 1.0, "READNSE": 5.0,
        "CCDTAB": f"oref${CCDTAB}", "CRREJTAB": f"oref${CRRTAB}", "BIASFILE": f"oref${BIASFILE}",
    }  # fmt: skip
    base.update(cards)
    for key, value in base.items():
        hdr[key] = value
    return hdr


def _imset(ver, sci, err, dq, sci_cards) -> list[fits.ImageHDU]:
    s = fits.ImageHDU(np.asarray(sci, dtype=np.float32), name="SCI", ver=ver)
    for key, value in sci_cards.items():
        s.header[key] = value
    e = fits.ImageHDU(np.asarray(err, dtype=np.float32), name="ERR", ver=ver)
    d = fits.ImageHDU(np.asarray(dq, dtype=np.int16), name="DQ", ver=ver)
    return [s, e, d]


def _write_tables(oref: Path) -> None:
    """CRREJTAB and CCDTAB with the columns, formats and row layout of the STScI tables."""
    splits = np.repeat(np.arange(1, 101, dtype=np.int32), 2)
    n = splits.size
    crr = fits.BinTableHDU.from_columns(
        [
            fits.Column("CRSPLIT", "J", array=splits),
            fits.Column("MEANEXP", "D", array=np.tile([10000.0, 100000.0], n // 2)),
            fits.Column("SCALENSE", "E", array=np.zeros(n)),
            fits.Column("INITGUES", "6A", array=["median"] * n),
            fits.Column("SKYSUB", "4A", array=["none"] * n),
            fits.Column("CRSIGMAS", "5A", array=["5,4,3"] * n),
            fits.Column("CRRADIUS", "E", array=np.full(n, 1.5)),
            fits.Column("CRTHRESH", "E", array=np.full(n, 0.8)),
            fits.Column("BADINPDQ", "I", array=np.zeros(n, dtype=np.int16)),
            fits.Column("CRMASK", "J", array=np.ones(n, dtype=np.int32)),
            fits.Column("PEDIGREE", "8A", array=["INFLIGHT"] * n),
            fits.Column("DESCRIP", "9A", array=["synthetic"] * n),
        ]
    )
    primary = fits.Header(
        {"FILETYPE": "COSMIC RAY REJECTION TABLE", "INSTRUME": "STIS", "DETECTOR": "CCD"}
    )
    write_hdul_atomic(fits.HDUList([fits.PrimaryHDU(header=primary), crr]), oref / CRRTAB)
    rows = [("D", 1, 1.0, 5.0), ("D", 4, 4.0, 7.5), ("A", 1, 1.0, 5.0), ("A", 4, 4.0, 7.5)]
    ccd = fits.BinTableHDU.from_columns(
        [
            fits.Column("CCDAMP", "1A", array=[r[0] for r in rows]),
            fits.Column("CCDGAIN", "J", array=[r[1] for r in rows]),
            fits.Column("BINAXIS1", "J", array=[1] * len(rows)),
            fits.Column("BINAXIS2", "J", array=[1] * len(rows)),
            fits.Column("CCDOFFST", "J", array=[3] * len(rows)),
            fits.Column("ATODGAIN", "E", array=[r[2] for r in rows]),
            fits.Column("CCDBIAS", "E", array=[BIAS_LEVEL] * len(rows)),
            fits.Column("READNSE", "E", array=[r[3] for r in rows]),
            fits.Column("SATURATE", "E", array=[144000.0] * len(rows)),
            fits.Column("BLEV_CLIP", "E", array=[5.0] * len(rows)),
            fits.Column("PEDIGREE", "8A", array=["INFLIGHT"] * len(rows)),
            fits.Column("DESCRIP", "9A", array=["synthetic"] * len(rows)),
        ]
    )
    primary = fits.Header({"FILETYPE": "CCD PARAMETERS", "INSTRUME": "STIS", "DETECTOR": "CCD"})
    write_hdul_atomic(fits.HDUList([fits.PrimaryHDU(header=primary), ccd]), oref / CCDTAB)


def _reference_image(path: Path, sci, err, dq, **cards) -> None:
    primary = _primary(CCDAMP="ANY", CCDGAIN=-1, CCDOFFST=-1, **cards)
    write_hdul_atomic(
        fits.HDUList([fits.PrimaryHDU(header=primary), *_imset(1, sci, err, dq, {})]), path
    )


def _dark_flt(path: Path, root: str, sci, err, dq, start: float, exptime: float, temp: float, gain: int, amp: str,
              proposid: int = 16511) -> None:  # fmt: skip
    end = start + exptime / 86400.0
    when = Time(start, format="mjd", scale="utc").datetime
    primary = _primary(
        ROOTNAME=root, FILENAME=path.name, **{"DATE-OBS": when.strftime("%Y-%m-%d"),
        "TIME-OBS": when.strftime("%H:%M:%S")}, OBSTYPE="IMAGING", OBSMODE="ACCUM", TARGNAME="DARK", OPT_ELEM="MIRVIS",
        APERTURE="50CCD", PROPAPER="50CCD", APER_FOV="50x50", CCDAMP=amp, CCDGAIN=gain,
        ATODGAIN=ATODGAIN[gain], READNSE=READNSE[gain], NRPTEXP=1, CRSPLIT=1, TEXPSTRT=start, TEXPEND=end,
        TEXPTIME=exptime, PROPOSID=proposid, PROPTTL1="CCD Dark Monitor", DQICORR="COMPLETE", ATODCORR="OMIT",
        BLEVCORR="COMPLETE", BIASCORR="COMPLETE", CRCORR="OMIT", RPTCORR="OMIT", EXPSCORR="OMIT",
        DARKCORR="OMIT", FLATCORR="OMIT", SHADCORR="OMIT", PHOTCORR="OMIT", STATFLAG=False, BIASFILE="N/A",
    )  # fmt: skip
    cards = {"EXPTIME": exptime, "EXPSTART": start, "EXPEND": end, "OCCDHTAV": temp,
             "ATODGAIN": ATODGAIN[gain], "READNSE": READNSE[gain]}  # fmt: skip
    write_hdul_atomic(
        fits.HDUList([fits.PrimaryHDU(header=primary), *_imset(1, sci, err, dq, cards)]), path
    )


def _dark_frame(rng, shape, dark_rate, temp, exptime, gain):
    """Bias-subtracted DN of one dark exposure, its ERR and DQ."""
    g = ATODGAIN[gain]
    electrons = rng.poisson(np.maximum(dark_rate * _temp_factor(temp) * exptime, 0)).astype(
        np.float64
    )
    electrons += rng.normal(0.0, READNSE[gain], shape)
    dn = electrons / g + _cosmic_rays(rng, shape, exptime) / g
    err = np.sqrt(np.maximum(dn * g, 0) + READNSE[gain] ** 2) / g
    return dn.astype(np.float32), err.astype(np.float32), np.zeros(shape, np.int16)


def generate_archive(
    root: str | os.PathLike,
    *,
    size: int = 1024,
    n_darks: int = 56,
    seed: int = 2021,
    obs_id: str = DEFAULT_OBS_ID,
    period_start: str = PERIOD_START,
    period_end: str = PERIOD_END,
    n_hot: int | None = None,
    extra_obs_ids: tuple[str, ...] = (),
) -> Path:
    """Write a complete synthetic archive into ``root`` (kept if already complete).

    Parameters
    ----------
    root : path-like
        Archive directory.
    size : int
        Square image size (1024 = full frame; the raw then has the real 1062×1044 amp-D
        overscan layout). Smaller sizes frame the smaller illuminated area with the same
        19 + 19 columns and 20 bottom rows, which calstis itself would not accept (real
        subarrays are full width); the synthetic pipeline products are made by this module.
    n_darks : int
        Long darks in the anneal period.
    seed : int
        Random seed.
    obs_id : str
        Dataset name of the science observation.
    period_start, period_end : str
        The anneal period (UTC ISO).
    n_hot : int, optional
        Number of hot pixels (default scales with the area: 4000 on a full frame).
    extra_obs_ids : tuple of str
        More science observations of the same period (each a day earlier than the
        previous one), to exercise several targets sharing one basedark.

    Returns
    -------
    Path
        ``root``.
    """
    root = Path(root)
    if (root / "index.csv").is_file():
        log.info("synthetic archive %s is complete; kept", root)
        return root
    rng = np.random.default_rng(seed)
    shape = (size, size)
    ny, nx = shape
    start, end = _mjd(period_start), _mjd(period_end)
    obs_mjd = end - 1.5 / 24.0
    pipe_mjd = obs_mjd - PIPELINE_DARK_AGE
    for sub in ("darks", "science", "oref"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    n_hot = n_hot if n_hot is not None else max(40, int(4000 * size * size / 1024**2))

    # the science trace: nearly horizontal, slightly tilted, near the middle
    xcol = np.arange(nx, dtype=np.float64)
    trace = ny / 2.0 + 0.3 + 1.5 * (xcol - nx / 2.0) / nx
    hot = _hot_pixels(rng, shape, n_hot, start, end, trace, obs_mjd, pipe_mjd)
    floor = DARK_FLOOR * (1.0 + 0.1 * rng.standard_normal(shape)).clip(0.5, 1.5)
    index: list[dict] = []

    def add(path: Path, obs: str, kind: str, target: str, t0: float, exptime: float, gain=1, amp="D", proposid=16511,
            detector="CCD"):  # fmt: skip
        index.append(
            {"obs_id": obs, "kind": kind, "filename": path.name, "path": str(path.relative_to(root)),
             "instrument": "STIS", "detector": detector, "target": target, "start_mjd": f"{t0:.8f}",
             "end_mjd": f"{t0 + exptime / 86400.0:.8f}", "exptime": exptime, "ccdgain": gain, "ccdamp": amp,
             "binaxis1": 1, "binaxis2": 1, "proposid": proposid, "size": path.stat().st_size}
        )  # fmt: skip

    # --- darks of the period (two per day, like the dark monitor), and distractors
    span = end - start
    starts = (
        start
        + (np.arange(n_darks) + 0.5) * span / n_darks
        + rng.uniform(-0.05, 0.05, n_darks) * span / n_darks
    )
    temps = np.clip(rng.normal(18.0, 1.2, n_darks), 15.5, 21.0)
    for i, (t0, temp) in enumerate(zip(starts, temps, strict=True)):
        root_name = f"odark{i:03d}q"
        sci, err, dq = _dark_frame(rng, shape, floor + hot.image(shape, t0), temp, DARK_EXPTIME, 1)
        path = root / "darks" / f"{root_name}_flt.fits"
        _dark_flt(path, root_name, sci, err, dq, float(t0), DARK_EXPTIME, float(temp), 1, "D")
        add(path, root_name, "flt", "DARK", float(t0), DARK_EXPTIME)
    distractors = [
        ("odsht", DARK_EXPTIME * 0 + 60.0, 1, "D", starts[: 3] + 0.2),  # short darks
        ("odgn4", DARK_EXPTIME, 4, "D", starts[: 3] + 0.3),  # gain 4
        ("odamp", DARK_EXPTIME, 1, "A", starts[: 2] + 0.4),  # amplifier A
        ("odout", DARK_EXPTIME, 1, "D", np.array([start - 0.6, end + 0.3])),  # outside the period
    ]  # fmt: skip
    for prefix, exptime, gain, amp, times in distractors:
        for i, t0 in enumerate(times):
            root_name = f"{prefix}{i:03d}q"
            sci, err, dq = _dark_frame(
                rng, shape, floor + hot.image(shape, t0), 18.0, exptime, gain
            )
            path = root / "darks" / f"{root_name}_flt.fits"
            _dark_flt(path, root_name, sci, err, dq, float(t0), exptime, 18.0, gain, amp)
            add(path, root_name, "flt", "DARK", float(t0), exptime, gain=gain, amp=amp)

    # --- reference files
    oref = root / "oref"
    _write_tables(oref)
    pipe_sci = (floor + hot.image(shape, pipe_mjd)).astype(np.float32)
    pipe_sci += rng.normal(0, 0.0005, shape).astype(np.float32)
    pipe_err = np.full(shape, 0.001, np.float32)
    pipe_dq = np.where(pipe_sci > 0.1, 16, 0).astype(np.int16)
    useafter = Time(pipe_mjd - 3.5, format="mjd").datetime.strftime("%b %d %Y %H:%M:%S")
    _reference_image(
        oref / DARKFILE, pipe_sci, pipe_err, pipe_dq, FILENAME=DARKFILE, FILETYPE="DARK IMAGE", REF_TEMP=18,
        DRK_VS_T=0.07, USEAFTER=useafter, PEDIGREE="INFLIGHT synthetic", TASKNAME="WEEKDARK",
        DESCRIP="Synthetic weekly gain=1 dark for the stisdarks demo",
    )  # fmt: skip
    flat = (1.0 + 0.01 * rng.standard_normal(shape)).astype(np.float32)
    flat_err = np.full(shape, 0.002, np.float32)
    _reference_image(oref / PFLTFILE, flat, flat_err, np.zeros(shape, np.int16),
                     FILENAME=PFLTFILE, FILETYPE="PIXEL-TO-PIXEL FLAT", PEDIGREE="INFLIGHT synthetic")  # fmt: skip
    bias = rng.normal(0.0, 0.8, shape).astype(np.float32)
    bias_err = np.full(shape, 0.2, np.float32)
    _reference_image(oref / BIASFILE, bias, bias_err, np.zeros(shape, np.int16),
                     FILENAME=BIASFILE, FILETYPE="CCD BIAS IMAGE", PEDIGREE="INFLIGHT synthetic")  # fmt: skip
    refs = _Refs(
        dark=(pipe_sci, pipe_err, pipe_dq), ref_temp=18.0, drk_vs_t=0.07,
        flat=(flat, flat_err, np.zeros(shape, np.int16)), bias=(bias, bias_err, np.zeros(shape, np.int16)),
        crparams=read_crrejtab(oref / CRRTAB, 2, SCI_EXPTIME, "SPECTROSCOPIC"),
    )  # fmt: skip

    # --- the science observation
    _science(root, rng, obs_id, shape, trace, floor, hot, obs_mjd, refs, add)
    for k, extra in enumerate(extra_obs_ids, 1):
        _science(root, rng, extra, shape, trace, floor, hot, obs_mjd - k, refs, add)

    # --- tables, truth, and last the index (marks completion)
    with atomic_path(root / "anneal_periods.csv") as tmp:
        tmp.write_text(f"start,end,source\n{period_start},{period_end},synthetic archive\n")
    truth = {
        "seed": seed, "size": size, "n_darks": n_darks, "obs_id": obs_id,
        "period": {"start": period_start, "end": period_end, "start_mjd": start, "end_mjd": end},
        "obs_mjd": obs_mjd, "pipeline_dark": DARKFILE, "pipeline_dark_mjd": pipe_mjd,
        "trace": {"extrlocy_center": float(trace[nx // 2]), "slope_per_column": 1.5 / nx},
        "hot_pixels": [
            {"y": int(y), "x": int(x), "rate": float(r), "onset_mjd": float(o)}
            for y, x, r, o in zip(hot.y, hot.x, hot.rate, hot.onset, strict=True)
        ],
    }  # fmt: skip
    with atomic_path(root / "truth.json") as tmp:
        tmp.write_text(json.dumps(truth, indent=1))
    with atomic_path(root / "index.csv") as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=INDEX_COLUMNS)
        writer.writeheader()
        writer.writerows(index)
    log.info("synthetic archive written to %s (%d files)", root, len(index))
    return root


#: Raw amp-D layout used for every size (calstis ``stissizes.h``, full frame): 19 serial
#: overscan columns left and right, 20 virtual-overscan rows at the bottom, bias section =
#: raw columns 1..15 (0-indexed). For sizes below 1024 the same layout frames the smaller
#: illuminated area (a real STIS subarray is full width; this is a documented simplification).
OVERSCAN_LEFT, OVERSCAN_RIGHT, OVERSCAN_BOTTOM = 19, 19, 20
BIAS_SECTION = (1, 15)


@dataclass(frozen=True)
class _Refs:
    dark: tuple[np.ndarray, np.ndarray, np.ndarray]  # e-/s
    ref_temp: float
    drk_vs_t: float
    flat: tuple[np.ndarray, np.ndarray, np.ndarray]
    bias: tuple[np.ndarray, np.ndarray, np.ndarray]  # DN
    crparams: CRParams


def blevcorr_amp_d(raw: np.ndarray) -> tuple[np.ndarray, float]:
    """calstis BLEVCORR of one raw amp-D image set in the layout above (CALSTIS.md §2.5).

    Per output row the median of the bias-section columns, fitted by a straight line in
    the row; the slope along rows from the column medians of the virtual overscan (zero at
    the bias-section centre); both subtracted from the trimmed image. The outlier
    replacement in the virtual overscan is not done (the synthetic overscan holds no
    cosmic rays).

    Returns
    -------
    trimmed : ndarray (float32)
        The illuminated area minus the overscan level.
    meanblev : float
        The ``MEANBLEV`` keyword.
    """
    raw = np.asarray(raw, dtype=np.float64)
    ny_raw, nx_raw = raw.shape
    left, right, bottom = OVERSCAN_LEFT, OVERSCAN_RIGHT, OVERSCAN_BOTTOM
    ny, nx = ny_raw - bottom, nx_raw - left - right
    b0, b1 = BIAS_SECTION
    level_rows = np.median(raw[bottom:, b0 : b1 + 1], axis=1)
    jj = np.arange(ny) - ny // 2
    slope_j, icept = np.polyfit(jj, level_rows, 1)
    level = icept + slope_j * jj
    vx0, vx1 = left, nx_raw - 1 - right
    cols = np.median(raw[:bottom, vx0 : vx1 + 1], axis=0)
    m = np.polyfit(np.arange(vx0, vx1 + 1) - (vx0 + vx1) // 2, cols, 1)[0]
    z = (b0 + b1) / 2.0 - left
    drift = m * (np.arange(nx) - z)
    trimmed = raw[bottom:, left : left + nx] - level[:, None] - drift[None, :]
    meanblev = float(np.mean(level + m * (nx // 2 - z)))
    return trimmed.astype(np.float32), meanblev


def _sub(a, b, k: float = 1.0):
    """calstis ``sub2d`` of ``b·k`` (SCI, ERR, DQ triples)."""
    kk = np.float32(k)
    sci = a[0] - b[0] * kk
    err = np.sqrt(a[1].astype(np.float64) ** 2 + (b[1].astype(np.float64) * kk) ** 2)
    return sci.astype(np.float32), err.astype(np.float32), (a[2] | b[2]).astype(np.int16)


def _div(a, f):
    """calstis ``div2d`` (flat fielding)."""
    flat, ferr = f[0].astype(np.float64), f[1].astype(np.float64)
    good = flat != 0
    safe = np.where(good, flat, 1.0)
    sci = np.where(good, a[0] / safe, a[0])
    err = np.where(good, np.sqrt((a[1] / safe) ** 2 + (ferr * a[0] / safe**2) ** 2), a[1])
    dq = a[2] | f[2] | np.where(good, 0, 512)
    return sci.astype(np.float32), err.astype(np.float32), dq.astype(np.int16)


def _darkcorr(imset, refs: _Refs, exptime: float, temp: float, gain: float):
    """calstis DARKCORR: subtract ``DARK · factor · EXPTIME / ATODGAIN``; returns the imset and MEANDARK."""
    factor = 1.0 + refs.drk_vs_t * (temp - refs.ref_temp)
    k = factor * exptime / gain
    good = refs.dark[2] == 0
    meandark = float(np.median(refs.dark[0][good] * np.float32(k))) if good.any() else 0.0
    return _sub(imset, refs.dark, k), meandark


def _science(root, rng, obs_id, shape, trace, floor, hot, obs_mjd, refs: _Refs, add) -> None:
    """The CR-SPLIT=2 spectrum: ``_raw`` and the products calstis makes from it."""
    ny, nx = shape
    g, rn = ATODGAIN[1], READNSE[1]
    exptime = SCI_EXPTIME
    wave = np.linspace(2900.0, 5700.0, nx)
    # a faint continuum with absorption lines, e-/s per column, spread over rows by a Gaussian PSF
    cont = 3.0 * (1 + 0.5 * np.sin((wave - 2900) / 2800 * np.pi))
    for line in (3934.0, 3968.0, 4101.0, 4340.0, 4861.0, 5175.0):
        cont *= 1 - 0.5 * np.exp(-0.5 * ((wave - line) / 4.0) ** 2)
    rows = np.arange(ny)[:, None]
    psf = np.exp(-0.5 * ((rows - trace[None, :]) / 1.1) ** 2)
    psf /= psf.sum(axis=0, keepdims=True)
    flat = refs.flat[0]
    source = cont[None, :] * psf + 0.02  # + sky, e-/s per pixel
    dark_now = floor + hot.image(shape, obs_mjd)
    temps = [17.6, 17.9]
    starts = [obs_mjd, obs_mjd + (exptime + 60.0) / 86400.0]
    left, right, bottom = OVERSCAN_LEFT, OVERSCAN_RIGHT, OVERSCAN_BOTTOM
    ny_raw, nx_raw = ny + bottom, nx + left + right
    raw_imsets, blv, sci_cards = [], [], []
    for t0, temp in zip(starts, temps, strict=True):
        electrons = rng.poisson((source * flat + dark_now * _temp_factor(temp)) * exptime).astype(
            np.float64
        )
        electrons += rng.normal(0, rn, shape)
        dn = electrons / g + _cosmic_rays(rng, shape, exptime) / g
        # bias: a level that drifts slightly with the row, the bias image, read noise everywhere
        level = BIAS_LEVEL + 0.6 * (np.arange(ny_raw) / ny_raw - 0.5)
        full = level[:, None] + rng.normal(0, rn / g, (ny_raw, nx_raw))
        full[bottom:, left : left + nx] += dn + refs.bias[0]
        raw = np.round(np.clip(full, 0, 65535)).astype(np.uint16)
        cards = {"EXPTIME": exptime, "EXPSTART": t0, "EXPEND": t0 + exptime / 86400.0, "OCCDHTAV": temp,
                 "LTV1": float(left), "LTV2": float(bottom), "LTM1_1": 1.0, "LTM2_2": 1.0,
                 "BUNIT": "COUNTS", "DISPAXIS": 1, "SDQFLAGS": 31743}  # fmt: skip
        sci_cards.append(cards)
        raw_imsets.append((raw, cards))
        # calstis1a: DQICORR (saturation), BLEVCORR, ERR initialisation, BIASCORR -> _blv_tmp
        trimmed, meanblev = blevcorr_amp_d(raw)
        v = trimmed.astype(np.float64) * g
        err = np.where(v > 0, np.sqrt(np.maximum(v, 0) + rn**2) / g, rn / g).astype(np.float32)
        dq = np.where(raw[bottom:, left : left + nx] > 144000, 256, 0).astype(np.int16)
        blv.append(_sub((trimmed, err, dq), refs.bias))
        cards["MEANBLEV"] = meanblev
    texpstrt, texpend = starts[0], starts[-1] + exptime / 86400.0
    date_obs = Time(texpstrt, format="mjd", scale="utc").datetime
    common = dict(
        ROOTNAME=obs_id, OBSTYPE="SPECTROSCOPIC", OBSMODE="ACCUM", TARGNAME="SYNTH-FAINT-STAR", RA_TARG=150.0,
        DEC_TARG=2.2, OPT_ELEM="G430L", APERTURE="52X2", PROPAPER="52X2", APER_FOV="52x2", CENWAVE=4300,
        CRSPLIT=2, NRPTEXP=1, SUBARRAY=nx != 1024, SIZAXIS1=nx_raw, SIZAXIS2=ny_raw,
        **{"DATE-OBS": date_obs.strftime("%Y-%m-%d"), "TIME-OBS": date_obs.strftime("%H:%M:%S")},
        TEXPSTRT=texpstrt, TEXPEND=texpend, TEXPTIME=2 * exptime, PROPOSID=16196,
        PROPTTL1="Synthetic faint-source G430L spectroscopy", DARKFILE=f"oref${DARKFILE}",
        PFLTFILE=f"oref${PFLTFILE}", DFLTFILE="N/A", LFLTFILE="N/A", BPIXTAB="N/A",
    )  # fmt: skip
    sci_dir = root / "science"

    # _raw: uint16 with overscan; ERR and DQ header-only (PIXVALUE 0) as in real raw files
    hdus = [
        fits.PrimaryHDU(
            header=_primary(
                FILENAME=f"{obs_id}_raw.fits", **common, **_switches("PERFORM"), NEXTEND=6
            )
        )
    ]
    for k, (raw, cards) in enumerate(raw_imsets, 1):
        s = fits.ImageHDU(raw, name="SCI", ver=k)
        for key, value in cards.items():
            if key != "MEANBLEV":
                s.header[key] = value
        hdus += [s, *_empty_ext("ERR", k, raw.shape, cards), *_empty_ext("DQ", k, raw.shape, cards)]
    path = sci_dir / f"{obs_id}_raw.fits"
    write_hdul_atomic(fits.HDUList(hdus), path)
    add(path, obs_id, "raw", common["TARGNAME"], texpstrt, 2 * exptime)

    # calstis2: CR rejection of the _blv_tmp image sets with the CRREJTAB row
    noise = float(np.float32(rn) / np.float32(g))
    crj = crreject_stack([b[0] for b in blv], [b[2] for b in blv], [exptime] * 2, [noise] * 2, [g] * 2,
                         refs.crparams, return_masks=True)  # fmt: skip
    # calstis1 on _crj_tmp: dark with the total EXPTIME and exposure-weighted OCCDHTAV, then flat
    t_crj = float(np.float32((temps[0] * exptime + temps[1] * exptime) / (2 * exptime)))
    crj_set, meandark = _darkcorr(
        (crj.sci.astype(np.float32), crj.err.astype(np.float32), crj.dq.astype(np.int16)),
        refs, 2 * exptime, t_crj, g,
    )  # fmt: skip
    crj_sci, crj_err, crj_dq = _div(crj_set, refs.flat)
    done = _switches("COMPLETE")
    meanblev = float(np.mean([c["MEANBLEV"] for c in sci_cards]))
    crj_cards = {**sci_cards[0], "EXPTIME": 2 * exptime, "EXPEND": texpend, "OCCDHTAV": t_crj, "NCOMBINE": 2,
                 "LTV1": 0.0, "LTV2": 0.0, "MEANBLEV": meanblev, "MEANDARK": meandark}  # fmt: skip
    primary = _primary(
        FILENAME=f"{obs_id}_crj.fits", **common, **done, **refs.crparams.header_cards()
    )
    path = sci_dir / f"{obs_id}_crj.fits"
    write_hdul_atomic(fits.HDUList([fits.PrimaryHDU(header=primary),
                                    *_imset(1, crj_sci, crj_err, crj_dq, crj_cards)]), path)  # fmt: skip
    add(path, obs_id, "crj", common["TARGNAME"], texpstrt, 2 * exptime)

    # _flt (EXPSCORR): each _blv_tmp image set with the CR flags, dark- and flat-corrected
    hdus = [
        fits.PrimaryHDU(header=_primary(FILENAME=f"{obs_id}_flt.fits", **common, **done, NEXTEND=6))
    ]
    for k, (imset, cards, temp) in enumerate(zip(blv, sci_cards, temps, strict=True)):
        cr = np.where(crj.masks[k], np.int16(8192), np.int16(0)) if refs.crparams.crmask else 0
        flagged = (imset[0], imset[1], (imset[2] | cr).astype(np.int16))
        darked, meandark_k = _darkcorr(flagged, refs, exptime, temp, g)
        sci, err, dq = _div(darked, refs.flat)
        hdus += _imset(
            k + 1, sci, err, dq, {**cards, "LTV1": 0.0, "LTV2": 0.0, "MEANDARK": meandark_k}
        )
    path = sci_dir / f"{obs_id}_flt.fits"
    write_hdul_atomic(fits.HDUList(hdus), path)
    add(path, obs_id, "flt", common["TARGNAME"], texpstrt, 2 * exptime)

    # _sx1: box extraction of the _crj along the trace, as count rates; FLUX = NET x sensitivity
    extrsize, bkoff, bksize = 7.0, float(min(300, ny // 4)), 5.0
    ext = extract_box(crj_sci, crj_err, crj_dq, trace, extrsize, -bkoff, bkoff, bksize, bksize)
    t_tot = 2 * exptime
    sens = (2.0e-15 * (1 + 0.3 * np.cos((wave - 2900) / 2800 * np.pi))).astype(np.float64)
    net = ext["net"] / t_tot
    cols = [
        fits.Column("SPORDER", "I", array=[1]),
        fits.Column("NELEM", "I", array=[nx]),
        fits.Column("WAVELENGTH", f"{nx}D", array=[wave], unit="Angstroms"),
        fits.Column("GROSS", f"{nx}E", array=[ext["gross"] / t_tot], unit="Counts/s"),
        fits.Column("BACKGROUND", f"{nx}E", array=[ext["background"] / t_tot], unit="Counts/s"),
        fits.Column("NET", f"{nx}E", array=[net], unit="Counts/s"),
        fits.Column("FLUX", f"{nx}E", array=[net * sens], unit="erg/s/cm**2/Angstrom"),
        fits.Column(
            "ERROR", f"{nx}E", array=[ext["net_error"] / t_tot * sens], unit="erg/s/cm**2/Angstrom"
        ),
        fits.Column("NET_ERROR", f"{nx}E", array=[ext["net_error"] / t_tot], unit="Counts/s"),
        fits.Column("DQ", f"{nx}I", array=[ext["dq"]]),
        fits.Column("A2CENTER", "E", array=[trace[nx // 2] + 1]),
        fits.Column("EXTRSIZE", "E", array=[extrsize]),
        fits.Column("MAXSRCH", "I", array=[0]),
        fits.Column("BK1SIZE", "E", array=[bksize]),
        fits.Column("BK2SIZE", "E", array=[bksize]),
        fits.Column("BK1OFFST", "E", array=[-bkoff]),
        fits.Column("BK2OFFST", "E", array=[bkoff]),
        fits.Column("EXTRLOCY", f"{nx}E", array=[trace + 1.0], unit="pixel"),
        fits.Column("OFFSET", "E", array=[0.0]),
    ]
    table = fits.BinTableHDU.from_columns(cols, name="SCI")
    table.header["EXPTIME"] = t_tot
    primary = _primary(FILENAME=f"{obs_id}_sx1.fits", **common, **done, NEXTEND=1)
    path = sci_dir / f"{obs_id}_sx1.fits"
    write_hdul_atomic(fits.HDUList([fits.PrimaryHDU(header=primary), table]), path)
    add(path, obs_id, "sx1", common["TARGNAME"], texpstrt, 2 * exptime)

    # _wav: a raw lamp exposure through the same slit (emission lines along the slit), with overscan
    lamp = np.zeros((ny_raw, nx_raw))
    for col in rng.choice(nx, 12, replace=False):
        lamp[bottom:, left + col] += rng.uniform(200.0, 2000.0)
    lamp += BIAS_LEVEL + rng.normal(0, rn / g, lamp.shape)
    t_wav = texpend + 60.0 / 86400.0
    primary = _primary(FILENAME=f"{obs_id}_wav.fits", **{**common, "TARGNAME": "WAVELINE", "TEXPTIME": 1.0,
                       "TEXPSTRT": t_wav, "TEXPEND": t_wav + 1 / 86400, "CRSPLIT": 1, "NEXTEND": 3,
                       "OBSTYPE": "SPECTROSCOPIC", "SCLAMP": "HITM1"}, **_switches("PERFORM"))  # fmt: skip
    path = sci_dir / f"{obs_id}_wav.fits"
    wav_cards = {"EXPTIME": 1.0, "EXPSTART": t_wav, "EXPEND": t_wav + 1 / 86400, "OCCDHTAV": temps[-1],
                 "LTV1": float(left), "LTV2": float(bottom), "BUNIT": "COUNTS"}  # fmt: skip
    sci = fits.ImageHDU(np.round(lamp).astype(np.uint16), name="SCI", ver=1)
    for key, value in wav_cards.items():
        sci.header[key] = value
    empty = [
        *_empty_ext("ERR", 1, lamp.shape, wav_cards),
        *_empty_ext("DQ", 1, lamp.shape, wav_cards),
    ]
    write_hdul_atomic(fits.HDUList([fits.PrimaryHDU(header=primary), sci, *empty]), path)
    add(path, obs_id, "wav", "WAVELINE", t_wav, 1.0)


def _empty_ext(name: str, ver: int, shape: tuple[int, int], cards: dict) -> list[fits.ImageHDU]:
    """A header-only constant extension (``PIXVALUE = 0``), as in raw STIS files."""
    hdu = fits.ImageHDU(name=name, ver=ver)
    hdu.header["PIXVALUE"] = 0
    hdu.header["NPIX1"] = shape[1]
    hdu.header["NPIX2"] = shape[0]
    for key in ("EXPTIME", "EXPSTART", "EXPEND", "LTV1", "LTV2"):
        if key in cards:
            hdu.header[key] = cards[key]
    return [hdu]


def _switches(value: str) -> dict[str, str]:
    keys = ("DQICORR", "BLEVCORR", "BIASCORR", "CRCORR", "EXPSCORR", "DARKCORR", "FLATCORR", "WAVECORR", "X1DCORR",
            "X2DCORR")  # fmt: skip
    out = {k: value for k in keys}
    out.update(ATODCORR="OMIT", SHADCORR="OMIT", PHOTCORR="OMIT", RPTCORR="OMIT")
    return out
