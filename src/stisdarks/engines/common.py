"""What every superdark engine shares: the product keywords, refstis' temperature scaling,
the input checks and the detector-geometry cards.

Importing this module imports no engine (nor astropy): the synthetic archive and the
summary read the constants from here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stisdarks import __version__
from stisdarks.errors import InputFileError, StisDarksError

if TYPE_CHECKING:
    from astropy.io import fits

__all__ = [
    "ENGINE_KEYWORD",
    "VERSION_KEYWORD",
    "DARK_VS_T",
    "REF_TEMP",
    "GEOMETRY_KEYS",
    "check_dark_inputs",
    "check_crreject_inputs",
    "engine_cards",
    "geometry_cards",
]

#: side-2 dark current scales as ``1 + DARK_VS_T (T − REF_TEMP)`` with the housing temperature
#: (refstis; the synthetic detector and the darks' headers use the same numbers)
DARK_VS_T = 0.07
REF_TEMP = 18.0
#: primary keyword naming the engine that built a basedark/weekdark (read by the summary)
ENGINE_KEYWORD = "SDENGINE"
#: primary keyword of every product stisdarks writes: the package version that wrote it
VERSION_KEYWORD = "SDVERS"
#: where an image sits on the detector (IRAF LTV/LTM); calstis bins and cuts references with them
GEOMETRY_KEYS = ("LTV1", "LTV2", "LTM1_1", "LTM2_2")


def engine_cards(engine: str) -> dict[str, tuple[str, str]]:
    """The primary-header cards naming the engine that built a dark and the stisdarks version."""
    return {
        ENGINE_KEYWORD: (engine, "stisdarks engine that built this dark"),
        VERSION_KEYWORD: (__version__, "stisdarks version that wrote this file"),
    }


def geometry_cards(sci_header: fits.Header) -> dict[str, float]:
    """The ``LTV``/``LTM`` keywords of a subarray or binned dark (empty for an unbinned full frame).

    refstis writes its superdarks without them; for a full frame that is what calstis
    assumes, for any other geometry the keywords are needed to line the dark up with
    the science data.
    """
    cards = {
        k: float(sci_header.get(k, 1.0 if k.startswith("LTM") else 0.0)) for k in GEOMETRY_KEYS
    }
    default = cards["LTV1"] == cards["LTV2"] == 0.0 and cards["LTM1_1"] == cards["LTM2_2"] == 1.0
    return {} if default else cards


def check_dark_inputs(paths: Sequence[os.PathLike], *, require_darks: bool = True) -> list[Path]:
    """Check that ``paths`` are bias-subtracted STIS CCD dark FLTs of one CCD mode.

    Raises
    ------
    StisDarksError
        One line naming the first problem: a missing or unreadable file, not STIS CCD,
        not an FLT (no SCI/ERR/DQ image set, bias not subtracted), mixed
        CCDGAIN/CCDAMP/BINAXIS, or fewer than 2 image sets in total.
    """
    from stisdarks.crreject import scan_fits  # (cached: the native rejection reuses the scans)

    paths = [Path(p) for p in paths]
    if not paths:
        raise StisDarksError("no input files given; pass the dark _flt files to combine")
    modes: dict[tuple, list[str]] = {}
    nimsets = 0
    for path in paths:
        if not path.is_file():
            raise InputFileError(f"{path} does not exist; check the file name")
        try:
            scan = scan_fits(path)  # read once: the rejection reuses these headers
            hdr = scan.primary
        except (OSError, ValueError) as exc:
            raise InputFileError(
                f"{path} is not a readable FITS file ({exc}); download it again"
            ) from exc
        names = [(h.name, h.ver) for h in scan.hdus[1:]]
        instr, det = str(hdr.get("INSTRUME", "")).strip(), str(hdr.get("DETECTOR", "")).strip()
        if instr != "STIS" or det != "CCD":
            raise InputFileError(
                f"{path.name} is not a STIS CCD file (INSTRUME={instr!r}, DETECTOR={det!r}); pass STIS CCD dark FLTs"
            )
        if require_darks and str(hdr.get("TARGNAME", "")).strip() != "DARK":
            raise InputFileError(
                f"{path.name} is not a dark (TARGNAME={hdr.get('TARGNAME')!r}); pass dark FLTs"
            )
        n = sum(1 for name, _ in names if name == "SCI")
        if n == 0 or any((kind, v) not in names for v in range(1, n + 1) for kind in ("ERR", "DQ")):
            raise InputFileError(
                f"{path.name} has no complete SCI/ERR/DQ image set; pass _flt files, not _raw"
            )
        if "COMPLETE" not in (
            str(hdr.get("BLEVCORR", "")).strip(),
            str(hdr.get("BIASCORR", "")).strip(),
        ):
            raise InputFileError(
                f"{path.name} is not bias-subtracted (BLEVCORR/BIASCORR not COMPLETE); use the archive's _flt "
                "or --engine refstis with a bias file"
            )
        key = tuple(hdr.get(k) for k in ("CCDGAIN", "CCDAMP", "BINAXIS1", "BINAXIS2"))
        modes.setdefault(key, []).append(path.name)
        nimsets += n
    if len(modes) > 1:
        desc = "; ".join(
            f"CCDGAIN={k[0]} CCDAMP={k[1]} BIN={k[2]}x{k[3]}: {v[0]}{' …' if len(v) > 1 else ''}"
            for k, v in modes.items()
        )
        raise StisDarksError(
            f"inputs mix CCD modes ({desc}); combine darks of one gain, amplifier and binning"
        )
    if nimsets < 2:
        raise StisDarksError(
            f"only {nimsets} image set in the input; a superdark needs at least 2 — add more darks"
        )
    return paths


def check_crreject_inputs(inputs: Sequence[os.PathLike]) -> None:
    """Refuse inputs calstis' CR rejection does not take: missing, unreadable, or not bias-subtracted.

    calstis rejects cosmic rays after the bias steps (BLEVCORR, BIASCORR); a ``_raw`` has
    had neither.

    Raises
    ------
    InputFileError
        One line naming the file and what to give instead.
    """
    from astropy.io import fits

    if not inputs:
        raise InputFileError("no input files given; pass the _flt files to combine")
    for path in map(Path, inputs):
        if not path.is_file():
            raise InputFileError(f"{path} does not exist; check the file name")
        try:
            hdr = fits.getheader(path, 0)
        except (OSError, ValueError) as exc:
            raise InputFileError(
                f"{path} is not a readable FITS file ({exc}); check the file"
            ) from exc
        steps = {k: str(hdr.get(k, "")).strip() for k in ("BLEVCORR", "BIASCORR")}
        if "COMPLETE" not in steps.values():
            raise InputFileError(
                f"{path.name} is not bias-subtracted (BLEVCORR={steps['BLEVCORR'] or None}, "
                f"BIASCORR={steps['BIASCORR'] or None}; a _raw file?); give calibrated _flt files"
            )
