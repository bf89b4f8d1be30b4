"""Whether hstcal (calstis' ``cs0.e``) is available, and the registries of replaceable parts.

A :class:`Registry` names the implementations of one part (the superdark engines, the
calibrators, the CTI backends), the module of each and whether it needs ``cs0.e`` (or
another installed package), and resolves a configured choice (``auto``, ``native`` or a
registered name) to one of them.
"""

from __future__ import annotations

import importlib
import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.util import find_spec
from types import ModuleType

from stisdarks.errors import StisDarksError

__all__ = ["has_calstis", "Registry"]

log = logging.getLogger(__name__)


def has_calstis() -> bool:
    """True when hstcal's ``cs0.e`` is on ``PATH``."""
    return shutil.which("cs0.e") is not None


@dataclass(frozen=True)
class Registry:
    """The implementations of one replaceable part, each a module of one package.

    Parameters
    ----------
    what : str
        ``"engine"`` or ``"calibrator"`` (for messages).
    package : str
        The package whose modules they are (``__name__`` of its ``__init__``).
    modules : mapping
        Name → (module relative to ``package``, whether it needs ``cs0.e`` on ``PATH``);
        ``native`` among them.
    preferred : str
        What ``auto`` picks when ``cs0.e`` is on ``PATH`` (``native`` when it is not).
    config_hint : str
        How to choose the native path instead (e.g. ``"use --engine native"``).
    packages : mapping, optional
        Name → (a Python package it needs installed, how to install it).
    """

    what: str
    package: str
    modules: Mapping[str, tuple[str, bool]]
    preferred: str
    config_hint: str
    packages: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def choices(self) -> tuple[str, ...]:
        """What a user may configure: ``auto`` and the registered names."""
        return ("auto", *self.modules)

    @property
    def needs_hstcal(self) -> frozenset[str]:
        """The registered names that need ``cs0.e`` on ``PATH``."""
        return frozenset(name for name, (_, needs) in self.modules.items() if needs)

    def resolve(self, choice: str = "auto") -> str:
        """The registered name ``choice`` stands for (``auto``: by whether ``cs0.e`` is found).

        Raises
        ------
        StisDarksError
            An unknown name, or a name that needs ``cs0.e`` when it is not on ``PATH``.
        """
        if choice not in self.choices:
            raise StisDarksError(
                f"unknown {self.what} {choice!r}; use one of {', '.join(self.choices)}"
            )
        found = has_calstis()
        if choice == "auto":
            chosen = self.preferred if found else "native"
            log.info(
                "%s auto -> %s (cs0.e %s)", self.what, chosen, "found" if found else "not on PATH"
            )
            return chosen
        if choice in self.needs_hstcal and not found:
            raise StisDarksError(
                "cs0.e not found on PATH; install hstcal (conda install -c conda-forge hstcal) "
                f"or {self.config_hint}"
            )
        if choice in self.packages and find_spec(self.packages[choice][0]) is None:
            needed, install = self.packages[choice]
            raise StisDarksError(
                f"{self.what} {choice} needs the {needed} package, which is not installed; "
                f"{install}, or {self.config_hint}"
            )
        return choice

    def module(self, name: str) -> ModuleType:
        """The module of ``name`` (a resolved name, not ``auto``), imported on first use."""
        return importlib.import_module(self.modules[name][0], self.package)
