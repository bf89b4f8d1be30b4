"""The native calstis-2 cosmic-ray rejection of a stack of image sets.

A NumPy port of the algorithm in ``docs/crreject.md`` (calstis-2), in float32 and in the
same order of operations as the C code, so that SCI and ERR agree with calstis to
rounding and DQ bit for bit. The arithmetic lives in :mod:`stisdarks.crreject.kernel`;
this module runs it over the image sets.

Memory stays flat whatever the number of image sets: the inputs are read a block of rows
at a time (:mod:`stisdarks.crreject.rows`), in two passes.

1. ``SKYSUB = mode`` (what real CRREJTAB rows say; calstis forces ``none`` only for
   ``OBSTYPE = SPECTROSCOPIC``): each image set's sky, the mode of its DQ = 0 pixels, is
   gathered block by block (:class:`~stisdarks.crreject.kernel.SkyAccumulator`).
2. Each block of rows of the whole stack (about ``_BLOCK_BYTES``, whatever the number of
   image sets), with a halo of ``iterations × CRRADIUS`` rows above and below (the spill
   reaches across rows), is combined: initial guess, the iterations, the output rows. The
   sky is subtracted before the rejection and ``Σ sky`` added back to SCI, exactly as
   ``cs2.e``.

Image sets (pass 1) and blocks (pass 2) are shared among ``threads`` worker processes,
forked on Linux (:mod:`stisdarks.crreject.pool`). The result depends neither on the
number of workers nor on the block size.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from stisdarks.crreject.kernel import (
    NeedsRowsAbove,
    Plan,
    SkyAccumulator,
    Workspace,
    disk_offsets,
    fold_minimum,
    histogram_mode,
    median_rates,
    reject_block,
    sky_histogram,
)
from stisdarks.crreject.pool import worker_pool
from stisdarks.crreject.rows import ArrayRows, RowSource
from stisdarks.crrejtab import CRParams
from stisdarks.errors import StisDarksError

__all__ = ["CRResult", "crreject_stack", "crreject_rows", "sky_mode"]

#: the package's logger: the rejection's messages are ``stisdarks.crreject``'s
log = logging.getLogger("stisdarks.crreject")


_F32 = np.float32
#: bytes of one block of the stack (the rates and DQ of every image set)
_BLOCK_BYTES = 24 * 1024**2
#: at most this many output rows per block (a few stacks' worth of work planes)
_MAX_BLOCK_ROWS = 128
#: worker processes only for stacks of at least this many pixels (smaller ones take less
#: time than starting them)
_PARALLEL_PIXELS = 4 * 1024**2
#: rows per read in the sky pass (when ``block_rows`` is not given)
_SKY_ROWS = 128


@dataclass
class CRResult:
    """Output of :func:`crreject_stack`.

    Attributes
    ----------
    sci : ndarray, float32
        Combined counts over the total exposure (``ave · texpt + skysum``).
    err : ndarray, float32
        Its error from the noise model.
    dq : ndarray, int16
        OR of the inputs' DQ (CR bit cleared), CR bit where every image set was rejected.
    masks : ndarray of bool or None
        ``(N, ny, nx)`` rejected (hit or spill) per image set, if requested.
    n_rejected : ndarray of int
        Rejected pixels per image set in the last iteration.
    texptime : float
        Total exposure ``Σ EXPTIME`` (0 if every EXPTIME is 0).
    sky : ndarray, float32
        Sky level (DN) of each image set (zeros with ``skysub = none``).
    skysum : float
        ``Σ sky`` in float32, added back to SCI (calstis' ``SKYSUM`` keyword).
    """

    sci: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    masks: np.ndarray | None
    n_rejected: np.ndarray
    texptime: float
    sky: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=_F32))
    skysum: float = 0.0


def crreject_stack(
    sci: Sequence[np.ndarray],
    dq: Sequence[np.ndarray],
    exptime: Sequence[float],
    readnoise_dn: Sequence[float],
    gain: Sequence[float],
    params: CRParams,
    *,
    block_rows: int | None = None,
    return_masks: bool = False,
    threads: int = 2,
) -> CRResult:
    """Combine ``N`` image sets rejecting cosmic rays, as calstis does.

    Parameters
    ----------
    sci, dq : sequence of 2-D arrays
        SCI (DN) and DQ of each image set (anything sliceable by rows: memory-mapped
        arrays are read a block at a time).
    exptime : sequence of float
        ``EXPTIME`` of each image set (s).
    readnoise_dn : sequence of float
        Read noise in DN (``READNSE / ATODGAIN``).
    gain : sequence of float
        ``ATODGAIN`` (e⁻/DN).
    params : CRParams
        Rejection parameters. With ``skysub = "mode"`` each image set's sky
        (:func:`sky_mode`) is subtracted first and ``Σ sky`` added back to SCI.
    block_rows : int, optional
        Output rows per block of the stack (default: about 24 MiB of the stack per
        block); the result does not depend on it.
    return_masks : bool
        Also return the per-image-set rejection masks.
    threads : int
        Worker processes for the image sets and blocks (forked, on Linux; see the
        module's docstring); the result does not depend on it.
    """
    sci_rows = [ArrayRows(s, np.dtype(_F32)) for s in sci]
    dq_rows = [ArrayRows(d, _dtype_of(d)) for d in dq]
    return crreject_rows(
        sci_rows,
        dq_rows,
        exptime,
        readnoise_dn,
        gain,
        params,
        block_rows=block_rows,
        return_masks=return_masks,
        threads=threads,
    )


def _dtype_of(data) -> np.dtype:
    dtype = getattr(data, "dtype", None)
    return np.dtype(dtype) if dtype is not None else np.asarray(data).dtype


def crreject_rows(
    sci: Sequence[RowSource],
    dq: Sequence[RowSource],
    exptime: Sequence[float],
    readnoise_dn: Sequence[float],
    gain: Sequence[float],
    params: CRParams,
    *,
    block_rows: int | None = None,
    return_masks: bool = False,
    threads: int = 2,
) -> CRResult:
    """:func:`crreject_stack` on image sets read a block of rows at a time.

    Parameters
    ----------
    sci, dq : sequence of RowSource
        SCI (DN) and DQ of each image set (:class:`~stisdarks.crreject.rows.FitsRows`,
        :class:`~stisdarks.crreject.rows.ArrayRows`, …).
    exptime, readnoise_dn, gain, params, return_masks
        As :func:`crreject_stack`.
    threads : int
        Worker processes (see the module's docstring), for stacks of at least
        ``_PARALLEL_PIXELS`` pixels; the result does not depend on it.
    block_rows : int, optional
        Output rows per block (and rows per read of the sky pass). By default a block of
        the whole stack holds about 24 MiB, so memory does not grow with the number of
        image sets. The result does not depend on it.
    """
    n = len(sci)
    if n < 2:
        raise StisDarksError(
            f"cosmic-ray rejection needs at least 2 image sets, got {n}; add more exposures"
        )
    shape = tuple(sci[0].shape)
    if any(tuple(s.shape) != shape for s in sci):
        raise StisDarksError(
            "image sets differ in size; combine only exposures of the same size and binning"
        )
    if params.skysub not in ("none", "mode"):
        raise StisDarksError(f"skysub {params.skysub!r} is neither 'none' nor 'mode'")
    plan, exptot = _plan(exptime, readnoise_dn, gain, params)
    rows = block_rows or _block_rows(n, shape[1], plan.halo)
    dq_dtype = np.result_type(*(d.dtype for d in dq))
    job = _Job(sci, dq, dq_dtype, rows, block_rows or _SKY_ROWS, return_masks)
    key = id(job)
    _JOBS[key] = job
    try:
        workers = threads if n * shape[0] * shape[1] >= _PARALLEL_PIXELS else 1
        with worker_pool(workers) as run:
            sky = np.zeros(n, dtype=_F32)
            if params.skysub == "mode":
                sky = np.asarray(run(_sky_task, [(key, i) for i in range(n)]), dtype=_F32)
                for i, level in enumerate(sky):
                    log.info("sky of image set %d is %0.3f DN", i + 1, float(level))
            plan = _with_sky(plan, sky)
            parts = run(_block_task, [(key, plan, r0) for r0 in range(0, shape[0], rows)])
    finally:
        del _JOBS[key]
    return _assemble(parts, exptot, plan)


def _assemble(parts: Sequence[tuple], exptot: float, plan: Plan) -> CRResult:
    """The full-frame result from the blocks' parts (in row order)."""
    sci, err, dq = (np.concatenate([p[0][k] for p in parts]) for k in range(3))
    masks = None
    if parts[0][1] is not None:
        masks = np.concatenate([p[1] for p in parts], axis=1)
    n_rejected = np.sum([p[2] for p in parts], axis=0, dtype=np.int64)
    return CRResult(sci, err, dq, masks, n_rejected, exptot, plan.sky, float(plan.skysum))


# ---------------------------------------------------------------------------------------
# the run's constants


def _plan(exptime, readnoise_dn, gain, params: CRParams) -> tuple[Plan, float]:
    """The run's constants (sky still zero) and ``Σ EXPTIME``; checks the exposure times."""
    n = len(exptime)
    efac = np.asarray(exptime, dtype=_F32)
    if np.any(efac < 0):
        raise StisDarksError("an image set has a negative EXPTIME; check the input headers")
    exptot = float(np.sum(efac, dtype=_F32))
    if np.all(efac == 0):
        efac = np.ones(n, dtype=_F32)
        texpt = _F32(n)
    elif np.any(efac == 0):
        raise StisDarksError(
            "some but not all image sets have EXPTIME = 0; remove the empty exposures"
        )
    else:
        texpt = _F32(0)
        for e in efac:
            texpt = _F32(texpt + e)
    noise = np.asarray(readnoise_dn, dtype=_F32)
    plan = Plan(
        efac=efac,
        sky=np.zeros(n, dtype=_F32),
        rog2=noise * noise,
        gain=np.asarray(gain, dtype=_F32),
        sig2s=tuple(_F32(v) * _F32(v) for v in params.crsigmas),
        psig2=_F32(params.crthresh) * _F32(params.crthresh) if params.crthresh > 0 else _F32(-1),
        scalense=_F32(params.scalense) / _F32(100),
        offsets=disk_offsets(params.crradius),
        badinpdq=int(params.badinpdq),
        median=params.initgues == "median",
        texpt=texpt,
        skysum=_F32(0),
    )
    return plan, exptot


def _with_sky(plan: Plan, sky: np.ndarray) -> Plan:
    skysum = _F32(0)
    for level in sky:
        skysum = _F32(skysum + level)
    return replace(plan, sky=sky, skysum=skysum)


# ---------------------------------------------------------------------------------------
# the job, shared with the forked workers


@dataclass
class _Job:
    """One rejection's inputs, for this process and the workers forked from it."""

    sci: Sequence[RowSource]
    dq: Sequence[RowSource]
    dq_dtype: np.dtype
    rows: int  # output rows per block of pass 2
    sky_rows: int  # rows per read of pass 1
    masks: bool
    ws: Workspace = field(default_factory=Workspace)  # a worker's copy is its own


#: the rejections under way, by key: forked workers find their job here
_JOBS: dict[int, _Job] = {}


# ---------------------------------------------------------------------------------------
# pass 1: the sky


def sky_mode(sci: np.ndarray, dq: np.ndarray) -> np.float32:
    """Sky level (DN) of one image set as calstis' ``crrej_sky`` with ``SKYSUB = mode``.

    The mode of the histogram (1-DN bins) of the pixels whose DQ is exactly 0, over
    ``[trunc(min(0, min)) − 1, 2·trunc(mean + 1)]`` (lower limit at least −1000), each value
    binned by truncation toward zero; see :func:`histogram_mode`.
    """
    q = np.asarray(dq)
    return _sky_of(lambda: [(np.array(sci, dtype=_F32), q)], Workspace())


def _sky_of(
    blocks: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]], ws: Workspace
) -> np.float32:
    """The sky of one image set from its (SCI, DQ) blocks in raster order (SCI overwritten).

    ``blocks()`` gives the blocks; it is called again, for calstis' exact running sum, in
    the rare case the histogram's bounds on the mean leave the sky undecided
    (:class:`~stisdarks.crreject.kernel.SkyAccumulator`).
    """
    for exact in (False, True):
        acc = SkyAccumulator(ws, exact=exact)
        for sci, dq in blocks():
            acc.add(sci.reshape(-1), dq.reshape(-1))
        level = acc.mode()
        if level is not None:
            return level
    lo, hi = acc.limits()  # a range beyond the streamed histogram: bin again
    hist = np.zeros(hi - lo + 1, dtype=np.int64)
    for sci, dq in blocks():
        hist += sky_histogram(sci, dq, lo, hi)
    return histogram_mode(hist, lo)


def _sky_task(task: tuple[int, int]) -> np.float32:
    """Pass 1 for image set ``i`` of job ``key``: its sky."""
    key, i = task
    job = _JOBS[key]
    sources, dtypes = [job.sci[i], job.dq[i]], [_F32, job.dq[i].dtype]
    blocks = functools.partial(_row_blocks, sources, dtypes, job.sky_rows, job.ws)
    return _sky_of(blocks, job.ws)


def _row_blocks(
    sources: Sequence[RowSource], dtypes: Sequence[np.dtype], rows: int, ws: Workspace
) -> Iterator[list[np.ndarray]]:
    """Read ``sources`` (one image) together, ``rows`` rows at a time, into reused buffers."""
    ny, nx = sources[0].shape
    for r0 in range(0, ny, rows):
        r1 = min(ny, r0 + rows)
        views = [ws.get(f"rows{k}", (r1 - r0, nx), d) for k, d in enumerate(dtypes)]
        for source, view in zip(sources, views, strict=True):
            source.read(r0, r1, view)
        yield views


# ---------------------------------------------------------------------------------------
# pass 2: the rejection, a block of rows at a time


def _block_rows(n: int, nx: int, halo: int) -> int:
    """Output rows per block: the stack's block within ``_BLOCK_BYTES`` (rates and DQ, 6
    bytes a pixel), at least 4 halos, at most ``_MAX_BLOCK_ROWS`` (the work planes)."""
    return max(4 * max(halo, 1), min(_MAX_BLOCK_ROWS, _BLOCK_BYTES // (n * nx * 6)))


def _block_task(task: tuple[int, Plan, int]) -> tuple:
    """Pass 2 for the block of output rows from ``r0`` of job ``key``.

    Returns
    -------
    tuple
        ``((sci, err, dq), masks or None, n_rejected)`` of the block's rows.
    """
    key, plan, r0 = task
    job = _JOBS[key]
    ny, nx = job.sci[0].shape
    r1 = min(ny, r0 + job.rows)
    rows = (r1 - r0, nx)
    out = (np.empty(rows, dtype=_F32), np.empty(rows, dtype=_F32), np.empty(rows, np.int16))
    masks = np.zeros((len(job.sci), *rows), dtype=bool) if job.masks else None
    n_rejected = _reject_rows(plan, job.sci, job.dq, job.dq_dtype, r0, r1, out, masks, job.ws)
    return out, masks, n_rejected


def _reject_rows(plan: Plan, sci, dq, dq_dtype, r0: int, r1: int, out, masks, ws) -> np.ndarray:
    """Combine output rows ``r0..r1-1`` into ``out``, reading ``plan.halo`` rows around them
    (more above when an excluded-pixel chain may come from there)."""
    ny = sci[0].shape[0]
    above = plan.halo
    while True:
        a, b = max(0, r0 - above), min(ny, r1 + plan.halo)
        pics, dqs, guess = _read_block(plan, sci, dq, dq_dtype, a, b, ws)
        try:
            return reject_block(
                plan,
                pics,
                dqs,
                guess,
                slice(r0 - a, r1 - a),
                out,
                at_top=a == 0,
                ws=ws,
                masks=masks,
            )
        except NeedsRowsAbove:
            above = max(2 * above, 64)


def _read_block(plan: Plan, sci, dq, dq_dtype, a: int, b: int, ws: Workspace):
    """Rates, DQ and initial guess ``(ave, avevar)`` of rows ``a..b-1`` of the whole stack."""
    n, nx = len(sci), sci[0].shape[1]
    shape = (b - a, nx)
    pics = ws.get("pics", (n, *shape))
    dqs = ws.get("dqs", (n, *shape), dq_dtype)
    ave = ws.get("ave", shape)
    guess = (ave, None if plan.median else ws.get("avevar", shape))
    for i in range(n):
        pic = pics[i]
        sci[i].read(a, b, pic)
        dq[i].read(a, b, dqs[i])
        raw = None
        if not plan.median:
            raw = ws.get("raw", shape)
            raw[...] = pic
        if plan.sky[i] != 0:
            np.subtract(pic, plan.sky[i], out=pic)
        np.divide(pic, plan.efac[i], out=pic)
        if raw is not None:
            fold_minimum(plan, i, raw, pic, guess, ws)
    if plan.median:
        median_rates(pics, ave, ws)
    return pics, dqs, guess
