"""Native cosmic-ray rejection, as calstis' step 2 (``cs2.e``) does it.

A NumPy port of the algorithm in ``docs/crreject.md`` that agrees with calstis bit for
bit, in memory that does not grow with the number of image sets:

- :mod:`~stisdarks.crreject.algorithm`: the rejection of a stack of image sets in two
  passes (sky, then blocks of rows): :func:`crreject_stack`, :func:`crreject_rows`;
- :mod:`~stisdarks.crreject.kernel`: its arithmetic on one block of rows (no I/O);
- :mod:`~stisdarks.crreject.pool`: the forked worker processes the passes are shared among;
- :mod:`~stisdarks.crreject.rows`: row sources, images read a block of rows at a time;
- :mod:`~stisdarks.crreject.fitsscan`: FITS headers and data offsets, split without
  astropy (:func:`scan_fits`);
- :mod:`~stisdarks.crreject.files`: STIS files in, a calstis-shaped ``_crj`` out
  (:func:`scan_imsets`, :func:`crreject_files`).

The parameters come from the CRREJTAB (:mod:`stisdarks.crrejtab`).
"""

from __future__ import annotations

from stisdarks.crreject.algorithm import CRResult, crreject_rows, crreject_stack, sky_mode
from stisdarks.crreject.files import ImsetRows, crreject_files, scan_imsets
from stisdarks.crreject.fitsscan import scan_fits
from stisdarks.crreject.kernel import CR_FLAG, histogram_mode
from stisdarks.crreject.rows import (
    ArrayRows,
    ConstantRows,
    FileHandles,
    FitsRows,
    RowSource,
    ScaledRows,
)

__all__ = [
    "CRResult",
    "ImsetRows",
    "RowSource",
    "ArrayRows",
    "FitsRows",
    "FileHandles",
    "ConstantRows",
    "ScaledRows",
    "crreject_stack",
    "crreject_rows",
    "crreject_files",
    "scan_fits",
    "scan_imsets",
    "histogram_mode",
    "sky_mode",
    "CR_FLAG",
]
