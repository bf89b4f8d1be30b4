"""Facts about the science observation, read from its downloaded products.

``results/{obs}/science.json`` is what every later stage needs to know about the
observation: when it was taken, its CCD readout (gain, amplifier, binning; the darks
that serve it are always the dark monitor's unbinned gain-1 ones), the noise parameters
and which pipeline dark calibrated it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from astropy.io import fits
from astropy.time import Time

from stisdarks.errors import InputFileError, StisDarksError
from stisdarks.fitsio import atomic_path, count_imsets
from stisdarks.settings import OBS_ID_PATTERN, check_obs_id

__all__ = [
    "OBS_ID_PATTERN",
    "check_obs_id",
    "raw_facts",
    "science_facts",
    "write_json",
    "read_json",
]

log = logging.getLogger(__name__)


def _first_sci_header(hdul: fits.HDUList) -> fits.Header:
    for hdu in hdul[1:]:
        if hdu.header.get("EXTNAME", "").upper() == "SCI":
            return hdu.header
    raise InputFileError(f"{hdul.filename()} has no SCI extension; it is not a STIS image product")


def raw_facts(raw: os.PathLike) -> dict[str, Any]:
    """What the ``_raw`` alone tells: the observation, its timing, its CCD readout, and
    whether stis_cti can correct it for CTI (``cti_refusal``: :func:`stisdarks.cti.cti_refusal`).

    The part of :func:`science_facts` that needs no calibrated product (``ATODGAIN`` and
    ``READNSE`` of a ``_raw`` are 0 until calstis fills them in from the CCDTAB).

    Raises
    ------
    StisDarksError
        If the observation is not a STIS CCD observation.
    """
    from stisdarks.cti import cti_refusal

    with fits.open(raw) as hraw:
        p = hraw[0].header
        sci = _first_sci_header(hraw)
        nimsets = count_imsets(hraw)
        instrument = str(p.get("INSTRUME", "")).strip()
        detector = str(p.get("DETECTOR", "")).strip()
        obs_id = str(p.get("ROOTNAME", Path(raw).name.split("_")[0])).strip().lower()
        if instrument != "STIS":
            raise StisDarksError(
                f"{obs_id} is a {instrument or 'non-STIS'} observation; this workflow builds STIS CCD darks only"
            )
        if detector != "CCD":
            raise StisDarksError(
                f"{obs_id} uses the STIS {detector or 'unknown'} detector; only STIS CCD observations are "
                "supported (MAMA detectors have no CCD darks)"
            )
        start = float(p.get("TEXPSTRT", sci.get("EXPSTART")))
        end = float(p.get("TEXPEND", sci.get("EXPEND", start)))
        facts: dict[str, Any] = {
            "obs_id": obs_id,
            "instrument": instrument,
            "detector": detector,
            "obstype": str(p.get("OBSTYPE", "")).strip(),
            "opt_elem": str(p.get("OPT_ELEM", "")).strip(),
            "aperture": str(p.get("APERTURE", "")).strip(),
            "targname": str(p.get("TARGNAME", "")).strip(),
            "start_mjd": start,
            "start_iso": Time(start, format="mjd", scale="utc").iso,
            "end_mjd": end,
            "texptime": float(p.get("TEXPTIME", sci.get("EXPTIME", 0.0))),
            "crsplit": int(p.get("CRSPLIT", nimsets)),
            "nimsets": nimsets,
            "ccdgain": int(p.get("CCDGAIN", 1)),
            "ccdamp": str(p.get("CCDAMP", "")).strip(),
            "ccdoffst": int(p.get("CCDOFFST", 3)),
            "binaxis1": int(p.get("BINAXIS1", 1)),
            "binaxis2": int(p.get("BINAXIS2", 1)),
            "ccdtab": str(p.get("CCDTAB", "")).strip(),
            "crrejtab": str(p.get("CRREJTAB", "")).strip(),
            "biasfile": str(p.get("BIASFILE", "")).strip(),
            "pfltfile": str(p.get("PFLTFILE", "")).strip(),
            # why stis_cti cannot correct this observation for CTI (None: it can)
            "cti_refusal": cti_refusal(p, sci),
        }
    return facts


def science_facts(raw: os.PathLike, *calibrated: os.PathLike) -> dict[str, Any]:
    """Collect what later stages need from the science products.

    Parameters
    ----------
    raw : path-like
        The downloaded ``_raw`` (read only).
    *calibrated : path-like
        Pipeline products calibrated with the pipeline dark (the workflow passes the
        ``_flt`` and ``_crj``; an ``_sx1`` serves too): ``DARKFILE``, ``ATODGAIN`` and
        ``READNSE`` come from the first, as calstis wrote them (a ``_raw`` carries 0).

    Returns
    -------
    dict
        JSON-ready facts: ``obs_id``, ``instrument``, ``detector``, ``obstype`` (the
        header's ``OBSTYPE``: ``SPECTROSCOPIC`` or ``IMAGING``, which decides the rules
        for the target — extraction or not),
        ``opt_elem``, ``aperture``, ``targname``, ``start_mjd``/``start_iso`` (first
        exposure start), ``end_mjd``, ``texptime``, ``crsplit``, ``nimsets``, ``ccdgain``,
        ``ccdamp``, ``ccdoffst``, ``binaxis1``, ``binaxis2``, ``atodgain``, ``readnse``,
        ``darkfile`` (the pipeline dark that calibrated the ``_flt``/``_crj``),
        ``biasfile``, ``pfltfile``, ``crrejtab``, ``ccdtab``, ``cti_refusal`` (why
        stis_cti cannot correct it for CTI, or None: :func:`stisdarks.cti.cti_refusal`).

    Raises
    ------
    StisDarksError
        If the observation is not a STIS CCD observation.
    """
    facts = raw_facts(raw)
    if not calibrated:
        raise TypeError("science_facts needs at least one calibrated product (_flt, _crj or _sx1)")
    for path in calibrated:
        with fits.open(path) as h:
            hp = h[0].header
            facts.setdefault("darkfile", str(hp.get("DARKFILE", "")).strip())
            facts.setdefault(
                "atodgain", float(hp.get("ATODGAIN", _first_sci_header(h).get("ATODGAIN", 1.0)))
            )
            facts.setdefault(
                "readnse", float(hp.get("READNSE", _first_sci_header(h).get("READNSE", 0.0)))
            )
            if str(hp.get("DARKCORR", "COMPLETE")).strip() != "COMPLETE":
                raise StisDarksError(
                    f"{Path(path).name} was not dark-corrected by the pipeline (DARKCORR="
                    f"{hp.get('DARKCORR')}); download the calibrated products again"
                )
    if not facts["darkfile"] or facts["darkfile"].upper() == "N/A":
        raise StisDarksError(
            f"{Path(calibrated[0]).name} names no DARKFILE; the pipeline dark is needed for the comparison — "
            "use the archive's calibrated _flt"
        )
    log.info(
        "%s: STIS CCD %s %s %s, start %s, gain %d amp %s bin %dx%d, pipeline dark %s",
        facts["obs_id"],
        (facts["obstype"] or "unknown OBSTYPE").lower(),
        facts["opt_elem"],
        facts["aperture"],
        facts["start_iso"],
        facts["ccdgain"],
        facts["ccdamp"],
        facts["binaxis1"],
        facts["binaxis2"],
        facts["darkfile"],
    )
    return facts


def write_json(path: os.PathLike, data: dict[str, Any]) -> Path:
    """Write ``data`` as indented JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return Path(path)


def read_json(path: os.PathLike) -> dict[str, Any]:
    """Read a JSON artifact, with a one-line error if it is missing or corrupt."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise InputFileError(f"{path} is missing; rerun the workflow to rebuild it") from exc
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{path} is not valid JSON ({exc}); delete it and rerun") from exc
