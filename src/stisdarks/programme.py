"""Programme targets: an HST proposal, or a list of dataset names, expanded to observations.

A programme lists every STIS observation it took: CCD spectra and images, but also MAMA
exposures, target acquisitions and single exposures. :func:`expand` keeps the ones the
workflow can recalibrate with a custom dark — STIS CCD, CR-split or repeated (a ``_crj``),
spectra with their ``_sx1`` — whose anneal period has enough long dark-monitor darks in
the observation's week, and lists every other one with the reason it is skipped.
``programme.csv`` (:func:`write_table`) is that list: the workflow makes one target of
each ``process`` row.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from stisdarks import defaults
from stisdarks.archive.base import AnnealPeriod, Archive, ScienceObservation
from stisdarks.atomic import atomic_path
from stisdarks.errors import ArchiveError, ConfigError, StisDarksError
from stisdarks.settings import OBS_ID_PATTERN

__all__ = [
    "PROCESS",
    "SKIP",
    "Candidate",
    "classify",
    "expand",
    "expand_to_table",
    "read_dataset_list",
    "read_table",
    "write_table",
]

log = logging.getLogger(__name__)

PROCESS = "process"
SKIP = "skip"
#: ``OBSTYPE`` → the workflow's kind of target
KINDS = {"SPECTROSCOPIC": "spectrum", "IMAGING": "image"}


@dataclass(frozen=True)
class Candidate:
    """One observation of a programme and what the workflow does with it.

    ``status`` is :data:`PROCESS` or :data:`SKIP`; ``reason`` says why a skipped one is
    skipped (empty otherwise); ``kind`` is ``spectrum`` or ``image`` (empty if neither);
    ``period`` the anneal period's label (empty when none was found); ``week_darks``
    the long dark-monitor darks in its week (``-1`` when not counted).
    """

    obs_id: str
    status: str
    reason: str
    kind: str
    start_mjd: float
    detector: str
    obstype: str
    obsmode: str
    proposal: str
    period: str = ""
    week_darks: int = -1


def read_dataset_list(path: os.PathLike) -> list[str]:
    """Dataset names from a plain list file: one per line, ``#`` comments and blank lines ignored.

    Raises
    ------
    ConfigError
        One line naming the file, the line and the bad name.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"dataset list {path} does not exist; check the targets' 'datasets' path")
    names: list[str] = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        name = line.split("#", 1)[0].strip().lower()
        if not name:
            continue
        if not OBS_ID_PATTERN.match(name):
            raise ConfigError(
                f"{path}:{number}: {name!r} is not a STIS dataset name (9 characters starting "
                "with 'o', e.g. oeik1s030); fix that line"
            )
        names.append(name)
    if not names:
        raise ConfigError(f"dataset list {path} names no dataset; add one name per line")
    return list(dict.fromkeys(names))


def classify(obs: ScienceObservation) -> tuple[str, str]:
    """``(kind, reason)``: what the observation is for the workflow and, if it cannot be
    recalibrated with a custom CCD dark, why (``reason`` empty when it can)."""
    kind = KINDS.get((obs.obstype or "").upper(), "")
    if not obs.instrument.upper().startswith("STIS"):
        return kind, f"a {obs.instrument} observation, not STIS"
    if obs.detector and obs.detector.upper() != "CCD":
        return kind, f"taken with the {obs.detector}; custom darks serve the CCD only"
    if (obs.obsmode or "").upper().startswith("ACQ"):
        return kind, f"a target acquisition (OBSMODE {obs.obsmode})"
    if str(obs.target).upper() in ("BIAS", "DARK", "WAVELINE", "CCDFLAT"):
        return kind, f"a calibration exposure ({obs.target})"
    missing = [k for k in ("raw", "flt", "crj") if k not in obs.products]
    if missing:
        if missing == ["crj"]:
            return kind, "a single exposure (no _crj: not CR-split or repeated)"
        if missing == ["flt", "crj"]:
            # what an archive without OBSMODE (MAST's) shows of a target acquisition
            return kind, "only a _raw, not calibrated by the pipeline (a target acquisition?)"
        return kind, f"the archive has no {', '.join('_' + k for k in missing)}"
    if not kind:
        return kind, "neither a spectrum nor an image (OBSTYPE not known)"
    if kind == "spectrum" and "sx1" not in obs.products:
        return kind, "a spectrum without _sx1 (not a 1-D extraction)"
    return kind, ""


def expand(
    archive: Archive,
    *,
    proposal: int | None = None,
    datasets: Sequence[str] = (),
    exptime: float = defaults.DARK_EXPTIME,
    exptime_tolerance: float = defaults.DARK_EXPTIME_TOLERANCE,
    week_days: float = defaults.WEEK_DAYS,
    min_week_darks: int = defaults.MIN_WEEK_DARKS,
    tables: Sequence[os.PathLike] = (),
    from_archive: bool = False,
) -> list[Candidate]:
    """The observations of a programme (``proposal``) or of a dataset list, classified.

    Each observation the workflow can recalibrate is checked further: its anneal period
    is found (:func:`stisdarks.periods.find_period`) and the period's long darks of the
    dark monitor's mode are listed once per period; fewer than ``min_week_darks`` in the
    observation's week (± ``week_days``, clipped to the period) skips it.
    """
    from stisdarks.periods import find_period, week_window
    from stisdarks.selection import DARK_MODE, select_by_metadata

    if (proposal is None) == (not datasets):
        raise ValueError("give either a proposal or datasets")
    if proposal is not None:
        observations: list[ScienceObservation | str] = list(archive.programme(int(proposal)))
        if not observations:
            raise ArchiveError(
                f"the {archive.name} archive lists no STIS observation of programme {proposal}; "
                "check the proposal id"
            )
    else:
        observations = []
        for name in datasets:
            try:
                observations.append(archive.describe(name))
            except ArchiveError as exc:
                log.warning("%s", exc)
                observations.append(name)
    darks_of: dict[AnnealPeriod, list] = {}
    out = []
    for obs in observations:
        if isinstance(obs, str):
            out.append(Candidate(obs, SKIP, f"not in the {archive.name} archive", "", 0.0, "", "",
                                 "", ""))  # fmt: skip
            continue
        kind, reason = classify(obs)
        period_label, n_week = "", -1
        if not reason:
            try:
                period = find_period(
                    obs.start_mjd, tables=tables, archive=archive if from_archive else None
                )
            except StisDarksError as exc:
                reason = f"no anneal period known for it ({exc})"
            else:
                period_label = period.label
                if period not in darks_of:
                    listed = archive.list_darks(
                        period.start_mjd, period.end_mjd, exptime, exptime_tolerance
                    )
                    darks_of[period] = select_by_metadata(listed, period, DARK_MODE)[0]
                lo, hi = week_window(obs.start_mjd, period, week_days)
                n_week = sum(lo <= d.start_mjd <= hi for d in darks_of[period])
                if n_week < min_week_darks:
                    reason = (
                        f"{n_week} long dark(s) in its week (± {week_days:g} days; "
                        f"min_week_darks is {min_week_darks})"
                    )
        out.append(
            Candidate(
                obs_id=obs.obs_id,
                status=SKIP if reason else PROCESS,
                reason=reason,
                kind=kind,
                start_mjd=obs.start_mjd,
                detector=obs.detector or "",
                obstype=obs.obstype or "",
                obsmode=obs.obsmode or "",
                proposal="" if obs.proposal is None else str(obs.proposal),
                period=period_label,
                week_darks=n_week,
            )  # fmt: skip
        )
        log.info(
            "%s: %s%s",
            obs.obs_id,
            "process" if not reason else "skip",
            f" ({reason})" * bool(reason),
        )
    return out


_FIELDS = [f.name for f in fields(Candidate)]


def write_table(path: os.PathLike, candidates: Sequence[Candidate]) -> Path:
    """Write ``programme.csv`` atomically (one row per observation)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=_FIELDS)
        writer.writeheader()
        writer.writerows(asdict(c) for c in candidates)
    return Path(path)


def read_table(path: os.PathLike) -> list[Candidate]:
    """Read ``programme.csv``."""
    with open(path, newline="") as fh:
        return [
            Candidate(
                **{
                    **row,
                    "start_mjd": float(row["start_mjd"]),
                    "week_darks": int(row["week_darks"]),
                }
            )  # fmt: skip
            for row in csv.DictReader(fh)
        ]


def expand_to_table(archive: Archive, *, target: dict, output: os.PathLike, **options) -> Path:
    """:func:`expand` a config ``targets`` entry (``proposal`` or ``datasets``) into ``output``.

    Raises
    ------
    StisDarksError
        When no observation of it can be processed (one line, with the reasons counted).
    """
    if "proposal" in target:
        found = expand(archive, proposal=int(target["proposal"]), **options)
        what = f"programme {target['proposal']}"
    else:
        found = expand(archive, datasets=read_dataset_list(target["datasets"]), **options)
        what = f"the datasets of {target['datasets']}"
    write_table(output, found)
    n_ok = sum(c.status == PROCESS for c in found)
    log.info("%s: %d observation(s) to process, %d skipped", what, n_ok, len(found) - n_ok)
    if not n_ok:
        reasons: dict[str, int] = {}
        for c in found:
            reasons[c.reason] = reasons.get(c.reason, 0) + 1
        listed = "; ".join(f"{n}x {r}" for r, n in reasons.items())
        raise StisDarksError(
            f"no observation of {what} can be recalibrated ({listed}); see {output}"
        )
    return Path(output)
