"""CCD anneal periods: which one contains an observation, and the observation's week.

Sources, in order: an explicit ``period`` in the config; the package table
(``stisdarks/data/anneal_periods.csv``) and any user tables (CSV with ``start,end,source``
in UTC); the archive itself (:meth:`Archive.anneal_periods`). ``period.json`` records
which source decided.

Anneal periods from an archive's anneal-programme exposures
-----------------------------------------------------------
The STIS CCD is annealed about monthly by the "CCD Hot Pixel Annealing" calibration
programmes, whose visits take biases and darks *before* the anneal, warm the CCD for
hours, and take biases and darks *after* it. :func:`periods_from_anneal_exposures` turns
the start/end times of those exposures into periods with this rule:

1. Exposures closer than :data:`ANNEAL_CLUSTER_GAP_DAYS` (5 days) to the previous one
   belong to the same anneal.
2. Within an anneal, the anneal itself is the longest pause between consecutive
   exposures, provided it lasts at least :data:`MIN_ANNEAL_GAP_HOURS` (3 h; pauses
   between orbits are about an hour). The exposures before it are pre-anneal, those
   after it post-anneal.
3. A period starts at the first post-anneal exposure of one anneal and ends at the end of
   the last pre-anneal exposure of the next one: the pre-anneal exposures, and any
   observation taken just before an anneal, belong to the period that the anneal ends.
   The anneal itself (between the two) belongs to no period.
4. An anneal whose exposures show no such pause (only one side was observed) is
   ambiguous: the period before it ends at its first exposure and the next one starts
   after its last, so an observation within its exposures is in no period (set
   ``period`` in the config) rather than in a wrong one.

Only dark-monitor darks are components of a basedark: the anneal programmes' own darks
(pre-anneal ones would carry hot pixels the anneal removed) are excluded
(:func:`is_anneal_programme` on the proposal title), as ``stis_cti`` does.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from astropy.time import Time

from stisdarks import defaults
from stisdarks.archive.base import AnnealPeriod, Archive
from stisdarks.errors import StisDarksError

__all__ = [
    "PACKAGE_TABLE",
    "ANNEAL_CLUSTER_GAP_DAYS",
    "MIN_ANNEAL_GAP_HOURS",
    "is_anneal_programme",
    "periods_from_anneal_exposures",
    "load_period_table",
    "find_period",
    "week_window",
    "PipelineWeek",
    "pipeline_weeks",
    "pipeline_week",
    "period_to_json",
    "iso",
]

log = logging.getLogger(__name__)

PACKAGE_TABLE = "anneal_periods.csv"

#: Anneal-programme exposures further apart than this (days) belong to different anneals.
ANNEAL_CLUSTER_GAP_DAYS = 5.0
#: The shortest pause (hours) inside an anneal's exposures that is taken for the anneal.
MIN_ANNEAL_GAP_HOURS = 3.0


def is_anneal_programme(title: str | None) -> bool:
    """True if a proposal title names a CCD anneal programme ("CCD Hot Pixel Annealing")."""
    return "anneal" in str(title or "").lower()


def _anneal_windows(
    exposures: Iterable[tuple[float, float]], cluster_gap_days: float, min_anneal_gap_hours: float
) -> list[tuple[float, float, bool]]:
    """``(before, after, clear)`` per anneal: the end of the last pre-anneal exposure, the start
    of the first post-anneal one, and whether the anneal was visible (else the cluster's span)."""
    ordered = sorted((float(a), float(b)) for a, b in exposures)
    clusters: list[list[tuple[float, float]]] = []
    for exp in ordered:
        if clusters and exp[0] - max(e[1] for e in clusters[-1]) <= cluster_gap_days:
            clusters[-1].append(exp)
        else:
            clusters.append([exp])
    windows = []
    for cluster in clusters:
        gaps = [
            (cluster[i + 1][0] - max(e[1] for e in cluster[: i + 1]), i)
            for i in range(len(cluster) - 1)
        ]
        longest, i = max(gaps, default=(0.0, -1))
        if longest * 24.0 >= min_anneal_gap_hours:
            before = max(e[1] for e in cluster[: i + 1])
            windows.append((before, cluster[i + 1][0], True))
        else:
            windows.append((cluster[0][0], max(e[1] for e in cluster), False))
    return windows


def periods_from_anneal_exposures(
    exposures: Iterable[tuple[float, float]],
    source: str,
    *,
    cluster_gap_days: float = ANNEAL_CLUSTER_GAP_DAYS,
    min_anneal_gap_hours: float = MIN_ANNEAL_GAP_HOURS,
) -> list[AnnealPeriod]:
    """Anneal periods bounded by the anneals seen in anneal-programme exposures.

    Parameters
    ----------
    exposures : iterable of (float, float)
        ``(start_mjd, end_mjd)`` of every exposure of the CCD anneal programmes (biases and
        darks, pre- and post-anneal), in any order.
    source : str
        Recorded as each period's ``source``.
    cluster_gap_days : float
        Exposures further apart than this belong to different anneals.
    min_anneal_gap_hours : float
        The shortest pause inside an anneal's exposures taken as the anneal itself.

    Returns
    -------
    list of AnnealPeriod
        One period between each pair of consecutive anneals, from the first post-anneal
        exposure of one to the end of the last pre-anneal exposure of the next (see the
        module docstring for the rule and for anneals seen from one side only).
    """
    windows = _anneal_windows(exposures, cluster_gap_days, min_anneal_gap_hours)
    for before, after, clear in windows:
        if not clear:
            log.warning(
                "anneal-programme exposures %s – %s show no anneal (no pause of %g h); "
                "observations between them are left out of every period",
                iso(before),
                iso(after),
                min_anneal_gap_hours,
            )
    return [
        AnnealPeriod(prev[1], nxt[0], source)
        for prev, nxt in zip(windows, windows[1:], strict=False)
        if nxt[0] > prev[1]
    ]


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


def week_window(
    obs_mjd: float, period: AnnealPeriod, days: float = defaults.WEEK_DAYS
) -> tuple[float, float]:
    """``[obs − days, obs + days]`` clipped to the anneal period."""
    return max(period.start_mjd, obs_mjd - days), min(period.end_mjd, obs_mjd + days)


@dataclass(frozen=True)
class PipelineWeek:
    """A pipeline week of an anneal period: the darks calibrated with one ``DARKFILE``.

    ``start_mjd``/``end_mjd`` is the week's window, ``[start, end)``.
    """

    darkfile: str
    start_mjd: float
    end_mjd: float


def pipeline_weeks(darks: Sequence[tuple[float, str]], period: AnnealPeriod) -> list[PipelineWeek]:
    """The period's weeks as stis_cti makes them: darks grouped by their pipeline ``DARKFILE``.

    ``darks`` are ``(start_mjd, DARKFILE)`` pairs. As stis_cti's ``populate_darkfiles``: in
    time order, each distinct (stripped) ``DARKFILE`` is a week, numbered by its first dark;
    the first week starts at the period's start, the last ends at its end, and neighbouring
    weeks meet halfway between one's last dark and the next one's first.
    """
    spans: dict[str, list[float]] = {}
    for start, darkfile in sorted(darks):
        spans.setdefault(str(darkfile).strip(), []).append(start)
    tags = list(spans)
    edges = [period.start_mjd]
    for this, following in zip(tags[:-1], tags[1:], strict=True):
        edges.append((max(spans[this]) + min(spans[following])) / 2)
    edges.append(period.end_mjd)
    return [PipelineWeek(tag, edges[i], edges[i + 1]) for i, tag in enumerate(tags)]


def pipeline_week(
    obs_mjd: float, darks: Sequence[tuple[float, str]], period: AnnealPeriod
) -> PipelineWeek:
    """The pipeline week (:func:`pipeline_weeks`) whose window holds ``obs_mjd``.

    Raises
    ------
    StisDarksError
        When the darks carry no pipeline ``DARKFILE`` or no week holds the observation.
    """
    usable = [(t, f) for t, f in darks if str(f).strip() and str(f).strip().upper() != "N/A"]
    if not usable:
        raise StisDarksError(
            "the period's darks name no pipeline DARKFILE, so they cannot be grouped into the "
            "pipeline's weeks; set darks.week: days"
        )
    for week in pipeline_weeks(usable, period):
        if week.start_mjd <= obs_mjd < week.end_mjd:
            return week
    raise StisDarksError(
        f"no pipeline week of the period holds the observation at {iso(obs_mjd)}; "
        "set darks.week: days"
    )


def period_to_json(period: AnnealPeriod) -> dict[str, Any]:
    """JSON-ready dict with MJD and ISO times and the deciding source."""
    return {
        "start": iso(period.start_mjd),
        "end": iso(period.end_mjd),
        "start_mjd": period.start_mjd,
        "end_mjd": period.end_mjd,
        "source": period.source,
    }
