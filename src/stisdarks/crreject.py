"""Native cosmic-ray rejection, as calstis' step 2 (``cs2.e``) does it.

A NumPy port of the algorithm in ``docs/crreject.md`` (calstis-2), in
float32 and in the same order of operations as the C code, so that SCI and ERR agree
with calstis to rounding and DQ bit for bit.

Memory stays bounded whatever the number of image sets: the initial median runs over
blocks of rows of the whole stack, and each iteration streams the image sets one at a
time (as calstis does), keeping a handful of full-frame planes. Inputs may be
memory-mapped; only the rows being processed are read.

``SKYSUB = mode`` (what real CRREJTAB rows say; calstis forces ``none`` only for
``OBSTYPE = SPECTROSCOPIC``) subtracts each image set's sky, the mode of its DQ = 0 pixels,
before the rejection and adds the sum of the skies back to SCI, exactly as ``cs2.e``.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

from stisdarks import __version__
from stisdarks.crrejtab import CRParams, crparams_for
from stisdarks.errors import InputFileError, StisDarksError
from stisdarks.fitsio import atomic_path, ext_data

__all__ = [
    "CRResult",
    "Imset",
    "crreject_stack",
    "crreject_files",
    "read_imsets",
    "histogram_mode",
    "sky_mode",
    "CR_FLAG",
]

log = logging.getLogger(__name__)

#: DQ bit calstis sets on rejected pixels (DATAREJECT)
CR_FLAG = 8192
_F32 = np.float32
#: keep the stack's rates in memory up to this size (bytes); beyond, re-read them each pass
_CACHE_BYTES = 512 * 1024**2


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


#: calstis' lower histogram limit of the sky mode (DN)
_SKY_MINVAL = -1000


def histogram_mode(hist: Sequence[int], hmin: float) -> np.float32:
    """Mode of a histogram of 1-DN bins starting at ``hmin``, as calstis' ``cr_mode``.

    One bin: its centre. Two bins: the centre of the larger (``hmin + 1`` on a tie). Otherwise
    the first maximum bin ``b``: its centre if it is the first or last bin, else the vertex of
    the parabola through bins ``b-1, b, b+1``. The arithmetic follows the C code: float32
    counts and differences, double intermediate sums, a float32 ``mode`` before the final
    shift by ``hmin``.
    """
    h = np.asarray(hist)
    nbins = len(h)
    hmin = float(np.float32(hmin))
    if nbins < 1:
        raise StisDarksError("the sky histogram is empty")
    if nbins == 1:
        return _F32(hmin + 0.5)
    if nbins == 2:
        if h[0] > h[1]:
            return _F32(hmin + 0.5)
        if h[1] > h[0]:
            return _F32(hmin + 1.5)
        return _F32(hmin + 1.0)
    # the C code keeps the running peak in a float: compare the counts as float32
    bpeak = int(np.argmax(h.astype(_F32)))
    if bpeak == 0:
        return _F32(hmin + 0.5)
    if bpeak == nbins - 1:
        return _F32(hmin + (nbins - 0.5))
    dh1 = _F32(int(h[bpeak]) - int(h[bpeak - 1]))
    dh2 = _F32(int(h[bpeak]) - int(h[bpeak + 1]))
    denom = abs(_F32(dh1 + dh2))
    if denom < 1e-20:
        return _F32(hmin + (bpeak + 0.5))
    mode = _F32((bpeak + 1) + 0.5 * float(_F32(dh1 - dh2)) / float(denom))
    return _F32(hmin + (float(mode) - 0.5))


def sky_mode(sci: np.ndarray, dq: np.ndarray) -> np.float32:
    """Sky level (DN) of one image set as calstis' ``crrej_sky`` with ``SKYSUB = mode``.

    The mode of the histogram (1-DN bins) of the pixels whose DQ is exactly 0, over
    ``[trunc(min(0, min)) − 1, 2·trunc(mean + 1)]`` (lower limit at least −1000), each value
    binned by truncation toward zero; see :func:`histogram_mode`.
    """
    a = np.asarray(sci, dtype=_F32)
    good = a[np.asarray(dq) == 0]  # raster order, as the C loops
    if good.size == 0:
        raise StisDarksError(
            "an image set has no pixel with DQ = 0, so its sky mode is undefined; "
            "use skysub='none' or drop that image set"
        )
    amin = _F32(0)
    low = np.fmin.reduce(good)  # NaN never compares below in C
    if low < amin:
        amin = _F32(low)
    # the mean is a float32 running sum in raster order, not a pairwise sum
    total = np.add.accumulate(good, dtype=_F32)[-1]
    amax = _F32(total) / _F32(good.size)
    if not np.isfinite(amax):
        raise StisDarksError(
            "an image set has non-finite values where DQ = 0, so its sky mode is undefined; "
            "flag them in DQ or use skysub='none'"
        )
    lo = _SKY_MINVAL if amin < _SKY_MINVAL else int(amin) - 1
    hi = 1 if amax <= 0 else int(float(amax) + 1.0) * 2
    nbins = hi - lo + 1
    bins = np.trunc(good.astype(np.float64)) - lo
    keep = (bins >= 0) & (bins < nbins)
    hist = np.bincount(bins[keep].astype(np.intp), minlength=nbins)
    return histogram_mode(hist, lo)


def _sky_levels(sci, dq, skysub: str, pool=None) -> np.ndarray:
    n = len(sci)
    if skysub == "none":
        return np.zeros(n, dtype=_F32)
    if skysub != "mode":
        raise StisDarksError(f"skysub {skysub!r} is neither 'none' nor 'mode'")
    if pool is None:
        levels = [sky_mode(sci[i], dq[i]) for i in range(n)]
    else:
        levels = list(pool.map(lambda i: sky_mode(sci[i], dq[i]), range(n)))
    return np.asarray(levels, dtype=_F32)


def _disk_offsets(radius: float) -> list[tuple[int, int]]:
    width = int(radius + 1e-5)
    r2 = _F32(radius) * _F32(radius)
    return [
        (dy, dx)
        for dy in range(-width, width + 1)
        for dx in range(-width, width + 1)
        if _F32(dx * dx + dy * dy) <= r2
    ]


def _dilate(mask: np.ndarray, offsets: Sequence[tuple[int, int]]) -> np.ndarray:
    """OR of ``mask`` shifted by every offset (pixels outside the image ignored)."""
    ny, nx = mask.shape
    out = np.zeros_like(mask)
    for dy, dx in offsets:
        src_y = slice(max(0, -dy), ny - max(0, dy))
        dst_y = slice(max(0, dy), ny - max(0, -dy))
        src_x = slice(max(0, -dx), nx - max(0, dx))
        dst_x = slice(max(0, dx), nx - max(0, -dx))
        out[dst_y, dst_x] |= mask[src_y, src_x]
    return out


def _promote_excluded(hit, cand, cond, offsets) -> None:
    """Raster-order pass: an EXCLUDE pixel spilled by an *earlier* hit, over threshold, becomes a hit.

    ``hit`` is updated in place. ``cand`` marks EXCLUDE pixels with d² > thresh, ``cond``
    pixels whose deviation passes the spill threshold.
    """
    ny, nx = hit.shape
    ys, xs = np.nonzero(cand & cond)
    for y, x in zip(ys.tolist(), xs.tolist(), strict=True):
        for dy, dx in offsets:
            if (dy, dx) >= (0, 0):  # only neighbours earlier in raster order
                continue
            qy, qx = y + dy, x + dx
            if 0 <= qy < ny and 0 <= qx < nx and hit[qy, qx]:
                hit[y, x] = True
                break


def _ordered(pool, func, n: int, window: int):
    """``func(0..n-1)`` in order, at most ``window`` results in flight (bounded memory)."""
    if pool is None:
        yield from (func(i) for i in range(n))
        return
    pending = []
    for i in range(n):
        pending.append(pool.submit(func, i))
        if len(pending) >= window:
            yield pending.pop(0).result()
    for fut in pending:
        yield fut.result()


def _median_guess(sci, efac, sky, block_rows: int, pool=None) -> np.ndarray:
    """Per-pixel median of the rates over the stack, block of rows by block of rows.

    Blocks run in the thread pool when one is given.
    """
    n = len(sci)
    ny, nx = sci[0].shape
    ave = np.empty((ny, nx), dtype=_F32)

    def one_block(r0: int) -> None:
        r1 = min(ny, r0 + block_rows)
        block = np.empty((n, r1 - r0, nx), dtype=_F32)
        for i in range(n):
            raw = np.asarray(sci[i][r0:r1], dtype=_F32)
            if sky[i] != 0:
                raw = raw - sky[i]
            np.divide(raw, efac[i], out=block[i])
        # pixels as rows, image sets along the contiguous axis: NumPy's vectorised sort is fast there
        flat = np.ascontiguousarray(block.reshape(n, -1).T)
        flat.sort(axis=1)
        if n % 2:
            mid = flat[:, n // 2]
        else:
            mid = (flat[:, n // 2 - 1] + flat[:, n // 2]) / _F32(2)
        ave[r0:r1] = mid.reshape(r1 - r0, nx)

    starts = range(0, ny, block_rows)
    if pool is None:
        for r0 in starts:
            one_block(r0)
    else:
        list(pool.map(one_block, starts))
    return ave


def _minimum_guess(sci, efac, sky, rog2, gain, s):
    ave = avevar = None
    zero = _F32(0)
    for i in range(len(sci)):
        raw = np.asarray(sci[i], dtype=_F32)
        net = raw - sky[i] if sky[i] != 0 else raw
        val = net / efac[i]
        # Poisson term on the raw value, SCALENSE term on the sky-subtracted one
        signal = np.maximum(net, zero)
        var = (rog2[i] + np.maximum(raw, zero) / gain[i] + (s * signal) ** 2) / (efac[i] * efac[i])
        if ave is None:
            ave, avevar = val, var
        else:
            take = val < ave
            ave = np.where(take, val, ave)
            avevar = np.where(take, var, avevar)
    return ave, avevar


def crreject_stack(
    sci: Sequence[np.ndarray],
    dq: Sequence[np.ndarray],
    exptime: Sequence[float],
    readnoise_dn: Sequence[float],
    gain: Sequence[float],
    params: CRParams,
    *,
    block_rows: int = 64,
    return_masks: bool = False,
    threads: int = 2,
) -> CRResult:
    """Combine ``N`` image sets rejecting cosmic rays, as calstis does.

    Parameters
    ----------
    sci, dq : sequence of 2-D arrays
        SCI (DN) and DQ of each image set; memory-mapped arrays are read a block at a time.
    exptime : sequence of float
        ``EXPTIME`` of each image set (s).
    readnoise_dn : sequence of float
        Read noise in DN (``READNSE / ATODGAIN``).
    gain : sequence of float
        ``ATODGAIN`` (e⁻/DN).
    params : CRParams
        Rejection parameters. With ``skysub = "mode"`` each image set's sky
        (:func:`sky_mode`, one full-frame read) is subtracted first and ``Σ sky`` added
        back to SCI.
    block_rows : int
        Rows per block of the median initial guess (bounds memory to ``N × block_rows``
        rows).
    return_masks : bool
        Also return the per-image-set rejection masks.
    threads : int
        Threads for the per-image-set work (NumPy releases the GIL).
    """
    n = len(sci)
    if n < 2:
        raise StisDarksError(
            f"cosmic-ray rejection needs at least 2 image sets, got {n}; add more exposures"
        )
    shape = sci[0].shape
    if any(s.shape != shape for s in sci):
        raise StisDarksError(
            "image sets differ in size; combine only exposures of the same size and binning"
        )
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
    rog2 = noise * noise
    g = np.asarray(gain, dtype=_F32)
    s = _F32(params.scalense) / _F32(100)
    sig2s = [_F32(v) * _F32(v) for v in params.crsigmas]
    psig2 = _F32(params.crthresh) * _F32(params.crthresh) if params.crthresh > 0 else _F32(-1)
    offsets = _disk_offsets(params.crradius)
    badinpdq = int(params.badinpdq)
    zero = _F32(0)

    pool = ThreadPoolExecutor(max_workers=max(1, threads)) if threads > 1 else None
    try:
        sky = _sky_levels(sci, dq, params.skysub, pool)
    except BaseException:
        if pool:
            pool.shutdown()
        raise
    if params.skysub != "none":
        for i, level in enumerate(sky):
            log.info("sky of image set %d is %0.3f DN", i + 1, float(level))
    skysum = _F32(0)
    for level in sky:
        skysum = _F32(skysum + level)
    avevar = None
    if params.initgues == "median":
        ave = _median_guess(sci, efac, sky, block_rows, pool)
    else:
        ave, avevar = _minimum_guess(sci, efac, sky, rog2, g, s)

    niter = len(sig2s)
    sumvar = np.zeros(shape, dtype=_F32)
    masks = np.zeros((n, *shape), dtype=bool) if return_masks else None
    n_rejected = np.zeros(n, dtype=np.int64)
    dq_or = np.zeros(shape, dtype=np.int16)
    all_rejected = np.ones(shape, dtype=bool)

    # sky-subtracted rates, kept in memory when they fit a modest budget, else re-read each pass
    cache = n * shape[0] * shape[1] * 4 <= _CACHE_BYTES
    pics = [None] * n

    def rate(i: int) -> np.ndarray:
        if pics[i] is not None:
            return pics[i]
        raw = np.asarray(sci[i], dtype=_F32)
        if sky[i] != 0:
            raw = raw - sky[i]
        pic = raw / efac[i]
        if cache:
            pics[i] = pic
        return pic

    thresholds: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def threshold(i: int, it: int, ave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(thresh, spthresh) of image set i; shared by image sets with equal noise and exposure."""
        sig2 = sig2s[it]
        if params.initgues == "minimum" and it == 0:
            thresh = sig2 * avevar
            return thresh, thresh
        key = (it, float(efac[i]), float(rog2[i]), float(g[i]), float(sky[i]))
        if key not in thresholds:
            dum = ave * efac[i]
            if sky[i] != 0:
                dum = dum + sky[i]
            pos = np.maximum(dum, zero)
            spthresh = sig2 * (rog2[i] + pos / g[i]) / (efac[i] * efac[i])
            if s != 0:
                # SCALENSE applies to the sky-subtracted model, recomputed as (dum − sky)
                net = np.maximum(dum - sky[i], zero) if sky[i] != 0 else pos
                thresh = sig2 * (rog2[i] + pos / g[i] + (s * net) ** 2) / (efac[i] * efac[i])
            else:
                thresh = spthresh
            thresholds[key] = (thresh, spthresh)
        return thresholds[key]

    def reject_one(i: int, *, it: int, ave: np.ndarray):
        pic = rate(i)
        thresh, spthresh = threshold(i, it, ave)
        dev = pic - ave
        d2 = dev * dev
        over = d2 > thresh
        cond = d2 > psig2 * spthresh
        if badinpdq:
            excl = (np.asarray(dq[i]) & badinpdq) != 0
            hit = over & ~excl
            cand = over & excl
            if cand.any():
                _promote_excluded(hit, cand, cond, offsets)
        else:
            excl = None
            hit = over
        spill = _dilate(hit, offsets) & cond & ~hit
        rejected = hit | spill
        ok = ~rejected if excl is None else ~(rejected | excl)
        contrib = pic * efac[i]
        term = None
        if it == niter - 1:
            # the raw value recovered as pic·efac + sky (with its float round-off)
            v = np.maximum(contrib + sky[i] if sky[i] != 0 else contrib, zero)
            term = rog2[i] + v / g[i] + (s * v) ** 2
        return i, contrib, ok, rejected, term

    try:
        for it in range(niter):
            last = it == niter - 1
            total = np.zeros(shape, dtype=_F32)
            efacsum = np.zeros(shape, dtype=_F32)
            thresholds.clear()
            for i in range(n):
                threshold(i, it, ave)
            jobs = _ordered(
                pool, functools.partial(reject_one, it=it, ave=ave), n, 2 * max(1, threads)
            )
            # accumulate strictly in image-set order (float32 sums are order dependent)
            for i, contrib, ok, rejected, term in jobs:
                # masked in-place adds: the same float32 sums, in image-set order, as calstis
                np.add(total, contrib, out=total, where=ok)
                np.add(efacsum, efac[i], out=efacsum, where=ok)
                if last:
                    np.add(sumvar, term, out=sumvar, where=ok)
                    dqi = np.asarray(dq[i]).astype(np.int16) & np.int16(~CR_FLAG)
                    dq_or |= dqi
                    all_rejected &= rejected
                    n_rejected[i] = int(np.count_nonzero(rejected))
                    if masks is not None:
                        masks[i] = rejected
            good = efacsum > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                new = total / efacsum
            ave = np.where(good, new, zero if last else ave).astype(_F32)
    finally:
        if pool:
            pool.shutdown()

    with np.errstate(divide="ignore", invalid="ignore"):
        err_rate = np.where(good, np.sqrt(sumvar.astype(np.float64)) / efacsum, 0.0).astype(_F32)
    out_sci = (ave * texpt).astype(_F32)
    if skysum != 0:
        out_sci += skysum
    out_err = (err_rate * texpt).astype(_F32)
    out_dq = (dq_or | np.where(all_rejected, np.int16(CR_FLAG), np.int16(0))).astype(np.int16)
    return CRResult(out_sci, out_err, out_dq, masks, n_rejected, exptot, sky, float(skysum))


@dataclass
class Imset:
    """One image set of an input file."""

    path: Path
    extver: int
    primary: fits.Header
    sci_header: fits.Header
    sci: np.ndarray
    dq: np.ndarray


def read_imsets(paths: Sequence[os.PathLike]) -> list[Imset]:
    """Every usable image set (``IMSET_OK`` not False) of every file, in order.

    Data are memory-mapped where possible, so only the rows used are read.
    """
    imsets: list[Imset] = []
    for path in map(Path, paths):
        if not path.is_file():
            raise InputFileError(f"{path} does not exist; check the file name")
        try:
            hdul = fits.open(path, memmap=True)
        except (OSError, ValueError) as exc:
            raise InputFileError(f"{path} is not a readable FITS file ({exc})") from exc
        primary = hdul[0].header
        nimset = int(primary.get("NEXTEND", len(hdul) - 1)) // 3
        for k in range(1, nimset + 1):
            try:
                sci_hdu = hdul["SCI", k]
                dq_hdu = hdul["DQ", k]
            except KeyError as exc:
                raise InputFileError(
                    f"{path.name} lacks SCI/DQ extension {k}; it is not a STIS FLT"
                ) from exc
            if sci_hdu.header.get("IMSET_OK", True) is False:
                log.info("%s[SCI,%d] has IMSET_OK=F: skipped", path.name, k)
                continue
            imsets.append(
                Imset(
                    path, k, primary, sci_hdu.header, ext_data(sci_hdu), ext_data(dq_hdu, np.int16)
                )
            )
    return imsets


def _noise_params(imsets: Sequence[Imset]) -> tuple[list[float], list[float], list[float]]:
    exptime, noise, gain = [], [], []
    for im in imsets:
        if "EXPTIME" not in im.sci_header:
            raise InputFileError(
                f"{im.path.name}[SCI,{im.extver}] has no EXPTIME; it is not a calibrated STIS image"
            )
        for key in ("READNSE", "ATODGAIN"):
            if key not in im.primary:
                raise InputFileError(
                    f"{im.path.name} has no {key} in its primary header; process it with calstis first"
                )
        g = float(im.primary["ATODGAIN"])
        if g == 0:
            raise InputFileError(f"{im.path.name} has ATODGAIN = 0; its header is corrupt")
        exptime.append(float(im.sci_header["EXPTIME"]))
        noise.append(float(np.float32(im.primary["READNSE"]) / np.float32(g)))
        gain.append(g)
    return exptime, noise, gain


def combined_hdulist(imsets: Sequence[Imset], result: CRResult, params: CRParams) -> fits.HDUList:
    """A calstis-shaped ``_crj`` HDU list (headers from image set 1 of the first input)."""
    first = imsets[0]
    primary = first.primary.copy()
    sci_hdr = first.sci_header.copy()
    n = len(imsets)
    exptimes = [float(im.sci_header["EXPTIME"]) for im in imsets]
    starts = [float(im.sci_header.get("EXPSTART", 0.0)) for im in imsets]
    ends = [float(im.sci_header.get("EXPEND", 0.0)) for im in imsets]
    exptot = np.float32(result.texptime)
    temptot = np.float32(0)
    for im, e in zip(imsets, exptimes, strict=True):
        temptot = np.float32(
            temptot + np.float32(im.sci_header.get("OCCDHTAV", -1.0)) * np.float32(e)
        )
    primary["TEXPTIME"] = float(exptot)
    primary["SKYSUM"] = float(np.float32(result.skysum))
    nrej = int(result.n_rejected.sum())
    if exptot > 0:
        primary["REJ_RATE"] = float(np.float32(nrej) / exptot)
    primary["TEXPSTRT"] = min(starts)
    primary["TEXPEND"] = max(ends)
    for key, value in params.header_cards().items():
        primary[key] = value
    primary["MEANEXP"] = float(np.float32(exptot / n))
    primary["NEXTEND"] = 3
    primary["CRCORR"] = "COMPLETE"
    primary["CAL_VER"] = f"stisdarks {__version__} (native calstis-2)"
    sci_hdr["EXPTIME"] = float(exptot)
    sci_hdr["EXPSTART"] = min(starts)
    sci_hdr["EXPEND"] = max(ends)
    sci_hdr["NCOMBINE"] = n
    if exptot > 0 and temptot > 0:
        sci_hdr["OCCDHTAV"] = float(np.float32(temptot / exptot))
    hdus = [fits.PrimaryHDU(header=primary)]
    for name, data in (("SCI", result.sci), ("ERR", result.err), ("DQ", result.dq)):
        if name == "SCI":
            hdr = sci_hdr
        else:
            with fits.open(first.path) as h:
                hdr = h[name, first.extver].header.copy()
        for key in (
            "NAXIS",
            "NAXIS1",
            "NAXIS2",
            "PIXVALUE",
            "NPIX1",
            "NPIX2",
            "BITPIX",
            "XTENSION",
            "PCOUNT",
            "GCOUNT",
            "BSCALE",
            "BZERO",
        ):
            hdr.remove(key, ignore_missing=True, remove_all=True)
        hdus.append(fits.ImageHDU(data=data, header=hdr, name=name, ver=1))
    return fits.HDUList(hdus)


def crreject_files(
    inputs: Sequence[os.PathLike],
    output: os.PathLike,
    params: CRParams | None = None,
    overrides: dict | None = None,
    crmask_dir: os.PathLike | None = None,
) -> Path:
    """CR-reject every image set of ``inputs`` together and write a calstis-shaped ``_crj``.

    Parameters
    ----------
    inputs : sequence of path-like
        STIS files with SCI/ERR/DQ image sets (never modified).
    output : path-like
        The combined file, written atomically.
    params : CRParams, optional
        Parameters; by default read from the first input's CRREJTAB as calstis does.
    overrides : dict, optional
        Explicit parameter values that win over the table.
    crmask_dir : path-like, optional
        calstis writes the CR flags into the *input* DQ arrays when CRMASK is set; we never
        modify inputs, so with ``crmask_dir`` copies of the inputs carrying those flags are
        written there instead.
    """
    imsets = read_imsets(inputs)
    if len(imsets) < 2:
        raise StisDarksError(
            f"cosmic-ray rejection needs at least 2 image sets; {len(imsets)} found in {len(inputs)} file(s)"
        )
    amps = {str(im.primary.get("CCDAMP", "")).strip() for im in imsets}
    if len(amps) > 1:
        raise StisDarksError(
            f"inputs mix CCD amplifiers {sorted(amps)}; combine one amplifier at a time"
        )
    exptime, noise, gain = _noise_params(imsets)
    if params is None:
        mean = float(np.sum(np.asarray(exptime, dtype=np.float32), dtype=np.float32)) / len(imsets)
        params = crparams_for(imsets[0].primary, len(imsets), mean, overrides)
    elif overrides:
        params = params.with_overrides(**overrides)
    log.info("CR rejection of %d image sets (%s)", len(imsets), params.source)
    result = crreject_stack(
        [im.sci for im in imsets],
        [im.dq for im in imsets],
        exptime,
        noise,
        gain,
        params,
        return_masks=crmask_dir is not None and params.crmask,
    )
    hdul = combined_hdulist(imsets, result, params)
    hdul[0].header["FILENAME"] = Path(output).name
    with atomic_path(output) as tmp:
        hdul.writeto(tmp, overwrite=True)
    if result.masks is not None:
        _write_crmask_copies(imsets, result.masks, Path(crmask_dir))
    log.info("wrote %s (%d rejected pixel-image pairs)", output, int(result.n_rejected.sum()))
    return Path(output)


def _write_crmask_copies(imsets: Sequence[Imset], masks: np.ndarray, outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    by_file: dict[Path, list[tuple[int, np.ndarray]]] = {}
    for im, mask in zip(imsets, masks, strict=True):
        by_file.setdefault(im.path, []).append((im.extver, mask))
    for path, items in by_file.items():
        with fits.open(path) as hdul:
            copy = fits.HDUList([h.copy() for h in hdul])
        for extver, mask in items:
            dq = ext_data(copy["DQ", extver], np.int16)
            copy["DQ", extver].data = (
                (dq & np.int16(~CR_FLAG)) | np.where(mask, np.int16(CR_FLAG), np.int16(0))
            ).astype(np.int16)
        with atomic_path(outdir / path.name) as tmp:
            copy.writeto(tmp, overwrite=True)
