"""A synthetic STIS CCD archive: an anneal period of darks and a faint CR-SPLIT spectrum (and more).

The demo and the tests run on it through the same code paths as real MAST data, and
hstcal's calstis accepts it: its ``_raw`` has the STIS CCD overscan layout and every
keyword ``cs0.e`` reads, and its pipeline products are what calstis makes of that
``_raw`` with the archive's reference files. It holds, for one anneal period (by
default the notebook's 2021-04-07 02:35:41 – 2021-05-05 14:00:22):

- ``n_darks`` long (1100 s) dark FLTs spread over the period (:mod:`.detector`: dark
  current, STScI's hot-pixel counts and growth, cosmic rays, read noise, housing
  temperature), with the bad-pixel table's DQ flags (:mod:`.darks`);
- distractors the selection must drop: 60 s darks, gain-4 darks, amplifier-A darks and
  long darks just outside the period;
- a CR-SPLIT = 2 G430L-like spectrum of a faint source near the end of the period
  (:mod:`.science`, :mod:`.spectrum`), calibrated as calstis does (:mod:`.basic2d`) with
  a pipeline dark made ten days before the observation, so it misses the newest hot
  pixels;
- on request, more observations of its programme (PROPOSID 16196): spectra a day apart,
  CR-SPLIT CCD images (:mod:`.imaging`), a second anneal period after the first with its
  own hot pixels, darks, pipeline dark and spectra, and observations no custom dark serves
  (a FUV-MAMA spectrum, a target acquisition, a single exposure);
- the reference files the headers name (:mod:`.reffiles`): STScI's CRREJTAB, a CCDTAB,
  a BPIXTAB, the bias, the flat and the pipeline dark(s);
- ``science/index.csv`` and ``darks/index.csv`` (one row per file of each half, written
  last: its presence means the half is complete), ``anneal_periods.csv`` and
  ``truth.json`` (the hot pixels with their rates and onset times, for tests).

Everything is deterministic for a given seed. The two halves (science and darks) can be
written apart, by two processes at once, and are the same as when written together.
"""

from stisdarks.synthetic.archive import (
    DEFAULT_OBS_ID,
    INDEX_COLUMNS,
    PERIOD_END,
    PERIOD_START,
    generate_archive,
)
from stisdarks.synthetic.geometry import Geometry

__all__ = [
    "DEFAULT_OBS_ID",
    "INDEX_COLUMNS",
    "PERIOD_START",
    "PERIOD_END",
    "Geometry",
    "generate_archive",
]
