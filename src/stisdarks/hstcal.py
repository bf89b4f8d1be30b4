"""Whether hstcal (calstis' ``cs0.e``) is available, and the ``auto``/``native``/hstcal choice."""

from __future__ import annotations

import logging
import shutil

from stisdarks.errors import StisDarksError

__all__ = ["has_calstis", "choose"]

log = logging.getLogger(__name__)


def has_calstis() -> bool:
    """True when hstcal's ``cs0.e`` is on ``PATH``."""
    return shutil.which("cs0.e") is not None


def choose(what: str, choice: str, hstcal_option: str, config_hint: str) -> str:
    """Resolve ``auto`` / ``native`` / ``hstcal_option`` (the choice that needs ``cs0.e``).

    Parameters
    ----------
    what : str
        ``"engine"`` or ``"calibrator"`` (for messages).
    choice : str
        The configured value.
    hstcal_option : str
        The value that needs hstcal (``"refstis"`` or ``"calstis"``).
    config_hint : str
        How to choose the native path instead (e.g. ``"use --engine native"``).
    """
    choices = ("auto", "native", hstcal_option)
    if choice not in choices:
        raise StisDarksError(f"unknown {what} {choice!r}; use one of {', '.join(choices)}")
    found = has_calstis()
    if choice == "auto":
        chosen = hstcal_option if found else "native"
        log.info("%s auto -> %s (cs0.e %s)", what, chosen, "found" if found else "not on PATH")
        return chosen
    if choice == hstcal_option and not found:
        raise StisDarksError(
            f"cs0.e not found on PATH; install hstcal (conda install -c conda-forge hstcal) or {config_hint}"
        )
    return choice
