"""The ``stis_cti`` CTI backend: STScI's ``StisPixCteCorr.CteCorr`` (a C extension).

Kept for those who want STScI's own code (``cti.engine: stis_cti``; it needs the
``stis-cti`` package, whose install compiles C: ``pip install -e ".[stis-cti]"``). The
native backend (:mod:`stisdarks.cti.native`) gives identical output, faster. stis_cti is
imported only when this backend runs: it pulls in stsci.tools.
"""

from __future__ import annotations

import contextlib
import glob
import io
import logging
import os
import warnings
from pathlib import Path
from types import ModuleType

from astropy.io import fits

from stisdarks.cti.common import cti_corrected
from stisdarks.errors import StisDarksError

__all__ = ["ctecorr", "available"]

log = logging.getLogger(__name__)


def available() -> bool:
    """Whether stis_cti is installed (without importing it)."""
    from importlib.util import find_spec

    return find_spec("stis_cti") is not None


def _ctecorr_module() -> ModuleType:
    """stis_cti's ``StisPixCteCorr``, imported on first use (stsci.tools' warnings muted)."""
    if not available():
        raise StisDarksError(
            "cti.engine stis_cti needs the stis-cti package; pip install 'stis-cti>=1.6.2' "
            "(it compiles C), or use cti.engine: native"
        )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "(GFIT|NMPFIT) is deprecated", UserWarning)
        from stis_cti import StisPixCteCorr
    return StisPixCteCorr


def ctecorr(src: os.PathLike, out: os.PathLike, *, threads: int = 1) -> Path:
    """Run ``CteCorr(src, outFits=out)``; its printout goes to the log (``threads``: unused,
    stis_cti runs on one core).

    ``src`` must already name its PCTETAB (:func:`set_pctetab`). On failure ``out`` may be
    left as an uncorrected copy: the caller writes it in a scratch directory.

    Raises
    ------
    StisDarksError
        When CteCorr fails or writes no corrected ``out``.
    """
    ctecorr = _ctecorr_module().CteCorr
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            # CteCorr globs its input: escape [*? in directory names
            ctecorr(glob.escape(os.fspath(src)), outFits=os.fspath(out))
    except Exception as exc:
        raise StisDarksError(
            f"stis_cti's CteCorr failed on {Path(src).name}: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        for line in printed.getvalue().splitlines():
            if line.strip():
                log.info("stis_cti: %s", line.rstrip())
    if not Path(out).is_file() or not cti_corrected(fits.getheader(out, 0)):
        raise StisDarksError(
            f"stis_cti's CteCorr wrote no corrected file for {Path(src).name} (is there a ',' "
            "or '$' in its directory's path?)"
        )
    return Path(out)
