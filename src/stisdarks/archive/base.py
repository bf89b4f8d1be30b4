"""The archive interface: what every archive (``local``, ``mast``) answers.

An archive finds a science observation and its products, lists STIS CCD darks in a
time window, knows the CCD anneal periods it can see, and downloads products to a
path. Filtering darks by gain/amplifier/binning is *not* an archive's job: it is
done once, for every archive, by :mod:`stisdarks.selection`.

Times are UTC Modified Julian Dates (float) throughout the library; JSON artifacts
carry ISO strings next to them.
"""

from __future__ import annotations

import abc
import hashlib
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from stisdarks import defaults

__all__ = [
    "SCIENCE_KINDS",
    "file_md5",
    "Product",
    "ScienceObservation",
    "DarkExposure",
    "AnnealPeriod",
    "Archive",
]

#: Products of a science observation the workflow fetches, by file-name suffix.
SCIENCE_KINDS: tuple[str, ...] = ("raw", "wav", "flt", "crj", "sx1")


def file_md5(path: str | os.PathLike) -> str:
    """MD5 hex digest of a file (read in 1 MiB blocks)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Product:
    """One downloadable file.

    Attributes
    ----------
    obs_id : str
        Lower-case rootname, e.g. ``"oeik1s030"``.
    kind : str
        Lower-case file suffix without extension: ``raw``, ``wav``, ``flt``, ``crj``, ``sx1``.
    filename : str
        ``f"{obs_id}_{kind}.fits"``.
    uri : str
        Archive-specific locator (a path for ``local``, a MAST ``dataURI`` for ``mast``).
    size : int or None
        Size in bytes as the archive lists it, used to check downloads.
    md5 : str or None
        MD5 hex digest of the file as the archive lists it (a generated demo archive's
        index does): a copy with other content is fetched again.
    """

    obs_id: str
    kind: str
    filename: str
    uri: str
    size: int | None = None
    md5: str | None = None


@dataclass(frozen=True)
class ScienceObservation:
    """A science observation as the archive describes it (before download).

    ``detector`` is ``"CCD"``, ``"FUV-MAMA"`` or ``"NUV-MAMA"`` (``None`` if the
    archive metadata does not say; the workflow then reads it from the header).
    """

    obs_id: str
    instrument: str
    detector: str | None
    start_mjd: float
    end_mjd: float
    exptime: float
    target: str
    products: dict[str, Product] = field(default_factory=dict)
    #: ``"SPECTROSCOPIC"`` or ``"IMAGING"`` (``None`` when the metadata does not say)
    obstype: str | None = None
    #: ``"ACCUM"``, ``"ACQ"``, ``"ACQ/PEAK"``, ... (``None`` when the metadata does not say)
    obsmode: str | None = None
    proposal: int | None = None


@dataclass(frozen=True)
class DarkExposure:
    """One dark exposure and its ``_flt`` product.

    Keyword attributes are ``None`` when the archive metadata lacks them (MAST does
    not list CCDAMP, for example); :mod:`stisdarks.selection` then reads them from the
    downloaded header.
    """

    rootname: str
    start_mjd: float
    end_mjd: float
    exptime: float
    product: Product
    ccdgain: int | None = None
    ccdamp: str | None = None
    binaxis1: int | None = None
    binaxis2: int | None = None
    proposid: int | None = None

    def to_row(self) -> dict:
        """Flat dict for CSV output (product fields prefixed)."""
        row = asdict(self)
        prod = row.pop("product")
        row.update({f"product_{k}": v for k, v in prod.items()})
        return row


@dataclass(frozen=True)
class AnnealPeriod:
    """A CCD anneal period: hot pixels grow from ``start_mjd`` until the anneal at ``end_mjd``."""

    start_mjd: float
    end_mjd: float
    source: str

    def contains(self, mjd: float) -> bool:
        return self.start_mjd <= mjd < self.end_mjd

    @property
    def label(self) -> str:
        """Directory-safe name, e.g. ``2021-04-07T023541`` (UTC start)."""
        from astropy.time import Time

        return Time(self.start_mjd, format="mjd", scale="utc").strftime("%Y-%m-%dT%H%M%S")


class Archive(abc.ABC):
    """Abstract archive. Implementations: :class:`stisdarks.archive.local.LocalArchive`,
    :class:`stisdarks.archive.mast.MastArchive`."""

    #: short name used in config (``archive.kind``)
    name: str = "abstract"

    @abc.abstractmethod
    def describe(self, obs_id: str) -> ScienceObservation:
        """A STIS observation as the archive lists it (any detector), with its products.

        Raises :class:`stisdarks.errors.ArchiveError` for an unknown obs id.
        """

    def find_science(self, obs_id: str) -> ScienceObservation:
        """Find a science observation and its products.

        Raises :class:`stisdarks.errors.ArchiveError` for an unknown obs id, and for a
        non-STIS or non-CCD observation when the metadata says so.
        """
        from stisdarks.errors import ArchiveError

        obs = self.describe(obs_id)
        if not obs.instrument.upper().startswith("STIS"):
            raise ArchiveError(
                f"{obs.obs_id} is a {obs.instrument} observation; only STIS CCD observations are supported"
            )
        if obs.detector and obs.detector.upper() != "CCD":
            raise ArchiveError(
                f"{obs.obs_id} was taken with the STIS {obs.detector}; only STIS CCD observations are supported"
            )
        return obs

    @abc.abstractmethod
    def programme(self, proposal: int) -> list[ScienceObservation]:
        """Every STIS science observation of HST programme ``proposal`` (any detector, any
        mode, acquisitions included), sorted by start time; empty when it has none."""

    @abc.abstractmethod
    def list_darks(
        self,
        start_mjd: float,
        end_mjd: float,
        exptime: float = defaults.DARK_EXPTIME,
        exptime_tolerance: float = defaults.DARK_EXPTIME_TOLERANCE,
    ) -> list[DarkExposure]:
        """List STIS CCD dark ``_flt`` exposures starting in ``[start_mjd, end_mjd)``
        with ``|EXPTIME - exptime| <= exptime_tolerance``, sorted by start time."""

    @abc.abstractmethod
    def anneal_periods(self) -> list[AnnealPeriod]:
        """Anneal periods this archive can establish (may be empty)."""

    @abc.abstractmethod
    def download(self, product: Product, dest: str | os.PathLike) -> Path:
        """Fetch ``product`` to ``dest`` atomically, verify it, and return ``dest``.

        A valid file already at ``dest`` is kept (not fetched again). The downloaded
        file is never modified afterwards by anyone.
        """

    @staticmethod
    def already_downloaded(product: Product, dest: Path) -> bool:
        """True if ``dest`` holds a complete copy of ``product`` (size and FITS check, and its
        MD5 where the archive lists one); a bad or different one is reported and will be
        fetched again."""
        from stisdarks.errors import InputFileError
        from stisdarks.fitsio import verify_fits

        if not dest.is_file():
            return False
        try:
            verify_fits(dest, product.size)
        except InputFileError as exc:
            logging.getLogger(__name__).warning("%s; fetching it again", exc)
            return False
        if product.md5 and file_md5(dest) != product.md5:
            logging.getLogger(__name__).warning(
                "%s differs from the archive's (MD5); fetching it again", dest.name
            )
            return False
        logging.getLogger(__name__).info("%s already present and valid", dest.name)
        return True

    def download_many(
        self, products: list[Product], dest_dir: str | os.PathLike, max_workers: int | None = None
    ) -> list[Path]:
        """Download several products into ``dest_dir``, at most ``max_workers`` at once.

        Each file is fetched as :meth:`download` fetches it (atomically, verified, kept when
        already valid), so an interrupted call loses nothing complete. Progress is logged
        as ``n/N``. The first failure is raised once the downloads under way have ended.
        Returns the paths in the order of ``products``.
        """
        from concurrent.futures import ThreadPoolExecutor, as_completed

        dest_dir = Path(dest_dir)
        dest_dir.mkdir(parents=True, exist_ok=True)
        workers = max(1, int(max_workers or getattr(self, "max_workers", 4)))
        total = len(products)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(self.download, p, dest_dir / p.filename): p for p in products}
            for i, fut in enumerate(as_completed(futures), 1):
                path = fut.result()
                logging.getLogger(__name__).info(
                    "%d/%d %s (%d bytes)", i, total, path.name, path.stat().st_size
                )
        return [dest_dir / p.filename for p in products]
