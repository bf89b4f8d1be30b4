"""Time the CTI correction of one trailed full-frame dark in-process: native against stis_cti.

Generates one full-frame (1024x1024) synthetic long dark
(:func:`stisdarks.synthetic.generate_archive`), read out through the detector's charge
traps as real darks come from the CCD (the archive's ``cti_trails``); none of this is
timed. Then, in this one process, after a first untimed run of each (imports,
loading numba's cached machine code, stis_cti's extension), alternately ``--repeat``
times:

- native: :func:`stisdarks.cti.native.ctecorr` of the dark on ``--cores`` threads, and its
  two kernels alone on the image set's arrays (:func:`~stisdarks.cti.kernel.decompose_rn`,
  :func:`~stisdarks.cti.kernel.fix_y_cte`);
- stis_cti: its ``CteCorr`` of the same file (single-threaded C), unless ``--no-stis``.

It prints, for each, the median, minimum and maximum of the wall and the CPU seconds
(``time.process_time``: every thread of this process), the ratio of the medians, and
whether both wrote identical data. The machine's other load shows as a spread between the
minimum and the maximum, and as CPU seconds above the wall on one core.

Usage::

    python bench/bench_cti_kernel.py [--repeat 5] [--cores 2] [--no-stis] [--kernel-only]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """``fn()``'s wall and CPU seconds (all threads of this process)."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def summary(name: str, runs: list[tuple[float, float]]) -> tuple[float, float]:
    """Print the median [min-max] of wall and CPU; return the medians."""
    wall = [w for w, _ in runs]
    cpu = [c for _, c in runs]
    mw, mc = statistics.median(wall), statistics.median(cpu)
    print(
        f"  {name:24s} wall {mw:6.3f} s [{min(wall):.3f}-{max(wall):.3f}]"
        f"   cpu {mc:6.3f} s [{min(cpu):.3f}-{max(cpu):.3f}]   (n={len(runs)})"
    )
    return mw, mc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2021)
    ap.add_argument("--no-stis", action="store_true", help="time the native backend only")
    ap.add_argument("--kernel-only", action="store_true", help="time fix_y_cte alone")
    args = ap.parse_args(argv)

    import numpy as np
    from astropy.io import fits
    from bench_ctecorr import same_data

    from stisdarks.cti import default_pctetab, kernel, native, set_pctetab
    from stisdarks.cti import stis_cti as theirs
    from stisdarks.cti.correct import _electrons
    from stisdarks.cti.trapmodel import cte_frac_array, load_trap_model, readout_direction
    from stisdarks.synthetic import generate_archive

    native._set_threads(args.cores)
    with tempfile.TemporaryDirectory(prefix="bench-cti-kernel-") as tmp:
        root = generate_archive(  # trailed by the detector's charge traps (cti_trails)
            Path(tmp) / "a", size=1024, n_darks=1, seed=args.seed, parts=("darks",)
        )
        dark = sorted((root / "darks").glob("odark*_flt.fits"))[0]
        with fits.open(dark, mode="update") as hdul:
            set_pctetab(hdul[0].header, default_pctetab())
            h = hdul[0].header
            model = load_trap_model(default_pctetab(), h["TEXPSTRT"])
            gain, amp = h.get("ATODGAIN", 1.0), str(h.get("CCDAMP", "D")).strip()
            sci = _electrons(hdul["SCI"].data, gain, readout_direction(amp))
        rn = float(model.read_noise)
        sig, _ = kernel.decompose_rn(sci, rn, model.noise_model)
        frac = cte_frac_array(model, sci.shape, amp)
        fix_args = (
            sig, model.sim_nit, model.shft_nit, float(model.oversub_thresh), frac,
            model.levels, model.dpde_l, model.chg_leak_lt, model.chg_open_lt,
        )  # fmt: skip
        print(
            f"one trailed full-frame dark {sci.shape}, sim_nit {model.sim_nit}, shft_nit "
            f"{model.shft_nit}; {args.cores} threads for native, {args.repeat} runs each"
        )
        out_native, out_stis = Path(tmp) / "native", Path(tmp) / "stis_cti"
        out_native.mkdir()
        out_stis.mkdir()
        tasks: dict[str, Callable[[], object]] = {
            "fix_y_cte": lambda: kernel.fix_y_cte(*fix_args),
            "decompose_rn": lambda: kernel.decompose_rn(sci, rn, model.noise_model),
        }
        if not args.kernel_only:
            tasks["native ctecorr"] = lambda: native.ctecorr(
                dark, out_native / (dark.name[:9] + "_cte.fits"), threads=args.cores
            )
            if not args.no_stis:
                tasks["stis_cti CteCorr"] = lambda: theirs.ctecorr(
                    dark, out_stis / (dark.name[:9] + "_cte.fits")
                )
        for fn in tasks.values():  # load, compile or import: not timed
            fn()
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in tasks}
        for _ in range(args.repeat):
            for name, fn in tasks.items():
                runs[name].append(timed(fn))
        medians = {name: summary(name, r) for name, r in runs.items()}
        if "stis_cti CteCorr" in medians:
            (nw, nc), (tw, tc) = medians["native ctecorr"], medians["stis_cti CteCorr"]
            print(f"  stis_cti / native: wall {tw / nw:.1f}x, cpu {tc / nc:.1f}x (medians)")
            print(f"  identical data: {same_data(out_native, out_stis)}")
        ref, _ = kernel.fix_y_cte(*fix_args)
        print(f"  fix_y_cte deterministic: {np.array_equal(ref, kernel.fix_y_cte(*fix_args)[0])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
