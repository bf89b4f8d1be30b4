"""The CTI calibrator: stis_cti's CTI-corrected recalibration of a science ``_raw``.

The steps of stis_cti's science path, on a copy of the ``_raw`` in calstis' scratch
directory (:func:`stisdarks.calibrators.calstis.run_calstis`, whose scratch ``oref``
holds the weekdark as ``oref$new_name``):

1. stistools' ``basic2d`` with DQICORR, BLEVCORR and BIASCORR only → ``_blt`` (trimmed,
   bias-subtracted, in DN);
2. ``PCTETAB`` (the weekdark's: the table its darks were corrected with, else stis_cti's
   own, :func:`pctetab_of`),
   ``CTECORR = OMIT`` and ``DARKFILE`` set on the ``_blt``;
3. the CTI correction (``CteCorr``, by the backend that corrected the weekdark's darks,
   its ``SDCTIENG``: :func:`stisdarks.cti.ctecorr`) → ``_cte``;
4. calstis on the ``_cte`` → ``_cte_flt``, ``_cte_crj`` (and ``_cte_sx1``), moved to
   ``out`` atomically with ``FILENAME`` set to their destinations' names.

The inputs are never modified. Needs hstcal's ``cs0.e``; it is not in
:data:`stisdarks.calibrators.REGISTRY`: the workflow chooses it for a target with
``cti: true``. Whether stis_cti serves the science (:func:`stisdarks.cti.cti_refusal`)
is the workflow's business: this module runs on whatever it is given, as long as
``CteCorr`` can (1024 columns, a ``TEXPSTRT`` inside the PCTETAB's validity).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from astropy.io import fits

from stisdarks.calibrators import AFTER_CRJ_STEPS
from stisdarks.calibrators.calstis import error_lines, run_calstis
from stisdarks.cti import (
    CTI_ENGINE_KEYWORD,
    check_ctecorr_input,
    ctecorr,
    default_pctetab,
    set_pctetab,
)
from stisdarks.errors import StisDarksError

__all__ = ["recalibrate", "bias_correct"]

log = logging.getLogger(__name__)

#: basic2d's switches as stis_cti sets them for the ``_blt`` (bias_correct_science_files)
_BLT_SWITCHES = dict(
    dqicorr="perform", atodcorr="omit", blevcorr="perform", biascorr="perform",
    doppcorr="omit", lorscorr="omit", glincorr="omit", lflgcorr="omit", darkcorr="omit",
    flatcorr="omit", shadcorr="omit", photcorr="omit",
)  # fmt: skip


def bias_correct(raw: Path, blt: Path) -> Path:
    """basic2d on ``raw`` with only DQICORR, BLEVCORR and BIASCORR → ``blt`` (``$oref`` set)."""
    from stistools.basic2d import basic2d  # imports stsci.tools: only where it runs

    trailer = blt.with_suffix(".trl")
    status = basic2d(
        os.fspath(raw), output=os.fspath(blt), statflag=True, trailer=os.fspath(trailer),
        **_BLT_SWITCHES,
    )  # fmt: skip
    text = trailer.read_text(errors="replace") if trailer.exists() else ""
    for line in text.splitlines():
        log.info("basic2d: %s", line)
    if status != 0 or not blt.is_file():
        errors = error_lines(text)
        detail = "; ".join(errors[:3]) if errors else "no ERROR line in the trailer"
        raise StisDarksError(
            f"basic2d failed on {raw.name} (status {status}): {detail}; the trailer is in the log"
        )
    return blt


def _cti_corrected(
    raw_copy: Path, *, obs_id: str, new_name: str, pctetab: Path, engine: str
) -> Path:
    """The ``_cte`` of a prepared raw copy: basic2d → ``_blt`` → keywords → CteCorr."""
    blt = bias_correct(raw_copy, raw_copy.with_name(f"{obs_id}_blt.fits"))
    with fits.open(blt, mode="update") as hdul:
        hdul[0].header["DARKFILE"] = f"oref${new_name}"
        set_pctetab(hdul[0].header, pctetab)
    check_ctecorr_input(blt, pctetab)
    log.info("CteCorr (%s) on %s (PCTETAB %s)", engine, blt.name, pctetab.name)
    return ctecorr(blt, raw_copy.with_name(f"{obs_id}_cte.fits"), engine=engine, threads=2)


def pctetab_of(weekdark: os.PathLike) -> Path:
    """The PCTETAB the weekdark's darks were corrected with (its ``PCTETAB``), so that the
    science is corrected with the same table; stis_cti's own when it names none."""
    name = str(fits.getheader(weekdark, 0).get("PCTETAB", "")).strip()
    if not name:
        return default_pctetab()
    path = Path(name)
    if not path.is_file():
        raise StisDarksError(
            f"the weekdark's PCTETAB {name} does not exist; rebuild the weekdark "
            "(its darks were corrected with a table that is gone) or set cti.pctetab"
        )
    return path


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
    """stis_cti's CTI-corrected calibration of a copy of ``raw``, with ``weekdark`` as ``oref$new_name``.

    The pipeline ``flt``, ``crj`` and ``pipeline_dark`` are not read (the products are
    remade from the raw); ``sx1`` None: the steps after the ``_crj`` are OMIT. ``out``
    maps ``flt``, ``crj`` (and ``sx1``) to their destinations (the workflow names them
    ``_flc``, ``_crc``, ``_s1c``, as stis_cti does).
    """
    pctetab = pctetab_of(weekdark)
    # the backend that corrected the weekdark's darks corrects the science too
    engine = str(fits.getheader(weekdark, 0).get(CTI_ENGINE_KEYWORD, "auto")).strip()
    return run_calstis(
        raw, weekdark, out, obs_id=obs_id, oref_dir=oref_dir, wav=wav, dark_name=new_name,
        omit=AFTER_CRJ_STEPS if sx1 is None else (), set_filename=True,
        prepare=lambda copy: _cti_corrected(
            copy, obs_id=obs_id, new_name=new_name, pctetab=pctetab, engine=engine
        ),
    )  # fmt: skip
