"""``stisdarks``: the library's building blocks on the command line.

::

    stisdarks crreject -o OUT_crj.fits IN_flt.fits ...
    stisdarks basedark -o basedark.fits DARK_flt.fits ...
    stisdarks weekdark --basedark basedark.fits -o weekdark.fits DARK_flt.fits ...
    stisdarks demo-archive DIR [--size N] [--n-darks N] [--seed S] [--science-binning 2x1]
                               [--science-gain 4] [--science-rows N]
    stisdarks cte [-o OUT_cte.fits | --output-dir DIR] IN_flt.fits ... [--engine native]
                  [--pctetab TABLE] [--threads N]

Bad input ends with one line ``stisdarks: error: ...`` on stderr and exit status 2;
nothing is written then (outputs appear atomically). So do the operating-system errors a
user can fix (disk full, read-only file system, permission denied). The output is checked
before any work: it may not be one of the inputs, nor a directory, and an existing one is
replaced only with ``--overwrite``.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from stisdarks import __version__, defaults
from stisdarks.engines import ENGINES
from stisdarks.errors import StisDarksError

__all__ = ["main", "build_parser"]

#: the CTI backends (stisdarks.cti.CTI_ENGINES; not imported here: it loads astropy)
CTI_ENGINES = ("auto", "native", "stis_cti")


def _add_engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", required=True, help="output FITS file (written atomically)")
    p.add_argument("inputs", nargs="+", help="input STIS CCD _flt files")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument(
        "--engine", choices=ENGINES, default=defaults.ENGINE,
        help="native (NumPy), refstis (refstis + hstcal's cs0.e), auto (refstis when cs0.e is on PATH)",
    )  # fmt: skip
    g = p.add_argument_group(
        "cosmic-ray rejection overrides (default: the inputs' CRREJTAB, as calstis)"
    )
    g.add_argument("--crsigmas", help="rejection thresholds per iteration, e.g. 5,4,3")
    g.add_argument("--crradius", type=float, help="propagation radius (pixels)")
    g.add_argument("--crthresh", type=float, help="propagation threshold factor")
    g.add_argument("--initgues", choices=("median", "minimum"), help="initial guess")
    g.add_argument("--scalense", type=float, help="multiplicative noise (percent)")
    g.add_argument("--badinpdq", type=int, help="DQ bits to exclude")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(prog="stisdarks", description="Custom STIS CCD superdarks.")
    parser.add_argument("--version", action="version", version=f"stisdarks {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="debug messages")
    common.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_engine_options(
        sub.add_parser(
            "crreject",
            parents=[common],
            help="combine image sets rejecting cosmic rays (calstis-2)",
        )
    )
    _add_engine_options(
        sub.add_parser(
            "basedark",
            parents=[common],
            help="monthly basedark from dark FLTs (refstis make_basedark)",
        )
    )
    week = sub.add_parser(
        "weekdark", parents=[common], help="weekdark on top of a basedark (refstis make_weekdark)"
    )
    week.add_argument("--basedark", required=True, help="the period's basedark")
    _add_engine_options(week)
    cte = sub.add_parser(
        "cte",
        parents=[common],
        help="pixel-based CTI correction of STIS CCD _flt files (stis_cti's CteCorr)",
    )
    cte.add_argument("inputs", nargs="+", help="STIS CCD _flt files (full-frame, unbinned)")
    where = cte.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", help="output file (one input only; written atomically)")
    where.add_argument(
        "--output-dir", help="directory of the <root>_cte.fits outputs (default: each input's)"
    )
    cte.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    cte.add_argument(
        "--engine",
        choices=CTI_ENGINES,
        default=defaults.CTI_ENGINE,
        help="native (numba, identical to stis_cti), stis_cti (STScI's C extension), auto (native)",
    )
    cte.add_argument(
        "--pctetab", default=None, help="CTI parameter table (default: a02_stis_pcte.fits)"
    )
    cte.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="cores (default: all)"
    )
    demo = sub.add_parser(
        "demo-archive", parents=[common], help="write the synthetic STIS CCD demo archive"
    )
    demo.add_argument("directory", help="archive directory")
    demo.add_argument(
        "--size",
        type=int,
        default=defaults.DEMO_SIZE,
        help="CCD rows: 1024 = full frame, fewer = a subarray (default 1024)",
    )
    demo.add_argument(
        "--n-darks",
        type=int,
        default=defaults.DEMO_N_DARKS,
        help=f"darks in the anneal period (default {defaults.DEMO_N_DARKS})",
    )
    demo.add_argument(
        "--seed",
        type=int,
        default=defaults.DEMO_SEED,
        help=f"random seed (default {defaults.DEMO_SEED})",
    )
    demo.add_argument(
        "--science-binning",
        default="1x1",
        help="on-chip binning of the science, e.g. 2x1 (binned science needs --size 1024; default 1x1)",
    )
    demo.add_argument(
        "--science-gain",
        type=int,
        default=1,
        choices=(1, 4),
        help="CCDGAIN of the science (default 1)",
    )
    demo.add_argument(
        "--science-rows",
        type=int,
        default=None,
        help="rows of a science subarray inside the darks' rows (default: the darks' own)",
    )
    demo.add_argument(
        "--cti-trails",
        choices=("auto", "on", "off"),
        default="auto",
        help="read the charge out through the CCD's charge traps (CTI trails): auto = for "
        "exposures from 2009-05-01 on, as on the real CCD (default auto)",
    )
    return parser


def _overrides(args: argparse.Namespace) -> dict:
    from stisdarks.crrejtab import check_overrides

    return check_overrides(
        {
            k: getattr(args, k)
            for k in ("crsigmas", "crradius", "crthresh", "initgues", "scalense", "badinpdq")
        }
    )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def check_output(output: str, inputs: Sequence[str], *, overwrite: bool) -> None:
    """Refuse an output that would destroy an input or an existing file; check it can be written.

    Raises
    ------
    StisDarksError
        The output is one of the inputs (always refused), a directory, exists without
        ``overwrite``, or its directory cannot be created or written (a probe file is
        created there and removed).
    """
    out = Path(output)
    for name in inputs:
        if _same_file(out, Path(name)):
            raise StisDarksError(
                f"output {output} is also an input; give another file name with -o"
            )
    if out.is_dir():
        raise StisDarksError(
            f"output {output} is a directory; give a file name with -o, e.g. {out / 'out.fits'}"
        )
    if out.exists() and not overwrite:
        raise StisDarksError(
            f"output {output} exists; pass --overwrite to replace it or give another -o"
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        # named as a temporary of the output: a killed probe is removed like any leftover
        fd, probe = tempfile.mkstemp(prefix=f".tmp-{out.stem}-", suffix=out.suffix, dir=out.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        from stisdarks.runner import os_error_message

        raise StisDarksError(
            os_error_message(exc, output)
            or f"cannot write {output} ({exc.strerror}: {exc.filename}); give an output in a writable directory"
        ) from exc


def _cte_outputs(args: argparse.Namespace) -> list[Path]:
    """Where ``stisdarks cte`` writes each input's correction, checked before any work."""
    from stisdarks.cti import cte_name

    if args.output and len(args.inputs) > 1:
        raise StisDarksError("-o names one output; with several inputs use --output-dir")
    if args.threads < 1:
        raise StisDarksError(f"--threads {args.threads}: give 1 or more")
    if args.output:
        outputs = [Path(args.output)]
    else:
        outputs = [
            Path(args.output_dir or Path(name).parent) / cte_name(Path(name).name)
            for name in args.inputs
        ]
    if len(set(outputs)) < len(outputs):
        raise StisDarksError("two inputs would be corrected into the same file; rename one")
    for out in outputs:
        check_output(str(out), args.inputs, overwrite=args.overwrite)
    return outputs


def _cte(args: argparse.Namespace) -> int:
    """``stisdarks cte``: CTI-correct each input (checked first, written atomically)."""
    from stisdarks.cti import check_ctecorr_input, correct_dark, default_pctetab, resolve_cti_engine

    outputs = _cte_outputs(args)
    engine = resolve_cti_engine(args.engine)
    table = Path(args.pctetab) if args.pctetab else default_pctetab()
    for name in args.inputs:  # every input refused now, before any is corrected
        check_ctecorr_input(name, table)
    for i, (name, out) in enumerate(zip(args.inputs, outputs, strict=True), 1):
        correct_dark(name, out, pctetab=table, engine=engine, threads=args.threads)
        logging.getLogger("stisdarks.cli").info("%d/%d: %s", i, len(outputs), out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        if args.command == "demo-archive":
            from stisdarks.synthetic import generate_archive

            if args.size < 32 or args.size > 1024 or args.n_darks < 4:
                raise StisDarksError("--size must be 32..1024 rows and --n-darks at least 4")
            match = re.fullmatch(r"([12])x([12])", args.science_binning.strip().lower())
            if match is None:
                raise StisDarksError(
                    f"--science-binning {args.science_binning!r}: write it as 1x1, 2x1, 1x2 or 2x2"
                )
            binning = (int(match.group(1)), int(match.group(2)))
            try:
                generate_archive(
                    args.directory, size=args.size, n_darks=args.n_darks, seed=args.seed,
                    science_bin=binning, science_gain=args.science_gain,
                    science_rows=args.science_rows,
                    cti_trails={"auto": None, "on": True, "off": False}[args.cti_trails],
                )  # fmt: skip
            except ValueError as exc:
                raise StisDarksError(f"demo-archive: {exc}") from exc
            return 0
        if args.command == "cte":
            return _cte(args)
        from stisdarks import engines

        _overrides(args)  # bad parameters stop before any work, whichever the engine
        inputs = [*args.inputs, *([args.basedark] if args.command == "weekdark" else [])]
        check_output(args.output, inputs, overwrite=args.overwrite)
        if args.command == "crreject":
            engines.crreject(
                args.inputs, args.output, engine=args.engine, overrides=_overrides(args)
            )
        elif args.command == "basedark":
            engines.make_basedark(
                args.inputs, args.output, engine=args.engine, overrides=_overrides(args)
            )
        else:
            engines.make_weekdark(
                args.inputs,
                args.basedark,
                args.output,
                engine=args.engine,
                overrides=_overrides(args),
            )
    except StisDarksError as exc:
        print(f"stisdarks: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        from stisdarks.runner import os_error_message

        message = os_error_message(exc, getattr(args, "output", None))
        if message is None:
            raise
        print(f"stisdarks: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
