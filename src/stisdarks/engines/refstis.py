"""The refstis engine: refstis' ``make_basedark`` / ``make_weekdark`` and stistools'
``ocrreject``, both running hstcal's calstis (``cs0.e``, ``cs2.e``).

refstis edits its inputs in place and leaves joined files behind, so every run happens
on copies of the inputs in a scratch directory beside the output (:func:`_scratch_copies`)
and the result is moved into place atomically. refstis and stistools are imported only
when a function here runs.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from astropy.io import fits

from stisdarks.engines.common import engine_cards, geometry_cards
from stisdarks.errors import StisDarksError
from stisdarks.fitsio import ext_data

__all__ = ["make_basedark", "make_weekdark", "crreject"]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _scratch_copies(inputs: Sequence[os.PathLike], output: os.PathLike):
    """Copies of ``inputs`` in a scratch directory beside ``output`` (removed afterwards).

    Yields the directory and the copies' names relative to it: refstis derives file names
    with ``str.replace(".fits", ...)``, so it is given names, not paths, and runs inside
    the directory.
    """
    outdir = Path(output).resolve().parent
    outdir.mkdir(parents=True, exist_ok=True)
    # named like a temporary of the output, so a killed job's scratch is removed when it reruns
    out = Path(output)
    scratch = Path(tempfile.mkdtemp(prefix=f".tmp-{out.stem}-", suffix=out.suffix, dir=outdir))
    try:
        copies = []
        for path in map(Path, inputs):
            dest = scratch / path.name
            shutil.copyfile(path, dest)
            copies.append(dest.name)
        yield scratch, copies
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _expand_constant_extensions(path: os.PathLike) -> None:
    """Write header-only constant extensions (``PIXVALUE``) of ``path`` as full arrays."""
    with fits.open(path, mode="update") as hdul:
        for hdu in hdul[1:]:
            if hdu.data is None and "PIXVALUE" in hdu.header:
                hdu.data = ext_data(hdu)
                for key in ("PIXVALUE", "NPIX1", "NPIX2"):
                    hdu.header.remove(key, ignore_missing=True)


@contextlib.contextmanager
def _refstis_workarounds() -> Iterator[None]:
    """Work around refstis on valid input while it runs.

    calstis writes a constant DQ (darks without a single DQ flag) header-only; refstis'
    weekdark then writes ``None`` as DQ and fails ("cannot write object arrays").
    refstis normalises the CR-rejected file just before reading it: expand constant
    extensions there.
    """
    from refstis import functions

    original = functions.normalize_crj

    def normalize_crj(filename, *args, **kwargs):
        _expand_constant_extensions(filename)
        return original(filename, *args, **kwargs)

    functions.normalize_crj = normalize_crj
    try:
        yield
    finally:
        functions.normalize_crj = original


def _run_refstis(func, scratch: Path, output: os.PathLike, *args, like: os.PathLike) -> Path:
    """Run a refstis builder in ``scratch``; restore the inputs' detector geometry; move into place."""
    result = scratch / Path(output).name
    buffer = io.StringIO()
    cwd = os.getcwd()
    try:
        os.chdir(scratch)  # calstis writes trailers and temporary files in the working directory
        with contextlib.redirect_stdout(buffer), _refstis_workarounds():
            func(*args, result.name)
    finally:
        os.chdir(cwd)
        for line in buffer.getvalue().splitlines():
            log.info("refstis: %s", line)
    where = geometry_cards(fits.getheader(like, ("SCI", 1)))
    with fits.open(result, mode="update") as hdul:
        hdul[0].header.update(engine_cards("refstis"))
        if where:  # refstis drops LTV/LTM: without them calstis cannot line a subarray dark up
            for ext in ("SCI", "ERR", "DQ"):
                hdul[ext, 1].header.update(where)
    os.replace(result, output)
    return Path(output)


def make_basedark(
    paths: Sequence[os.PathLike],
    output: os.PathLike,
    *,
    overrides: dict | None = None,
    threads: int = 2,
) -> Path:
    """refstis ``make_basedark`` on copies of ``paths`` (CR parameters: the CRREJTAB's)."""
    _warn_ignored(overrides)
    from refstis.basedark import make_basedark as refstis_basedark

    with _scratch_copies(paths, output) as (scratch, copies):
        return _run_refstis(
            lambda files, out: refstis_basedark(files, out), scratch, output, copies, like=paths[0]
        )


def make_weekdark(
    paths: Sequence[os.PathLike],
    basedark: os.PathLike,
    output: os.PathLike,
    *,
    overrides: dict | None = None,
    threads: int = 2,
) -> Path:
    """refstis ``make_weekdark`` on copies of ``paths`` and ``basedark``."""
    _warn_ignored(overrides)
    from refstis.weekdark import make_weekdark as refstis_weekdark

    with _scratch_copies([*paths, basedark], output) as (scratch, copies):
        base_copy = copies.pop()
        return _run_refstis(
            lambda files, out: refstis_weekdark(files, out, base_copy),
            scratch,
            output,
            copies,
            like=paths[0],
        )


def crreject(
    inputs: Sequence[os.PathLike], output: os.PathLike, *, overrides: dict | None = None
) -> Path:
    """stistools ``ocrreject`` (calstis' ``cs2.e``) on copies of ``inputs``."""
    from stistools.ocrreject import ocrreject

    with _scratch_copies(inputs, output) as (scratch, copies):
        result = scratch / Path(output).name
        options = {k: (",".join(f"{x:g}" for x in v) if k == "crsigmas" and not isinstance(v, str) else v)
                   for k, v in (overrides or {}).items()}  # fmt: skip
        # ocrreject takes one comma-separated string of inputs (a list is .split() and fails)
        status = ocrreject(",".join(str(scratch / c) for c in copies), str(result), **options)
        if status != 0 or not result.is_file():
            raise StisDarksError(
                f"calstis ocrreject failed (status {status}); see its messages above"
            )
        os.replace(result, output)
        return Path(output)


def _warn_ignored(overrides: dict | None) -> None:
    if overrides:
        log.warning(
            "CR-parameter overrides are ignored by the refstis engine (it uses the CRREJTAB)"
        )
