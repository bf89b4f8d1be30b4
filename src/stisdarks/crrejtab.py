"""Cosmic-ray rejection parameters: the CRREJTAB, read and row-selected as calstis does.

calstis' step 2 takes eight parameters from one row of the CRREJTAB reference table
named by the first input's ``CRREJTAB`` keyword: the row whose ``CRSPLIT`` equals the
number of image sets (capped at the table's largest) and whose ``MEANEXP`` is the
smallest upper bound of the mean exposure time. :func:`crparams_for` does the same;
the documented defaults apply only when no table can be found at all, and a warning
says so.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stisdarks.errors import InputFileError, StisDarksError

if TYPE_CHECKING:  # astropy and numpy are imported where a table is read: the workflow's
    from astropy.io import fits  # configuration check (check_overrides) stays light

__all__ = [
    "CRParams",
    "check_overrides",
    "parse_crsigmas",
    "resolve_reference",
    "read_crrejtab",
    "crparams_for",
]

log = logging.getLogger(__name__)


def parse_crsigmas(value: str | Sequence[float]) -> tuple[float, ...]:
    """Parse a CRSIGMAS string (``"5,4,3"``; separators ``, ; /`` or blank) into floats."""
    if not isinstance(value, str):
        sig = tuple(float(v) for v in value)
    else:
        tokens = [t for t in re.split(r"[,;/ ]", value.strip())]
        if any(t == "" for t in tokens):
            raise StisDarksError(f"CRSIGMAS {value!r} has an empty value; write e.g. '5,4,3'")
        try:
            sig = tuple(float(t) for t in tokens)
        except ValueError as exc:
            raise StisDarksError(
                f"CRSIGMAS {value!r} is not a list of numbers; write e.g. '5,4,3'"
            ) from exc
    if not 1 <= len(sig) <= 20:
        raise StisDarksError(f"CRSIGMAS {value!r} must hold 1 to 20 values, e.g. '5,4,3'")
    return sig


@dataclass(frozen=True)
class CRParams:
    """The eight calstis-2 parameters (and where they came from).

    Attributes
    ----------
    crsigmas : tuple of float
        Rejection threshold (sigma) of each iteration.
    crradius : float
        Radius (pixels) around a hit within which neighbours may be rejected too.
    crthresh : float
        Factor of the neighbours' spill threshold (``<= 0``: every neighbour spills).
    initgues : {"median", "minimum"}
        Initial guess of the combined rate.
    skysub : {"none", "mode"}
        Sky subtraction: ``mode`` subtracts each image set's histogram mode (DQ = 0 pixels)
        and adds their sum back to the result; calstis forces ``none`` for
        ``OBSTYPE = SPECTROSCOPIC`` when the value comes from the table.
    scalense : float
        Multiplicative noise, percent.
    badinpdq : int
        DQ bits whose pixels are excluded from the combination.
    crmask : bool
        Whether calstis would flag rejected pixels in the input DQ arrays.
    source : str
        Where the values came from (``oref$crr.fits row 3``, ``defaults``, ...).
    """

    crsigmas: tuple[float, ...] = (5.0, 4.0, 3.0)
    crradius: float = 1.5
    crthresh: float = 0.8
    initgues: str = "median"
    skysub: str = "none"
    scalense: float = 0.0
    badinpdq: int = 0
    crmask: bool = True
    source: str = "defaults"

    def __post_init__(self) -> None:
        object.__setattr__(self, "crsigmas", parse_crsigmas(self.crsigmas))
        guess = str(self.initgues).strip().lower()[:3]
        if guess not in ("med", "min"):
            raise StisDarksError(f"initgues {self.initgues!r} is neither 'median' nor 'minimum'")
        object.__setattr__(self, "initgues", "median" if guess == "med" else "minimum")
        sky = str(self.skysub).strip().lower()
        if sky not in ("none", "mode"):
            raise StisDarksError(f"skysub {self.skysub!r} is neither 'none' nor 'mode'")
        object.__setattr__(self, "skysub", sky)

    def with_overrides(self, **overrides) -> CRParams:
        """A copy with the non-``None`` ``overrides`` applied (explicit arguments win)."""
        given = {k: v for k, v in overrides.items() if v is not None and k != "source"}
        unknown = set(given) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise StisDarksError(f"unknown CR-rejection parameter(s) {sorted(unknown)}")
        if not given:
            return self
        note = ", ".join(f"{k}={v}" for k, v in sorted(given.items()))
        return dataclasses.replace(self, **given, source=f"{self.source}; overridden: {note}")

    def header_cards(self) -> dict[str, object]:
        """Primary-header keywords calstis writes for these parameters."""
        return {
            "INITGUES": self.initgues,
            "SKYSUB": self.skysub,
            "CRSIGMAS": ",".join(f"{s:g}" for s in self.crsigmas),
            "CRRADIUS": float(self.crradius),
            "CRTHRESH": float(self.crthresh),
            "SCALENSE": float(self.scalense),
            "BADINPDQ": int(self.badinpdq),
            "CRMASK": bool(self.crmask),
        }


def resolve_reference(name: str, search: Sequence[os.PathLike] = ()) -> Path | None:
    """Find a reference file named like ``oref$crr.fits`` (or a plain path).

    Looks in ``$oref``, then each directory of ``search``, then
    ``$CRDS_PATH/references/hst/oref``. Returns ``None`` if not found.
    """
    name = str(name).strip()
    if not name or name.upper() == "N/A":
        return None
    if "$" not in name:
        path = Path(name)
        return path if path.is_file() else None
    prefix, base = name.split("$", 1)
    dirs: list[Path] = []
    env = os.environ.get(prefix)
    if env:
        dirs.append(Path(env))
    dirs += [Path(d) for d in search]
    crds = os.environ.get("CRDS_PATH")
    if crds:
        dirs.append(Path(crds) / "references" / "hst" / prefix)
    for d in dirs:
        if (d / base).is_file():
            return d / base
    return None


_COLUMNS = (
    "CRSIGMAS",
    "CRRADIUS",
    "CRTHRESH",
    "INITGUES",
    "SKYSUB",
    "SCALENSE",
    "BADINPDQ",
    "CRMASK",
)


#: allowed ranges of user-given CR-rejection parameters (the CRREJTAB itself is trusted)
_RANGES = {
    "crradius": (0.0, 20.0, "a radius in pixels, e.g. 1.5"),
    "crthresh": (0.0, 10.0, "a factor between 0 and 10, e.g. 0.8"),
    "scalense": (0.0, 100.0, "a percentage between 0 and 100"),
    "badinpdq": (0, 32767, "a DQ bit mask between 0 and 32767"),
}


def check_overrides(overrides: dict | None) -> dict:
    """Validate user-given CR-rejection parameters; returns the non-``None`` ones.

    Raises
    ------
    StisDarksError
        One line naming the parameter, the bad value and what is expected.
    """
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if "crsigmas" in given:
        sig = parse_crsigmas(given["crsigmas"])
        if any(v <= 0 for v in sig):
            raise StisDarksError(
                f"crsigmas {given['crsigmas']!r} must be positive thresholds, e.g. '5,4,3'"
            )
    if "initgues" in given and str(given["initgues"]).lower()[:3] not in ("min", "med"):
        raise StisDarksError(f"initgues {given['initgues']!r} must be 'minimum' or 'median'")
    for key, (low, high, what) in _RANGES.items():
        if key in given and not low <= float(given[key]) <= high:
            raise StisDarksError(f"{key} {given[key]} is out of range: give {what}")
    return given


def read_crrejtab(path: os.PathLike, crsplit: int, meanexp: float, obstype: str = "") -> CRParams:
    """Read the row calstis would use from a CRREJTAB.

    Parameters
    ----------
    path : path-like
        The table.
    crsplit : int
        Number of image sets combined.
    meanexp : float
        Mean exposure time per image set (s).
    obstype : str
        ``SPECTROSCOPIC`` forces ``skysub = none`` as calstis does.
    """
    import numpy as np
    from astropy.io import fits

    try:
        with fits.open(path) as hdul:
            table = hdul[1].data
            names = {n.upper(): n for n in table.columns.names}
            for col in ("CRSPLIT", "MEANEXP", *_COLUMNS):
                if col not in names:
                    raise StisDarksError(
                        f"column {col} does not exist in CRREJTAB {path}; use a complete table"
                    )
            splits = np.asarray(table[names["CRSPLIT"]], dtype=int)
            meanexps = np.asarray(table[names["MEANEXP"]], dtype=float)
            want = min(int(crsplit), int(splits.max()))
            best, best_diff = None, None
            for i, (cs, me) in enumerate(zip(splits, meanexps, strict=True)):
                diff = me - meanexp
                if cs == want and diff >= 0 and (best_diff is None or diff <= best_diff):
                    best, best_diff = i, diff
            if best is None:
                raise StisDarksError(
                    f"no row of CRREJTAB {Path(path).name} matches CRSPLIT={want} and MEANEXP>={meanexp:g}; "
                    "use a table covering these exposures or give all CR parameters explicitly"
                )
            row = table[best]
            sky = str(row[names["SKYSUB"]]).strip()
            if obstype.strip().upper() == "SPECTROSCOPIC":
                sky = "none"
            return CRParams(
                crsigmas=str(row[names["CRSIGMAS"]]),
                crradius=float(row[names["CRRADIUS"]]),
                crthresh=float(row[names["CRTHRESH"]]),
                initgues=str(row[names["INITGUES"]]).strip(),
                skysub=sky,
                scalense=float(row[names["SCALENSE"]]),
                badinpdq=int(row[names["BADINPDQ"]]),
                crmask=bool(int(row[names["CRMASK"]])),
                source=f"{Path(path).name} row {best + 1}",
            )
    except StisDarksError:
        raise
    except (OSError, IndexError, KeyError, TypeError, ValueError) as exc:
        raise InputFileError(
            f"cannot read CRREJTAB {path} ({exc}); check the file or its oref$ directory"
        ) from exc


def crparams_for(
    primary_header: fits.Header,
    n_imsets: int,
    mean_exptime: float,
    overrides: dict | None = None,
    search: Sequence[os.PathLike] = (),
) -> CRParams:
    """CR parameters for a stack whose first input has ``primary_header``.

    The CRREJTAB it names is resolved (``oref`` environment variable, ``search``, the CRDS
    cache) and its row chosen as calstis does; without a table the documented defaults
    are used and a warning is logged. ``overrides`` (non-``None`` values) win.
    """
    overrides = dict(overrides or {})
    name = str(primary_header.get("CRREJTAB", "")).strip()
    path = resolve_reference(name, search) if name else None
    if path is None:
        log.warning(
            "CRREJTAB %s not found (set the 'oref' environment variable or sync CRDS); "
            "using the calstis default parameters",
            name or "(no keyword)",
        )
        params = CRParams()
    else:
        params = read_crrejtab(path, n_imsets, mean_exptime, str(primary_header.get("OBSTYPE", "")))
        log.info("CR-rejection parameters from %s", params.source)
    return params.with_overrides(**overrides)
