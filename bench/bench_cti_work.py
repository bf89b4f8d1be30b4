"""Count the work stis_cti's CTI correction must do on one full-frame dark, and time its parts.

Bit-identity with stis_cti fixes the arithmetic: every release term of every level that
holds charge is one multiply and one addition, added in the C's order. This script counts
those terms on one synthetic full-frame long dark (trailed by the detector's traps, as
real darks come, unless ``--untrailed``), after the read-noise separation, through
``FixYCte``'s ``sim_nit x shft_nit`` passes and its redos:

- release terms per pixel and pass (the levels still releasing: stis_cti visits all
  ``NUM_LEV`` of them, the native kernel only these), and into how many runs of levels
  filled at one pixel they fall;
- levels filled per pixel and pass (the capture);
- how many times each column was run (the over-subtraction redo).

Then it times, on one core and a slice of ``--columns`` columns, the native kernel against
the same kernel with its release sums left out (wrong results: what the rest costs). On a
dark without trails that variant also stops over-subtracting, so it runs each column
once: its share is then an upper bound. Nothing here is a test; the counts do not depend
on the machine, the times do.

Usage::

    python bench/bench_cti_work.py [--untrailed] [--columns 128] [--seed 2021]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

from stisdarks.cti.kernel import MAX_REDO, _lower_oversubtracted

#: stis_cti's ``MAX_TAIL_LEN``
_TAIL = 60


@numba.njit(cache=False)
def _count_pass(pix_cur, pix_read, cte, levels, dpde_l, leak, opn, ftrap, filled_at, cnt):
    """One readout pass (stis_cti's ``sim_readout``) that counts its work into ``cnt``.

    ``cnt``: release terms, runs of release levels filled at one pixel, filled levels,
    pixels.
    """
    n_active = 0
    n_filled = 0
    for i in range(pix_cur.shape[0]):
        add1 = 0.0
        runs = 0
        prev = -1
        for lev in range(n_active):
            add1 += leak[i - filled_at[lev] - 1, lev] * ftrap[lev]
            if filled_at[lev] != prev:
                runs += 1
                prev = filled_at[lev]
        cnt[0] += n_active
        cnt[1] += runs
        while n_active > 0 and i - filled_at[n_active - 1] >= _TAIL:
            n_active -= 1
        pix1 = pix_cur[i] + add1
        add2 = 0.0
        rem = 0.0
        k = 0
        for lev in range(levels.shape[0] - 1):
            if pix1 < levels[lev]:
                break
            ffil = 1.0
            if pix1 < levels[lev + 1]:
                ffil = (pix1 - levels[lev]) / (levels[lev + 1] - levels[lev])
            part = ffil * dpde_l[lev + 1] * cte[i]
            if lev < n_filled:
                add2 += opn[min(i - filled_at[lev], _TAIL) - 1, lev] * ftrap[lev]
            filled_at[lev] = i
            ftrap[lev] = part
            rem += part
            k = lev + 1
        cnt[2] += k
        cnt[3] += 1
        n_active = max(n_active, k)
        n_filled = max(n_filled, k)
        pix_read[i] = pix_cur[i] + add1 + add2 - rem


@numba.njit(cache=False)
def _count_image(sig, frac, sim_nit, shft_nit, too_low, model, cnt, redos):
    """``FixYCte`` over every column with :func:`_count_pass` (one core, not timed)."""
    levels, dpde_l, leak, opn = model
    arrx, arry = sig.shape
    ftrap = np.zeros(levels.shape[0])
    filled_at = np.zeros(levels.shape[0], dtype=np.int64)
    obs = np.empty(arrx)
    cur = np.empty(arrx)
    read = np.empty(arrx)
    local = np.empty(arrx)
    col = np.empty(arrx)
    for j in range(arry):
        obs[:] = sig[:, j]
        cur[:] = obs
        col[:] = frac[:, j]
        runs = 0
        while True:
            for _ in range(sim_nit):
                local[:] = cur
                for _ in range(shft_nit):
                    ftrap[:] = 0.0
                    filled_at[:] = -10 * _TAIL
                    _count_pass(local, read, col, levels, dpde_l, leak, opn, ftrap, filled_at, cnt)
                    local[:] = read
                cur += obs - read
            runs += 1
            if not (_lower_oversubtracted(obs, cur, col, too_low) and runs < MAX_REDO):
                break
        redos[runs] += 1


def _without_release():
    """A copy of the native kernel's module with the release sums taken out (for timing)."""
    import importlib.util
    import inspect

    from stisdarks.cti import kernel

    source = inspect.getsource(kernel)
    start = source.index("            if g == 4:\n                done01 = done23")
    end = source.index("            for q in range(p, p + g):\n                i = s - q\n", start)
    source = source[:start] + "            pass\n" + source[end:]
    source = source.replace('"cache": True', '"cache": False')
    spec = importlib.util.spec_from_loader("_kernel_without_release", loader=None)
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, "<kernel without release>", "exec"), module.__dict__)
    return module


def _time_blocks(module, sig, frac, model, too_low) -> float:
    """One core: ``module._fix_block`` over every block of ``sig``'s columns; seconds."""
    tables = module._tables(model.levels, model.dpde_l, model.chg_leak_lt, model.chg_open_lt)
    out, cte_out = np.empty_like(sig), np.empty_like(sig)
    blocks = (sig.shape[1] + module._BLOCK - 1) // module._BLOCK
    args = (model.sim_nit, model.shft_nit, too_low, tables)
    start = time.perf_counter()
    for block in range(blocks):
        module._fix_block(sig, frac, out, cte_out, block, *args)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--untrailed", action="store_true", help="a detector without CTI")
    ap.add_argument("--columns", type=int, default=128, help="columns timed (one core)")
    ap.add_argument("--seed", type=int, default=2021)
    args = ap.parse_args(argv)

    from astropy.io import fits

    from stisdarks.cti import default_pctetab, kernel
    from stisdarks.cti.correct import _electrons
    from stisdarks.cti.trapmodel import cte_frac_array, load_trap_model, readout_direction
    from stisdarks.synthetic import generate_archive

    with tempfile.TemporaryDirectory(prefix="bench-cti-work-") as tmp:
        root = generate_archive(
            Path(tmp) / "a", size=1024, n_darks=1, seed=args.seed, parts=("darks",),
            cti_trails=False if args.untrailed else None,
        )  # fmt: skip
        dark = sorted((root / "darks").glob("odark*_flt.fits"))[0]
        with fits.open(dark) as hdul:
            h = hdul[0].header
            model = load_trap_model(default_pctetab(), h["TEXPSTRT"])
            amp = str(h.get("CCDAMP", "D")).strip()
            sci = _electrons(hdul["SCI"].data, h.get("ATODGAIN", 1.0), readout_direction(amp))
    sig, _ = kernel.decompose_rn(sci, float(model.read_noise), model.noise_model)
    frac = cte_frac_array(model, sci.shape, amp)
    too_low = float(model.oversub_thresh)
    arrays = (model.levels, model.dpde_l, model.chg_leak_lt, model.chg_open_lt)

    cnt = np.zeros(4, dtype=np.int64)
    redos = np.zeros(MAX_REDO + 1, dtype=np.int64)
    _count_image(sig, frac, model.sim_nit, model.shft_nit, too_low, arrays, cnt, redos)
    terms, runs, fills, pixels = (int(c) for c in cnt)
    nlev = len(model.levels)
    kind = "untrailed" if args.untrailed else "trailed"
    print(f"one {kind} full-frame dark {sci.shape}, sim_nit {model.sim_nit}, "
          f"shft_nit {model.shft_nit}, {nlev} trap levels")  # fmt: skip
    print(f"  pixel passes                  {pixels / 1e6:8.1f} million")
    print(f"  release terms                 {terms / 1e9:8.2f} billion, in the C's order "
          f"(stis_cti visits {pixels * nlev / 1e9:.2f} billion levels)")  # fmt: skip
    print(f"  levels releasing per pass     {terms / pixels:8.1f} of {nlev}, "
          f"in {runs / pixels:.1f} runs filled at one pixel")  # fmt: skip
    print(f"  levels filled per pass        {fills / pixels:8.1f}")
    print("  columns run 1..10 times      ", " ".join(str(int(n)) for n in redos[1:]))

    cols = slice(300, 300 + args.columns)
    part = np.ascontiguousarray(sig[:, cols]), np.ascontiguousarray(frac[:, cols])
    bare = _without_release()
    for module in (kernel, bare):  # compile or load: not timed
        _time_blocks(module, *part, model, too_low)
    full = min(_time_blocks(kernel, *part, model, too_low) for _ in range(3))
    rest = min(_time_blocks(bare, *part, model, too_low) for _ in range(3))
    print(f"  one core, {args.columns} columns: kernel {full:.3f} s, without its release "
          f"sums {rest:.3f} s: the release is {1 - rest / full:.0%} of the kernel's time")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
