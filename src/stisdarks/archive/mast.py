"""The ``mast`` archive: HST/STIS data from MAST through astroquery.

Queries go through astroquery's own ``Observations`` code (column configuration, the
``Mast.Caom.Filtered`` and ``Mast.Caom.Products`` services, paging, parsing); a private
``ObservationsClass`` instance is used so that pointing it at another server (a mirror,
or the tests' local server) never touches astroquery's global object. Downloads use
MAST's ``Download/file`` endpoint directly so that they can be parallel with a bounded
number of connections, written under a temporary name, checked (size from the product
list, FITS verify), retried with exponential back-off and logged as "n/N".

Timeouts and retries
--------------------
Every request, astroquery's queries included, goes through one ``requests`` session whose
adapters give each request a socket-level timeout of ``timeout`` seconds (connecting, and
each wait for data), so a server that accepts a connection and never answers fails after
``timeout`` seconds instead of hanging (astroquery's own ``TIMEOUT`` is checked only after
a reply arrives). Queries and downloads are attempted up to ``retries`` times: timeouts,
connection errors, truncated or corrupt files, HTTP 5xx, 408 and 429 are retried after an
exponential back-off (or after the server's ``Retry-After`` on 429/503, capped at
``max_retry_after`` seconds); other HTTP 4xx (404, 401, 403, ...) are permanent and fail
at once with one line naming the URL's server.

Anneal periods from the archive
-------------------------------
:meth:`MastArchive.anneal_periods` queries the STIS/CCD exposures of the CCD hot-pixel
annealing programmes (``obs_title`` matching ``*anneal*``: biases and darks taken before
and after each anneal) and hands their start/end times to
:func:`stisdarks.periods.periods_from_anneal_exposures`: a period runs from the first
post-anneal exposure of one anneal to the last pre-anneal exposure of the next (the
rule is documented there). :meth:`MastArchive.list_darks` returns dark-monitor darks only:
the anneal programmes' own darks are left out. Limits: the periods are only as good as
the programme's schedule (an anneal without exposures merges two periods), so the
package table and the ``period`` config key take precedence.
"""

from __future__ import annotations

import email.utils
import logging
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

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
from stisdarks.periods import is_anneal_programme, periods_from_anneal_exposures

__all__ = ["MastArchive"]

log = logging.getLogger(__name__)

DEFAULT_SERVER = "https://mast.stsci.edu"
_CHUNK = 1 << 20
#: HTTP statuses worth another attempt (besides every 5xx)
_TRANSIENT_4XX = (408, 429)

T = TypeVar("T")


class _TimeoutAdapter(HTTPAdapter):
    """An adapter that gives every request without an explicit timeout ``timeout`` seconds."""

    def __init__(self, timeout: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.timeout = timeout

    def send(self, request, **kwargs):  # noqa: ANN001, ANN201 - requests' signature
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


class _HTTPStatus(ArchiveError):
    """A non-200 reply to a download: its status and the server's ``Retry-After`` (s)."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status} from MAST")
        self.status = status
        self.retry_after = retry_after


def _retry_after(headers) -> float | None:  # noqa: ANN001 - a requests CaseInsensitiveDict
    """Seconds asked by a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _classify(exc: BaseException) -> tuple[bool, int | None, float | None]:
    """``(transient, http_status, retry_after)`` of a failed request."""
    status, retry_after = None, None
    if isinstance(exc, _HTTPStatus):
        status, retry_after = exc.status, exc.retry_after
    elif isinstance(exc, requests.HTTPError) and exc.response is not None:
        status, retry_after = exc.response.status_code, _retry_after(exc.response.headers)
    if status is not None:
        transient = status >= 500 or status in _TRANSIENT_4XX
        if status not in (429, 503):
            retry_after = None
        return transient, status, retry_after
    # timeouts, refused/dropped connections, truncated or corrupt files
    transient = isinstance(exc, (requests.ConnectionError, requests.Timeout,
                                 requests.exceptions.ChunkedEncodingError, OSError, InputFileError))  # fmt: skip
    return transient, None, None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, requests.Timeout) or "timed out" in str(exc).lower():
        return "no answer within archive.timeout"
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 200 else text[:197] + "..."


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
        Attempts per query or download (transient failures only).
    backoff : float
        First back-off delay (s), doubled after each failed attempt.
    max_retry_after : float
        Longest wait (s) granted to a server's ``Retry-After``.
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
        max_retry_after: float = 120.0,
    ) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from astroquery.mast import conf
            from astroquery.mast.observations import ObservationsClass

        self.server = (server or conf.server or DEFAULT_SERVER).rstrip("/")
        self.timeout = float(timeout)
        self.max_workers = max(1, int(max_workers))
        self.retries = max(1, int(retries))
        self.backoff = float(backoff)
        self.max_retry_after = float(max_retry_after)
        self._obs = ObservationsClass()
        portal = self._obs._portal_api_connection
        portal._column_configs = {}  # astroquery shares one per process; it belongs to a server
        portal.MAST_REQUEST_URL = self.server + "/api/v0/invoke"
        portal.COLUMNS_CONFIG_URL = self.server + "/portal/Mashup/Mashup.asmx/columnsconfig"
        portal.MAST_DOWNLOAD_URL = self.server + "/api/v0.1/Download/file"
        portal.TIMEOUT = self.timeout
        self.download_url = portal.MAST_DOWNLOAD_URL
        self._session = portal._session  # astroquery's session, used for queries and downloads
        adapter = _TimeoutAdapter(self.timeout, pool_maxsize=max(10, self.max_workers))
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    # ---------------------------------------------------------------- retries
    def _retrying(self, what: str, call: Callable[[], T], permanent_fix: str) -> T:
        """``call()``, attempted up to ``retries`` times while it fails transiently.

        Raises
        ------
        ArchiveError
            One line: after the first permanent failure (HTTP 4xx but 408/429, or any other
            error that is not a timeout, connection or file problem), or after the last attempt.
        """
        delay = self.backoff
        for attempt in range(1, self.retries + 1):
            try:
                return call()
            except Exception as exc:
                transient, status, retry_after = _classify(exc)
                reason = f"HTTP {status}" if status is not None else _describe(exc)
                if reason.endswith("archive.timeout"):
                    reason += f" = {self.timeout:g} s"
                if not transient:
                    raise ArchiveError(
                        f"{what} failed ({reason} from {self.server}); {permanent_fix}"
                    ) from exc
                if attempt == self.retries:
                    raise ArchiveError(
                        f"{what} failed after {self.retries} attempt{'s' if self.retries > 1 else ''} ({reason}); "
                        "check the network and archive.server, or retry later"
                    ) from exc
                wait = delay if retry_after is None else min(retry_after, self.max_retry_after)
                log.warning("%s: attempt %d/%d failed (%s); retrying in %.1f s", what, attempt, self.retries,
                            reason, wait)  # fmt: skip
                time.sleep(wait)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    # ---------------------------------------------------------------- queries
    def _query(self, **criteria):
        def call():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return self._obs.query_criteria(**criteria)

        return self._retrying("MAST query", call, "check archive.server (it must be a MAST portal)")

    def _products(self, observations):
        def call():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return self._obs.get_product_list(observations)

        return self._retrying(
            "MAST product list", call, "check archive.server (it must be a MAST portal)"
        )

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

    def describe(self, obs_id: str) -> ScienceObservation:
        obs_id = obs_id.lower()
        table = self._query(obs_collection="HST", obs_id=[obs_id, obs_id.upper()])
        if len(table) == 0:
            raise ArchiveError(
                f"observation {obs_id} was not found in MAST; check the dataset name (e.g. oeik1s030)"
            )
        return self._observations(table)[0]

    def programme(self, proposal: int) -> list[ScienceObservation]:
        table = self._query(
            obs_collection="HST", proposal_id=[str(int(proposal))], instrument_name="STIS*"
        )
        if len(table):
            table = table[[str(t).upper() != "DARK" for t in table["target_name"]]]
        found = self._observations(table) if len(table) else []
        log.info("MAST: programme %s has %d STIS observations", proposal, len(found))
        return sorted(found, key=lambda o: o.start_mjd)

    def _observations(self, rows) -> list[ScienceObservation]:
        """ScienceObservations of CAOM rows, with their products (one product query)."""
        products: dict[str, dict[str, Product]] = {}
        for prow in self._products(rows):
            if str(prow["productFilename"]).lower().endswith(".fits"):
                product = self._product(prow)
                if product.kind in SCIENCE_KINDS:
                    products.setdefault(product.obs_id, {})[product.kind] = product
        found = []
        for row in rows:
            obs_id = str(row["obs_id"]).lower()
            instrument = str(row["instrument_name"])
            detector = instrument.split("/", 1)[1] if "/" in instrument else None
            kind = (
                str(row["dataproduct_type"]).lower() if "dataproduct_type" in row.colnames else ""
            )
            proposal = str(row["proposal_id"]) if "proposal_id" in row.colnames else ""
            mine = products.get(obs_id, {})
            log.info("MAST: %s is %s, products %s", obs_id, instrument, ", ".join(sorted(mine)))
            found.append(
                ScienceObservation(
                    obs_id=obs_id,
                    instrument="STIS" if instrument.upper().startswith("STIS") else instrument,
                    detector=detector,
                    start_mjd=float(row["t_min"]),
                    end_mjd=float(row["t_max"]),
                    exptime=float(row["t_exptime"]),
                    target=str(row["target_name"]),
                    products=mine,
                    obstype={"spectrum": "SPECTROSCOPIC", "image": "IMAGING"}.get(kind),
                    proposal=int(proposal) if proposal.isdigit() else None,
                )
            )
        return found

    def list_darks(
        self,
        start_mjd: float,
        end_mjd: float,
        exptime: float = defaults.DARK_EXPTIME,
        exptime_tolerance: float = defaults.DARK_EXPTIME_TOLERANCE,
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
            if "obs_title" in row.colnames and is_anneal_programme(row["obs_title"]):
                continue  # an anneal programme's dark (maybe pre-anneal): not a dark-monitor dark
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
        """Periods between the anneals seen in the anneal programmes' CCD exposures."""
        table = self._query(obs_collection="HST", instrument_name="STIS/CCD", obs_title="*anneal*")
        exposures = [
            (float(r["t_min"]), float(r["t_max"]))
            for r in table
            if is_anneal_programme(r["obs_title"]) and str(r["t_min"]) not in ("", "--")
        ]
        periods = periods_from_anneal_exposures(exposures, "archive:mast (anneal programme)")
        log.info(
            "MAST: %d anneal-programme exposures give %d anneal periods",
            len(exposures),
            len(periods),
        )
        return periods

    # ---------------------------------------------------------------- downloads
    def download(self, product: Product, dest: str | os.PathLike) -> Path:
        dest = Path(dest)
        if self.already_downloaded(product, dest):
            return dest
        url = f"{self.download_url}?uri={quote(product.uri, safe=':/')}"

        def attempt() -> Path:
            with atomic_path(dest) as tmp:
                self._fetch(url, tmp)
                verify_fits(tmp, product.size)
            return dest

        self._retrying(
            f"download of {product.filename}",
            attempt,
            f"MAST has no {product.uri} there or refuses it: check the product and archive.server",
        )
        log.info("downloaded %s (%d bytes)", dest.name, dest.stat().st_size)
        return dest

    def _fetch(self, url: str, path: Path) -> None:
        """GET ``url`` into ``path`` (the session's adapters bound every socket wait)."""
        with self._session.get(url, stream=True, timeout=self.timeout) as resp:
            if resp.status_code != 200:
                raise _HTTPStatus(resp.status_code, _retry_after(resp.headers))
            with open(path, "wb") as fh:
                for chunk in resp.iter_content(_CHUNK):
                    fh.write(chunk)
