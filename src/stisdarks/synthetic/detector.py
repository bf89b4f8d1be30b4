"""The synthetic STIS CCD: dark current, hot pixels, cosmic rays, read noise, temperature.

Numbers follow STScI's reports for the STIS CCD (side-2 electronics, gain 1): tens of
thousands of hot pixels above 0.1 e⁻/s right after an anneal (44,741 in October 2009)
and about 100–450 new ones per day until the next anneal; dark current scaling with
the housing temperature as ``1 + 0.07 (T − 18 °C)``; about 2 % of the pixels hit by a
cosmic ray in 1100 s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stisdarks.engines.common import DARK_VS_T, REF_TEMP

__all__ = [
    "ATODGAIN",
    "READNSE",
    "DARK_FLOOR",
    "HOT_AT_ANNEAL",
    "HOT_PER_DAY",
    "HotPixels",
    "temperature_factor",
    "hot_pixel_population",
    "cosmic_rays",
    "dark_frame",
]

ATODGAIN = {1: 1.0, 4: 4.0}  # e-/DN for CCDGAIN 1 and 4
READNSE = {1: 5.0, 4: 7.5}  # electrons
DARK_FLOOR = 0.004  # e-/s
HOT_AT_ANNEAL = 44_000  # hot pixels above 0.1 e-/s just after an anneal (full frame)
HOT_PER_DAY = 250  # new hot pixels per day (full frame)
HOT_MIN_RATE, HOT_MAX_RATE = 0.1, 30.0  # e-/s
FULL_FRAME_PIXELS = 1024 * 1024


def temperature_factor(temp: float) -> float:
    """Dark-current scaling at housing temperature ``temp`` (°C), 1 at 18 °C."""
    return 1.0 + DARK_VS_T * (temp - REF_TEMP)


@dataclass(frozen=True)
class HotPixels:
    """Hot pixels: position (0-indexed image pixels), rate (e⁻/s at 18 °C), onset (MJD)."""

    y: np.ndarray
    x: np.ndarray
    rate: np.ndarray
    onset: np.ndarray

    def image(self, shape: tuple[int, int], mjd: float) -> np.ndarray:
        """Dark current of the hot pixels switched on at ``mjd`` (e⁻/s at 18 °C)."""
        img = np.zeros(shape, dtype=np.float64)
        on = self.onset <= mjd
        np.add.at(img, (self.y[on], self.x[on]), self.rate[on])
        return img


def _rates(rng: np.random.Generator, n: int) -> np.ndarray:
    """Power law ``N(>r) ∝ r^-1.5`` from 0.1 e⁻/s, capped at 30 e⁻/s."""
    rate = HOT_MIN_RATE * (1 - rng.random(n)) ** (-1 / 1.5)
    return np.minimum(rate, HOT_MAX_RATE)


def hot_pixel_population(
    rng: np.random.Generator,
    shape: tuple[int, int],
    start: float,
    end: float,
    *,
    trace_rows: np.ndarray,
    obs_mjd: float,
    pipe_mjd: float,
    n_at_anneal: int | None = None,
    per_day: float | None = None,
) -> HotPixels:
    """Hot pixels of one anneal period.

    Parameters
    ----------
    rng : Generator
        Random numbers.
    shape : (rows, columns)
        Image shape.
    start, end : float
        The anneal period (MJD).
    trace_rows : ndarray
        Row of the science trace per column: a few hot pixels appear in the extraction
        box after the pipeline dark was made (the ones a custom dark must catch).
    obs_mjd, pipe_mjd : float
        Times of the science observation and of the pipeline dark.
    n_at_anneal, per_day : optional
        Hot pixels present from the start and born per day (default: STScI's figures
        scaled to the image area).
    """
    ny, nx = shape
    area = ny * nx / FULL_FRAME_PIXELS
    n0 = n_at_anneal if n_at_anneal is not None else int(round(HOT_AT_ANNEAL * area))
    rate_day = per_day if per_day is not None else HOT_PER_DAY * area
    n_new = int(rng.poisson(max(rate_day, 0.0) * (end - start)))
    n = n0 + n_new
    y = rng.integers(2, ny - 2, n)
    x = rng.integers(2, nx - 2, n)
    rate = _rates(rng, n)
    onset = np.concatenate([np.full(n0, start - 1.0), rng.uniform(start, end, n_new)])
    # hot pixels born after the pipeline dark, inside the science extraction box
    n_late = max(6, int(round(24 * area)))
    cols = rng.choice(np.arange(8, nx - 8), n_late, replace=False)
    late_y = np.round(trace_rows[cols] + rng.integers(-2, 3, n_late)).astype(int)
    late_rate = rng.uniform(0.3, 3.0, n_late)
    late_onset = rng.uniform(pipe_mjd + 0.5, obs_mjd - 1.0, n_late)
    y = np.concatenate([y, late_y])
    x = np.concatenate([x, cols])
    rate = np.concatenate([rate, late_rate])
    onset = np.concatenate([onset, late_onset])
    # one hot pixel per position: the last drawn wins (the late ones are kept)
    order = np.arange(y.size)[::-1]
    _, first = np.unique((y * nx + x)[order], return_index=True)
    keep = np.sort(order[first])
    return HotPixels(y[keep], x[keep], rate[keep], onset[keep])


def cosmic_rays(rng: np.random.Generator, shape: tuple[int, int], exptime: float) -> np.ndarray:
    """Electrons deposited by cosmic rays over ``exptime``: short tracks of 1–4 pixels."""
    ny, nx = shape
    img = np.zeros(shape, dtype=np.float64)
    n = int(rng.poisson(0.0075 * ny * nx * exptime / 1000.0))
    ys = rng.integers(0, ny, n)
    xs = rng.integers(0, nx, n)
    amp = rng.lognormal(np.log(600), 0.8, n)
    length = rng.integers(1, 5, n)
    angle = rng.uniform(0, np.pi, n)
    for k in range(4):
        on = length > k
        yy = np.clip(np.round(ys[on] + k * np.sin(angle[on])).astype(int), 0, ny - 1)
        xx = np.clip(np.round(xs[on] + k * np.cos(angle[on])).astype(int), 0, nx - 1)
        np.add.at(img, (yy, xx), amp[on] * (0.7**k))
    return img


def dark_frame(
    rng: np.random.Generator,
    dark_rate: np.ndarray,
    temp: float,
    exptime: float,
    gain: int,
    dq: np.ndarray,
    readout: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A bias-subtracted dark exposure (DN), its ERR as calstis initialises it, and ``dq``.

    Parameters
    ----------
    dark_rate : ndarray
        Dark current at 18 °C (e⁻/s).
    temp : float
        Housing temperature (°C).
    exptime : float
        Exposure time (s).
    gain : int
        CCDGAIN (1 or 4).
    dq : ndarray
        DQ from the bad-pixel table (copied).
    readout : callable, optional
        How the collected charge reaches the amplifier (electrons → electrons: the trails
        of :meth:`stisdarks.synthetic.transfer.ChargeTransfer.read`); none: unchanged.
        The read noise is added after it.
    """
    g, rn = ATODGAIN[gain], READNSE[gain]
    shape = dark_rate.shape
    mean = np.maximum(dark_rate * temperature_factor(temp) * exptime, 0)
    collected = rng.poisson(mean).astype(np.float64)
    noise = rng.normal(0.0, rn, shape)
    collected += cosmic_rays(rng, shape, exptime)
    if readout is not None:
        collected = readout(collected)
    dn = (collected + noise) / g
    err = np.sqrt(np.maximum(dn * g, 0) + rn**2) / g
    return dn.astype(np.float32), err.astype(np.float32), dq.astype(np.int16).copy()
