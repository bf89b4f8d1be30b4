"""Arithmetic of the native calstis-2 cosmic-ray rejection, one block of rows at a time.

:mod:`stisdarks.crreject.algorithm` reads the image sets and hands this module blocks of
rows: :class:`SkyAccumulator` gathers each image set's sky statistics in a first pass,
and :func:`reject_block` combines a block of rows of the whole stack. No I/O happens here.

Everything is float32 in calstis' order of operations, so a block's output does not
depend on where the block starts: per-pixel steps are local, and the two steps that look
at neighbours are handled at the block edges.

- The spill around a hit reaches ``width = int(CRRADIUS)`` rows, so each iteration is
  exact on ``width`` fewer rows at a block edge that is not an image edge: a block of
  output rows is computed with ``halo = iterations × width`` extra rows on each side.
- An excluded pixel (BADINPDQ) spilled by a hit earlier in raster order becomes a hit
  itself, so a chain of such pixels can carry a hit down from rows above the block. No
  chain can enter a block whose first ``width`` exact rows hold no such candidate; when
  one does, :func:`reject_block` raises :class:`NeedsRowsAbove` and the caller retries
  with more rows above.

Big temporaries are never allocated per block: a fresh array of a few hundred kB costs
its page faults every time (the allocator hands freed large blocks back to the system),
which here outweighed the arithmetic. Every plane lives in a :class:`Workspace`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stisdarks.errors import StisDarksError

__all__ = [
    "CR_FLAG",
    "SKY_MINVAL",
    "Workspace",
    "Plan",
    "NeedsRowsAbove",
    "SkyAccumulator",
    "histogram_mode",
    "sky_histogram",
    "disk_offsets",
    "fold_minimum",
    "median_rates",
    "reject_block",
]

#: DQ bit calstis sets on rejected pixels (DATAREJECT)
CR_FLAG = 8192
#: calstis' lower histogram limit of the sky mode (DN)
SKY_MINVAL = -1000
_F32 = np.float32
_ZERO = _F32(0)
#: truncated values kept in the streamed sky histogram: ``[_HIST_LO, _HIST_HI)`` are exact
#: bins, ``_HIST_HI`` collects everything above (a sky range reaching it bins again)
_HIST_LO = SKY_MINVAL - 2
_HIST_HI = 4096
#: bytes of the (pixels × image sets) buffer the median sorts at once
_SORT_BYTES = 1024**2


class Workspace:
    """Named buffers reused from block to block (a forked worker fills its own copy).

    :meth:`get` returns the same memory for a name as long as it is big enough, viewed
    with the shape asked for; its contents are whatever was left there.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype=_F32) -> np.ndarray:
        """A C-contiguous buffer of ``shape`` and ``dtype`` (contents undefined)."""
        dtype = np.dtype(dtype)
        size = math.prod(shape)
        buf = self._buffers.get(name)
        if buf is None or buf.dtype != dtype or buf.size < size:
            buf = self._buffers[name] = np.empty(size, dtype=dtype)
        return buf[:size].reshape(shape)

    def zeros(self, name: str, shape: tuple[int, ...], dtype=_F32) -> np.ndarray:
        """:meth:`get`, filled with zeros."""
        buf = self.get(name, shape, dtype)
        buf.fill(0)
        return buf


# ---------------------------------------------------------------------------------------
# sky (SKYSUB = mode)


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


def sky_histogram(sci: np.ndarray, dq: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Counts of the DQ = 0 values of ``sci`` truncated toward zero into ``lo..hi`` (1-DN bins)."""
    nbins = hi - lo + 1
    good = np.asarray(sci, dtype=_F32)[np.asarray(dq) == 0]
    bins = np.trunc(good.astype(np.float64)) - lo
    keep = (bins >= 0) & (bins < nbins)
    return np.bincount(bins[keep].astype(np.intp), minlength=nbins)


class SkyAccumulator:
    """calstis' ``crrej_sky`` statistics of one image set, fed block of rows by block of rows.

    Feed the blocks in raster order with :meth:`add`, then ask :meth:`mode`.

    calstis' mean is a float32 running sum, whose every step depends on the one before:
    slow to reproduce in NumPy. The mean only sets the top of the histogram range,
    ``hi = 2·trunc(mean + 1)``, so by default (``exact=False``) the accumulator does
    without it: the histogram itself bounds the exact sum (a value truncated to ``k``
    lies within one of ``k``; the few values beyond the streamed histogram are summed
    apart), and the float32 running sum lies within ``γ(n−1)·Σ|x|`` of the exact sum (the
    error bound of recursive summation, Higham 2002, eq. 4.4). :meth:`mode` returns the
    mode shared by every ``hi`` these bounds allow, and ``None`` when they disagree (or
    on non-finite values): then feed the blocks again to an ``exact=True`` accumulator,
    which keeps calstis' running sum.
    """

    def __init__(self, ws: Workspace | None = None, *, exact: bool = False) -> None:
        self.exact = exact
        self.count = 0  # pixels with DQ = 0
        self.low = _F32(np.inf)
        self.undefined = False  # a NaN where DQ = 0
        self.total: np.float32 | None = None  # exact: calstis' float32 running sum
        self.outside = 0  # otherwise: values beyond the histogram, their sum and magnitude
        self.outside_sum = 0.0
        self.outside_abs = 0.0
        self.hist = np.zeros(_HIST_HI - _HIST_LO + 1, dtype=np.int64)
        self.ws = ws or Workspace()

    def add(self, sci: np.ndarray, dq: np.ndarray) -> None:
        """Fold in the next rows: ``sci`` (float32, 1-D, overwritten) and ``dq`` (same size).

        The pixels with DQ ≠ 0 (usually few) are set to +inf for the minimum and to +0 for
        the running sum and the histogram (whose bin 0 then loses them again): adding +0
        leaves a float32 sum as it was but for the sign of a zero, which the sky never sees.
        """
        bad = np.flatnonzero(np.not_equal(dq, 0, out=self.ws.get("sky_bad", dq.shape, bool)))
        good = sci.size - bad.size
        if good == 0:
            return
        self.count += good
        sci[bad] = np.inf
        low = np.min(sci)
        sci[bad] = 0
        if np.isnan(low):  # the sky is undefined (limits() says so)
            self.undefined = True
            self.total = _F32(np.nan)
            return
        self.low = min(self.low, low)
        if self.exact:
            self._running_sum(sci)
        clipped = np.clip(sci, _HIST_LO, _HIST_HI, out=self.ws.get("sky_clip", sci.shape))
        bins = self.ws.get("sky_bins", sci.shape, np.int32)
        np.copyto(bins, clipped, casting="unsafe")  # truncation toward zero, as C's cast
        bins -= _HIST_LO
        counts = np.bincount(bins, minlength=self.hist.size)
        counts[-_HIST_LO] -= bad.size
        self.hist += counts
        if not self.exact and (counts[0] or counts[-1]):
            self._add_outside(sci, clipped)

    def _running_sum(self, sci: np.ndarray) -> None:
        first = sci[0]
        if self.total is not None:
            sci[0] = self.total + first  # continue the float32 running sum in raster order
        self.total = np.add.accumulate(sci, out=self.ws.get("sky_sum", sci.shape))[-1]
        sci[0] = first

    def _add_outside(self, sci: np.ndarray, clipped: np.ndarray) -> None:
        """Sum and magnitude of the values in the histogram's two end bins (few)."""
        ends = np.flatnonzero((clipped <= _HIST_LO) | (clipped >= _HIST_HI))
        values = sci[ends].astype(np.float64)
        self.outside += values.size
        self.outside_sum += float(values.sum())
        self.outside_abs += float(np.abs(values).sum())

    def lower(self) -> int:
        """``lo = trunc(min(0, min)) − 1`` (at least −1000); checks there are pixels."""
        if self.count == 0:
            raise StisDarksError(
                "an image set has no pixel with DQ = 0, so its sky mode is undefined; "
                "use skysub='none' or drop that image set"
            )
        amin = _F32(0)
        if self.low < amin:
            amin = _F32(self.low)
        return SKY_MINVAL if amin < SKY_MINVAL else int(amin) - 1

    def limits(self) -> tuple[int, int]:
        """``(lo, hi)`` of the histogram, ``hi = 2·trunc(mean + 1)`` (``exact=True`` only)."""
        lo = self.lower()
        amax = _F32(self.total) / _F32(self.count)
        if not np.isfinite(amax):
            raise StisDarksError(
                "an image set has non-finite values where DQ = 0, so its sky mode is undefined; "
                "flag them in DQ or use skysub='none'"
            )
        return lo, _upper(float(amax))

    def mode(self) -> np.float32 | None:
        """The sky (DN), or ``None`` if undecided: feed an exact accumulator (or, if that one
        says ``None``, bin again with :func:`sky_histogram` over its :meth:`limits`)."""
        lo = self.lower()
        his = [self.limits()[1]] if self.exact else self._possible_tops()
        if not his or max(his) >= _HIST_HI:
            return None
        hist = self.hist
        modes = {float(histogram_mode(hist[lo - _HIST_LO : hi - _HIST_LO + 1], lo)) for hi in his}
        return _F32(modes.pop()) if len(modes) == 1 else None

    def _possible_tops(self) -> list[int]:
        """Every ``hi`` calstis' float32 mean can give, from the histogram ([] if unsure)."""
        n = self.count
        if self.undefined or n >= 2**22:
            return []
        k = np.arange(_HIST_LO, _HIST_HI + 1, dtype=np.int64)
        counts = self.hist.copy()
        counts[0] = counts[-1] = 0  # the end bins' values are summed apart
        # trunc(x) = k: x in [k, k+1) for k > 0, (k-1, k] for k < 0, (-1, 1) for k = 0
        low = int(counts @ np.where(k > 0, k, k - 1)) + self.outside_sum
        high = int(counts @ np.where(k < 0, k, k + 1)) + self.outside_sum
        magnitude = int(counts @ (np.abs(k) + 1)) + self.outside_abs * (1 + 1e-8)
        if not (np.isfinite(low) and np.isfinite(high)) or magnitude * 1.5 >= float(
            np.finfo(_F32).max
        ):
            return []  # an infinity, or a float32 sum that might overflow
        # calstis' float32 recursion, and the float64 sums of the values set apart
        spread = _gamma(n - 1, 2.0**-24) * magnitude + _gamma(self.outside, 2.0**-53) * magnitude
        # the float32 division adds half an ulp; 2**-23 covers it and float64 rounding
        scale = (max(abs(low), abs(high)) + spread) / n * 2.0**-23 + 1e-38
        a_lo = (low - spread) / n - scale
        a_hi = (high + spread) / n + scale
        if _upper(a_hi) >= _HIST_HI:
            return []  # beyond the streamed histogram
        tops = [1] if a_lo <= 0 else []
        if a_hi > 0:
            tops += list(range(max(_upper(a_lo), 2), _upper(a_hi) + 1, 2))
        return tops


def _gamma(k: int, u: float) -> float:
    """``γ_k = k·u / (1 − k·u)``: the relative error bound of ``k`` roundings of unit ``u``."""
    return k * u / (1 - k * u)


def _upper(amax: float) -> int:
    """calstis' top of the sky histogram for the mean ``amax``."""
    return 1 if amax <= 0 else int(amax + 1.0) * 2


# ---------------------------------------------------------------------------------------
# rejection


@dataclass(frozen=True)
class Plan:
    """Everything a block needs besides its rows: per-image-set constants and parameters.

    Attributes
    ----------
    efac, sky, rog2, gain : ndarray of float32, shape (N,)
        Exposure time (ones when every EXPTIME is 0), sky (DN), read noise² (DN²), gain.
    sig2s : tuple of float32
        ``CRSIGMAS²``, one per iteration.
    psig2 : float32
        ``CRTHRESH²`` (−1 when ``CRTHRESH ≤ 0``: every neighbour spills).
    scalense : float32
        ``SCALENSE / 100``.
    offsets : tuple of (dy, dx)
        The disk of radius ``CRRADIUS``.
    badinpdq : int
        DQ bits excluded from the combination.
    median : bool
        Median initial guess (else minimum).
    texpt, skysum : float32
        ``Σ efac`` and ``Σ sky``, in calstis' float32 order.
    """

    efac: np.ndarray
    sky: np.ndarray
    rog2: np.ndarray
    gain: np.ndarray
    sig2s: tuple
    psig2: np.float32
    scalense: np.float32
    offsets: tuple
    badinpdq: int
    median: bool
    texpt: np.float32
    skysum: np.float32

    @property
    def width(self) -> int:
        """Rows a spill reaches."""
        return max(abs(dy) for dy, _ in self.offsets)

    @property
    def halo(self) -> int:
        """Rows needed on each side of a block of output rows."""
        return len(self.sig2s) * self.width

    @functools.cached_property
    def kept_sums(self) -> np.ndarray | None:
        """With one exposure time ``e`` for all: ``Σ e`` over ``k`` kept image sets, ``k = 0..N``.

        calstis' float32 sum of the kept exposure times then depends only on how many
        were kept. ``None`` when the exposure times differ.
        """
        e = self.efac[0]
        if np.any(self.efac != e):
            return None
        sums = np.zeros(len(self.efac) + 1, dtype=_F32)
        for k in range(1, len(sums)):
            sums[k] = sums[k - 1] + e
        return sums


class NeedsRowsAbove(Exception):
    """A chain of excluded hits may enter the block from above: retry with more rows above."""


def disk_offsets(radius: float) -> tuple[tuple[int, int], ...]:
    """``(dy, dx)`` within ``radius`` of a pixel (float32 distances, as calstis)."""
    width = int(radius + 1e-5)
    r2 = _F32(radius) * _F32(radius)
    return tuple(
        (dy, dx)
        for dy in range(-width, width + 1)
        for dx in range(-width, width + 1)
        if _F32(dx * dx + dy * dy) <= r2
    )


class _Dilation:
    """OR of a mask shifted by every offset of a disk (pixels outside the block ignored).

    Each row of the disk is an interval ``|dx| ≤ a``: the mask is widened by ``a`` along
    the rows, then shifted by ``dy`` rows, all as shifts of one flat, zero-padded copy
    (the ``a`` pad columns keep a row's shift from reaching into the next row).
    """

    def __init__(
        self, shape: tuple[int, int], offsets: Sequence[tuple[int, int]], ws: Workspace
    ) -> None:
        self.half: dict[int, int] = {}
        for dy, dx in offsets:
            self.half[dy] = max(self.half.get(dy, 0), abs(dx))
        self.pad = max(self.half.values())
        rows, nx = shape
        self.stride = nx + 2 * self.pad
        padded = (rows, self.stride)
        self.src, self.wide, self.out = (
            ws.get(name, padded, bool) for name in ("dil_src", "dil_wide", "dil_out")
        )
        self.src[:, : self.pad] = False
        self.src[:, self.pad + nx :] = False
        self.data = (slice(None), slice(self.pad, self.pad + nx))

    def __call__(self, mask: np.ndarray) -> np.ndarray:
        """The dilated ``mask`` (a view, valid until the next call)."""
        self.src[self.data] = mask
        src, wide, out = (a.reshape(-1) for a in (self.src, self.wide, self.out))
        wide[...] = src
        out[...] = False
        for a in range(self.pad + 1):
            if a:
                wide[a:] |= src[:-a]
                wide[:-a] |= src[a:]
            for dy, half in self.half.items():
                if half == a:
                    _or_shifted(out, wide, dy * self.stride)
        return self.out[self.data]


def _or_shifted(out: np.ndarray, src: np.ndarray, shift: int) -> None:
    """``out[k + shift] |= src[k]`` wherever both exist (1-D)."""
    if shift > 0:
        out[shift:] |= src[:-shift]
    elif shift < 0:
        out[:shift] |= src[-shift:]
    else:
        out |= src


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


def median_rates(pics: np.ndarray, out: np.ndarray, ws: Workspace) -> None:
    """Per-pixel median of ``pics`` (N, rows, nx) over the stack into ``out`` (rows, nx).

    The mean of the middle two for even N, in float32. A few rows at a time are laid out
    with the image sets along the contiguous axis, where NumPy's vectorised sort is fast.
    """
    n, rows, nx = pics.shape
    step = max(1, _SORT_BYTES // (4 * n * nx))
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        flat = ws.get("sort", ((r1 - r0) * nx, n))
        for i in range(n):
            flat[:, i] = pics[i, r0:r1].reshape(-1)
        flat.sort(axis=1)
        dst = out[r0:r1].reshape(-1)
        if n % 2:
            dst[...] = flat[:, n // 2]
        else:
            np.add(flat[:, n // 2 - 1], flat[:, n // 2], out=dst)
            dst /= _F32(2)


def fold_minimum(
    plan: Plan, i: int, raw: np.ndarray, pic: np.ndarray, guess: tuple, ws: Workspace
) -> None:
    """Fold image set ``i`` into the minimum initial guess ``guess = (ave, avevar)`` (in place).

    ``raw`` holds its DN, ``pic`` its rate ``(raw − sky) / efac``. The image set with the
    smallest rate gives ``ave`` and its variance ``avevar``: the Poisson term on the raw
    value, the SCALENSE term on the sky-subtracted one.
    """
    sky, efac, g = plan.sky[i], plan.efac[i], plan.gain[i]
    zeros = ws.zeros("zeros", raw.shape)
    signal = ws.get("min_signal", raw.shape)
    if sky != 0:
        np.subtract(raw, sky, out=signal)
        np.maximum(signal, zeros, out=signal)
    else:
        np.maximum(raw, zeros, out=signal)
    signal *= plan.scalense
    signal *= signal
    var = np.maximum(raw, zeros, out=ws.get("min_var", raw.shape))
    if g != 1:
        var /= g
    var += plan.rog2[i]
    var += signal
    var /= efac * efac
    ave, avevar = guess
    if i == 0:
        ave[...] = pic
        avevar[...] = var
        return
    take = np.less(pic, ave, out=ws.get("min_take", raw.shape, bool))
    np.copyto(ave, pic, where=take)
    np.copyto(avevar, var, where=take)


class _Limits:
    """The thresholds of one iteration for each image set in turn (into reused planes).

    Consecutive image sets with equal exposure, noise, gain and sky share them.
    """

    def __init__(self, plan: Plan, sig2, ave: np.ndarray, avevar, ws: Workspace) -> None:
        self.plan, self.sig2, self.ave, self.ws = plan, sig2, ave, ws
        shape = ave.shape
        self.zeros = ws.zeros("zeros", shape)
        self.base = ws.get("lim_base", shape)  # ave · efac
        self.pos = ws.get("lim_pos", shape)
        self.thresh = ws.get("lim_thresh", shape)  # T (S too without SCALENSE)
        self.lim_s = ws.get("lim_s", shape) if plan.scalense != 0 else None  # S
        self.splim = ws.get("lim_splim", shape)
        self.efac = self.key = None
        if not plan.median and avevar is not None:  # first iteration of the minimum guess
            np.multiply(avevar, sig2, out=self.thresh)
            np.multiply(self.thresh, plan.psig2, out=self.splim)
            self.key = "fixed"

    def __call__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """``(T, CRTHRESH² · S)`` of image set ``i``."""
        p = self.plan
        if self.key == "fixed":
            return self.thresh, self.splim
        key = (p.efac[i], p.rog2[i], p.gain[i], p.sky[i])
        if key != self.key:
            if p.efac[i] != self.efac:
                np.multiply(self.ave, p.efac[i], out=self.base)
                self.efac = p.efac[i]
            self._compute(i)
            self.key = key
        return self.thresh, self.splim

    def _compute(self, i: int) -> None:
        """``S = σ² (noise² + v/g) / efac²`` and ``T = σ² (noise² + v/g + (s·max(v − sky,
        0))²) / efac²``, ``v = max(ave·efac + sky, 0)``, operation by operation as calstis.

        A division by a gain of 1 is exact, so it is skipped. ``np.maximum`` runs against a
        plane of zeros: against a scalar it is not vectorised.
        """
        p, sig2 = self.plan, self.sig2
        efac, sky, g, rog2, s = p.efac[i], p.sky[i], p.gain[i], p.rog2[i], p.scalense
        ee = efac * efac
        dum = self.base
        if sky != 0:
            dum = np.add(self.base, sky, out=self.pos)
        pos = np.maximum(dum, self.zeros, out=self.pos)
        if g != 1:
            pos /= g  # v/g from here on
        spthresh = np.add(pos, rog2, out=self.lim_s if s != 0 else self.thresh)
        spthresh *= sig2
        spthresh /= ee
        np.multiply(spthresh, p.psig2, out=self.splim)
        if s != 0:
            # SCALENSE applies to the sky-subtracted model, recomputed as (dum − sky)
            net = self.ws.get("lim_net", pos.shape)
            np.add(self.base, sky, out=net)
            if sky != 0:
                net -= sky
            np.maximum(net, self.zeros, out=net)
            net *= s
            net *= net
            np.add(pos, rog2, out=self.thresh)
            self.thresh += net
            self.thresh *= sig2
            self.thresh /= ee


class _Judge:
    """Hits and spills of one image set, in reused planes."""

    def __init__(self, plan: Plan, shape: tuple[int, int], ws: Workspace) -> None:
        self.plan = plan
        self.d2 = ws.get("judge_d2", shape)
        self.hit, self.cond, self.rejected, self.dropped = (
            ws.get(name, shape, bool) for name in ("hit", "cond", "rejected", "dropped")
        )
        self.dilate = _Dilation(shape, plan.offsets, ws)

    def __call__(
        self,
        pic: np.ndarray,
        ave: np.ndarray,
        limits: tuple[np.ndarray, np.ndarray],
        excl: np.ndarray | None,
        first_exact: int | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Flat indices of the rejected (hit or spill) and of the dropped (rejected or
        excluded) pixels; ``self.rejected`` holds the rejections.

        ``first_exact`` is the first row whose hits are exact (``None`` at the image top): a
        promotion candidate in the ``width`` rows from there may continue a chain from above.
        """
        thresh, splim = limits
        np.subtract(pic, ave, out=self.d2)
        np.multiply(self.d2, self.d2, out=self.d2)
        np.greater(self.d2, thresh, out=self.hit)
        np.greater(self.d2, splim, out=self.cond)
        if excl is not None:
            self._promote(excl, first_exact)
        if self.hit.any():
            np.logical_and(self.dilate(self.hit), self.cond, out=self.rejected)
            self.rejected |= self.hit  # hit | spill, spill = dilated & cond & ~hit
        else:
            self.rejected[...] = False
        rejected = np.flatnonzero(self.rejected)
        if excl is None:
            return rejected, rejected
        np.logical_or(self.rejected, excl, out=self.dropped)
        return rejected, np.flatnonzero(self.dropped)

    def _promote(self, excl: np.ndarray, first_exact: int | None) -> None:
        """Excluded pixels are never hits themselves, unless promoted (raster order)."""
        cand = self.hit & excl
        self.hit &= ~excl
        if not (cand & self.cond).any():
            return
        if first_exact is not None:
            edge = slice(first_exact, first_exact + self.plan.width)
            if (cand[edge] & self.cond[edge]).any():
                raise NeedsRowsAbove
        _promote_excluded(self.hit, cand, self.cond, self.plan.offsets)


def _zero(plane: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``plane`` with the flat positions ``where`` set to +0 (in place)."""
    plane.reshape(-1)[where] = 0
    return plane


class _Sums:
    """Per-pixel sums of one iteration; the last one also gathers the output planes.

    Each float32 sum adds every pixel of every image set in image-set order, +0 where the
    pixel is dropped: a sum that starts at +0 never becomes −0, so adding +0 leaves it as it
    was and the sums equal calstis' sums over the kept pixels. Rejections are few, so the
    bookkeeping of dropped pixels works on their indices.
    """

    def __init__(
        self, plan: Plan, shape: tuple[int, int], core: slice, last: bool, ws: Workspace
    ) -> None:
        self.n = len(plan.efac)
        self.core, self.last, self.ws = core, last, ws
        self.total = ws.zeros("sum_total", shape)
        self.dropped = ws.zeros("sum_dropped", shape, np.int32)  # image sets not kept
        self.efacsum = None if plan.kept_sums is not None else ws.zeros("sum_efac", shape)
        self.contrib = ws.get("sum_contrib", shape)
        self.zeros = ws.zeros("zeros", shape)
        if last:
            self.sumvar = ws.zeros("sum_var", shape)
            self.dq_or = ws.zeros("sum_dq", (core.stop - core.start, shape[1]), np.int16)
            self.n_rejections = ws.zeros("sum_nrej", shape, np.int32)  # per pixel
            self.n_rejected = np.zeros(self.n, dtype=np.int64)  # per image set, output rows

    def add(self, plan: Plan, i: int, pic, dq, judged, judge: _Judge, masks) -> None:
        """Sum image set ``i``'s kept pixels (``judged``: its rejected and dropped indices)."""
        rejected, dropped = judged
        efac = plan.efac[i]
        np.multiply(pic, efac, out=self.contrib)
        if self.last:
            self.sumvar += _zero(self._variance(plan, i), dropped)
        self.total += _zero(self.contrib, dropped)
        self.dropped.reshape(-1)[dropped] += 1
        if self.efacsum is not None:
            kept = self.ws.get("sum_kept", pic.shape)
            kept.fill(efac)
            self.efacsum += _zero(kept, dropped)
        if self.last:
            self._gather(i, dq, rejected, judge, masks)

    def _variance(self, plan: Plan, i: int) -> np.ndarray:
        """``noise² + v/g + (s·v)²``, ``v = max(pic·efac + sky, 0)`` (the raw value)."""
        sky, g, s = plan.sky[i], plan.gain[i], plan.scalense
        v = self.ws.get("var_v", self.contrib.shape)
        square = self.ws.get("var_square", self.contrib.shape)
        if sky != 0:
            np.add(self.contrib, sky, out=v)
        else:
            v[...] = self.contrib
        np.maximum(v, self.zeros, out=v)
        np.multiply(v, s, out=square)
        if s != 0:
            square *= square
        # with s = 0, s·v is ±0 (NaN for an infinite v) like (s·v)², and adding ±0 to the
        # sum so far, never −0, leaves it as it is: the squaring is skipped
        if g != 1:
            v /= g
        v += plan.rog2[i]
        v += square
        return v

    def _gather(self, i: int, dq, rejected: np.ndarray, judge: _Judge, masks) -> None:
        """The last iteration's DQ, rejection counts and masks (output rows only)."""
        c, nx = self.core, dq.shape[1]
        self.dq_or |= dq[c] if dq.dtype == np.int16 else dq[c].astype(np.int16)
        self.n_rejections.reshape(-1)[rejected] += 1
        lo, hi = np.searchsorted(rejected, (c.start * nx, c.stop * nx))
        self.n_rejected[i] = hi - lo
        if masks is not None:
            masks[i] = judge.rejected[c]

    def average(self, plan: Plan, ave: np.ndarray) -> np.ndarray:
        """The new rate model: the ratio of the sums; where nothing survived, ``ave`` (0 last)."""
        if self.efacsum is None:
            self.efacsum = plan.kept_sums[self.n - self.dropped]
        self.good = self.efacsum > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            new = self.total / self.efacsum
        return np.where(self.good, new, _ZERO if self.last else ave).astype(_F32)

    def write(self, plan: Plan, ave: np.ndarray, out: tuple) -> None:
        """The output rows (core) from the last iteration's sums and rate model."""
        sci, err, dq = out
        c = self.core
        good, efacsum = self.good[c], self.efacsum[c]
        with np.errstate(divide="ignore", invalid="ignore"):
            err_rate = np.where(
                good, np.sqrt(self.sumvar[c].astype(np.float64)) / efacsum, 0.0
            ).astype(_F32)
        np.multiply(ave[c], plan.texpt, out=sci)
        if plan.skysum != 0:
            sci += plan.skysum
        np.multiply(err_rate, plan.texpt, out=err)
        every = self.n_rejections[c] == self.n  # rejected in every image set
        flags = np.where(every, np.int16(CR_FLAG), np.int16(0))
        np.bitwise_or(self.dq_or & np.int16(~CR_FLAG), flags, out=dq)


def reject_block(
    plan: Plan,
    pics: np.ndarray,
    dqs: np.ndarray,
    guess: tuple[np.ndarray, np.ndarray | None],
    core: slice,
    out: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    at_top: bool,
    ws: Workspace,
    masks: np.ndarray | None = None,
) -> np.ndarray:
    """calstis' iterations on a block of rows of the whole stack.

    Parameters
    ----------
    plan : Plan
        Constants and parameters of the run.
    pics : ndarray, float32, (N, rows, nx)
        Rates ``(raw − sky) / efac`` of the block's rows.
    dqs : ndarray, (N, rows, nx)
        Their DQ.
    guess : (ave, avevar)
        The initial guess, float32 (rows, nx) (``avevar`` only for the minimum guess).
    core : slice
        The rows (of the block) to output; ``plan.halo`` rows beyond it on each side are
        needed unless the block reaches the image edge there.
    out : (sci, err, dq)
        The output rows (core rows × nx), written.
    at_top : bool
        Whether the block starts at the image's first row.
    ws : Workspace
        This process's buffers.
    masks : ndarray of bool, (N, core rows, nx), optional
        Filled with the last iteration's rejections.

    Returns
    -------
    ndarray of int
        Rejected pixels of each image set in the output rows.

    Raises
    ------
    NeedsRowsAbove
        If an excluded-pixel chain may enter from above the block.
    """
    n, rows, nx = pics.shape
    ave, avevar = guess
    judge = _Judge(plan, (rows, nx), ws)
    excl = ws.get("excluded", (rows, nx), bool) if plan.badinpdq else None
    niter = len(plan.sig2s)
    for it, sig2 in enumerate(plan.sig2s):
        sums = _Sums(plan, (rows, nx), core, it == niter - 1, ws)
        first_exact = None if at_top else it * plan.width
        limits = _Limits(plan, sig2, ave, avevar if it == 0 else None, ws)
        for i in range(n):
            if excl is not None:
                np.not_equal(dqs[i] & plan.badinpdq, 0, out=excl)
            judged = judge(pics[i], ave, limits(i), excl, first_exact)
            sums.add(plan, i, pics[i], dqs[i], judged, judge, masks)
        ave = sums.average(plan, ave)
    sums.write(plan, ave, out)
    return sums.n_rejected
