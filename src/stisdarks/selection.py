"""Which darks build the basedark and the weekdark.

STScI's dark monitor takes its long darks unbinned, at gain 1, through amplifier D;
calstis serves every CCD science readout from them (it bins and cuts the dark to the
science and scales it by the science's own gain; :mod:`stisdarks.binning`). So the
darks of an anneal period are the same for every target of that period, whatever its
binning or gain: the archive lists candidate darks (:meth:`Archive.list_darks`), this
module keeps those of the dark monitor's mode (:data:`DARK_MODE`), first on the
archive metadata, then on the downloaded headers (MAST does not list CCDAMP), and
picks the darks of the observation's week. Every dropped dark is logged with its
reason.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from astropy.io import fits

from stisdarks import defaults
from stisdarks.archive.base import AnnealPeriod, DarkExposure, Product
from stisdarks.errors import ArchiveError, InputFileError, StisDarksError
from stisdarks.fitsio import atomic_path
from stisdarks.periods import iso

__all__ = [
    "MODE_KEYS",
    "DARK_MODE",
    "mode_of",
    "mode_label",
    "period_key",
    "mode_mismatch",
    "select_by_metadata",
    "select_by_header",
    "week_darks",
    "write_dark_table",
    "read_dark_table",
]

log = logging.getLogger(__name__)

#: CCD-mode keywords that select the darks.
MODE_KEYS: tuple[str, ...] = ("ccdgain", "ccdamp", "binaxis1", "binaxis2")
#: the readout of STScI's dark-monitor darks, which serve every CCD science readout
DARK_MODE: dict[str, Any] = {"ccdgain": 1, "ccdamp": "D", "binaxis1": 1, "binaxis2": 1}
#: on-chip binnings calstis accepts (``doblev.c``)
CALSTIS_BINNINGS = (1, 2, 4)


def mode_of(facts: dict[str, Any]) -> dict[str, Any]:
    """The mode of the darks that serve a science observation (its ``facts`` dict).

    Always :data:`DARK_MODE`: binned and gain-4 science is served by the unbinned gain-1
    darks. Raises a one-line error for a readout those darks cannot serve.

    Raises
    ------
    StisDarksError
        For science read through another amplifier than D, or binned in a way calstis
        does not accept.
    """
    amp = str(facts.get("ccdamp", "D")).strip().upper()
    if amp != DARK_MODE["ccdamp"]:
        raise StisDarksError(
            f"{facts.get('obs_id', 'the observation')} was read through amplifier {amp}; STScI's "
            "dark-monitor darks are read through amplifier D only, so no custom dark can serve it"
        )
    for key in ("binaxis1", "binaxis2"):
        if int(facts.get(key, 1)) not in CALSTIS_BINNINGS:
            raise StisDarksError(
                f"{facts.get('obs_id', 'the observation')} has {key.upper()}={facts[key]}; calstis "
                "accepts binning 1, 2 or 4 only"
            )
    return dict(DARK_MODE)


def mode_label(mode: dict[str, Any]) -> str:
    """``gain1_ampD_bin1x1``: the CCD mode as a directory-safe label."""
    return f"gain{mode['ccdgain']}_amp{mode['ccdamp']}_bin{mode['binaxis1']}x{mode['binaxis2']}"


def period_key(period: AnnealPeriod, facts: dict[str, Any]) -> str:
    """Name of the shared per-period directory: anneal period start plus the darks' mode.

    Every target of an anneal period shares one dark list and one basedark, whatever
    its binning or gain (the darks are the dark monitor's; :data:`DARK_MODE`).
    """
    return f"{period.label}_{mode_label(mode_of(facts))}"


def mode_mismatch(values: dict[str, Any], mode: dict[str, Any]) -> str | None:
    """Describe how ``values`` differs from ``mode`` (``None`` keys are unknown, not wrong)."""
    diffs = []
    for key in MODE_KEYS:
        have = values.get(key)
        if have is None or have == "":
            continue
        want = mode[key]
        if str(have).strip().upper() != str(want).strip().upper():
            diffs.append(f"{key.upper()}={have} (dark monitor {want})")
    return ", ".join(diffs) or None


def select_by_metadata(
    darks: Iterable[DarkExposure], period: AnnealPeriod, mode: dict[str, Any]
) -> tuple[list[DarkExposure], list[tuple[DarkExposure, str]]]:
    """Keep darks inside ``period`` whose listed mode matches; unknown keys pass for now.

    Returns
    -------
    kept, dropped : list, list of (dark, reason)
    """
    kept: list[DarkExposure] = []
    dropped: list[tuple[DarkExposure, str]] = []
    for dark in darks:
        if not period.contains(dark.start_mjd):
            dropped.append((dark, "outside the anneal period"))
            continue
        reason = mode_mismatch({k: getattr(dark, k) for k in MODE_KEYS}, mode)
        if reason:
            dropped.append((dark, reason))
        else:
            kept.append(dark)
    for dark, reason in dropped:
        log.info("dropped %s: %s", dark.rootname, reason)
    return kept, dropped


def _header_mode(path: os.PathLike) -> dict[str, Any]:
    try:
        hdr = fits.getheader(path, 0)
    except (OSError, ValueError) as exc:
        raise InputFileError(
            f"cannot read {path} ({exc}); delete it and rerun to download it again"
        ) from exc
    return {
        "ccdgain": hdr.get("CCDGAIN"),
        "ccdamp": hdr.get("CCDAMP"),
        "binaxis1": hdr.get("BINAXIS1"),
        "binaxis2": hdr.get("BINAXIS2"),
        "detector": str(hdr.get("DETECTOR", "")).strip(),
        "targname": str(hdr.get("TARGNAME", "")).strip(),
    }


def select_by_header(
    paths: Sequence[os.PathLike], mode: dict[str, Any]
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Keep downloaded dark files whose primary header matches ``mode`` exactly."""
    kept: list[Path] = []
    dropped: list[tuple[Path, str]] = []
    for path in map(Path, paths):
        values = _header_mode(path)
        if values["detector"] != "CCD":
            dropped.append((path, f"DETECTOR={values['detector']!r} is not the CCD"))
            continue
        if values["targname"] != "DARK":
            dropped.append((path, f"TARGNAME={values['targname']!r} is not DARK"))
            continue
        missing = [k.upper() for k in MODE_KEYS if values[k] in (None, "")]
        if missing:
            dropped.append((path, f"header lacks {', '.join(missing)}"))
            continue
        reason = mode_mismatch(values, mode)
        if reason:
            dropped.append((path, reason))
        else:
            kept.append(path)
    for path, reason in dropped:
        log.info("dropped %s: %s", path.name, reason)
    return kept, dropped


def week_darks(
    darks: Sequence[DarkExposure],
    obs_mjd: float,
    window: tuple[float, float],
    min_darks: int = defaults.MIN_WEEK_DARKS,
) -> list[DarkExposure]:
    """Darks whose exposure starts inside the week ``window`` (inclusive).

    Raises
    ------
    StisDarksError
        When fewer than ``min_darks`` darks fall in the window.
    """
    lo, hi = window
    chosen = [d for d in darks if lo <= d.start_mjd <= hi]
    if len(chosen) < min_darks:
        raise StisDarksError(
            f"only {len(chosen)} dark(s) between {iso(lo)} and {iso(hi)} around the observation at "
            f"{iso(obs_mjd)} (min_week_darks={min_darks}); widen week_days or lower min_week_darks in the config"
        )
    log.info("%d darks in the week window", len(chosen))
    return chosen


_FIELDS = [f.name for f in fields(DarkExposure) if f.name != "product"]
_PRODUCT_FIELDS = [f.name for f in fields(Product)]


def write_dark_table(
    path: os.PathLike, darks: Sequence[DarkExposure], extra: dict[str, list] | None = None
) -> Path:
    """Write darks as CSV (one row each, product columns prefixed ``product_``), atomically."""
    columns = _FIELDS + [f"product_{f}" for f in _PRODUCT_FIELDS] + list(extra or {})
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for i, dark in enumerate(darks):
            row = dark.to_row()
            for key, values in (extra or {}).items():
                row[key] = values[i]
            writer.writerow(row)
    return Path(path)


def _opt(value: str, cast):
    return None if value in ("", "None") else cast(value)


def read_dark_table(path: os.PathLike) -> list[DarkExposure]:
    """Read a table written by :func:`write_dark_table`."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError as exc:
        raise InputFileError(f"{path} is missing; rerun the workflow to rebuild it") from exc
    darks = []
    for row in rows:
        product = Product(
            obs_id=row["product_obs_id"],
            kind=row["product_kind"],
            filename=row["product_filename"],
            uri=row["product_uri"],
            size=_opt(row["product_size"], int),
            md5=_opt(row.get("product_md5", ""), str),
        )
        darks.append(
            DarkExposure(
                rootname=row["rootname"],
                start_mjd=float(row["start_mjd"]),
                end_mjd=float(row["end_mjd"]),
                exptime=float(row["exptime"]),
                product=product,
                ccdgain=_opt(row["ccdgain"], int),
                ccdamp=_opt(row["ccdamp"], str),
                binaxis1=_opt(row["binaxis1"], int),
                binaxis2=_opt(row["binaxis2"], int),
                proposid=_opt(row["proposid"], int),
            )
        )
    return darks


def require_darks(
    darks: Sequence[Any], period: AnnealPeriod, mode: dict[str, Any], what: str = "period"
) -> None:
    """Raise a one-line error when no dark survived selection."""
    if len(darks) < 2:
        raise ArchiveError(
            f"{len(darks)} long STIS CCD dark(s) with {mode_label(mode)} in the anneal {what} "
            f"{iso(period.start_mjd)} – {iso(period.end_mjd)}; at least 2 are needed — check the period "
            "(config 'period') and the dark exposure time (darks.exptime)"
        )
