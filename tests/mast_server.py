"""A local HTTP server answering like MAST, so astroquery's real code runs in the tests.

It serves the three kinds of request astroquery's ``Observations`` makes (MAST.md):
the ``columnsconfig`` POST (astroquery's own recorded ``columnsconfig.json``), the
``/api/v0/invoke`` POST for ``Mast.Caom.Filtered`` and ``Mast.Caom.Products`` (JSON with
``status``, ``msg``, ``data``, ``fields`` and ``paging``, the field lists taken from
astroquery's recorded ``caom.json`` / ``products.json``), and ``Download/file`` GETs of
FITS files from a synthetic archive. Faults can be scheduled per file name, or for the
queries under the keys ``"invoke"`` and ``"columnsconfig"``, one per request:
``"<status>"`` or ``"<status>:<retry-after>"`` (that HTTP status, with a ``Retry-After``
header), ``"stall"`` (the connection is accepted and never answered), and for files
``"truncate"`` (half the bytes) and ``"drop"`` (the connection closes mid-body). Every
request is counted (``requests``: the paths; ``downloads``: per file).
Only 127.0.0.1 is used; the server stops with the fixture.
"""

from __future__ import annotations

import fnmatch
import json
import threading
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import astroquery.mast

from stisdarks.archive.local import read_index

DATA = Path(astroquery.mast.__file__).parent / "tests" / "data"
CAOM_FIELDS = json.loads((DATA / "caom.json").read_text())["fields"]
PRODUCT_FIELDS = json.loads((DATA / "products.json").read_text())["fields"]
COLUMNS_CONFIG = (DATA / "columnsconfig.json").read_bytes()


class MastState:
    """What the fake MAST knows: observations, products, files, scheduled faults, counters."""

    def __init__(self):
        self.observations: list[dict] = []
        self.products: list[dict] = []
        self.files: dict[str, Path] = {}
        self.faults: dict[str, list[str]] = defaultdict(list)
        self.downloads: Counter = Counter()
        self.requests: list[str] = []
        self.lock = threading.Lock()
        self.release = threading.Event()  # set when the server stops: stalled requests end

    def next_fault(self, key: str) -> str | None:
        """Pop the next fault scheduled for ``key`` (a file name, ``invoke`` or ``columnsconfig``)."""
        with self.lock:
            return self.faults[key].pop(0) if self.faults[key] else None

    def add_archive(self, root: Path) -> None:
        """Publish a synthetic archive (its index) as MAST observations and products."""
        rows = read_index(root)
        obsids = {}
        for row in rows:
            obs_id = row["obs_id"]
            if obs_id not in obsids:
                obsids[obs_id] = str(2000000000 + len(obsids))
                self.add_observation(
                    obs_id=obs_id, obsid=obsids[obs_id], instrument_name=f"{row['instrument']}/{row['detector']}",
                    target_name=row["target"], t_min=float(row["start_mjd"]), t_max=float(row["end_mjd"]),
                    t_exptime=float(row["exptime"]), proposal_id=row["proposid"],
                    obs_title="CCD Dark Monitor" if row["target"] == "DARK" else "Faint star spectroscopy",
                    dataproduct_type="spectrum" if row.get("obstype") == "SPECTROSCOPIC" else "image",
                )  # fmt: skip
            self.add_product(obsids[obs_id], obs_id, row["filename"], root / row["path"])

    def add_observation(self, **values) -> None:
        row = {f["name"]: None for f in CAOM_FIELDS}
        row.update(obs_collection="HST", project="HST", dataproduct_type="spectrum", calib_level=2)
        row.update(values)
        row["obs_id"] = row["obs_id"].upper()  # MAST lists HST datasets in upper case
        self.observations.append(row)

    def add_product(self, obsid: str, obs_id: str, filename: str, path: Path) -> None:
        uri = f"mast:HST/product/{filename}"
        row = {f["name"]: None for f in PRODUCT_FIELDS}
        kind = Path(filename).stem.rsplit("_", 1)[1].upper()
        row.update(
            obsID=obsid, obs_collection="HST", dataproduct_type="spectrum", obs_id=obs_id.upper(),
            description=f"DADS {kind} file", type="S", dataURI=uri, productType="SCIENCE",
            productGroupDescription="Minimum Recommended Products", productSubGroupDescription=kind,
            productFilename=filename, size=path.stat().st_size, parent_obsid=obsid, project="HST",
        )  # fmt: skip
        self.products.append(row)
        self.files[uri] = path


def _match(row: dict, entry: dict) -> bool:
    value = row.get(entry["paramName"])
    values = entry.get("values", [])
    if values and isinstance(values[0], dict):
        lo, hi = float(values[0]["min"]), float(values[0]["max"])
        return value is not None and lo <= float(value) <= hi
    text = "" if value is None else str(value)
    if entry.get("freeText"):
        pattern = entry["freeText"].replace("%", "*").lower()
        if fnmatch.fnmatch(text.lower(), pattern):
            return True
    return any(text.lower() == str(v).lower() for v in values)


def make_handler(state: MastState):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep pytest output clean
            pass

        def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _fault(self, fault: str | None) -> bool:
            """Answer with a scheduled HTTP-status or stall fault; False if there is none."""
            if fault == "stall":
                state.release.wait(60)  # accepted, never answered
                self.close_connection = True
                return True
            if fault and fault.split(":")[0].isdigit():
                status, _, after = fault.partition(":")
                body = b"scheduled fault"
                self.send_response(int(status))
                if after:
                    self.send_header("Retry-After", after)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return True
            return False

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length).decode()
            with state.lock:
                state.requests.append(self.path)
            key = self.path.rsplit("/", 1)[-1]
            if key in ("columnsconfig", "invoke") and self._fault(state.next_fault(key)):
                return None
            if self.path.endswith("/columnsconfig"):
                return self._send(200, COLUMNS_CONFIG)
            if self.path.endswith("/api/v0/invoke"):
                request = json.loads(
                    unquote(parse_qs(body)["request"][0]) if "request=" in body else body
                )
                service = request["service"]
                if service == "Mast.Caom.Filtered":
                    rows = [r for r in state.observations
                            if all(_match(r, f) for f in request["params"]["filters"])]  # fmt: skip
                    fields = CAOM_FIELDS
                elif service == "Mast.Caom.Products":
                    wanted = set(str(request["params"]["obsid"]).split(","))
                    rows = [r for r in state.products if r["obsID"] in wanted]
                    fields = PRODUCT_FIELDS
                else:
                    return self._send(
                        200, json.dumps({"status": "ERROR", "msg": f"unknown {service}"}).encode()
                    )
                payload = {
                    "status": "COMPLETE", "msg": "", "data": rows, "fields": fields,
                    "paging": {"page": 1, "pageSize": len(rows), "pagesFiltered": 1, "rows": len(rows),
                               "rowsFiltered": len(rows), "rowsTotal": len(rows)},
                }  # fmt: skip
                return self._send(200, json.dumps(payload).encode())
            return self._send(404, b"{}")

        def do_GET(self):
            url = urlparse(self.path)
            with state.lock:
                state.requests.append(url.path)
            if not url.path.endswith("/Download/file"):
                return self._send(404, b"not found", "text/plain")
            uri = parse_qs(url.query)["uri"][0]
            path = state.files.get(uri)
            if path is None:
                return self._send(404, b"no such product", "text/plain")
            name = Path(uri).name
            fault = state.next_fault(name)
            with state.lock:
                state.downloads[name] += 1
            data = path.read_bytes()
            if self._fault(fault):
                return None
            if fault == "truncate":
                return self._send(200, data[: len(data) // 2], "application/octet-stream")
            if fault == "drop":
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 3])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return None
            return self._send(200, data, "application/octet-stream")

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # a dropped connection is a scheduled fault
        pass


class MastServer:
    """Run a :class:`MastState` on 127.0.0.1 in a background thread."""

    def __init__(self, state: MastState):
        self.state = state
        self.httpd = _QuietServer(("127.0.0.1", 0), make_handler(state))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> MastServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.state.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
