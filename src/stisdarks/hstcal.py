"""Whether hstcal (calstis' ``cs0.e``) is available, and the ``auto``/``native``/hstcal choice."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Collection, Sequence

from stisdarks.errors import StisDarksError

__all__ = ["has_calstis", "choose"]

log = logging.getLogger(__name__)


def has_calstis() -> bool:
    """True when hstcal's ``cs0.e`` is on ``PATH``."""
    return shutil.which("cs0.e") is not None


def choose(
    what: str,
    choice: str,
    options: Sequence[str],
    *,
    needs_hstcal: Collection[str],
    preferred: str,
    config_hint: str,
) -> str:
    """Resolve ``auto`` or one of ``options`` (a registry's names, ``native`` among them).

    Parameters
    ----------
    what : str
        ``"engine"`` or ``"calibrator"`` (for messages).
    choice : str
        The configured value.
    options : sequence of str
        The registered names.
    needs_hstcal : collection of str
        The options that need ``cs0.e`` on ``PATH`` (refused without it).
    preferred : str
        What ``auto`` picks when ``cs0.e`` is on ``PATH`` (``native`` when it is not).
    config_hint : str
        How to choose the native path instead (e.g. ``"use --engine native"``).
    """
    choices = ("auto", *options)
    if choice not in choices:
        raise StisDarksError(f"unknown {what} {choice!r}; use one of {', '.join(choices)}")
    found = has_calstis()
    if choice == "auto":
        chosen = preferred if found else "native"
        log.info("%s auto -> %s (cs0.e %s)", what, chosen, "found" if found else "not on PATH")
        return chosen
    if choice in needs_hstcal and not found:
        raise StisDarksError(
            f"cs0.e not found on PATH; install hstcal (conda install -c conda-forge hstcal) or {config_hint}"
        )
    return choice
