"""Recalibrate a science observation with a new dark: ``calstis``, ``native``, or ``auto``.

``calstis`` (:mod:`.calstis`)
    stistools' ``calstis`` on a copy of the ``_raw`` (and ``_wav``) with ``DARKFILE``
    pointing at the weekdark; needs hstcal's ``cs0.e``.
``native`` (:mod:`.native`)
    The dark swap of :mod:`stisdarks.darkswap` on each pipeline ``_flt`` image set and on
    the pipeline ``_crj`` (exact: calstis subtracts the dark after CR rejection), then the
    spectrum re-extracted from the new ``_crj`` as calstis' x1d does (:mod:`stisdarks.x1d`)
    along the pipeline ``_sx1``'s own trace (``EXTRLOCY``), box and background regions,
    converted to flux with the pipeline's own per-column factor.
``auto``
    ``calstis`` when ``cs0.e`` is on ``PATH``, else ``native``.

For a target with ``cti: true`` the workflow asks for ``cti:<calibrator>`` instead
(:func:`chosen_calibrator`), and the calibrator chosen makes the CTI-corrected products:
``calstis`` stis_cti's own path through hstcal (:mod:`.cti`: basic2d, the CTI
correction, calstis; ``SDCALIB = cti``), ``native`` the same products from the pipeline
``_flt`` without hstcal (:mod:`.native_cti`; ``SDCALIB = native-cti``).

An image (``OBSTYPE = IMAGING``: no ``_sx1``) gets the same ``_flt`` and ``_crj`` and
nothing else: no extraction natively, and calstis runs with the steps that only make
products after the ``_crj`` (:data:`AFTER_CRJ_STEPS`: the image's geometric correction
into an ``_sx2``, a spectrum's ``_x2d``/``_sx1``) set to OMIT in its copy of the raw, so
it needs none of their reference files (``docs/imaging.md``).

Each calibrator is a module of this package exposing one function with the same signature::

    recalibrate(raw, flt, crj, sx1, weekdark, pipeline_dark, out, *, oref_dir, wav, obs_id,
                new_name) -> dict[str, Path]

(``out``: product kind → destination; ``sx1`` None for an image). :func:`recalibrate_to`
(and :func:`recalibrate`, into a directory) resolves the calibrator and calls the chosen
module, imported on first use. Adding a
calibrator: a module here with that function, and one line in ``REGISTRY``.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

from stisdarks.hstcal import Registry

__all__ = [
    "AFTER_CRJ_STEPS",
    "CALIBRATORS",
    "CTI_CALIBRATORS",
    "NEEDS_HSTCAL",
    "INTERFACE",
    "calibrator_module",
    "chosen_calibrator",
    "resolve_calibrator",
    "recalibrate",
    "recalibrate_to",
]

#: the calibrators: name → (its module in this package, whether it needs hstcal's ``cs0.e``);
#: ``auto`` picks calstis when ``cs0.e`` is on PATH
REGISTRY = Registry(
    what="calibrator",
    package=__name__,
    modules={"native": (".native", False), "calstis": (".calstis", True)},
    preferred="calstis",
    config_hint="set calibrator: native",
)
CALIBRATORS = REGISTRY.choices
#: the calibrators that need hstcal's ``cs0.e`` on PATH
NEEDS_HSTCAL = REGISTRY.needs_hstcal
#: the CTI-corrected path of each calibrator: name → (what ``SDCALIB`` says, its module)
CTI_CALIBRATORS = {"calstis": ("cti", ".cti"), "native": ("native-cti", ".native_cti")}
#: the function every calibrator module exposes, with the same signature
INTERFACE = ("recalibrate",)
#: calstis switches whose steps run after the _crj and _flt are complete and change neither
#: (GEOCORR: an image's _sx2; X2DCORR, X1DCORR: a spectrum's _x2d/_sx2 and _x1d/_sx1)
AFTER_CRJ_STEPS = ("GEOCORR", "X2DCORR", "X1DCORR")


def resolve_calibrator(calibrator: str = "auto") -> str:
    """A calibrator name (``auto``: calstis when ``cs0.e`` is on PATH, else native)."""
    return REGISTRY.resolve(calibrator)


def calibrator_module(name: str) -> ModuleType:
    """The module of calibrator ``name`` (a resolved name, not ``auto``), imported on first use."""
    return REGISTRY.module(name)


def chosen_calibrator(calibrator: str) -> tuple[str, ModuleType]:
    """The calibrator ``calibrator`` stands for (its ``SDCALIB`` name), and its module.

    A ``calibrator:`` choice is resolved (:func:`resolve_calibrator`). ``cti:<choice>``
    (``cti`` alone: ``cti:auto``) is the CTI-corrected path of the calibrator ``<choice>``
    resolves to (:data:`CTI_CALIBRATORS`): ``cti`` (stis_cti's path through hstcal,
    :mod:`.cti`) for calstis, ``native-cti`` (:mod:`.native_cti`) for native. The workflow
    chooses it for a ``cti: true`` target; it is not a ``calibrator:`` choice.
    """
    kind, _, choice = calibrator.partition(":")
    if kind == "cti":
        name, module = CTI_CALIBRATORS[resolve_calibrator(choice or "auto")]
        return name, importlib.import_module(module, __name__)
    name = resolve_calibrator(calibrator)
    return name, calibrator_module(name)


def recalibrate_to(
    out: dict[str, Path],
    raw: os.PathLike,
    flt: os.PathLike,
    crj: os.PathLike,
    sx1: os.PathLike | None,
    weekdark: os.PathLike,
    pipeline_dark: os.PathLike,
    *,
    calibrator: str = "auto",
    oref_dir: os.PathLike | None = None,
    obs_id: str,
    wav: os.PathLike | None = None,
) -> tuple[str, dict[str, Path]]:
    """Recalibrate with ``weekdark`` into ``out`` (product kind → destination).

    ``calibrator`` as :func:`chosen_calibrator` takes it. Returns the calibrator that ran
    and the products written. The products' ``DARKFILE`` is ``{obs_id}_weekdark.fits``,
    whichever calibrator.
    """
    name, module = chosen_calibrator(calibrator)
    written = module.recalibrate(
        raw, flt, crj, sx1, weekdark, pipeline_dark, out,
        oref_dir=oref_dir, wav=wav, obs_id=obs_id, new_name=f"{obs_id}_weekdark.fits",
    )  # fmt: skip
    return name, written


def recalibrate(
    raw: os.PathLike,
    flt: os.PathLike,
    crj: os.PathLike,
    sx1: os.PathLike | None,
    weekdark: os.PathLike,
    pipeline_dark: os.PathLike,
    outdir: os.PathLike,
    *,
    calibrator: str = "auto",
    oref_dir: os.PathLike | None = None,
    obs_id: str,
    wav: os.PathLike | None = None,
) -> dict[str, Path]:
    """Recalibrate with ``weekdark``; write ``outdir/{obs_id}_{flt,crj,sx1}.fits``.

    ``sx1`` is the pipeline ``_sx1`` of a spectrum, or None for an image (or whenever only
    the ``_flt`` and ``_crj`` are wanted): then only those two are written, the native
    calibrator extracts nothing and calstis runs with :data:`AFTER_CRJ_STEPS` OMIT.
    Inputs are never modified. Returns ``{"flt": ..., "crj": ...}`` plus ``"sx1"`` when
    ``sx1`` was given.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    kinds = ("flt", "crj", "sx1") if sx1 is not None else ("flt", "crj")
    out = {k: outdir / f"{obs_id}_{k}.fits" for k in kinds}
    return recalibrate_to(
        out, raw, flt, crj, sx1, weekdark, pipeline_dark,
        calibrator=calibrator, oref_dir=oref_dir, obs_id=obs_id, wav=wav,
    )[1]  # fmt: skip
