"""Write a whole synthetic archive: darks, reference files, science, index and truth."""

from __future__ import annotations

import csv
import json
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from astropy.time import Time

from stisdarks import defaults
from stisdarks.archive.base import file_md5
from stisdarks.engines.common import DARK_VS_T, REF_TEMP
from stisdarks.fitsio import atomic_path
from stisdarks.synthetic import reffiles
from stisdarks.synthetic.darks import DARK_EXPTIME, write_dark_flt
from stisdarks.synthetic.detector import (
    ATODGAIN,
    DARK_FLOOR,
    HotPixels,
    dark_frame,
    hot_pixel_population,
)
from stisdarks.synthetic.geometry import Geometry
from stisdarks.synthetic.science import Scene, ScienceMode, write_science
from stisdarks.synthetic.spectrum import trace_of
from stisdarks.synthetic.transfer import ChargeTransfer

__all__ = [
    "DEFAULT_OBS_ID",
    "INDEX_COLUMNS",
    "PARTS",
    "PERIOD_START",
    "PERIOD_END",
    "generate_archive",
]

log = logging.getLogger(__name__)

DEFAULT_OBS_ID = defaults.DEMO_OBS_ID
PERIOD_START = "2021-04-07 02:35:41"
PERIOD_END = "2021-05-05 14:00:22"
PIPELINE_DARK_AGE = 10.0  # days before the observation
SCIENCE_PROPOSAL = 16196  # the science's PROPOSID (the darks are the dark monitor's, 16511)
SECOND_PERIOD_END = "2021-06-02 10:00:00"  # the end of the synthetic second anneal period
SECOND_PIPELINE_DARK = "syn_pipe_drk2.fits"
#: the halves of the archive, each written whole by one call (one workflow job each)
PARTS = ("science", "darks")
INDEX_COLUMNS = [
    "obs_id", "kind", "filename", "path", "instrument", "detector", "target", "start_mjd", "end_mjd",
    "exptime", "ccdgain", "ccdamp", "binaxis1", "binaxis2", "proposid", "size", "obstype", "obsmode",
    "md5",
]  # fmt: skip


def _mjd(iso: str) -> float:
    return float(Time(iso, format="iso", scale="utc").mjd)


class _Index:
    """Rows of ``index.csv``, one per file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.rows: list[dict] = []

    def add(self, path: Path, obs: str, kind: str, target: str, t0: float, exptime: float, gain=1,
            amp="D", proposid=16511, detector="CCD", binning=(1, 1), obstype="IMAGING",
            obsmode="ACCUM") -> None:  # fmt: skip
        self.rows.append(
            {"obs_id": obs, "kind": kind, "filename": path.name, "path": str(path.relative_to(self.root)),
             "instrument": "STIS", "detector": detector, "target": target, "start_mjd": f"{t0:.8f}",
             "end_mjd": f"{t0 + exptime / 86400.0:.8f}", "exptime": exptime, "ccdgain": gain, "ccdamp": amp,
             "binaxis1": binning[0], "binaxis2": binning[1], "proposid": proposid, "size": path.stat().st_size,
             "obstype": obstype, "obsmode": obsmode, "md5": file_md5(path)}
        )  # fmt: skip

    def write(self, path: Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=INDEX_COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows)


def generate_archive(
    root: str | os.PathLike,
    *,
    size: int = defaults.DEMO_SIZE,
    n_darks: int = defaults.DEMO_N_DARKS,
    seed: int = defaults.DEMO_SEED,
    obs_id: str = DEFAULT_OBS_ID,
    period_start: str = PERIOD_START,
    period_end: str = PERIOD_END,
    n_hot: int | None = None,
    extra_obs_ids: tuple[str, ...] = (),
    science_bin: tuple[int, int] = (1, 1),
    science_gain: int = 1,
    science_rows: int | None = None,
    science_kind: str = "spectrum",
    image_obs_ids: tuple[str, ...] = (),
    second_period_darks: int = 0,
    second_period_obs_ids: tuple[str, ...] = (),
    unprocessable: bool = False,
    cti_trails: bool | None = None,
    parts: tuple[str, ...] = PARTS,
) -> Path:
    """Write a synthetic archive into ``root``: its science half, its darks half, or both.

    Parameters
    ----------
    root : path-like
        Archive directory.
    size : int
        CCD rows read out: 1024 = the full frame (raw 1062 × 1044 with amp D's overscan);
        fewer = a full-width subarray of that many rows centred on the detector (raw
        1060 × ``size``), as STIS reads subarrays. Every image of the archive — darks,
        reference files and science — covers the same rows, so calstis uses the
        reference files as they are. Small sizes keep tests quick.
    n_darks : int
        Long darks in the anneal period.
    seed : int
        Random seed.
    obs_id : str
        Dataset name of the science observation.
    period_start, period_end : str
        The anneal period (UTC ISO).
    n_hot : int, optional
        Hot pixels (> 0.1 e⁻/s) present right after the anneal (default: 44,000 scaled
        to the image area, as STScI's anneal reports; ~250 more are born per day).
    extra_obs_ids : tuple of str
        More science observations of the same period (each a day earlier than the
        previous one), to exercise several targets sharing one basedark.
    science_bin : (int, int)
        On-chip binning of the science (1 or 2 per axis; binned science needs
        ``size=1024``). The darks stay unbinned, as STScI's dark monitor takes them.
    science_gain : int
        ``CCDGAIN`` of the science (1 or 4); the darks stay at gain 1.
    science_rows : int, optional
        Rows of a science subarray centred inside the archive's rows (default: the
        archive's own readout).
    science_kind : str
        ``"spectrum"`` (a CR-SPLIT G430L spectrum: ``_raw, _wav, _flt, _crj, _sx1``) or
        ``"image"`` (a CR-SPLIT CCD image: ``_raw, _flt, _crj``).
    image_obs_ids : tuple of str
        CR-SPLIT CCD images of the same period (each two days earlier than the previous).
    second_period_darks : int
        When > 0, a second anneal period follows the first (to :data:`SECOND_PERIOD_END`),
        with this many long darks, its own hot pixels (the anneal cured the first
        period's) and its own weekly pipeline dark (:data:`SECOND_PIPELINE_DARK`).
    second_period_obs_ids : tuple of str
        Spectra of the second period (in its middle, a day apart).
    unprocessable : bool
        Also list observations of the programme that no custom dark can serve: a
        FUV-MAMA spectrum, a target acquisition and a single CCD exposure (no ``_crj``).
    cti_trails : bool or None
        Read the charge out through the CCD's charge traps, so that darks and science carry
        the CTI trails of their date (:class:`~stisdarks.synthetic.transfer.ChargeTransfer`):
        ``None`` (default) for exposures from 2009-05-01 on, as on the real detector;
        ``False`` never, ``True`` always.
    parts : tuple of str
        Which halves to write (:data:`PARTS`): ``"science"`` (reference files, science
        observations, ``anneal_periods.csv``, ``truth.json``; listed in
        ``science/index.csv``) and ``"darks"`` (the darks, listed in ``darks/index.csv``).
        Each half draws its own random numbers from ``seed`` (the hot pixels, dark floor
        and bad pixels they share are drawn alike by both), so the halves can be written by
        two processes at once and agree; a half whose index exists is complete and kept.

    Returns
    -------
    Path
        ``root``.
    """
    root = Path(root)
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"parts must be among {PARTS}, got {unknown}")
    if science_gain not in ATODGAIN:
        raise ValueError(f"science_gain must be one of {sorted(ATODGAIN)}, got {science_gain}")
    mode = ScienceMode(Geometry(science_rows or size, bin=tuple(science_bin)), gain=science_gain)
    if mode.geometry.rows > size:
        raise ValueError(
            f"science_rows ({science_rows}) must not exceed the archive's rows ({size})"
        )
    todo = [part for part in PARTS if part in parts and not (root / part / "index.csv").is_file()]
    if not todo:
        log.info("synthetic archive %s (%s) is complete; kept", root, " and ".join(parts))
        return root
    stale = root / "index.csv"  # the one index of the layout before the halves: it would win
    if stale.is_file():  # (both halves may run at once: the second finds it gone)
        stale.unlink(missing_ok=True)
        log.info("removed %s, the index of an archive generated before the two halves", stale)
    geometry = Geometry(size)
    transfer = ChargeTransfer(first_row=geometry.first_row, enabled=cti_trails)
    world = _world(seed, geometry, (period_start, period_end), n_hot, second_period_darks, transfer)
    log.info(
        "synthetic archive: %d darks of %dx%d, %d hot pixels; writing its %s",
        n_darks, world.geometry.shape[1], world.geometry.shape[0], world.first.hot.y.size,
        " and ".join(todo),
    )  # fmt: skip
    if "darks" in todo:
        _write_darks_half(root, world, n_darks)
    if "science" in todo:
        _write_science_half(
            root, world, mode, size=size, n_darks=n_darks, seed=seed, obs_id=obs_id,
            extra_obs_ids=extra_obs_ids, science_kind=science_kind, image_obs_ids=image_obs_ids,
            second_period_obs_ids=second_period_obs_ids, unprocessable=unprocessable,
        )  # fmt: skip
    log.info("synthetic archive written to %s (%s)", root, " and ".join(todo))
    return root


@dataclass(frozen=True)
class _Period:
    """What both halves of the archive know of one anneal period (its bounds, hot pixels)."""

    start_iso: str
    end_iso: str
    obs_mjd: float
    pipe_mjd: float
    hot: HotPixels
    n_darks: int = 0

    @property
    def start(self) -> float:
        return _mjd(self.start_iso)

    @property
    def end(self) -> float:
        return _mjd(self.end_iso)


@dataclass(frozen=True)
class _World:
    """The state both halves share, and each half's own random numbers."""

    geometry: Geometry
    trace: np.ndarray
    floor: np.ndarray
    bad: reffiles.BadPixels
    first: _Period
    second: _Period | None
    rngs: dict[str, np.random.Generator]
    transfer: ChargeTransfer


def _world(seed, geometry, period, n_hot, second_period_darks, transfer) -> _World:
    """Draw the shared state from ``seed`` (the same in both halves) and seed each half."""
    shared, darks, science, shared2, darks2, science2 = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)
    )
    start, end = _mjd(period[0]), _mjd(period[1])
    obs_mjd = end - 1.5 / 24.0
    pipe_mjd = obs_mjd - PIPELINE_DARK_AGE
    trace = trace_of(geometry)
    hot = hot_pixel_population(
        shared, geometry.shape, start, end, trace_rows=trace, obs_mjd=obs_mjd, pipe_mjd=pipe_mjd,
        n_at_anneal=n_hot,
    )  # fmt: skip
    floor = DARK_FLOOR * (1.0 + 0.1 * shared.standard_normal(geometry.shape)).clip(0.5, 1.5)
    # the BPIXTAB knows the strongest hot pixels of an earlier anneal period
    old = hot.onset < start
    strongest = np.argsort(hot.rate[old])[-20:]
    bad = reffiles.bad_pixel_table(shared, geometry, (hot.y[old][strongest], hot.x[old][strongest]))
    second = None
    if second_period_darks > 0:  # the anneal cured the first period's hot pixels
        start2, end2 = end, _mjd(SECOND_PERIOD_END)
        obs2 = start2 + 0.5 * (end2 - start2)
        hot2 = hot_pixel_population(
            shared2, geometry.shape, start2, end2, trace_rows=trace, obs_mjd=obs2,
            pipe_mjd=obs2 - PIPELINE_DARK_AGE, n_at_anneal=n_hot,
        )  # fmt: skip
        second = _Period(period[1], SECOND_PERIOD_END, obs2, obs2 - PIPELINE_DARK_AGE, hot2,
                         second_period_darks)  # fmt: skip
    rngs = {"darks": darks, "science": science, "darks2": darks2, "science2": science2}
    first = _Period(*period, obs_mjd, pipe_mjd, hot)
    return _World(geometry, trace, floor, bad, first, second, rngs, transfer)


def _write_darks_half(root: Path, world: _World, n_darks: int) -> None:
    """The darks: the period's long darks, distractors, a second period's darks; darks/index.csv."""
    (root / "darks").mkdir(parents=True, exist_ok=True)
    index = _Index(root)
    rng, geometry, first = world.rngs["darks"], world.geometry, world.first
    starts = _write_period_darks(
        rng, root, index, world, first.hot, first.start, first.end, n_darks, "odark"
    )
    last_end = world.second.end if world.second else first.end
    distractors = [
        ("odsht", 60.0, 1, "D", starts[:3] + 0.2),  # short darks
        ("odgn4", DARK_EXPTIME, 4, "D", starts[:3] + 0.3),  # gain 4
        ("odamp", DARK_EXPTIME, 1, "A", starts[:2] + 0.4),  # amplifier A
        ("odout", DARK_EXPTIME, 1, "D", np.array([first.start - 0.6, last_end + 0.3])),  # outside
    ]
    for prefix, exptime, gain, amp, times in distractors:
        for i, t0 in enumerate(times):
            name = f"{prefix}{i:03d}q"
            frame = dark_frame(rng, world.floor + first.hot.image(geometry.shape, t0), 18.0, exptime,
                               gain, world.bad.dq, _readout(world.transfer, float(t0), amp))  # fmt: skip
            path = write_dark_flt(root / "darks" / f"{name}_flt.fits", geometry, frame, start=float(t0),
                                  exptime=exptime, temp=18.0, gain=gain, amp=amp)  # fmt: skip
            index.add(path, name, "flt", "DARK", float(t0), exptime, gain=gain, amp=amp)
    if world.second:
        second = world.second
        _write_period_darks(
            world.rngs["darks2"], root, index, world, second.hot, second.start, second.end,
            second.n_darks, "odsec",
        )  # fmt: skip
    index.write(root / "darks" / "index.csv")  # last: marks the half complete


def _write_science_half(root: Path, world: _World, mode: ScienceMode, *, size, n_darks, seed, obs_id,
                        extra_obs_ids, science_kind, image_obs_ids, second_period_obs_ids,
                        unprocessable) -> None:  # fmt: skip
    """Reference files, science, anneal_periods.csv, truth.json; science/index.csv last."""
    rng, geometry, first = world.rngs["science"], world.geometry, world.first
    shape = geometry.shape
    for sub in ("science", "oref"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    oref = root / "oref"
    index = _Index(root)

    reffiles.write_crrejtab(oref)
    reffiles.write_ccdtab(oref)
    reffiles.write_bpixtab(oref, world.bad)
    pipe_dark, dark_header = _write_pipeline_dark(
        rng, oref, reffiles.DARKFILE, world, first.hot, first.pipe_mjd
    )
    flat = (1.0 + 0.01 * rng.standard_normal(shape)).astype(np.float32)
    flat_err = np.full(shape, 0.002, np.float32)
    no_dq = np.zeros(shape, np.int16)
    reffiles.write_reference_image(
        oref / reffiles.PFLTFILE, geometry, flat, flat_err, no_dq, FILENAME=reffiles.PFLTFILE,
        FILETYPE="PIXEL-TO-PIXEL FLAT", PEDIGREE="INFLIGHT 01/01/2021", USEAFTER="Jan 01 1997 00:00:00",
    )  # fmt: skip
    # the bias is made for the science readout (STScI keeps one per binning and gain)
    sci_shape = mode.geometry.shape
    bias = rng.normal(0.0, 0.8, sci_shape).astype(np.float32)
    bias_err = np.full(sci_shape, 0.2, np.float32)
    bias_dq = np.zeros(sci_shape, np.int16)
    reffiles.write_reference_image(
        oref / reffiles.BIASFILE, mode.geometry, bias, bias_err, bias_dq, FILENAME=reffiles.BIASFILE,
        FILETYPE="CCD BIAS IMAGE", PEDIGREE="INFLIGHT 01/01/2021", USEAFTER="Jan 01 1997 00:00:00",
        BINAXIS1=mode.geometry.bin[0], BINAXIS2=mode.geometry.bin[1],
    )  # fmt: skip
    refs = reffiles.Refs(
        dark=pipe_dark, dark_header=dark_header, flat=(flat, flat_err, no_dq),
        bias=(bias, bias_err, bias_dq), bpix=world.bad.rows,
    )  # fmt: skip

    scene = Scene(geometry, world.trace, world.floor, first.hot, world.transfer)

    def add_science(*args, **kw) -> None:
        index.add(*args, proposid=SCIENCE_PROPOSAL, **kw)

    write_science(root / "science", oref, rng, obs_id, scene, refs, first.obs_mjd, add_science, mode,
                  kind=science_kind)  # fmt: skip
    for k, extra in enumerate(extra_obs_ids, 1):
        write_science(root / "science", oref, rng, extra, scene, refs, first.obs_mjd - k, add_science,
                      mode, kind=science_kind)  # fmt: skip
    for k, image in enumerate(image_obs_ids, 1):
        write_science(root / "science", oref, rng, image, scene, refs, first.obs_mjd - 2 * k,
                      add_science, mode, kind="image")  # fmt: skip
    second_truth = {}
    if world.second:
        second = world.second
        rng2 = world.rngs["science2"]
        pipe, header = _write_pipeline_dark(
            rng2, oref, SECOND_PIPELINE_DARK, world, second.hot, second.pipe_mjd
        )
        refs2 = replace(refs, dark=pipe, dark_header=header, darkfile=SECOND_PIPELINE_DARK)
        scene2 = Scene(geometry, world.trace, world.floor, second.hot, world.transfer)
        for k, obs in enumerate(second_period_obs_ids):
            write_science(root / "science", oref, rng2, obs, scene2, refs2, second.obs_mjd - k,
                          add_science, mode)  # fmt: skip
        second_truth = {"start": second.start_iso, "end": second.end_iso,
                        "start_mjd": second.start, "end_mjd": second.end,
                        "n_darks": second.n_darks, "obs_ids": list(second_period_obs_ids),
                        "obs_mjd": second.obs_mjd, "pipeline_dark": SECOND_PIPELINE_DARK,
                        "pipeline_dark_mjd": second.pipe_mjd,
                        "hot_pixels": _hot_pixel_rows(second.hot)}  # fmt: skip
    if unprocessable:
        _write_unprocessable(root / "science", geometry, first.obs_mjd - 3.0, add_science)

    period_start, period_end = first.start_iso, first.end_iso
    periods = [(p.start_iso, p.end_iso) for p in (first, world.second) if p is not None]
    with atomic_path(root / "anneal_periods.csv") as tmp:
        tmp.write_text(
            "start,end,source\n" + "".join(f"{a},{b},synthetic archive\n" for a, b in periods)
        )
    hot = first.hot
    nx = shape[1]
    truth = {
        "seed": seed, "size": size, "n_darks": n_darks, "obs_id": obs_id,
        "science": {"binaxis1": mode.geometry.bin[0], "binaxis2": mode.geometry.bin[1],
                    "ccdgain": mode.gain, "rows": mode.geometry.rows},
        "detector_first_row": geometry.first_row,
        "period": {"start": period_start, "end": period_end, "start_mjd": first.start,
                   "end_mjd": first.end},
        "obs_mjd": first.obs_mjd, "pipeline_dark": reffiles.DARKFILE, "pipeline_dark_mjd": first.pipe_mjd,
        "second_period": second_truth,
        "trace": {"extrlocy_center": float(world.trace[nx // 2]), "slope_per_column": 1.5 / nx},
        "hot_pixels": _hot_pixel_rows(hot),
    }  # fmt: skip
    with atomic_path(root / "truth.json") as tmp:
        tmp.write_text(json.dumps(truth))
    index.write(root / "science" / "index.csv")  # last: marks the half complete


def _hot_pixel_rows(hot: HotPixels) -> list[dict]:
    """The hot pixels as ``truth.json`` lists them: y, x (0-indexed), rate, onset."""
    return [
        {"y": int(y), "x": int(x), "rate": round(float(r), 5), "onset_mjd": round(float(o), 6)}
        for y, x, r, o in zip(hot.y, hot.x, hot.rate, hot.onset, strict=True)
    ]


def _readout(transfer: ChargeTransfer, mjd: float, amp: str = "D"):
    """The readout of an exposure of ``mjd`` through ``amp`` (electrons → electrons)."""
    return lambda charge: transfer.read(charge, mjd, amp)


def _write_period_darks(rng, root, index, world, hot, start, end, n_darks, prefix):
    """Long gain-1 amp-D darks spread over ``[start, end)`` (two a day, as the dark monitor)."""
    geometry, floor, bad = world.geometry, world.floor, world.bad
    shape = geometry.shape
    span = end - start
    starts = (
        start
        + (np.arange(n_darks) + 0.5) * span / n_darks
        + rng.uniform(-0.05, 0.05, n_darks) * span / n_darks
    )
    temps = np.clip(rng.normal(18.0, 1.2, n_darks), 15.5, 21.0)
    for i, (t0, temp) in enumerate(zip(starts, temps, strict=True)):
        name = f"{prefix}{i:03d}q"
        frame = dark_frame(rng, floor + hot.image(shape, t0), float(temp), DARK_EXPTIME, 1, bad.dq,
                           _readout(world.transfer, float(t0)))  # fmt: skip
        path = write_dark_flt(root / "darks" / f"{name}_flt.fits", geometry, frame, start=float(t0),
                              exptime=DARK_EXPTIME, temp=float(temp), gain=1, amp="D",
                              darkfile=pipeline_week_dark(prefix, t0 - start))  # fmt: skip
        index.add(path, name, "flt", "DARK", float(t0), DARK_EXPTIME)
    return starts


def pipeline_week_dark(prefix: str, days: float) -> str:
    """The ``DARKFILE`` the pipeline named for a dark taken ``days`` after the period began:
    one weekly dark per 7 days (the names only: these weekly darks are not in the archive)."""
    return f"oref$syn_{prefix}_w{int(days // 7) + 1}_drk.fits"


def _write_pipeline_dark(rng, oref, name, world, hot, pipe_mjd):
    """The pipeline's weekly dark of ``pipe_mjd`` in ``oref/name``: ``((sci, err, dq), header)``.

    STScI makes it from the week's darks as they come, trailed: here the dark current of
    one long dark, read out as it is at ``pipe_mjd``, per second.
    """
    geometry, bad = world.geometry, world.bad
    shape = geometry.shape
    rate = world.floor + hot.image(shape, pipe_mjd)
    rate = world.transfer.read(rate * DARK_EXPTIME, pipe_mjd) / DARK_EXPTIME
    pipe_sci = rate.astype(np.float32)
    pipe_sci += rng.normal(0, 0.0005, shape).astype(np.float32)
    pipe_err = np.full(shape, 0.001, np.float32)
    pipe_dq = (np.where(pipe_sci > 0.1, reffiles.HOT, 0) | bad.dq).astype(np.int16)
    useafter = Time(pipe_mjd - 3.5, format="mjd").datetime.strftime("%b %d %Y %H:%M:%S")
    header = reffiles.write_reference_image(
        oref / name, geometry, pipe_sci, pipe_err, pipe_dq, FILENAME=name,
        FILETYPE="DARK IMAGE", REF_TEMP=REF_TEMP, DRK_VS_T=DARK_VS_T, USEAFTER=useafter, PEDIGREE="INFLIGHT 01/01/2021",
        TASKNAME="WEEKDARK", DESCRIP="Synthetic weekly gain=1 dark for the stisdarks demo",
    )  # fmt: skip
    return (pipe_sci, pipe_err, pipe_dq), header


#: observations of the programme that no custom CCD dark serves: (obs id, detector, OBSMODE,
#: OBSTYPE, products)
UNPROCESSABLE = (
    ("odmam1010", "FUV-MAMA", "ACCUM", "SPECTROSCOPIC", ("raw", "flt", "x1d")),
    ("odacq1010", "CCD", "ACQ", "IMAGING", ("raw",)),
    ("odsgl1010", "CCD", "ACCUM", "IMAGING", ("raw", "flt")),
)


def _write_unprocessable(directory: Path, geometry: Geometry, t0: float, add) -> None:
    """Small files for :data:`UNPROCESSABLE` (headers as STIS writes them; 32x32 data)."""
    from astropy.io import fits

    from stisdarks.fitsio import write_hdul_atomic

    for k, (obs_id, detector, obsmode, obstype, kinds) in enumerate(UNPROCESSABLE):
        start = t0 - 0.1 * k
        for kind in kinds:
            primary = fits.PrimaryHDU()
            for key, value in dict(ROOTNAME=obs_id, INSTRUME="STIS", DETECTOR=detector, OBSMODE=obsmode,
                                   OBSTYPE=obstype, TARGNAME="SYNTH-FAINT-STAR", PROPOSID=SCIENCE_PROPOSAL,
                                   TEXPSTRT=start, TEXPEND=start + 30 / 86400.0, TEXPTIME=30.0,
                                   NEXTEND=1).items():  # fmt: skip
                primary.header[key] = value
            sci = fits.ImageHDU(np.zeros((32, 32), np.int16), name="SCI")
            path = directory / f"{obs_id}_{kind}.fits"
            write_hdul_atomic(fits.HDUList([primary, sci]), path)
            add(path, obs_id, kind, "SYNTH-FAINT-STAR", start, 30.0, detector=detector, obstype=obstype,
                obsmode=obsmode)  # fmt: skip
