"""The readout simulation of stis_cti's CTI model, and its inversion, compiled with numba.

The physics
-----------
A column is read by shifting its charge packets towards the amplifier, row 0 first (the
image is flipped so that row 0 is next to the amplifier: :func:`~stisdarks.cti.trapmodel.
readout_direction`). :func:`sim_readout` walks one column from row 0 upwards and keeps,
for each charge level ``l`` of the :class:`~stisdarks.cti.trapmodel.TrapModel`, what its
traps hold (``ftrap``, electrons) and how many transfers ago they were filled (``ttrap``).
At each pixel:

1. the traps release charge into the pixel: each level filled ``t`` transfers ago gives
   ``chg_leak_lt[t - 1, l] * ftrap[l]``, for ``t`` up to ``MAX_TAIL_LEN`` (the trail);
2. the pixel's charge (with that release) reaches the levels below it, and fills their
   traps with ``dpde_l[l + 1] * cte_frac`` electrons each (a fraction of that for the
   level it only partly reaches); what those traps still held (``chg_open_lt``) goes back
   to the pixel, the newly trapped charge is taken from it.

When the scaling ``cte_frac`` falls from one pixel to the next, the traps' contents are
scaled down with it. stis_cti breaks the transfer of a column into ``shft_nit`` such
passes (``sim_readout_nit``), each with the capture probability of ``1/shft_nit`` of the
column. :func:`add_y_cte` is that forward model: it trails a CTI-free image.
:func:`fix_y_cte` inverts it: it looks for the image that, read out, gives the observed
one, by ``sim_nit`` fixed-point steps ``cur += obs - readout(cur)`` per column. Where that
pushes a pixel far below zero (below ``too_low`` and by more than ``-too_low``), it lowers
``cte_frac`` between the pixel and the nearest upstream pixel that gained charge, tapers
the next four, and repeats the column (at most ten times).

CTI acts on the charge before the amplifier adds its read noise, and the inversion would
amplify that noise; :func:`decompose_rn` first splits the image into a smooth signal and
a noise of pixel-to-pixel steps clipped at ``read_noise``, which is added back afterwards.

Bit-identity with stis_cti 1.6.2
--------------------------------
These are ports of the C functions ``DecomposeRN``, ``FixYCte``, ``AddYCte``,
``sim_readout_nit`` and ``sim_readout`` (``StisFixYCte.c``, ``StisPixCteCorr_funcs.c``),
compiled without ``fastmath`` so that every float64 operation is the C's, in the C's
order (the extension is built without fused multiply-adds; LLVM fuses nothing without
fast-math flags). The speed comes from skipping work that cannot change a result and
from running independent work side by side:

- Columns are independent: they run in parallel (``numba.prange`` over blocks of
  :data:`_BLOCK` columns that share their scratch arrays, handed out one at a time to
  whichever thread is free: columns that redo cost more).
- A pixel fills a *prefix* of the levels (``0..k-1``: the C breaks at the first level
  the charge does not reach, and the levels increase), so the pixel at which each level
  was last filled never increases with ``l``, nor does ``ttrap`` decrease. The levels
  still releasing (``ttrap < MAX_TAIL_LEN``) are a prefix ``0..n_active-1``; so are the
  levels filled at all in this pass (``ttrap <= MAX_TAIL_LEN``, ``0..n_filled-1``; the
  others keep the C's ``ttrap = 999`` and are never read). The release sum runs over the
  first prefix only, in the same increasing order, so it is the C's sum (the C adds
  nothing for the other levels); the rescaling when ``cte_frac`` falls runs over the
  second (levels stuck at ``ttrap = 60`` still matter: a refill adds
  ``chg_open_lt[59, l] * ftrap[l]``). ``ttrap`` itself is not counted up level by level
  and pixel by pixel: it is ``i - filled_at``, capped at ``MAX_TAIL_LEN``.
- The levels a charge fills whole (``ffil = 1``) are counted from a table of the integer
  part of the charge, then filled in a loop without tests.
- The ``sim_nit x shft_nit`` passes over a column form a pipeline: pass ``q`` needs at
  pixel ``i`` only pass ``q - 1``'s value at pixel ``i`` (the first pass of an iteration:
  ``cur[i]``, which the previous iteration's last pass has just updated) and its own
  traps. :func:`_readout_passes` runs them as a wavefront, pass ``q`` at pixel ``s - q``
  in step ``s``, four at a time through the release sums: four independent chains of
  additions in flight instead of one (an addition's latency is what limits the C's
  loop; with four, each term's three loads are: ``off``, the trail, ``ftrap``). Each
  pass still does its own operations in its own order: the four run together up to the
  smallest of their ``n_active``, then two by two, then each alone to its own end.

:func:`sim_readout` is the plain single-pass port with the first two points, kept as the
readable reference (the tests compare it with the C); :func:`fix_y_cte` and
:func:`add_y_cte` use the wavefront. The tests compare every array with stis_cti's
bit for bit (``np.array_equal``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numba
import numpy as np

__all__ = ["MAX_TAIL_LEN", "MAX_REDO", "decompose_rn", "sim_readout", "fix_y_cte", "add_y_cte"]

#: trails are followed for this many transfers (stis_cti's ``MAX_TAIL_LEN``)
MAX_TAIL_LEN = 60
#: over-subtraction passes per column (stis_cti's ``num_redo < 10``)
MAX_REDO = 10
#: the read-noise separation's passes: at least ``_MIN_PASSES``, at most ``_MAX_PASSES``
_MIN_PASSES, _MAX_PASSES = 25, 30
#: numba options: cached machine code, no GIL, IEEE division (inf/nan, no ZeroDivisionError),
#: and no fastmath (every float operation in the C's order)
_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


@numba.njit(**_JIT)
def decompose_rn(
    data: np.ndarray, read_noise: float, noise_model: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split an image (electrons) into signal and read noise: stis_cti's ``DecomposeRN``.

    25 passes (up to 30 while the noise rms is below ``1.1 * read_noise``) move each
    pixel towards the one below it by at most ``0.1 * read_noise``; what is moved is
    noise. Model 1 then scales the noise down where its 3x3 rms exceeds
    ``1.25 * read_noise`` (a source, not noise); model 2 keeps it all; model 0 finds none.
    Each pass updates the noise, then sums its squares in the C's order (the C does both
    in one loop: one long chain of dependent additions that also holds up the update).

    Parameters
    ----------
    data : ndarray
        ``(rows, columns)`` float64 image in electrons, row 0 next to the amplifier.
    read_noise : float
        The clipping amplitude (``RN_CLIP``, electrons).
    noise_model : int
        0, 1 or 2 (``NSEMODEL``).

    Returns
    -------
    sig, noise : ndarray
        ``sig = data - noise``.

    Raises
    ------
    ValueError
        For another ``noise_model``.
    """
    if noise_model != 0 and noise_model != 1 and noise_model != 2:
        raise ValueError("noise_model must be 0, 1 or 2")
    arrx, arry = data.shape
    sig = data.copy()
    noise = np.zeros((arrx, arry))
    if noise_model == 0:
        return sig, noise
    clip = 0.1 * read_noise
    following = np.empty((arrx, arry))
    it_count = 0
    while True:
        for j in range(arry):
            following[0, j] = data[0, j] - noise[0, j]
        for i in range(1, arrx):
            for j in range(arry):
                d1 = sig[i, j] - sig[i - 1, j]
                d1 = clip if d1 > clip else (-clip if d1 < -clip else d1)
                noise[i, j] += d1
                following[i, j] = data[i, j] - noise[i, j]
        sig, following = following, sig
        rms = np.sqrt(_sum_of_squares(noise) / ((arrx - 1) * arry))
        it_count += 1
        if not (it_count < _MIN_PASSES or (it_count < _MAX_PASSES and rms < 1.10 * read_noise)):
            break
    if noise_model == 1:
        noise = _limit_local_noise(noise, read_noise)
    for i in range(arrx):
        for j in range(arry):
            sig[i, j] = data[i, j] - noise[i, j]
    return sig, noise


@numba.njit(**_JIT)
def _sum_of_squares(noise: np.ndarray) -> float:
    """``sum(noise[1:] ** 2)`` added one by one in row-major order, as the C does."""
    total = 0.0
    for i in range(1, noise.shape[0]):
        for j in range(noise.shape[1]):
            total += noise[i, j] * noise[i, j]
    return total


@numba.njit(**_JIT)
def _limit_local_noise(noise: np.ndarray, read_noise: float) -> np.ndarray:
    """Noise model 1: divide the noise by its 3x3 rms / (1.25 read noise) where that is > 1."""
    arrx, arry = noise.shape
    local = np.empty((arrx, arry))
    for i in range(arrx):
        for j in range(arry):
            f = 1.0
            if i > 1 and i < arrx - 1 and j > 0 and j < arry - 1:
                a = noise[i - 1, j + 1]
                b = noise[i, j + 1]
                c = noise[i + 1, j + 1]
                d = noise[i - 1, j]
                e = noise[i, j]
                g = noise[i + 1, j]
                h = noise[i - 1, j - 1]
                k = noise[i, j - 1]
                m = noise[i + 1, j - 1]
                f = a * a + b * b + c * c + d * d + e * e + g * g + h * h + k * k + m * m
                f = np.sqrt(f / 9.0) / (1.25 * read_noise)
                if f < 1:
                    f = 1.00
            local[i, j] = noise[i, j] / f
    return local


@numba.njit(**_JIT)
def sim_readout(
    pix_cur: np.ndarray,
    pix_read: np.ndarray,
    cte_frac_col: np.ndarray,
    levels: np.ndarray,
    dpde_l: np.ndarray,
    chg_leak_lt: np.ndarray,
    chg_open_lt: np.ndarray,
    ftrap: np.ndarray,
    filled_at: np.ndarray,
) -> None:
    """One pass of the readout of a column: stis_cti's ``sim_readout``.

    Parameters
    ----------
    pix_cur : ndarray
        ``(rows,)`` the column before the pass (electrons, row 0 next to the amplifier).
    pix_read : ndarray
        ``(rows,)`` output: the column after the pass.
    cte_frac_col : ndarray
        ``(rows,)`` the CTI scaling of each pixel.
    levels, dpde_l, chg_leak_lt, chg_open_lt : ndarray
        The :class:`~stisdarks.cti.trapmodel.TrapModel`'s arrays.
    ftrap, filled_at : ndarray
        ``(NUM_LEV,)`` float64 and int64 scratch: the traps' contents and the pixel at
        which each level was last filled (overwritten).
    """
    arrx = pix_cur.shape[0]
    nfill = levels.shape[0] - 1  # the C fills levels 0..NUM_LEV-2
    n_active = 0  # levels 0..n_active-1 release charge (ttrap < MAX_TAIL_LEN)
    n_filled = 0  # levels 0..n_filled-1 were filled in this pass (ttrap <= MAX_TAIL_LEN)
    for i in range(arrx):
        pix0 = pix_cur[i]
        if i > 0 and cte_frac_col[i] < cte_frac_col[i - 1]:
            ratio = cte_frac_col[i] / cte_frac_col[i - 1]
            for lev in range(n_filled):
                ftrap[lev] *= ratio
        # release: ttrap becomes i - filled_at, counted while it is <= MAX_TAIL_LEN
        add_charge1 = 0.0
        for lev in range(n_active):
            add_charge1 += chg_leak_lt[i - filled_at[lev] - 1, lev] * ftrap[lev]
        while n_active > 0 and i - filled_at[n_active - 1] >= MAX_TAIL_LEN:
            n_active -= 1
        pix1 = pix0 + add_charge1
        # capture: fill every level the charge reaches
        add_charge2 = 0.0
        rem_charge = 0.0
        k = 0
        for lev in range(nfill):
            if pix1 < levels[lev]:
                break
            ffil = 1.000
            if pix1 < levels[lev + 1]:
                ffil = (pix1 - levels[lev]) / (levels[lev + 1] - levels[lev])
            rem_charge_temp = ffil * dpde_l[lev + 1] * cte_frac_col[i]
            if lev < n_filled:
                ttrap = min(i - filled_at[lev], MAX_TAIL_LEN)
                add_charge2 += chg_open_lt[ttrap - 1, lev] * ftrap[lev]
            filled_at[lev] = i
            ftrap[lev] = rem_charge_temp
            rem_charge += rem_charge_temp
            k = lev + 1
        n_active = max(n_active, k)
        n_filled = max(n_filled, k)
        pix_read[i] = pix_cur[i] + add_charge1 + add_charge2 - rem_charge


@numba.njit(**_JIT)
def _lower_oversubtracted(
    pix_obs: np.ndarray, pix_cur: np.ndarray, cte_frac_col: np.ndarray, too_low: float
) -> bool:
    """Lower ``cte_frac_col`` around the first over-subtracted pixel; True if it did."""
    arrx = pix_obs.shape[0]
    for i in range(2, arrx - 2):
        if not (pix_cur[i] - pix_obs[i] < too_low and pix_cur[i] < too_low):
            continue
        high_location = -1
        for i2 in range(i - 1, 0, -1):  # an upstream pixel that gained charge
            if pix_cur[i2] - pix_obs[i2 - 1] < 0:
                high_location = i2 - 1
                break
        if high_location < 0:
            continue
        ncf_top = pix_obs[i] if pix_obs[i] > 0.0 else 0.0
        ncf_bot = ncf_top - pix_cur[i]
        if ncf_top == 0:
            new_cte_frac = 0.0
        elif ncf_bot == 0:
            new_cte_frac = 0.0
        else:
            new_cte_frac = ncf_top / ncf_bot
        for i2 in range(high_location, i + 1):
            cte_frac_col[i2] *= new_cte_frac
            if cte_frac_col[i2] < 0:
                cte_frac_col[i2] = 0.0
        # taper the next four pixels by 0.8, 0.6, 0.4, 0.2 of the change
        if i + 1 < arrx:
            cte_frac_col[i + 1] *= 1.0 - 0.8 * (1.0 - new_cte_frac)
        if i + 2 < arrx:
            cte_frac_col[i + 2] *= 1.0 - 0.6 * (1.0 - new_cte_frac)
        if i + 3 < arrx:
            cte_frac_col[i + 3] *= 1.0 - 0.4 * (1.0 - new_cte_frac)
        if i + 4 < arrx:
            cte_frac_col[i + 4] *= 1.0 - 0.2 * (1.0 - new_cte_frac)
        return True
    return False


@numba.njit(**_JIT)
def _level_bounds(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The levels as float64, their widths, and how many levels a charge fills whole.

    ``dlev[l] = levels[l + 1] - levels[l]`` (the C's int difference) and, for an integer
    charge ``q`` up to ``levels[-1]``, ``n_full_at[q]`` = the number of ``l < NUM_LEV - 1``
    with ``levels[l + 1] <= q``. The levels are integers, increasing: a charge ``pix1``
    fills whole the levels ``l`` with ``levels[l + 1] <= floor(pix1)``, a prefix.
    """
    nlev = levels.shape[0]
    levf = np.empty(nlev)
    dlev = np.zeros(nlev)
    for lev in range(nlev):
        levf[lev] = levels[lev]
    for lev in range(nlev - 1):
        dlev[lev] = levels[lev + 1] - levels[lev]
    top = max(levels[nlev - 1], 0) if nlev > 0 else 0
    n_full_at = np.zeros(top + 1, dtype=np.int32)
    lev = 0
    for q in range(top + 1):
        while lev < nlev - 1 and levels[lev + 1] <= q:
            lev += 1
        n_full_at[q] = lev
    return levf, dlev, n_full_at


@numba.njit(**_JIT)
def _tables(
    levels: np.ndarray, dpde_l: np.ndarray, chg_leak_lt: np.ndarray, chg_open_lt: np.ndarray
) -> tuple:
    """The model as :func:`_readout_passes` reads it: level bounds, capacities, flat trails."""
    levf, dlev, n_full_at = _level_bounds(levels)
    leak_f = np.ascontiguousarray(chg_leak_lt).ravel()
    open_f = np.ascontiguousarray(chg_open_lt).ravel()
    return levf, dlev, n_full_at, dpde_l, leak_f, open_f


@numba.njit(**_JIT)
def _readout_passes(
    cur: np.ndarray,
    obs: np.ndarray,
    read: np.ndarray,
    cte: np.ndarray,
    n_iter: int,
    shft_nit: int,
    correct: bool,
    tables: tuple,
    state: tuple,
) -> None:
    """``n_iter`` x ``shft_nit`` readout passes over one column, as a wavefront.

    With ``correct`` (``FixYCte``): ``n_iter`` fixed-point iterations, each ``shft_nit``
    passes of :func:`sim_readout` (``sim_readout_nit``) followed by ``cur += obs - read``.
    Without (``AddYCte``): one iteration (``n_iter = 1``) whose read column goes to ``read``.

    Pass ``q`` needs, at pixel ``i``, only pass ``q - 1``'s result at pixel ``i`` (the first
    pass of an iteration: ``cur[i]`` as the previous iteration left it) and its own traps,
    left by its pixel ``i - 1``. So step ``s`` runs pass ``q`` at pixel ``s - q`` for every
    pass at once: each pass does exactly the C's operations, in the C's order, only
    interleaved with the others'. Four passes at a time share the release loop: four
    independent sums in flight instead of one (an add's latency is what limits it; then
    the loads: three a term), as long as all four have active levels, then two, then one.

    The traps of pass ``q``, level ``l`` are ``ftrap[q * nlev + l]`` and
    ``off[q * nlev + l] = l - (filled_at + 1) * nlev`` (uint64, modulo 2**64), so that
    ``i * nlev + off`` indexes ``chg_leak_lt[i - filled_at - 1, l]`` in the flattened tables.
    ``tables`` are :func:`_tables`'s, ``state`` :func:`_scratch`'s.
    """
    levf, dlev, n_full_at, dpde_l, leak_f, open_f = tables
    ftrap, off, n_active, n_filled, buf, first, last = state
    arrx = cur.shape[0]
    nlev = levf.shape[0]
    nl1 = nlev - 1
    npass = n_iter * shft_nit
    unlev = np.uint64(nlev)
    last_row = np.uint64((MAX_TAIL_LEN - 1) * nlev)
    for q in range(npass):
        n_active[q] = 0
        n_filled[q] = 0
        first[q] = q % shft_nit == 0
        last[q] = q % shft_nit == shft_nit - 1
    for s in range(arrx + npass - 1):
        lo = max(0, s - arrx + 1)
        hi = min(npass, s + 1)
        rd = (s & 1) * npass  # buf[rd + q]: pass q's value of the previous step
        wr = npass - rd
        p = lo
        while p < hi:
            g = min(4, hi - p)
            # traps lose charge with cte_frac (only where a redo lowered it)
            for q in range(p, p + g):
                i = s - q
                if i > 0 and cte[i] < cte[i - 1]:
                    ratio = cte[i] / cte[i - 1]
                    b = q * nlev
                    for lev in range(n_filled[q]):
                        ftrap[b + lev] *= ratio
            # release (add_charge1) of passes p .. p + g - 1: up to four sums in flight
            n0 = n_active[p]
            n1 = n_active[p + 1] if g > 1 else 0
            n2 = n_active[p + 2] if g > 2 else 0
            n3 = n_active[p + 3] if g > 3 else 0
            b0 = np.uint64(p * nlev)  # pass p + u: traps at b0 + u * nlev, pixel ib0 - u * nlev
            b1 = b0 + unlev
            b2 = b1 + unlev
            b3 = b2 + unlev
            ib0 = np.uint64((s - p) * nlev)
            ib1 = ib0 - unlev
            ib2 = ib1 - unlev
            ib3 = ib2 - unlev
            acc0 = 0.0
            acc1 = 0.0
            acc2 = 0.0
            acc3 = 0.0
            done01 = 0  # levels already added by passes p, p + 1 (and by p + 2, p + 3)
            done23 = 0
            if g == 4:
                done01 = done23 = min(min(n0, n1), min(n2, n3))
                for lev in range(done01):
                    ul = np.uint64(lev)
                    acc0 += leak_f[ib0 + off[b0 + ul]] * ftrap[b0 + ul]
                    acc1 += leak_f[ib1 + off[b1 + ul]] * ftrap[b1 + ul]
                    acc2 += leak_f[ib2 + off[b2 + ul]] * ftrap[b2 + ul]
                    acc3 += leak_f[ib3 + off[b3 + ul]] * ftrap[b3 + ul]
                common = min(n2, n3)
                for lev in range(done23, common):
                    ul = np.uint64(lev)
                    acc2 += leak_f[ib2 + off[b2 + ul]] * ftrap[b2 + ul]
                    acc3 += leak_f[ib3 + off[b3 + ul]] * ftrap[b3 + ul]
                done23 = max(done23, common)
            if g >= 2:
                common = min(n0, n1)
                for lev in range(done01, common):
                    ul = np.uint64(lev)
                    acc0 += leak_f[ib0 + off[b0 + ul]] * ftrap[b0 + ul]
                    acc1 += leak_f[ib1 + off[b1 + ul]] * ftrap[b1 + ul]
                done01 = max(done01, common)
            for lev in range(done01, n0):
                ul = np.uint64(lev)
                acc0 += leak_f[ib0 + off[b0 + ul]] * ftrap[b0 + ul]
            for lev in range(done01, n1):
                ul = np.uint64(lev)
                acc1 += leak_f[ib1 + off[b1 + ul]] * ftrap[b1 + ul]
            for lev in range(done23, n2):
                ul = np.uint64(lev)
                acc2 += leak_f[ib2 + off[b2 + ul]] * ftrap[b2 + ul]
            for lev in range(done23, n3):
                ul = np.uint64(lev)
                acc3 += leak_f[ib3 + off[b3 + ul]] * ftrap[b3 + ul]
            for q in range(p, p + g):
                i = s - q
                u = q - p
                add_charge1 = acc0 if u == 0 else (acc1 if u == 1 else (acc2 if u == 2 else acc3))
                b = np.uint64(q * nlev)
                ib = np.uint64(i * nlev)
                x = cur[i] if first[q] else buf[rd + q - 1]
                # levels whose ttrap reached MAX_TAIL_LEN stop releasing
                n = n_active[q]
                while n > 0 and ib + off[b + np.uint64(n - 1)] >= last_row + np.uint64(n - 1):
                    n -= 1
                # capture: fill the levels the charge reaches (add_charge2, rem_charge)
                pix1 = x + add_charge1
                add_charge2 = 0.0
                rem_charge = 0.0
                nfq = n_filled[q]
                c = cte[i]
                nib = ib + unlev
                # levels 0..n_full-1 are filled whole (ffil = 1: pix1 >= levels[l + 1])
                if pix1 < levf[1]:
                    n_full = 0
                elif pix1 < levf[nl1]:
                    n_full = n_full_at[int(pix1)]
                else:  # also NaN, which the C never stops filling
                    n_full = nl1
                n_old = min(n_full, nfq)
                for lev in range(n_old):  # levels filled before: release what they held
                    ul = np.uint64(lev)
                    rem_charge_temp = dpde_l[lev + 1] * c
                    t_row = min(ib + off[b + ul], last_row + ul)
                    add_charge2 += open_f[t_row] * ftrap[b + ul]
                    off[b + ul] = ul - nib
                    ftrap[b + ul] = rem_charge_temp
                    rem_charge += rem_charge_temp
                for lev in range(n_old, n_full):  # levels never filled in this pass
                    ul = np.uint64(lev)
                    rem_charge_temp = dpde_l[lev + 1] * c
                    off[b + ul] = ul - nib
                    ftrap[b + ul] = rem_charge_temp
                    rem_charge += rem_charge_temp
                k = n_full
                if n_full < nl1 and not (pix1 < levf[n_full]):  # the level it reaches in part
                    lev = n_full
                    ul = np.uint64(lev)
                    ffil = (pix1 - levf[lev]) / dlev[lev]
                    rem_charge_temp = ffil * dpde_l[lev + 1] * c
                    if lev < nfq:
                        t_row = min(ib + off[b + ul], last_row + ul)
                        add_charge2 += open_f[t_row] * ftrap[b + ul]
                    off[b + ul] = ul - nib
                    ftrap[b + ul] = rem_charge_temp
                    rem_charge += rem_charge_temp
                    k = lev + 1
                n_active[q] = max(n, k)
                n_filled[q] = max(nfq, k)
                value = x + add_charge1 + add_charge2 - rem_charge
                buf[wr + q] = value
                if last[q]:
                    if correct:
                        cur[i] += obs[i] - value
                    else:
                        read[i] = value
            p += g


@numba.njit(**_JIT)
def _scratch(npass: int, nlev: int) -> tuple:
    """Trap state and buffers of :func:`_readout_passes` for ``npass`` passes."""
    return (
        np.zeros(npass * nlev),
        np.zeros(npass * nlev, dtype=np.uint64),
        np.zeros(npass, dtype=np.int64),
        np.zeros(npass, dtype=np.int64),
        np.zeros(2 * npass),
        np.zeros(npass, dtype=np.bool_),
        np.zeros(npass, dtype=np.bool_),
    )


#: columns per parallel task: the trap state is allocated once per task
_BLOCK = 8


@numba.njit(**_JIT)
def _fix_block(
    sig_cte: np.ndarray,
    cte_frac: np.ndarray,
    sig_cor: np.ndarray,
    cte_out: np.ndarray,
    block: int,
    sim_nit: int,
    shft_nit: int,
    too_low: float,
    tables: tuple,
) -> None:
    """``FixYCte``'s loop body for the columns of ``block``: correct, redo, store."""
    arrx, arry = sig_cte.shape
    state = _scratch(sim_nit * shft_nit, tables[0].shape[0])
    obs = np.empty(arrx)
    cur = np.empty(arrx)
    cte_col = np.empty(arrx)
    for j in range(block * _BLOCK, min(arry, (block + 1) * _BLOCK)):
        for i in range(arrx):
            obs[i] = sig_cte[i, j]
            cur[i] = obs[i]
            cte_col[i] = cte_frac[i, j]
        num_redo = 0
        while True:
            _readout_passes(cur, obs, cur, cte_col, sim_nit, shft_nit, True, tables, state)
            redo_col = _lower_oversubtracted(obs, cur, cte_col, too_low)
            num_redo += 1
            if not (redo_col and num_redo < MAX_REDO):
                break
        for i in range(arrx):
            sig_cor[i, j] = cur[i]
            cte_out[i, j] = cte_col[i]


@numba.njit(**_JIT)
def _add_block(
    sig_cte: np.ndarray,
    cte_frac: np.ndarray,
    out: np.ndarray,
    block: int,
    shft_nit: int,
    tables: tuple,
) -> None:
    """``AddYCte``'s loop body for the columns of ``block``: read each out once."""
    arrx, arry = sig_cte.shape
    state = _scratch(shft_nit, tables[0].shape[0])
    obs = np.empty(arrx)
    read = np.empty(arrx)
    cte_col = np.empty(arrx)
    for j in range(block * _BLOCK, min(arry, (block + 1) * _BLOCK)):
        for i in range(arrx):
            obs[i] = sig_cte[i, j]
            cte_col[i] = cte_frac[i, j]
        _readout_passes(obs, obs, read, cte_col, 1, shft_nit, False, tables, state)
        for i in range(arrx):
            out[i, j] = read[i]


@numba.njit(**_JIT)
def _check(shft_nit: int, levels: np.ndarray) -> None:
    """Refuse what the wavefront cannot run: no pass, or fewer than two levels."""
    if shft_nit < 1:
        raise ValueError("shft_nit must be at least 1")
    if levels.shape[0] < 2:
        raise ValueError("the trap model needs at least two charge levels")


@numba.njit(parallel=True, **_JIT)
def _columns(
    sig_cte: np.ndarray,
    cte_frac: np.ndarray,
    sim_nit: int,
    shft_nit: int,
    too_low: float,
    correct: bool,
    model: tuple,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`fix_y_cte` (``correct``) or :func:`add_y_cte`: the blocks of columns in parallel.

    ``model`` is ``(levels, dpde_l, chg_leak_lt, chg_open_lt)``. One parallel function for
    both directions: numba compiles a parallel loop slowly.
    """
    levels, dpde_l, chg_leak_lt, chg_open_lt = model
    _check(shft_nit, levels)
    arrx, arry = sig_cte.shape
    out = np.empty((arrx, arry))
    cte_out = np.empty((arrx, arry) if correct else (0, 0))
    tables = _tables(levels, dpde_l, chg_leak_lt, chg_open_lt)
    sim_nit = max(sim_nit, 0)
    for block in numba.prange((arry + _BLOCK - 1) // _BLOCK):
        if correct:
            _fix_block(sig_cte, cte_frac, out, cte_out, block, sim_nit, shft_nit, too_low, tables)
        else:
            _add_block(sig_cte, cte_frac, out, block, shft_nit, tables)
    return out, cte_out


@contextlib.contextmanager
def _dynamic_blocks() -> Iterator[None]:
    """Hand the blocks of columns out one at a time (``numba.set_parallel_chunksize``).

    Set around the call from Python: set inside compiled code, it makes numba refuse to
    cache the function.
    """
    previous = numba.set_parallel_chunksize(1)
    try:
        yield
    finally:
        numba.set_parallel_chunksize(previous)


def fix_y_cte(
    sig_cte: np.ndarray,
    sim_nit: int,
    shft_nit: int,
    too_low: float,
    cte_frac: np.ndarray,
    levels: np.ndarray,
    dpde_l: np.ndarray,
    chg_leak_lt: np.ndarray,
    chg_open_lt: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Remove the CTI trails of an image: stis_cti's ``FixYCte``, columns in parallel.

    Parameters
    ----------
    sig_cte : ndarray
        ``(rows, columns)`` float64 image in electrons, row 0 next to the amplifier
        (read noise removed: :func:`decompose_rn`).
    sim_nit, shft_nit : int
        Readout simulations per column and passes per simulation (``shft_nit >= 1``).
    too_low : float
        The over-subtraction threshold (electrons).
    cte_frac : ndarray
        ``(rows, columns)`` CTI scaling (:func:`~stisdarks.cti.trapmodel.cte_frac_array`);
        not modified (the C modifies its argument).
    levels, dpde_l, chg_leak_lt, chg_open_lt : ndarray
        The :class:`~stisdarks.cti.trapmodel.TrapModel`'s arrays (``levels``: integers,
        increasing, as :func:`~stisdarks.cti.trapmodel.read_pctetab` checks).

    Returns
    -------
    sig_cor : ndarray
        The corrected image.
    cte_frac_out : ndarray
        ``cte_frac`` as the over-subtraction redos left it (what the C leaves in its
        ``cte_frac`` argument).

    Raises
    ------
    ValueError
        When ``shft_nit < 1`` or there are fewer than two levels.
    """
    tables = (levels, dpde_l, chg_leak_lt, chg_open_lt)
    with _dynamic_blocks():
        return _columns(sig_cte, cte_frac, sim_nit, shft_nit, too_low, True, tables)


def add_y_cte(
    sig_cte: np.ndarray,
    shft_nit: int,
    cte_frac: np.ndarray,
    levels: np.ndarray,
    dpde_l: np.ndarray,
    chg_leak_lt: np.ndarray,
    chg_open_lt: np.ndarray,
) -> np.ndarray:
    """Add CTI trails to an image: stis_cti's ``AddYCte``, columns in parallel.

    Parameters
    ----------
    sig_cte : ndarray
        ``(rows, columns)`` float64 image in electrons, row 0 next to the amplifier.
    shft_nit : int
        Passes of the readout (``>= 1``).
    cte_frac : ndarray
        ``(rows, columns)`` CTI scaling.
    levels, dpde_l, chg_leak_lt, chg_open_lt : ndarray
        The :class:`~stisdarks.cti.trapmodel.TrapModel`'s arrays.

    Returns
    -------
    ndarray
        The image as read out.

    Raises
    ------
    ValueError
        When ``shft_nit < 1`` or there are fewer than two levels.
    """
    tables = (levels, dpde_l, chg_leak_lt, chg_open_lt)
    with _dynamic_blocks():
        return _columns(sig_cte, cte_frac, 1, shft_nit, 0.0, False, tables)[0]
