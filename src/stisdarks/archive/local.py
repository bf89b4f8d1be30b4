"""The ``local`` archive: a directory of STIS FITS files.

Either the synthetic demo archive (an ``index.csv`` in each of its ``science/`` and
``darks/`` directories, see :mod:`stisdarks.synthetic`), or any directory of files you
already downloaded, with an ``index.csv`` at its root or none: without an index the
primary headers are scanned once to build the same one (:func:`read_index`). Reference
files named ``oref$NAME`` are looked up in ``ROOT/oref/``, anneal periods in
``ROOT/anneal_periods.csv``.
"""

from __future__ import annotations

import csv
import difflib
import logging
import os
import shutil
from pathlib import Path

from astropy.io import fits
from astropy.time import Time

from stisdarks import defaults
from stisdarks.archive.base import (
    SCIENCE_KINDS,
    AnnealPeriod,
    Archive,
    DarkExposure,
    Product,
    ScienceObservation,
)
from stisdarks.errors import ArchiveError, InputFileError
from stisdarks.fitsio import atomic_path, verify_fits

__all__ = ["LocalArchive", "read_index"]

log = logging.getLogger(__name__)


def _opt_int(value) -> int | None:
    return None if value in (None, "", "None") else int(float(value))


def _opt_str(value) -> str | None:
    return None if value in (None, "", "None") else str(value).strip()


def read_index(root: str | os.PathLike) -> list[dict] | None:
    """The rows of a local archive's index, or ``None`` if it has none.

    ``ROOT/index.csv`` if there is one; otherwise the ``index.csv`` of each directory just
    below the root, together (the synthetic archive writes one per half, ``science/`` and
    ``darks/``, each by its own job). Each row's ``path`` is relative to the root.
    """
    root = Path(root)
    indexes = (
        [root / "index.csv"] if (root / "index.csv").is_file() else sorted(root.glob("*/index.csv"))
    )
    if not indexes:
        return None
    rows: list[dict] = []
    for index in indexes:
        with open(index, newline="") as fh:
            rows.extend(csv.DictReader(fh))
    return rows


class LocalArchive(Archive):
    """Archive over a directory.

    Parameters
    ----------
    root : path-like
        The directory.
    """

    name = "local"

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        if not self.root.is_dir():
            raise ArchiveError(
                f"local archive {self.root} does not exist; set archive.root or enable archive.demo.generate"
            )
        self._rows = self._read_index()

    # ---------------------------------------------------------------- index
    def _read_index(self) -> list[dict]:
        indexed = read_index(self.root)
        if indexed is not None:
            return indexed
        rows = [row for path in sorted(self.root.rglob("*.fits")) if (row := self._scan(path))]
        log.info("indexed %d FITS files under %s from their headers", len(rows), self.root)
        return rows

    def _scan(self, path: Path) -> dict | None:
        stem = path.stem
        if "_" not in stem or stem.startswith(".") or path.parent.name == "oref":
            return None  # not a product name, a partial write (.tmp-*), or a reference file
        root, kind = stem.rsplit("_", 1)
        try:
            hdr = fits.getheader(path, 0)
            sci = fits.getheader(path, 1) if kind != "sx1" else hdr
        except Exception as exc:  # astropy raises many types for damaged files
            log.warning("skipped unreadable %s (%s)", path, exc)
            return None
        start = float(hdr.get("TEXPSTRT", sci.get("EXPSTART", 0.0)))
        exptime = float(hdr.get("TEXPTIME", sci.get("EXPTIME", 0.0)))
        return {
            "obs_id": str(hdr.get("ROOTNAME", root)).strip().lower(),
            "kind": kind.lower(),
            "filename": path.name,
            "path": str(path.relative_to(self.root)),
            "instrument": str(hdr.get("INSTRUME", "")).strip(),
            "detector": str(hdr.get("DETECTOR", "")).strip(),
            "target": str(hdr.get("TARGNAME", "")).strip(),
            "start_mjd": start,
            "end_mjd": float(hdr.get("TEXPEND", start + exptime / 86400.0)),
            "exptime": exptime,
            "ccdgain": hdr.get("CCDGAIN", ""),
            "ccdamp": str(hdr.get("CCDAMP", "")).strip(),
            "binaxis1": hdr.get("BINAXIS1", ""),
            "binaxis2": hdr.get("BINAXIS2", ""),
            "proposid": hdr.get("PROPOSID", ""),
            "size": path.stat().st_size,
            "obstype": str(hdr.get("OBSTYPE", "")).strip(),
            "obsmode": str(hdr.get("OBSMODE", "")).strip(),
        }

    def _product(self, row: dict) -> Product:
        return Product(
            obs_id=row["obs_id"],
            kind=row["kind"],
            filename=row["filename"],
            uri=str(self.root / row["path"]),
            size=_opt_int(row.get("size")),
            md5=_opt_str(row.get("md5")),
        )

    # ---------------------------------------------------------------- queries
    def describe(self, obs_id: str) -> ScienceObservation:
        obs_id = obs_id.lower()
        rows = [r for r in self._rows if r["obs_id"] == obs_id]
        if not rows:
            known = sorted({r["obs_id"] for r in self._rows if r["target"] != "DARK"})
            near = difflib.get_close_matches(obs_id, known, n=3)
            hint = (
                f" (did you mean {', '.join(near)}?)"
                if near
                else f" (it holds {', '.join(known[:5]) or 'none'})"
            )
            raise ArchiveError(
                f"observation {obs_id} is not in the local archive {self.root}{hint}"
            )
        return self._observation(obs_id, rows)

    def _observation(self, obs_id: str, rows: list[dict]) -> ScienceObservation:
        products = {r["kind"]: self._product(r) for r in rows if r["kind"] in SCIENCE_KINDS}
        main = next((r for r in rows if r["kind"] == "raw"), rows[0])
        return ScienceObservation(
            obs_id=obs_id,
            instrument=main["instrument"],
            detector=main["detector"] or None,
            start_mjd=float(main["start_mjd"]),
            end_mjd=float(main["end_mjd"]),
            exptime=float(main["exptime"]),
            target=main["target"],
            products=products,
            obstype=_opt_str(main.get("obstype")),
            obsmode=_opt_str(main.get("obsmode")),
            proposal=_opt_int(main.get("proposid")),
        )

    def programme(self, proposal: int) -> list[ScienceObservation]:
        by_obs: dict[str, list[dict]] = {}
        for r in self._rows:
            if r["target"] != "DARK" and _opt_int(r.get("proposid")) == int(proposal):
                by_obs.setdefault(r["obs_id"], []).append(r)
        found = [self._observation(obs_id, rows) for obs_id, rows in by_obs.items()]
        return sorted(found, key=lambda o: o.start_mjd)

    def list_darks(
        self,
        start_mjd: float,
        end_mjd: float,
        exptime: float = defaults.DARK_EXPTIME,
        exptime_tolerance: float = defaults.DARK_EXPTIME_TOLERANCE,
    ) -> list[DarkExposure]:
        darks = []
        for r in self._rows:
            if (
                r["target"] != "DARK"
                or r["kind"] != "flt"
                or r["instrument"] != "STIS"
                or r["detector"] != "CCD"
            ):
                continue
            t0 = float(r["start_mjd"])
            if (
                not (start_mjd <= t0 < end_mjd)
                or abs(float(r["exptime"]) - exptime) > exptime_tolerance
            ):
                continue
            darks.append(
                DarkExposure(
                    rootname=r["obs_id"],
                    start_mjd=t0,
                    end_mjd=float(r["end_mjd"]),
                    exptime=float(r["exptime"]),
                    product=self._product(r),
                    ccdgain=_opt_int(r.get("ccdgain")),
                    ccdamp=_opt_str(r.get("ccdamp")),
                    binaxis1=_opt_int(r.get("binaxis1")),
                    binaxis2=_opt_int(r.get("binaxis2")),
                    proposid=_opt_int(r.get("proposid")),
                )
            )
        return sorted(darks, key=lambda d: d.start_mjd)

    def anneal_periods(self) -> list[AnnealPeriod]:
        table = self.root / "anneal_periods.csv"
        if not table.is_file():
            return []
        with open(table, newline="") as fh:
            return [
                AnnealPeriod(
                    float(Time(row["start"], scale="utc").mjd),
                    float(Time(row["end"], scale="utc").mjd),
                    f"archive:local ({row.get('source', '').strip() or table.name})",
                )
                for row in csv.DictReader(fh)
            ]

    @property
    def oref_dir(self) -> Path | None:
        """``ROOT/oref`` if the archive carries reference files."""
        d = self.root / "oref"
        return d if d.is_dir() else None

    def reference_path(self, name: str) -> Path | None:
        """Resolve ``oref$NAME`` to ``ROOT/oref/NAME`` (``None`` if absent)."""
        base = name.split("$", 1)[-1]
        path = self.root / "oref" / base
        return path if path.is_file() else None

    # ---------------------------------------------------------------- download
    def download(self, product: Product, dest: str | os.PathLike) -> Path:
        dest = Path(dest)
        source = Path(product.uri)
        if self.already_downloaded(product, dest):
            return dest
        try:
            verify_fits(source, product.size)
        except InputFileError as exc:
            raise InputFileError(f"the local archive's copy is bad: {exc}") from exc
        with atomic_path(dest) as tmp:
            shutil.copyfile(source, tmp)
            verify_fits(tmp, product.size)
        log.info("copied %s (%d bytes)", dest.name, dest.stat().st_size)
        return dest
