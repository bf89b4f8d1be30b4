"""The ``native`` CTI backend: stis_cti's ``CteCorr`` ported to Python and numba.

:func:`ctecorr` does what stis_cti 1.6.2's ``StisPixCteCorr.YCte`` does to a file, with
this package's trap model (:mod:`.trapmodel`), readout simulation (:mod:`.kernel`) and
image-set correction (:mod:`.correct`): copy the input to the output, read the PCTETAB its
primary header names at its ``TEXPSTRT``, correct every image set's ``SCI`` and ``ERR``
in place, and set the keywords ``YCte`` sets. The output is identical to stis_cti's
(``tests/test_cti_native.py``, ``tests/test_cti_agreement.py``); the columns of an image
are corrected in parallel on ``threads`` cores, and only the trap levels that hold charge
are visited, so it is many times faster (``bench/bench_cti.py``).

The compiled code is cached (numba ``cache=True``): the first call of a fresh install
compiles it once (seconds), later processes load it.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

from astropy.io import fits

from stisdarks.errors import InputFileError

__all__ = ["ctecorr", "resolve_ref"]

log = logging.getLogger(__name__)

#: extensions per image set (SCI, ERR, DQ)
EXTN_PER_IMSET = 3


def resolve_ref(name: str) -> Path:
    """A reference-file name as stis_cti resolves it: ``dir$file`` reads ``$dir``."""
    name = name.strip()
    if "$" in name:
        env, _, file = name.partition("$")
        base = os.environ.get(env)
        if base is None:
            raise InputFileError(
                f"PCTETAB {name}: the environment variable {env} is not set; set it, or give "
                "the table's path"
            )
        return Path(base) / file
    return Path(name)


def _set_threads(threads: int) -> None:
    import numba

    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def ctecorr(src: os.PathLike, out: os.PathLike, *, threads: int = 1) -> Path:
    """Correct ``src`` into ``out`` as stis_cti's ``YCte(src, outFits=out)`` does.

    Parameters
    ----------
    src : path-like
        A STIS CCD image-set file (``_flt`` or ``_blt``) whose primary header names its
        ``PCTETAB`` and has ``TEXPSTRT``; checked beforehand by
        :func:`stisdarks.cti.check_ctecorr_input`. Not modified.
    out : path-like
        The corrected copy (written in place: callers make it atomic).
    threads : int
        Cores for the columns of each image set.

    Returns
    -------
    Path
        ``out``.
    """
    from stisdarks.cti.correct import correct_imset, ctecorr_keywords, stamp_ctecorr_header
    from stisdarks.cti.trapmodel import load_trap_model

    src, out = Path(src), Path(out)
    _set_threads(threads)
    start = time.monotonic()
    shutil.copyfile(src, out)
    with fits.open(out, mode="update") as hdul:
        primary = hdul[0].header
        atodgain = primary.get("ATODGAIN", 1.0)
        ccdamp = str(primary.get("CCDAMP", "D")).strip()
        nextend = int(primary.get("NEXTEND", EXTN_PER_IMSET))
        model = load_trap_model(resolve_ref(str(primary["PCTETAB"])), primary["TEXPSTRT"])
        for imset in range(nextend // EXTN_PER_IMSET):
            extn = 1 + imset * EXTN_PER_IMSET
            sci, err = correct_imset(hdul[extn].data, hdul[extn + 1].data, atodgain, ccdamp, model)
            hdul[extn].data[:, :] = sci
            hdul[extn + 1].data[:, :] = err
        stamp_ctecorr_header(primary, ctecorr_keywords(model, atodgain))
    log.info(
        "native CteCorr: %s, %d image set(s) in %.2f s on %d core(s)",
        src.name, nextend // EXTN_PER_IMSET, time.monotonic() - start, threads,
    )  # fmt: skip
    return out
