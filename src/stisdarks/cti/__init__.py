"""Pixel-based CTI correction of STIS CCD data: the physics, two backends, one interface.

The STIS CCD loses charge on its way to the readout amplifier (charge-transfer
inefficiency): traps in the silicon hold back part of each packet and release it into the
pixels that follow, so faint sources and hot pixels trail away from the amplifier. STScI's
pixel-based correction (stis_cti's ``CteCorr``; Anderson & Bedin 2010) simulates the
readout through a model of those traps and inverts it. Where things are:

- :mod:`.trapmodel`: the trap model read from a ``PCTETAB`` (its time scaling, the trap
  levels, the release profiles), shared by the correction and by the synthetic detector;
- :mod:`.kernel`: the simulated readout and its inversion (numba, columns in parallel);
- :mod:`.correct`: one image set corrected (or trailed) as ``CteCorr`` does it;
- :mod:`.common`: what every backend shares: which files and science can be corrected
  (the refusal rules), the keywords, the names, the default PCTETAB;
- the backends, one module each behind :data:`REGISTRY`: :mod:`.native` (this package's
  port, identical output) and :mod:`.stis_cti` (STScI's C extension). ``auto`` = native.

Every backend module exposes ``ctecorr(src, out) -> Path``: correct the file ``src``
(which names its PCTETAB) into ``out``, keywords as stis_cti writes them. The functions
here prepare a copy (:func:`correct_dark`, :func:`correct_file`), dispatch, and write the
result atomically; inputs are never modified.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import ModuleType

from astropy.io import fits

from stisdarks.atomic import TEMP_PREFIX, atomic_path, remove_temporaries_of
from stisdarks.cti.common import (
    AMPLIFIERS,
    CCD_COLUMNS,
    CTI_ENGINE_KEYWORD,
    EARLIEST_DATE,
    GAINS,
    OFFSETS,
    PCTE_KEYWORDS,
    check_ctecorr_input,
    cte_name,
    cti_refusal,
    default_pctetab,
    is_corrected_with,
    pctetab_validity,
    pctetab_version,
    set_pctetab,
    stamp_superdark,
)
from stisdarks.errors import InputFileError
from stisdarks.hstcal import Registry

__all__ = [
    "REGISTRY", "CTI_ENGINES", "INTERFACE", "resolve_cti_engine", "cti_module", "ctecorr",
    "correct_dark", "correct_darks", "PCTE_KEYWORDS", "CTI_ENGINE_KEYWORD", "AMPLIFIERS",
    "CCD_COLUMNS", "EARLIEST_DATE", "GAINS", "OFFSETS", "default_pctetab", "pctetab_version",
    "pctetab_validity", "cte_name", "check_ctecorr_input", "set_pctetab", "is_corrected_with",
    "stamp_superdark", "cti_refusal",
]  # fmt: skip

log = logging.getLogger(__name__)

#: the CTI backends: name → (its module in this package, whether it needs hstcal's ``cs0.e``)
REGISTRY = Registry(
    what="cti engine",
    package=__name__,
    modules={"native": (".native", False), "stis_cti": (".stis_cti", False)},
    preferred="native",
    config_hint="use cti.engine: native",
    packages={"stis_cti": ("stis_cti", "pip install 'stis-cti>=1.6.2' (it compiles C)")},
)
CTI_ENGINES = REGISTRY.choices
#: the function every backend module exposes
INTERFACE = ("ctecorr",)


def resolve_cti_engine(engine: str = "auto") -> str:
    """A CTI backend's name: ``auto`` is ``native``; ``stis_cti`` needs stis_cti installed."""
    return REGISTRY.resolve(engine)


def cti_module(name: str) -> ModuleType:
    """The module of backend ``name`` (resolved, not ``auto``), imported on first use."""
    return REGISTRY.module(name)


def ctecorr(src: os.PathLike, out: os.PathLike, *, engine: str = "auto", threads: int = 1) -> Path:
    """Correct ``src`` (a file that names its PCTETAB) into ``out`` with the chosen backend.

    ``out`` gets the keywords stis_cti writes and :data:`CTI_ENGINE_KEYWORD`. It is
    written in place: callers that need atomicity write it in a scratch directory
    (:func:`correct_dark` does). ``threads``: cores for one file (the native backend's
    columns; stis_cti runs on one).
    """
    name = resolve_cti_engine(engine)
    out = cti_module(name).ctecorr(src, out, threads=threads)
    with fits.open(out, mode="update") as hdul:
        hdul[0].header[CTI_ENGINE_KEYWORD] = (name, "stisdarks CTI backend that corrected it")
    return Path(out)


def correct_dark(
    src: os.PathLike,
    dest: os.PathLike,
    *,
    pctetab: os.PathLike | None = None,
    engine: str = "auto",
    threads: int = 1,
) -> Path:
    """CTI-correct one dark ``_flt`` into ``dest``; ``src`` untouched.

    The work happens in a scratch directory beside ``dest``, named as a temporary of
    ``dest`` (:mod:`stisdarks.atomic`: a killed job's scratch is removed when it reruns)
    and removed whatever happens, so a failed correction never reaches ``dest``. ``dest``
    gets ``FILENAME`` = its name, and ``PCTETAB`` = ``pctetab`` (default:
    :func:`default_pctetab`) as an absolute path.

    Raises
    ------
    InputFileError
        When ``src`` cannot be corrected (:func:`check_ctecorr_input`) or the PCTETAB is
        missing.
    """
    src, dest = Path(src), Path(dest)
    table = Path(pctetab) if pctetab else default_pctetab()
    if not table.is_file():
        raise InputFileError(f"PCTETAB {table} does not exist; fix cti.pctetab")
    check_ctecorr_input(src, table)
    dest.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(
        tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{dest.stem}-", suffix=dest.suffix, dir=dest.parent)
    )
    try:
        copy = scratch / src.name
        shutil.copyfile(src, copy)
        with fits.open(copy, mode="update") as hdul:
            set_pctetab(hdul[0].header, table)
        corrected = ctecorr(copy, scratch / cte_name(src.name), engine=engine, threads=threads)
        with fits.open(corrected, mode="update") as hdul:
            hdul[0].header["FILENAME"] = dest.name
        with atomic_path(dest) as tmp:
            os.replace(corrected, tmp)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log.info("CTI-corrected %s into %s (PCTETAB %s)", src.name, dest.name, table.name)
    return dest


def _newer(corrected: Path, source: Path) -> bool:
    """Whether ``corrected`` was written after ``source`` (a dark fetched again since, its
    content changed in the archive, is corrected again)."""
    return corrected.stat().st_mtime_ns >= source.stat().st_mtime_ns


def correct_darks(
    sources: Sequence[os.PathLike],
    dest_dir: os.PathLike,
    *,
    pctetab: os.PathLike | None = None,
    engine: str = "auto",
    threads: int = 1,
) -> list[Path]:
    """CTI-correct every dark of ``sources`` into ``dest_dir`` (``<root>_cte.fits`` each).

    A dark already corrected there by the same backend with the same PCTETAB
    (:func:`is_corrected_with`), after its source was fetched, is kept: a job killed
    half-way through a period's darks
    resumes with the next one, after removing what the killed one left half-written. Each
    corrected dark appears atomically (:func:`correct_dark`); the sources are untouched.
    ``threads`` cores: the native backend corrects one dark at a time on all of them (its
    columns in parallel), stis_cti (one core a file) that many darks at once.

    Returns
    -------
    list of Path
        The corrected darks, in the order of ``sources``.
    """
    table = Path(pctetab) if pctetab else default_pctetab()
    name = resolve_cti_engine(engine)
    dest_dir = Path(dest_dir)
    out = [dest_dir / cte_name(Path(src).name) for src in sources]
    pending = []
    for src, dest in zip(sources, out, strict=True):
        remove_temporaries_of(dest)  # a killed run's (each dark lies in one period: ours)
        if is_corrected_with(dest, table, name) and _newer(dest, Path(src)):
            log.info("%s: already corrected (%s, %s), kept", dest.name, name, table.name)
        else:
            pending.append((Path(src), dest))
    log.info(
        "CTI correction (%s, %s): %d darks to correct, %d kept from an earlier run",
        name, table.name, len(pending), len(out) - len(pending),
    )  # fmt: skip
    one = functools.partial(_correct_one, pctetab=table, engine=name)
    if name == "stis_cti" and threads > 1 and len(pending) > 1:
        with ProcessPoolExecutor(min(threads, len(pending))) as pool:
            for i, _ in enumerate(pool.map(one, pending), 1):
                log.info("CTI correction: %d/%d darks done", i, len(pending))
    else:
        for i, job in enumerate(pending, 1):
            one(job, threads=threads)
            log.info("CTI correction: %d/%d darks done", i, len(pending))
    return out


def _correct_one(job: tuple[Path, Path], *, pctetab: Path, engine: str, threads: int = 1) -> Path:
    src, dest = job
    return correct_dark(src, dest, pctetab=pctetab, engine=engine, threads=threads)
