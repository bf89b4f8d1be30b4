"""The ``mast`` archive: HST/STIS data from MAST through astroquery.

Queries go through astroquery's own ``Observations`` code (column configuration, the
``Mast.Caom.Filtered`` and ``Mast.Caom.Products`` services, paging, parsing); a private
``ObservationsClass`` instance is used so that pointing it at another server (a mirror,
or the tests' local server) never touches astroquery's global object. Downloads use
MAST's ``Download/file`` endpoint directly so that they can be parallel with a bounded
number of connections, written under a temporary name, checked (size from the product
list, FITS verify), retried with exponential back-off and logged as "n/N".

Anneal periods from the archive
-------------------------------
STIS CCD anneals are scheduled monthly by the CCD hot-pixel annealing calibration
programmes, whose CCD exposures (biases and darks taken right before and after each
anneal) carry proposal titles containing "Anneal". :meth:`MastArchive.anneal_periods`
queries STIS/CCD observations whose ``obs_title`` matches ``*anneal*``, groups their start
times into clusters (one cluster per anneal, gaps > 5 days between clusters) and takes
the first exposure after each cluster's start as the anneal time: consecutive anneal
times bound the periods. Limits: the periods are only as good as the monitor's
schedule (an anneal without monitor exposures merges two periods), so the package table
and the ``period`` config key take precedence.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from urllib.parse import quote

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

__all__ = ["MastArchive"]

log = logging.getLogger(__name__)

DEFAULT_SERVER = "https://mast.stsci.edu"
_CHUNK = 1 << 20


class MastArchive(Archive):
    """MAST through astroquery.

    Parameters
    ----------
    server : str, optional
        Base URL (default: astroquery's configured server, ``https://mast.stsci.edu``).
    timeout : float
        Seconds for a request or a download.
    max_workers : int
        Simultaneous downloads.
    retries : int
        Attempts per download.
    backoff : float
        First back-off delay (s), doubled after each failed attempt.
    """

    name = "mast"

    def __init__(
        self,
        *,
        server: str | None = None,
        timeout: float = 600,
        max_workers: int = 4,
        retries: int = 4,
        backoff: float = 2.0,
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from astroquery.mast import conf
            from astroquery.mast.observations import ObservationsClass

        self.server = (server or conf.server or DEFAULT_SERVER).rstrip("/")
        self.timeout = float(timeout)
        self.max_workers = max(1, int(max_workers))
        self.retries = max(1, int(retries))
        self.backoff = float(backoff)
        self._obs = ObservationsClass()
        portal = self._obs._portal_api_connection
        portal.MAST_REQUEST_URL = self.server + "/api/v0/invoke"
        portal.COLUMNS_CONFIG_URL = self.server + "/portal/Mashup/Mashup.asmx/columnsconfig"
        portal.MAST_DOWNLOAD_URL = self.server + "/api/v0.1/Download/file"
        portal.TIMEOUT = self.timeout
        self.download_url = portal.MAST_DOWNLOAD_URL
        self._session = portal._session

    # ---------------------------------------------------------------- queries
    def _query(self, **criteria):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return self._obs.query_criteria(**criteria)
        except Exception as exc:  # astroquery raises requests/remote errors of many kinds
            raise ArchiveError(
                f"MAST query failed ({type(exc).__name__}: {exc}); check the network or retry later"
            ) from exc

    def _products(self, observations):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return self._obs.get_product_list(observations)
        except Exception as exc:
            raise ArchiveError(
                f"MAST product list failed ({type(exc).__name__}: {exc}); retry later"
            ) from exc

    @staticmethod
    def _product(row) -> Product:
        filename = str(row["productFilename"])
        root, kind = Path(filename).stem.rsplit("_", 1)
        size = row["size"] if "size" in row.colnames else None
        return Product(
            obs_id=root.lower(),
            kind=kind.lower(),
            filename=filename.lower(),
            uri=str(row["dataURI"]),
            size=int(size) if size is not None and str(size) not in ("", "--") else None,
        )

    def find_science(self, obs_id: str) -> ScienceObservation:
        obs_id = obs_id.lower()
        table = self._query(obs_collection="HST", obs_id=[obs_id, obs_id.upper()])
        if len(table) == 0:
            raise ArchiveError(
                f"observation {obs_id} was not found in MAST; check the dataset name (e.g. oeik1s030)"
            )
        row = table[0]
        instrument = str(row["instrument_name"])
        if not instrument.upper().startswith("STIS"):
            raise ArchiveError(
                f"{obs_id} is a {instrument} observation; only STIS CCD observations are supported"
            )
        detector = instrument.split("/", 1)[1] if "/" in instrument else None
        if detector and detector.upper() != "CCD":
            raise ArchiveError(
                f"{obs_id} was taken with the STIS {detector}; only STIS CCD observations are supported"
            )
        products = {}
        for prow in self._products(table):
            if str(prow["productFilename"]).lower().endswith(".fits"):
                product = self._product(prow)
                if product.obs_id == obs_id and product.kind in SCIENCE_KINDS:
                    products[product.kind] = product
        log.info("MAST: %s is %s, products %s", obs_id, instrument, ", ".join(sorted(products)))
        return ScienceObservation(
            obs_id=obs_id,
            instrument="STIS",
            detector=detector,
            start_mjd=float(row["t_min"]),
            end_mjd=float(row["t_max"]),
            exptime=float(row["t_exptime"]),
            target=str(row["target_name"]),
            products=products,
        )

    def list_darks(
        self,
        start_mjd: float,
        end_mjd: float,
        exptime: float = 1100.0,
        exptime_tolerance: float = 1.0,
    ) -> list[DarkExposure]:
        table = self._query(
            obs_collection="HST",
            instrument_name="STIS/CCD",
            target_name="DARK",
            t_min=[start_mjd, end_mjd],
            t_exptime=[exptime - exptime_tolerance, exptime + exptime_tolerance],
        )
        if len(table) == 0:
            return []
        by_obs = {str(r["obs_id"]).lower(): r for r in table}
        darks = []
        for prow in self._products(table):
            if not str(prow["productFilename"]).lower().endswith("_flt.fits"):
                continue
            product = self._product(prow)
            row = by_obs.get(product.obs_id)
            if row is None or not (start_mjd <= float(row["t_min"]) < end_mjd):
                continue
            proposal = str(row["proposal_id"]) if "proposal_id" in row.colnames else ""
            darks.append(
                DarkExposure(
                    rootname=product.obs_id,
                    start_mjd=float(row["t_min"]),
                    end_mjd=float(row["t_max"]),
                    exptime=float(row["t_exptime"]),
                    product=product,
                    proposid=int(proposal) if proposal.isdigit() else None,
                )
            )
        log.info("MAST lists %d STIS CCD %g s darks in the window", len(darks), exptime)
        return sorted(darks, key=lambda d: d.start_mjd)

    def anneal_periods(self) -> list[AnnealPeriod]:
        table = self._query(obs_collection="HST", instrument_name="STIS/CCD", obs_title="*anneal*")
        times = sorted(float(t) for t in table["t_min"]) if len(table) else []
        if not times:
            return []
        anneals = [times[0]]
        for prev, cur in zip(times, times[1:], strict=False):
            if cur - prev > 5.0:
                anneals.append(cur)
        return [
            AnnealPeriod(a, b, "archive:mast (anneal monitor)")
            for a, b in zip(anneals, anneals[1:], strict=False)
        ]

    # ---------------------------------------------------------------- downloads
    def download(self, product: Product, dest: str | os.PathLike) -> Path:
        dest = Path(dest)
        if self.already_downloaded(product, dest):
            return dest
        url = f"{self.download_url}?uri={quote(product.uri, safe=':/')}"
        delay = self.backoff
        last: Exception | None = None
        for attempt in range(1, self.retries + 1):
            try:
                with atomic_path(dest) as tmp:
                    self._fetch(url, tmp)
                    verify_fits(tmp, product.size)
                log.info("downloaded %s (%d bytes)", dest.name, dest.stat().st_size)
                return dest
            except (InputFileError, OSError, ArchiveError) as exc:
                last = exc
                if attempt < self.retries:
                    log.warning("%s: attempt %d/%d failed (%s); retrying in %.1f s", dest.name, attempt,
                                self.retries, exc, delay)  # fmt: skip
                    time.sleep(delay)
                    delay *= 2
        raise ArchiveError(
            f"could not download {product.filename} after {self.retries} attempts ({last}); retry later"
        )

    def _fetch(self, url: str, path: Path) -> None:
        import requests

        try:
            with self._session.get(url, stream=True, timeout=self.timeout) as resp:
                if resp.status_code != 200:
                    raise ArchiveError(f"HTTP {resp.status_code} from MAST")
                with open(path, "wb") as fh:
                    for chunk in resp.iter_content(_CHUNK):
                        fh.write(chunk)
        except requests.RequestException as exc:
            raise ArchiveError(f"connection error: {exc}") from exc

    def download_many(
        self, products: list[Product], dest_dir: str | os.PathLike, max_workers: int | None = None
    ) -> list[Path]:
        """Parallel downloads (at most ``max_workers`` connections), progress "n/N"."""
        dest_dir = Path(dest_dir)
        total = len(products)
        done: list[Path] = []
        with ThreadPoolExecutor(max_workers=max_workers or self.max_workers) as pool:
            futures = {pool.submit(self.download, p, dest_dir / p.filename): p for p in products}
            for i, fut in enumerate(as_completed(futures), 1):
                path = fut.result()
                done.append(path)
                log.info("%d/%d %s (%d bytes)", i, total, path.name, path.stat().st_size)
        return done
