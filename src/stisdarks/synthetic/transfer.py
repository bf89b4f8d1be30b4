"""Charge transfer of the synthetic STIS CCD: the trails the real detector leaves (CTI).

Radiation damage gives the STIS CCD charge traps, more each year since launch: on its way
to the amplifier a charge packet loses electrons to the traps it passes, and they release
them into the packets that follow. A hot pixel or a faint source far from the amplifier
comes out fainter, with a trail of its charge in the rows read after it. The demo's
detector reads its charge out through the same trap model that stis_cti inverts
(:func:`stisdarks.cti.correct.add_cti_imset`, stis_cti's ``AddYCte``: the PCTETAB's traps,
scaled to the exposure's date, the column and the distance from the amplifier), so the
synthetic darks and science carry the trails that real ones of the date carry, and the
CTI correction has something to correct.

The model acts on the charge collected in the detector's pixels before the amplifier
adds read noise. An image of fewer rows than the frame (a subarray of the archive) is
read as a band of the empty 1024-row CCD (``add_cti_imset``'s ``first_row``): its charge
travels as far as on the real detector. stis_cti's model starts on 2009-05-01 (the CCD's side-2
electronics after Servicing Mission 4; :data:`stisdarks.cti.common.EARLIEST_DATE`): by
default, exposures before it are read without trails.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stisdarks.cti.common import EARLIEST_MJD, default_pctetab

__all__ = ["CTI_FROM_MJD", "ChargeTransfer", "trails_by_default"]

#: the first date stis_cti corrects (2009-05-01, MJD 54952): trails from then on by default
CTI_FROM_MJD = EARLIEST_MJD


def trails_by_default(mjd: float) -> bool:
    """Whether an exposure of ``mjd`` trails by default: from 2009-05-01 on."""
    return mjd >= CTI_FROM_MJD


@functools.lru_cache(maxsize=256)
def _trap_model(pctetab: str, mjd: float):
    from stisdarks.cti.trapmodel import load_trap_model

    return load_trap_model(pctetab, mjd)


@dataclass(frozen=True)
class ChargeTransfer:
    """How the archive's detector moves its charge to the amplifier.

    Parameters
    ----------
    first_row : int
        Detector row (0-indexed) of the images' first row (a subarray's offset).
    enabled : bool or None
        Trail the charge: ``True`` always, ``False`` never, ``None`` for exposures from
        2009-05-01 on (:func:`trails_by_default`), as on the real CCD.
    pctetab : path-like, optional
        The trap model's table (default: the one the CTI correction uses,
        :func:`stisdarks.cti.default_pctetab`).
    """

    first_row: int = 0
    enabled: bool | None = None
    pctetab: os.PathLike | str | None = None

    def trails(self, mjd: float) -> bool:
        """Whether an exposure that started at ``mjd`` comes out trailed."""
        return trails_by_default(mjd) if self.enabled is None else bool(self.enabled)

    def read(self, electrons: np.ndarray, mjd: float, amp: str = "D") -> np.ndarray:
        """The charge of ``electrons`` as amplifier ``amp`` reads it at ``mjd`` (electrons).

        Parameters
        ----------
        electrons : ndarray
            ``(rows, 1024)`` charge collected in each pixel (image orientation).
        mjd : float
            Start of the exposure (its ``TEXPSTRT``): the CTI's strength.
        amp : str
            The amplifier, ``'A'`` to ``'D'``: where the charge goes.

        Returns
        -------
        ndarray
            float64, same shape: ``electrons`` itself when this exposure is not trailed.

        Raises
        ------
        stisdarks.errors.InputFileError
            When the PCTETAB does not cover ``mjd`` (STScI's covers the CCD's whole life;
            ``enabled=True`` before 2009-05-01 uses its scaling for that date).
        """
        if not self.trails(mjd):
            return electrons
        from stisdarks.cti.correct import add_cti_imset

        table = Path(self.pctetab) if self.pctetab is not None else default_pctetab()
        model = _trap_model(os.fspath(table), float(mjd))
        return add_cti_imset(electrons, 1.0, amp, model, first_row=self.first_row)
