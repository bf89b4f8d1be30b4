"""CCD anneal periods: which one contains an observation, and the observation's week.

Sources, in order: an explicit ``period`` in the config; the package table
(``stisdarks/data/anneal_periods.csv``) and any user tables (CSV with ``start,end,source``
in UTC); the archive itself (:meth:`Archive.anneal_periods`). ``period.json`` records
which source decided.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from astropy.time import Time

from stisdarks.archive.base import AnnealPeriod, Archive
from stisdarks.errors import StisDarksError

__all__ = [
    "PACKAGE_TABLE",
    "load_period_table",
    "find_period",
    "week_window",
    "period_to_json",
    "iso",
]

log = logging.getLogger(__name__)

PACKAGE_TABLE = "anneal_periods.csv"


def iso(mjd: float) -> str:
    """UTC ISO string (seconds) of an MJD."""
    return Time(mjd, format="mjd", scale="utc").iso[:19]


def _mjd(value: str, what: str) -> float:
    try:
        return float(Time(str(value).strip(), scale="utc").mjd)
    except ValueError as exc:
        raise StisDarksError(
            f"{what} {value!r} is not a UTC date; write 'YYYY-MM-DD HH:MM:SS'"
        ) from exc


def _read_table(path: os.PathLike | Path, label: str) -> list[AnnealPeriod]:
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError as exc:
        raise StisDarksError(
            f"anneal-period table {path} does not exist; fix periods.tables in the config"
        ) from exc
    out = []
    for i, row in enumerate(rows, 2):
        if not row.get("start") or not row.get("end"):
            raise StisDarksError(
                f"{path} line {i} lacks start or end; columns are start,end,source"
            )
        start, end = (
            _mjd(row["start"], f"{path} line {i} start"),
            _mjd(row["end"], f"{path} line {i} end"),
        )
        if end <= start:
            raise StisDarksError(
                f"{path} line {i}: end {row['end']} is not after start {row['start']}"
            )
        out.append(AnnealPeriod(start, end, label))
    return out


def load_period_table(paths: Sequence[os.PathLike] = ()) -> list[AnnealPeriod]:
    """The package's known periods followed by those of the user ``paths``."""
    periods = []
    with resources.as_file(resources.files("stisdarks") / "data" / PACKAGE_TABLE) as pkg:
        periods += _read_table(pkg, f"table:{PACKAGE_TABLE}")
    for path in paths:
        periods += _read_table(path, f"table:{path}")
    return periods


def _containing(periods: Sequence[AnnealPeriod], mjd: float) -> AnnealPeriod | None:
    for period in periods:
        if period.contains(mjd):
            return period
    return None


def find_period(
    obs_mjd: float,
    *,
    override: dict[str, str] | None = None,
    tables: Sequence[os.PathLike] = (),
    archive: Archive | None = None,
) -> AnnealPeriod:
    """The anneal period containing ``obs_mjd``.

    Raises
    ------
    StisDarksError
        If the observation lies on an anneal boundary or in no known period; the message
        names the nearest known periods and how to add one.
    """
    if override:
        period = AnnealPeriod(
            _mjd(override["start"], "period.start"), _mjd(override["end"], "period.end"), "config"
        )
        if not period.contains(obs_mjd):
            raise StisDarksError(
                f"the configured period {override['start']} – {override['end']} does not contain the observation "
                f"at {iso(obs_mjd)}; fix 'period' in the config"
            )
        return period
    known = load_period_table(tables)
    found = _containing(known, obs_mjd)
    if found is None and archive is not None:
        from_archive = archive.anneal_periods()
        known += from_archive
        found = _containing(from_archive, obs_mjd)
    if found is not None:
        if min(obs_mjd - found.start_mjd, found.end_mjd - obs_mjd) < 1.0 / 24.0 / 60.0:
            raise StisDarksError(
                f"the observation at {iso(obs_mjd)} falls on the anneal boundary of {iso(found.start_mjd)} – "
                f"{iso(found.end_mjd)}; its darks are ambiguous — set 'period' in the config explicitly"
            )
        log.info(
            "anneal period %s – %s (%s)", iso(found.start_mjd), iso(found.end_mjd), found.source
        )
        return found
    nearest = sorted(
        known, key=lambda p: min(abs(p.start_mjd - obs_mjd), abs(p.end_mjd - obs_mjd))
    )[:2]
    near = (
        "; nearest known: " + ", ".join(f"{iso(p.start_mjd)} – {iso(p.end_mjd)}" for p in nearest)
        if nearest
        else ""
    )
    raise StisDarksError(
        f"no known anneal period contains the observation at {iso(obs_mjd)}{near}; set 'period' in the config "
        "or add a CSV (start,end,source) under periods.tables"
    )


def week_window(obs_mjd: float, period: AnnealPeriod, days: float = 3.0) -> tuple[float, float]:
    """``[obs − days, obs + days]`` clipped to the anneal period."""
    return max(period.start_mjd, obs_mjd - days), min(period.end_mjd, obs_mjd + days)


def period_to_json(period: AnnealPeriod) -> dict[str, Any]:
    """JSON-ready dict with MJD and ISO times and the deciding source."""
    return {
        "start": iso(period.start_mjd),
        "end": iso(period.end_mjd),
        "start_mjd": period.start_mjd,
        "end_mjd": period.end_mjd,
        "source": period.source,
    }
