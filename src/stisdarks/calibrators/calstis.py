"""The calstis calibrator: hstcal's calstis (through stistools) on a copy of a science
``_raw`` with another dark.

calstis reads every reference file through the ``oref`` directory named by the
environment (``oref$NAME`` in the headers) and takes ``DARKFILE`` from the raw's primary
header. So the run happens in a short scratch directory (calstis truncates long paths)
that holds a copy of the ``_raw`` and ``_wav``, and a scratch ``oref/`` of symbolic links
to the user's reference files plus the new dark: the downloads and the user's reference
cache are never modified. The whole calstis trailer goes to the log; on failure the
error names calstis' own ``ERROR:`` lines. An image (no ``_sx1``) is calibrated with the
steps after the ``_crj`` (:data:`stisdarks.calibrators.AFTER_CRJ_STEPS`) set to OMIT.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from astropy.io import fits

from stisdarks.calibrators import AFTER_CRJ_STEPS
from stisdarks.errors import StisDarksError
from stisdarks.fitsio import atomic_path

__all__ = ["recalibrate", "run_calstis", "error_lines"]

log = logging.getLogger(__name__)


def error_lines(trailer: str) -> list[str]:
    """calstis' ``ERROR:`` lines of a trailer, without the prefix, in order."""
    out = []
    for line in trailer.splitlines():
        text = line.strip()
        if text.startswith("ERROR:"):
            message = text[len("ERROR:") :].strip()
            if message:
                out.append(message)
    return out


@contextlib.contextmanager
def _oref_environment(oref: Path) -> Iterator[None]:
    """Point ``$oref`` at ``oref`` for the block (calstis wants the trailing slash)."""
    before = os.environ.get("oref")
    os.environ["oref"] = str(oref).rstrip("/") + "/"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("oref", None)
        else:
            os.environ["oref"] = before


def _scratch_oref(
    scratch: Path, oref_dir: os.PathLike | None, darkfile: os.PathLike, dark_name: str
) -> Path:
    """A scratch ``oref``: links to every reference file of ``oref_dir`` plus a copy of the new dark."""
    oref = scratch / "oref"
    oref.mkdir()
    if oref_dir:
        for ref in Path(oref_dir).iterdir():
            if ref.is_file() and ref.name != dark_name:
                (oref / ref.name).symlink_to(ref.resolve())
    shutil.copyfile(darkfile, oref / dark_name)
    return oref


def run_calstis(
    raw: os.PathLike,
    darkfile: os.PathLike,
    outputs: dict[str, os.PathLike],
    *,
    obs_id: str,
    oref_dir: os.PathLike | None = None,
    wav: os.PathLike | None = None,
    dark_name: str | None = None,
    omit: Sequence[str] = (),
    prepare: Callable[[Path], Path] | None = None,
    set_filename: bool = False,
) -> dict[str, Path]:
    """Calibrate a copy of ``raw`` with ``darkfile`` as ``DARKFILE``; write ``outputs``.

    Parameters
    ----------
    raw : path-like
        The science ``_raw`` (never modified).
    darkfile : path-like
        The dark reference file to use (e.g. the weekdark).
    outputs : dict
        Product kind (``flt``, ``crj``, ``sx1``, ...) → destination path; each is written
        atomically from calstis' product of that suffix.
    obs_id : str
        Dataset name (the rootname of calstis' products).
    oref_dir : path-like, optional
        Directory holding the other reference files the raw names as ``oref$NAME``.
    wav : path-like, optional
        The wavecal (passed to calstis as ``wavecal``).
    dark_name : str, optional
        The name the dark gets in the scratch ``oref`` (``DARKFILE = oref$NAME`` in the
        products; default: ``darkfile``'s own name).
    omit : sequence of str
        calstis switches set to ``OMIT`` in the copy when they are ``PERFORM`` (steps whose
        products are not wanted, e.g. an image's GEOCORR, whose ``_sx2`` needs IDCTAB and
        SDSTFILE).
    prepare : callable, optional
        Called with the prepared copy of the raw (``DARKFILE`` set, ``omit`` applied), in
        the scratch directory with ``$oref`` set; returns the file calstis runs on instead,
        in the same directory (the CTI path's ``_cte``). The products are named after it
        as calstis names them (``X_cte.fits`` → ``X_cte_flt.fits``).
    set_filename : bool
        Set each product's ``FILENAME`` to its destination's name.

    Returns
    -------
    dict
        ``outputs`` as paths.
    """
    from stistools.calstis import calstis  # imports stsci.tools: only where calstis runs

    dark_name = dark_name or Path(darkfile).name
    scratch = Path(tempfile.mkdtemp(prefix="sd", dir="/tmp"))
    try:
        oref = _scratch_oref(scratch, oref_dir, darkfile, dark_name)
        raw_copy = scratch / f"{obs_id}_raw.fits"
        shutil.copyfile(raw, raw_copy)
        wav_name = ""
        if wav:
            wav_name = f"{obs_id}_wav.fits"
            shutil.copyfile(wav, scratch / wav_name)
        with fits.open(raw_copy, mode="update") as hdul:
            primary = hdul[0].header
            primary["DARKFILE"] = f"oref${dark_name}"
            skipped = [k for k in omit if str(primary.get(k, "")).strip().upper() == "PERFORM"]
            for key in skipped:
                primary[key] = "OMIT"
        if skipped:
            log.info(
                "%s set to OMIT in the copy: their products are not wanted", ", ".join(skipped)
            )
        (scratch / "out").mkdir()
        log.info("calstis on a copy of %s with DARKFILE = %s", Path(raw).name, Path(darkfile).name)
        cwd = os.getcwd()
        try:
            os.chdir(scratch)
            with _oref_environment(oref):
                target = prepare(raw_copy) if prepare is not None else raw_copy
                status = calstis(
                    target.name, wavecal=wav_name, outroot="out/", trailer="calstis.trl"
                )
        finally:
            os.chdir(cwd)
        trailer_path = scratch / "calstis.trl"
        trailer = trailer_path.read_text(errors="replace") if trailer_path.exists() else ""
        for line in trailer.splitlines():
            log.info("calstis: %s", line)
        if status != 0:
            errors = error_lines(trailer)
            detail = "; ".join(errors[:3]) if errors else "no ERROR line in the trailer"
            raise StisDarksError(
                f"calstis failed (status {status}): {detail}; the trailer is in the rule log"
            )
        written = {}
        root = target.name.removesuffix(".fits").removesuffix("_raw")
        for kind, dest in outputs.items():
            produced = scratch / "out" / f"{root}_{kind}.fits"
            if not produced.is_file():
                raise StisDarksError(
                    f"calstis made no _{kind} for {obs_id} (is the raw's switch for it PERFORM?); "
                    "the trailer is in the rule log"
                )
            with atomic_path(dest) as tmp:
                shutil.copyfile(produced, tmp)
                if set_filename:
                    fits.setval(tmp, "FILENAME", value=Path(dest).name, ext=0)
            written[kind] = Path(dest)
        return written
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def recalibrate(
    raw: os.PathLike,
    flt: os.PathLike,
    crj: os.PathLike,
    sx1: os.PathLike | None,
    weekdark: os.PathLike,
    pipeline_dark: os.PathLike,
    out: dict[str, Path],
    *,
    oref_dir: os.PathLike | None,
    wav: os.PathLike | None,
    obs_id: str,
    new_name: str,
) -> dict[str, Path]:
    """calstis on a copy of ``raw`` with ``weekdark`` as ``DARKFILE = oref$new_name``.

    The pipeline ``flt``, ``crj`` and ``pipeline_dark`` are not read (calstis remakes the
    products from the raw); ``sx1`` None: the steps after the ``_crj`` are OMIT.
    """
    return run_calstis(
        raw, weekdark, out, obs_id=obs_id, oref_dir=oref_dir, wav=wav, dark_name=new_name,
        omit=AFTER_CRJ_STEPS if sx1 is None else (),
    )  # fmt: skip
