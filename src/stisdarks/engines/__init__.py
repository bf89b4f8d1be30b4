"""Superdark engines: ``native`` (NumPy), ``refstis`` (refstis + hstcal), and ``auto``.

Each engine is a module of this package exposing the same three functions (:data:`INTERFACE`)::

    make_basedark(paths, output, *, overrides=None, threads=2) -> Path
    make_weekdark(paths, basedark, output, *, overrides=None, threads=2) -> Path
    crreject(inputs, output, *, overrides=None) -> Path

The functions here check the inputs, resolve the engine (:func:`resolve_engine`) and call
the chosen module, imported on first use (so refstis and stistools are imported only when
the refstis engine runs). No engine modifies its inputs; outputs appear atomically. What
every engine shares (the product keywords, the input checks) is in :mod:`.common`.

Adding an engine: a module here with the three functions, and one line in ``REGISTRY``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from stisdarks.engines.common import (
    ENGINE_KEYWORD,
    VERSION_KEYWORD,
    check_crreject_inputs,
    check_dark_inputs,
)
from stisdarks.hstcal import Registry

__all__ = [
    "ENGINES",
    "NEEDS_HSTCAL",
    "ENGINE_KEYWORD",
    "VERSION_KEYWORD",
    "INTERFACE",
    "resolve_engine",
    "engine_module",
    "make_basedark",
    "make_weekdark",
    "crreject",
    "check_crreject_inputs",
]

log = logging.getLogger(__name__)

#: the engines: name → (its module in this package, whether it needs hstcal's ``cs0.e``);
#: ``auto`` picks refstis when ``cs0.e`` is on PATH
REGISTRY = Registry(
    what="engine",
    package=__name__,
    modules={"native": (".native", False), "refstis": (".refstis", True)},
    preferred="refstis",
    config_hint="use the native engine (--engine native)",
)
ENGINES = REGISTRY.choices
#: the engines that need hstcal's ``cs0.e`` on PATH
NEEDS_HSTCAL = REGISTRY.needs_hstcal
#: the functions every engine module exposes, with the same signatures
INTERFACE = ("make_basedark", "make_weekdark", "crreject")


def resolve_engine(engine: str = "auto") -> str:
    """An engine name: ``auto`` picks refstis when calstis' ``cs0.e`` is on PATH, else native."""
    return REGISTRY.resolve(engine)


def engine_module(name: str) -> ModuleType:
    """The module of engine ``name`` (a resolved name, not ``auto``), imported on first use."""
    return REGISTRY.module(name)


def make_basedark(
    inputs: Sequence[os.PathLike],
    output: os.PathLike,
    *,
    engine: str = "auto",
    overrides: dict | None = None,
    threads: int = 2,
) -> Path:
    """Build a basedark with the chosen engine (see :func:`stisdarks.engines.native.make_basedark`)."""
    paths = check_dark_inputs(inputs)
    chosen = engine_module(resolve_engine(engine))
    return chosen.make_basedark(paths, output, overrides=_clean(overrides), threads=threads)


def make_weekdark(
    inputs: Sequence[os.PathLike],
    basedark: os.PathLike,
    output: os.PathLike,
    *,
    engine: str = "auto",
    overrides: dict | None = None,
    threads: int = 2,
) -> Path:
    """Build a weekdark with the chosen engine (see :func:`stisdarks.engines.native.make_weekdark`)."""
    paths = check_dark_inputs(inputs)
    chosen = engine_module(resolve_engine(engine))
    return chosen.make_weekdark(
        paths, basedark, output, overrides=_clean(overrides), threads=threads
    )


def crreject(
    inputs: Sequence[os.PathLike],
    output: os.PathLike,
    *,
    engine: str = "auto",
    overrides: dict | None = None,
) -> Path:
    """CR-reject the image sets of ``inputs`` into one calstis-shaped ``_crj``."""
    check_crreject_inputs(inputs)
    chosen = engine_module(resolve_engine(engine))
    return chosen.crreject(inputs, output, overrides=_clean(overrides))


def _clean(overrides: dict | None) -> dict:
    return {k: v for k, v in (overrides or {}).items() if v is not None}
