"""Native cosmic-ray rejection, as calstis' step 2 (``cs2.e``) does it.

A NumPy port of the algorithm in ``docs/crreject.md`` (calstis-2), in float32 and in the
same order of operations as the C code, so that SCI and ERR agree with calstis to
rounding and DQ bit for bit. The arithmetic lives in :mod:`stisdarks.crreject_kernel`;
this module reads the image sets and runs it.

Memory stays flat whatever the number of image sets: the inputs are read a block of rows
at a time (files with ``pread`` on descriptors kept open, never memory-mapped whole; the
headers are split without astropy's ``fits.open``, see :func:`scan_fits`), in two passes.

1. ``SKYSUB = mode`` (what real CRREJTAB rows say; calstis forces ``none`` only for
   ``OBSTYPE = SPECTROSCOPIC``): each image set's sky, the mode of its DQ = 0 pixels, is
   gathered block by block (:class:`~stisdarks.crreject_kernel.SkyAccumulator`).
2. Each block of rows of the whole stack (about ``_BLOCK_BYTES``, whatever the number of
   image sets), with a halo of ``iterations × CRRADIUS`` rows above and below (the spill
   reaches across rows), is combined: initial guess, the iterations, the output rows. The
   sky is subtracted before the rejection and ``Σ sky`` added back to SCI, exactly as
   ``cs2.e``.

Image sets (pass 1) and blocks (pass 2) are shared among ``threads`` worker processes,
forked (Linux only: there a fork costs milliseconds and the workers inherit the inputs;
elsewhere, or with one worker, everything runs in the calling process). Threads would not
do: the passes are streams of NumPy calls on a few hundred kB each, and a second thread
waits for the GIL between them more than it computes (measured on 2 cores: two threads
were no faster than one). The result depends neither on the number of workers nor on the
block size.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import multiprocessing
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from astropy.io import fits

from stisdarks import __version__
from stisdarks.crreject_kernel import (
    CR_FLAG,
    NeedsRowsAbove,
    Plan,
    SkyAccumulator,
    Workspace,
    disk_offsets,
    fold_minimum,
    histogram_mode,
    median_rates,
    reject_block,
    sky_histogram,
)
from stisdarks.crrejtab import CRParams, crparams_for
from stisdarks.errors import InputFileError, StisDarksError
from stisdarks.fitsio import atomic_path, constant_extension, ext_data

__all__ = [
    "CRResult",
    "ImsetRows",
    "RowSource",
    "ArrayRows",
    "FitsRows",
    "FileHandles",
    "ConstantRows",
    "ScaledRows",
    "crreject_stack",
    "crreject_rows",
    "crreject_files",
    "scan_fits",
    "scan_imsets",
    "histogram_mode",
    "sky_mode",
    "CR_FLAG",
]

log = logging.getLogger(__name__)

_F32 = np.float32
#: bytes of one block of the stack (the rates and DQ of every image set)
_BLOCK_BYTES = 24 * 1024**2
#: at most this many output rows per block (a few stacks' worth of work planes)
_MAX_BLOCK_ROWS = 128
#: worker processes only for stacks of at least this many pixels (smaller ones take less
#: time than starting them)
_PARALLEL_PIXELS = 4 * 1024**2
#: rows per read in the sky pass (when ``block_rows`` is not given)
_SKY_ROWS = 128


@dataclass
class CRResult:
    """Output of :func:`crreject_stack`.

    Attributes
    ----------
    sci : ndarray, float32
        Combined counts over the total exposure (``ave · texpt + skysum``).
    err : ndarray, float32
        Its error from the noise model.
    dq : ndarray, int16
        OR of the inputs' DQ (CR bit cleared), CR bit where every image set was rejected.
    masks : ndarray of bool or None
        ``(N, ny, nx)`` rejected (hit or spill) per image set, if requested.
    n_rejected : ndarray of int
        Rejected pixels per image set in the last iteration.
    texptime : float
        Total exposure ``Σ EXPTIME`` (0 if every EXPTIME is 0).
    sky : ndarray, float32
        Sky level (DN) of each image set (zeros with ``skysub = none``).
    skysum : float
        ``Σ sky`` in float32, added back to SCI (calstis' ``SKYSUM`` keyword).
    """

    sci: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    masks: np.ndarray | None
    n_rejected: np.ndarray
    texptime: float
    sky: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=_F32))
    skysum: float = 0.0


# ---------------------------------------------------------------------------------------
# rows of the inputs


class RowSource(Protocol):
    """A 2-D image read a block of rows at a time."""

    @property
    def shape(self) -> tuple[int, int]: ...

    @property
    def dtype(self) -> np.dtype: ...

    def read(self, r0: int, r1: int, out: np.ndarray) -> None:
        """Fill ``out`` (``(r1 − r0, nx)``, any numeric dtype) with rows ``r0..r1-1``."""


@dataclass(frozen=True)
class ArrayRows:
    """Rows of an array in memory, a memory map, or anything sliceable by rows."""

    data: Any
    dtype: np.dtype

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.data.shape)

    def read(self, r0: int, r1: int, out: np.ndarray) -> None:
        out[...] = self.data[r0:r1]


@dataclass(frozen=True)
class ConstantRows:
    """A header-only constant data unit (``PIXVALUE``), as :func:`stisdarks.fitsio.ext_data`."""

    value: float
    shape: tuple[int, int]
    dtype: np.dtype

    def read(self, r0: int, r1: int, out: np.ndarray) -> None:
        out[...] = np.full((), self.value, dtype=self.dtype)


@dataclass(frozen=True)
class FitsRows:
    """Rows of an unscaled 2-D FITS data unit, read from the file (no memory map).

    Attributes
    ----------
    path : Path
        The file.
    offset : int
        Byte offset of the data unit.
    shape : tuple of int
        ``(NAXIS2, NAXIS1)``.
    disk : dtype
        The stored (big-endian) type.
    dtype : dtype
        The type the rows are read as (cast from ``disk`` if different).
    files : FileHandles, optional
        Descriptors shared by the image sets of one scan (else the file is opened for
        each read).
    """

    path: Path
    offset: int
    shape: tuple[int, int]
    disk: np.dtype
    dtype: np.dtype
    files: FileHandles | None = None

    def stored(self, r0: int, r1: int) -> np.ndarray:
        """Rows ``r0..r1-1`` as stored (``disk`` type), in this thread's read buffer (valid
        until its next read)."""
        nx = self.shape[1]
        buf = _read_buffer((r1 - r0) * nx * self.disk.itemsize)
        start = self.offset + r0 * nx * self.disk.itemsize
        if self.files is not None:
            got = os.preadv(self.files.fd(self.path), [buf], start)
        else:
            with open(self.path, "rb", buffering=0) as fh:
                fh.seek(start)
                got = fh.readinto(memoryview(buf))
        if got != buf.size:
            raise InputFileError(
                f"{self.path.name} is truncated (its data end before row {r1}); download it again"
            )
        return buf.view(self.disk).reshape(r1 - r0, nx)

    def read(self, r0: int, r1: int, out: np.ndarray) -> None:
        rows = self.stored(r0, r1)
        if self.dtype != self.disk.newbyteorder("="):
            rows = rows.astype(self.dtype)
        np.copyto(out, rows, casting="unsafe")  # swaps the bytes as it copies


class FileHandles:
    """Read-only descriptors of a set of files, opened on first use, closed with this object.

    Reading a block with ``pread`` on an open descriptor costs a fraction of opening the
    file for it; ``pread`` keeps no file position, so threads may share the descriptors.
    """

    def __init__(self) -> None:
        self._fds: dict[Path, int] = {}
        self._lock = threading.Lock()
        self._closer = weakref.finalize(self, _close_all, self._fds)

    def fd(self, path: Path) -> int:
        """The descriptor of ``path``."""
        fd = self._fds.get(path)
        if fd is None:
            with self._lock:
                fd = self._fds.get(path)
                if fd is None:
                    fd = self._fds[path] = os.open(path, os.O_RDONLY)
        return fd

    def close(self) -> None:
        """Close every descriptor now (they are closed anyway with this object)."""
        self._closer()


def _close_all(fds: dict[Path, int]) -> None:
    for fd in fds.values():
        os.close(fd)
    fds.clear()


_THREAD = threading.local()


def _read_buffer(nbytes: int) -> np.ndarray:
    """This thread's buffer for raw reads (``nbytes`` bytes of it)."""
    buf = getattr(_THREAD, "read_buffer", None)
    if buf is None or buf.size < nbytes:
        buf = _THREAD.read_buffer = np.empty(nbytes, dtype=np.uint8)
    return buf[:nbytes]


@dataclass(frozen=True)
class ScaledRows:
    """Rows of ``inner`` times ``factor``, computed as read (refstis scales its inputs in place).

    The product has the type NumPy gives ``rows * factor`` (float32 for float32 rows).
    """

    inner: RowSource
    factor: float

    @property
    def shape(self) -> tuple[int, int]:
        return self.inner.shape

    @property
    def dtype(self) -> np.dtype:
        return (np.zeros(1, dtype=self.inner.dtype) * self.factor).dtype

    def read(self, r0: int, r1: int, out: np.ndarray) -> None:
        inner = self.inner
        if isinstance(inner, FitsRows) and inner.dtype == inner.disk.newbyteorder("="):
            rows = inner.stored(r0, r1)  # the multiplication swaps the bytes
        else:
            rows = np.empty((r1 - r0, self.shape[1]), dtype=inner.dtype)
            inner.read(r0, r1, rows)
        np.multiply(rows, self.factor, out=out)


def _row_blocks(
    sources: Sequence[RowSource], dtypes: Sequence[np.dtype], rows: int, ws: Workspace
) -> Iterator[list[np.ndarray]]:
    """Read ``sources`` (one image) together, ``rows`` rows at a time, into reused buffers."""
    ny, nx = sources[0].shape
    for r0 in range(0, ny, rows):
        r1 = min(ny, r0 + rows)
        views = [ws.get(f"rows{k}", (r1 - r0, nx), d) for k, d in enumerate(dtypes)]
        for source, view in zip(sources, views, strict=True):
            source.read(r0, r1, view)
        yield views


# ---------------------------------------------------------------------------------------
# FITS files: headers once, data offsets


_BLOCK = 2880
_CARD = 80


class HduInfo:
    """One HDU of a scanned file: name, version, header and where its data start.

    The header is parsed (:class:`astropy.io.fits.Header`) when first used; ``offset`` is
    ``None`` when the data cannot be read in place (a compressed file).
    """

    def __init__(
        self, name: str, ver: int, offset: int | None, raw: bytes = b"", header=None
    ) -> None:
        self.name, self.ver, self.offset = name, ver, offset
        self._raw, self._header = raw, header

    @property
    def header(self) -> fits.Header:
        if self._header is None:
            self._header = fits.Header.fromstring(self._raw)
        return self._header

    @functools.cached_property
    def layout(self) -> dict[str, Any]:
        """The keywords that lay out the data (``NAXIS``, ``BITPIX``, ``BZERO``, …), without
        parsing the whole header."""
        if self._header is not None:
            return {k: self._header[k] for k in _LAYOUT if k in self._header}
        return _cards(self._raw, _LAYOUT)


#: keywords describing a data unit's layout
_LAYOUT = ("NAXIS", "NAXIS1", "NAXIS2", "BITPIX", "BZERO", "BSCALE", "BLANK", "PIXVALUE")


@dataclass(frozen=True)
class FitsScan:
    """Every HDU of a FITS file (the primary first), from :func:`scan_fits`."""

    path: Path
    hdus: tuple[HduInfo, ...]

    @property
    def primary(self) -> fits.Header:
        return self.hdus[0].header

    def find(self, name: str, ver: int) -> HduInfo | None:
        """The first extension ``(name, ver)``, as ``hdul[name, ver]`` finds it."""
        return next((h for h in self.hdus[1:] if h.name == name and h.ver == ver), None)


_SCANS: dict[tuple, FitsScan] = {}
_MAX_SCANS = 4096


def scan_fits(path: os.PathLike) -> FitsScan:
    """Headers and data offsets of every HDU of ``path``, read once per process.

    The header blocks are read and split into HDUs directly (astropy's ``fits.open``
    spends most of its time re-serialising each header to find the next one); a file
    that is not plain FITS (compressed) is opened with astropy. A later call for the
    same unchanged file (same inode, size and modification time) returns the same scan:
    the input checks and the rejection share one read. The headers are shared too: copy
    one before changing it.

    Raises
    ------
    OSError, ValueError
        On a file that is not FITS, as :func:`astropy.io.fits.open` does.
    """
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns)
    found = _SCANS.get(key)
    if found is not None:
        return found
    with open(path, "rb") as fh:
        plain = fh.read(9) == b"SIMPLE  ="
    hdus = _split_hdus(path, st.st_size) if plain else _astropy_hdus(path)
    if len(_SCANS) >= _MAX_SCANS:
        _SCANS.clear()
    _SCANS[key] = scan = FitsScan(path, hdus)
    return scan


def _split_hdus(path: Path, size: int) -> tuple[HduInfo, ...]:
    """The HDUs of a plain FITS file, from its header blocks (data skipped)."""
    hdus = []
    pos = 0
    with open(path, "rb") as fh:
        while pos < size:
            fh.seek(pos)
            raw = _header_blocks(fh, first=not hdus)
            if raw is None:  # padding or other bytes after the last HDU: ignored, as astropy
                break
            cards = _cards(raw, ("EXTNAME", "EXTVER", "BITPIX", "NAXIS", "PCOUNT", "GCOUNT"))
            name = str(cards.get("EXTNAME", "PRIMARY" if not hdus else "")).strip().upper()
            hdus.append(HduInfo(name, cards.get("EXTVER", 1), pos + len(raw), raw))
            pos += len(raw) + _data_bytes(raw, cards)
    return tuple(hdus)


def _header_blocks(fh, first: bool) -> bytes | None:
    """The header at the file position: whole 2880-byte blocks through the END card."""
    blocks = []
    while True:
        block = fh.read(_BLOCK)
        if not blocks and not block.startswith(b"SIMPLE  =" if first else b"XTENSION="):
            if first:
                raise OSError("the file does not start with a FITS header (SIMPLE card)")
            return None
        if len(block) < _BLOCK:
            raise OSError("the file ends inside a header (truncated)")
        blocks.append(block)
        if any(block[k : k + 8] == b"END     " for k in range(0, _BLOCK, _CARD)):
            return b"".join(blocks)


def _cards(raw: bytes, keys: Sequence[str]) -> dict[str, Any]:
    """The first value of each of ``keys`` found in the header (simple values only)."""
    wanted = {k.ljust(8).encode("ascii") for k in keys}
    found: dict[str, Any] = {}
    for k in range(0, len(raw), _CARD):
        card = raw[k : k + _CARD]
        key = card[:8]
        if key == b"END     ":
            break
        if key in wanted and card[8:10] == b"= ":
            name = key.decode("ascii").strip()
            found.setdefault(name, _value(card[10:].decode("ascii", "replace")))
    return found


def _value(text: str) -> Any:
    """A card's value: a string (quotes removed, trailing blanks dropped), int, float or bool."""
    text = text.strip()
    if text.startswith("'"):
        end = 1
        while True:
            end = text.find("'", end)
            if end < 0 or text[end + 1 : end + 2] != "'":
                break
            end += 2
        return text[1:end].replace("''", "'").rstrip()
    value = text.split("/", 1)[0].strip()
    if value in ("T", "F"):
        return value == "T"
    try:
        return int(value)
    except ValueError:
        return float(value.replace("D", "E"))


def _data_bytes(raw: bytes, cards: dict[str, Any]) -> int:
    """Bytes of the data unit after this header, padded to whole 2880-byte blocks."""
    naxis = int(cards.get("NAXIS", 0))
    if naxis == 0:
        return 0
    dims = _cards(raw, [f"NAXIS{i}" for i in range(1, naxis + 1)] + ["GROUPS"])
    shape = [int(dims[f"NAXIS{i}"]) for i in range(1, naxis + 1)]
    if dims.get("GROUPS") is True and shape[0] == 0:  # random groups
        shape = shape[1:]
    nbytes = abs(int(cards["BITPIX"])) // 8 * int(cards.get("GCOUNT", 1))
    nbytes *= int(cards.get("PCOUNT", 0)) + math.prod(shape)
    return -(-nbytes // _BLOCK) * _BLOCK


def _astropy_hdus(path: Path) -> tuple[HduInfo, ...]:
    """The HDUs of a file astropy reads but that is not plain FITS (no reading in place)."""
    with fits.open(path) as hdul:
        return tuple(
            HduInfo(
                str(hdu.header.get("EXTNAME", "")).strip().upper(),
                hdu.header.get("EXTVER", 1),
                None,
                header=hdu.header,
            )
            for hdu in hdul
        )


#: FITS BITPIX → stored type
_BITPIX = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


def _data_rows(
    path: Path, hdu: HduInfo, dtype: np.dtype | None, files: FileHandles | None = None
) -> RowSource:
    """The rows of ``hdu``'s data as ``ext_data(hdu, dtype)`` gives them, read lazily."""
    layout = hdu.layout
    naxis = int(layout.get("NAXIS", 0))
    if naxis == 0:
        value, shape = constant_extension(hdu.header)
        fill = dtype or (np.int16 if hdu.name == "DQ" else np.float32)
        return ConstantRows(value, shape, np.dtype(fill))
    bitpix = layout.get("BITPIX")
    if (
        hdu.offset is not None
        and naxis == 2
        and bitpix in _BITPIX
        and layout.get("BZERO", 0) == 0
        and layout.get("BSCALE", 1) == 1
        and "BLANK" not in layout
    ):
        disk = np.dtype(_BITPIX[bitpix])
        shape = (int(layout["NAXIS2"]), int(layout["NAXIS1"]))
        native = disk.newbyteorder("=")
        return FitsRows(path, hdu.offset, shape, disk, np.dtype(dtype or native), files)
    # scaled, compressed or unusual data: let astropy read it (whole, in memory)
    with fits.open(path, memmap=False) as hdul:
        data = ext_data(hdul[hdu.name, hdu.ver], dtype)
    return ArrayRows(data, data.dtype)


@dataclass(frozen=True)
class ImsetRows:
    """One image set of an input file, its SCI and DQ read a block of rows at a time."""

    path: Path
    extver: int
    primary: fits.Header
    sci_header: fits.Header
    sci: RowSource
    dq: RowSource


def scan_imsets(paths: Sequence[os.PathLike]) -> list[ImsetRows]:
    """Every usable image set (``IMSET_OK`` not False) of every file, in order, unread.

    Only the headers are read here (a missing or unreadable file, or one without SCI/DQ
    extensions, is one line naming it); the data are read when the rejection needs them,
    a block of rows at a time.
    """
    imsets: list[ImsetRows] = []
    files = FileHandles()
    for path in map(Path, paths):
        if not path.is_file():
            raise InputFileError(f"{path} does not exist; check the file name")
        try:
            scan = scan_fits(path)
            primary = scan.primary
        except (OSError, ValueError) as exc:
            raise InputFileError(f"{path} is not a readable FITS file ({exc})") from exc
        nimset = int(primary.get("NEXTEND", len(scan.hdus) - 1)) // 3
        for k in range(1, nimset + 1):
            sci, dq = scan.find("SCI", k), scan.find("DQ", k)
            if sci is None or dq is None:
                raise InputFileError(
                    f"{path.name} lacks SCI/DQ extension {k}; it is not a STIS FLT"
                )
            if sci.header.get("IMSET_OK", True) is False:
                log.info("%s[SCI,%d] has IMSET_OK=F: skipped", path.name, k)
                continue
            imsets.append(
                ImsetRows(
                    path,
                    k,
                    primary,
                    sci.header,
                    _data_rows(path, sci, None, files),
                    _data_rows(path, dq, np.int16, files),
                )
            )
    return imsets


# ---------------------------------------------------------------------------------------
# the rejection


def sky_mode(sci: np.ndarray, dq: np.ndarray) -> np.float32:
    """Sky level (DN) of one image set as calstis' ``crrej_sky`` with ``SKYSUB = mode``.

    The mode of the histogram (1-DN bins) of the pixels whose DQ is exactly 0, over
    ``[trunc(min(0, min)) − 1, 2·trunc(mean + 1)]`` (lower limit at least −1000), each value
    binned by truncation toward zero; see :func:`histogram_mode`.
    """
    q = np.asarray(dq)
    return _sky_of(lambda: [(np.array(sci, dtype=_F32), q)], Workspace())


def _sky_of(
    blocks: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]], ws: Workspace
) -> np.float32:
    """The sky of one image set from its (SCI, DQ) blocks in raster order (SCI overwritten).

    ``blocks()`` gives the blocks; it is called again, for calstis' exact running sum, in
    the rare case the histogram's bounds on the mean leave the sky undecided
    (:class:`~stisdarks.crreject_kernel.SkyAccumulator`).
    """
    for exact in (False, True):
        acc = SkyAccumulator(ws, exact=exact)
        for sci, dq in blocks():
            acc.add(sci.reshape(-1), dq.reshape(-1))
        level = acc.mode()
        if level is not None:
            return level
    lo, hi = acc.limits()  # a range beyond the streamed histogram: bin again
    hist = np.zeros(hi - lo + 1, dtype=np.int64)
    for sci, dq in blocks():
        hist += sky_histogram(sci, dq, lo, hi)
    return histogram_mode(hist, lo)


@dataclass
class _Job:
    """One rejection's inputs, for this process and the workers forked from it."""

    sci: Sequence[RowSource]
    dq: Sequence[RowSource]
    dq_dtype: np.dtype
    rows: int  # output rows per block of pass 2
    sky_rows: int  # rows per read of pass 1
    masks: bool
    ws: Workspace = field(default_factory=Workspace)  # a worker's copy is its own


#: the rejections under way, by key: forked workers find their job here
_JOBS: dict[int, _Job] = {}


def _sky_task(task: tuple[int, int]) -> np.float32:
    """Pass 1 for image set ``i`` of job ``key``: its sky."""
    key, i = task
    job = _JOBS[key]
    sources, dtypes = [job.sci[i], job.dq[i]], [_F32, job.dq[i].dtype]
    blocks = functools.partial(_row_blocks, sources, dtypes, job.sky_rows, job.ws)
    return _sky_of(blocks, job.ws)


def _block_task(task: tuple[int, Plan, int]) -> tuple:
    """Pass 2 for the block of output rows from ``r0`` of job ``key``.

    Returns
    -------
    tuple
        ``((sci, err, dq), masks or None, n_rejected)`` of the block's rows.
    """
    key, plan, r0 = task
    job = _JOBS[key]
    ny, nx = job.sci[0].shape
    r1 = min(ny, r0 + job.rows)
    rows = (r1 - r0, nx)
    out = (np.empty(rows, dtype=_F32), np.empty(rows, dtype=_F32), np.empty(rows, np.int16))
    masks = np.zeros((len(job.sci), *rows), dtype=bool) if job.masks else None
    n_rejected = _reject_rows(plan, job.sci, job.dq, job.dq_dtype, r0, r1, out, masks, job.ws)
    return out, masks, n_rejected


@contextlib.contextmanager
def _workers(count: int) -> Iterator[Callable]:
    """``run(func, tasks)``: the results of ``func`` on each task, in order, computed by
    ``count`` forked processes (Linux) or here; it raises what the first failing task
    raised, as a loop would."""
    count = min(count, os.cpu_count() or 1)
    if count < 2 or sys.platform != "linux" or multiprocessing.current_process().daemon:
        yield lambda func, tasks: [func(t) for t in tasks]
        return

    def run(func: Callable, tasks: Sequence) -> list:
        # a worker that dies (killed, out of memory) raises BrokenProcessPool here, not a hang
        results = list(pool.map(_caught, [(func, t) for t in tasks]))
        for result in results:
            if isinstance(result, _Failed):
                raise result.error
        return results

    with ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("fork")) as pool:
        yield run


@dataclass
class _Failed:
    """What a worker's task raised."""

    error: BaseException


def _caught(call: tuple[Callable, Any]) -> Any:
    func, task = call
    try:
        return func(task)
    except Exception as error:  # handed back, raised in order by the caller
        return _Failed(error)


def _plan(exptime, readnoise_dn, gain, params: CRParams) -> tuple[Plan, float]:
    """The run's constants (sky still zero) and ``Σ EXPTIME``; checks the exposure times."""
    n = len(exptime)
    efac = np.asarray(exptime, dtype=_F32)
    if np.any(efac < 0):
        raise StisDarksError("an image set has a negative EXPTIME; check the input headers")
    exptot = float(np.sum(efac, dtype=_F32))
    if np.all(efac == 0):
        efac = np.ones(n, dtype=_F32)
        texpt = _F32(n)
    elif np.any(efac == 0):
        raise StisDarksError(
            "some but not all image sets have EXPTIME = 0; remove the empty exposures"
        )
    else:
        texpt = _F32(0)
        for e in efac:
            texpt = _F32(texpt + e)
    noise = np.asarray(readnoise_dn, dtype=_F32)
    plan = Plan(
        efac=efac,
        sky=np.zeros(n, dtype=_F32),
        rog2=noise * noise,
        gain=np.asarray(gain, dtype=_F32),
        sig2s=tuple(_F32(v) * _F32(v) for v in params.crsigmas),
        psig2=_F32(params.crthresh) * _F32(params.crthresh) if params.crthresh > 0 else _F32(-1),
        scalense=_F32(params.scalense) / _F32(100),
        offsets=disk_offsets(params.crradius),
        badinpdq=int(params.badinpdq),
        median=params.initgues == "median",
        texpt=texpt,
        skysum=_F32(0),
    )
    return plan, exptot


def _with_sky(plan: Plan, sky: np.ndarray) -> Plan:
    skysum = _F32(0)
    for level in sky:
        skysum = _F32(skysum + level)
    return replace(plan, sky=sky, skysum=skysum)


def _block_rows(n: int, nx: int, halo: int) -> int:
    """Output rows per block: the stack's block within ``_BLOCK_BYTES`` (rates and DQ, 6
    bytes a pixel), at least 4 halos, at most ``_MAX_BLOCK_ROWS`` (the work planes)."""
    return max(4 * max(halo, 1), min(_MAX_BLOCK_ROWS, _BLOCK_BYTES // (n * nx * 6)))


def _read_block(plan: Plan, sci, dq, dq_dtype, a: int, b: int, ws: Workspace):
    """Rates, DQ and initial guess ``(ave, avevar)`` of rows ``a..b-1`` of the whole stack."""
    n, nx = len(sci), sci[0].shape[1]
    shape = (b - a, nx)
    pics = ws.get("pics", (n, *shape))
    dqs = ws.get("dqs", (n, *shape), dq_dtype)
    ave = ws.get("ave", shape)
    guess = (ave, None if plan.median else ws.get("avevar", shape))
    for i in range(n):
        pic = pics[i]
        sci[i].read(a, b, pic)
        dq[i].read(a, b, dqs[i])
        raw = None
        if not plan.median:
            raw = ws.get("raw", shape)
            raw[...] = pic
        if plan.sky[i] != 0:
            np.subtract(pic, plan.sky[i], out=pic)
        np.divide(pic, plan.efac[i], out=pic)
        if raw is not None:
            fold_minimum(plan, i, raw, pic, guess, ws)
    if plan.median:
        median_rates(pics, ave, ws)
    return pics, dqs, guess


def _reject_rows(plan: Plan, sci, dq, dq_dtype, r0: int, r1: int, out, masks, ws) -> np.ndarray:
    """Combine output rows ``r0..r1-1`` into ``out``, reading ``plan.halo`` rows around them
    (more above when an excluded-pixel chain may come from there)."""
    ny = sci[0].shape[0]
    above = plan.halo
    while True:
        a, b = max(0, r0 - above), min(ny, r1 + plan.halo)
        pics, dqs, guess = _read_block(plan, sci, dq, dq_dtype, a, b, ws)
        try:
            return reject_block(
                plan,
                pics,
                dqs,
                guess,
                slice(r0 - a, r1 - a),
                out,
                at_top=a == 0,
                ws=ws,
                masks=masks,
            )
        except NeedsRowsAbove:
            above = max(2 * above, 64)


def crreject_rows(
    sci: Sequence[RowSource],
    dq: Sequence[RowSource],
    exptime: Sequence[float],
    readnoise_dn: Sequence[float],
    gain: Sequence[float],
    params: CRParams,
    *,
    block_rows: int | None = None,
    return_masks: bool = False,
    threads: int = 2,
) -> CRResult:
    """:func:`crreject_stack` on image sets read a block of rows at a time.

    Parameters
    ----------
    sci, dq : sequence of RowSource
        SCI (DN) and DQ of each image set (:class:`FitsRows`, :class:`ArrayRows`, …).
    exptime, readnoise_dn, gain, params, return_masks
        As :func:`crreject_stack`.
    threads : int
        Worker processes (see the module's docstring), for stacks of at least
        ``_PARALLEL_PIXELS`` pixels; the result does not depend on it.
    block_rows : int, optional
        Output rows per block (and rows per read of the sky pass). By default a block of
        the whole stack holds about 24 MiB, so memory does not grow with the number of
        image sets. The result does not depend on it.
    """
    n = len(sci)
    if n < 2:
        raise StisDarksError(
            f"cosmic-ray rejection needs at least 2 image sets, got {n}; add more exposures"
        )
    shape = tuple(sci[0].shape)
    if any(tuple(s.shape) != shape for s in sci):
        raise StisDarksError(
            "image sets differ in size; combine only exposures of the same size and binning"
        )
    if params.skysub not in ("none", "mode"):
        raise StisDarksError(f"skysub {params.skysub!r} is neither 'none' nor 'mode'")
    plan, exptot = _plan(exptime, readnoise_dn, gain, params)
    rows = block_rows or _block_rows(n, shape[1], plan.halo)
    dq_dtype = np.result_type(*(d.dtype for d in dq))
    job = _Job(sci, dq, dq_dtype, rows, block_rows or _SKY_ROWS, return_masks)
    key = id(job)
    _JOBS[key] = job
    try:
        workers = threads if n * shape[0] * shape[1] >= _PARALLEL_PIXELS else 1
        with _workers(workers) as run:
            sky = np.zeros(n, dtype=_F32)
            if params.skysub == "mode":
                sky = np.asarray(run(_sky_task, [(key, i) for i in range(n)]), dtype=_F32)
                for i, level in enumerate(sky):
                    log.info("sky of image set %d is %0.3f DN", i + 1, float(level))
            plan = _with_sky(plan, sky)
            parts = run(_block_task, [(key, plan, r0) for r0 in range(0, shape[0], rows)])
    finally:
        del _JOBS[key]
    return _assemble(parts, exptot, plan)


def _assemble(parts: Sequence[tuple], exptot: float, plan: Plan) -> CRResult:
    """The full-frame result from the blocks' parts (in row order)."""
    sci, err, dq = (np.concatenate([p[0][k] for p in parts]) for k in range(3))
    masks = None
    if parts[0][1] is not None:
        masks = np.concatenate([p[1] for p in parts], axis=1)
    n_rejected = np.sum([p[2] for p in parts], axis=0, dtype=np.int64)
    return CRResult(sci, err, dq, masks, n_rejected, exptot, plan.sky, float(plan.skysum))


def crreject_stack(
    sci: Sequence[np.ndarray],
    dq: Sequence[np.ndarray],
    exptime: Sequence[float],
    readnoise_dn: Sequence[float],
    gain: Sequence[float],
    params: CRParams,
    *,
    block_rows: int | None = None,
    return_masks: bool = False,
    threads: int = 2,
) -> CRResult:
    """Combine ``N`` image sets rejecting cosmic rays, as calstis does.

    Parameters
    ----------
    sci, dq : sequence of 2-D arrays
        SCI (DN) and DQ of each image set (anything sliceable by rows: memory-mapped
        arrays are read a block at a time).
    exptime : sequence of float
        ``EXPTIME`` of each image set (s).
    readnoise_dn : sequence of float
        Read noise in DN (``READNSE / ATODGAIN``).
    gain : sequence of float
        ``ATODGAIN`` (e⁻/DN).
    params : CRParams
        Rejection parameters. With ``skysub = "mode"`` each image set's sky
        (:func:`sky_mode`) is subtracted first and ``Σ sky`` added back to SCI.
    block_rows : int, optional
        Output rows per block of the stack (default: about 24 MiB of the stack per
        block); the result does not depend on it.
    return_masks : bool
        Also return the per-image-set rejection masks.
    threads : int
        Worker processes for the image sets and blocks (forked, on Linux; see the
        module's docstring); the result does not depend on it.
    """
    sci_rows = [ArrayRows(s, np.dtype(_F32)) for s in sci]
    dq_rows = [ArrayRows(d, _dtype_of(d)) for d in dq]
    return crreject_rows(
        sci_rows,
        dq_rows,
        exptime,
        readnoise_dn,
        gain,
        params,
        block_rows=block_rows,
        return_masks=return_masks,
        threads=threads,
    )


def _dtype_of(data) -> np.dtype:
    dtype = getattr(data, "dtype", None)
    return np.dtype(dtype) if dtype is not None else np.asarray(data).dtype


def _noise_params(
    imsets: Sequence[ImsetRows],
) -> tuple[list[float], list[float], list[float]]:
    exptime, noise, gain = [], [], []
    for im in imsets:
        if "EXPTIME" not in im.sci_header:
            raise InputFileError(
                f"{im.path.name}[SCI,{im.extver}] has no EXPTIME; it is not a calibrated STIS image"
            )
        for key in ("READNSE", "ATODGAIN"):
            if key not in im.primary:
                raise InputFileError(
                    f"{im.path.name} has no {key} in its primary header; process it with calstis first"
                )
        g = float(im.primary["ATODGAIN"])
        if g == 0:
            raise InputFileError(f"{im.path.name} has ATODGAIN = 0; its header is corrupt")
        exptime.append(float(im.sci_header["EXPTIME"]))
        noise.append(float(np.float32(im.primary["READNSE"]) / np.float32(g)))
        gain.append(g)
    return exptime, noise, gain


def combined_hdulist(
    imsets: Sequence[ImsetRows], result: CRResult, params: CRParams
) -> fits.HDUList:
    """A calstis-shaped ``_crj`` HDU list (headers from image set 1 of the first input)."""
    first = imsets[0]
    primary = first.primary.copy()
    sci_hdr = first.sci_header.copy()
    n = len(imsets)
    exptimes = [float(im.sci_header["EXPTIME"]) for im in imsets]
    starts = [float(im.sci_header.get("EXPSTART", 0.0)) for im in imsets]
    ends = [float(im.sci_header.get("EXPEND", 0.0)) for im in imsets]
    exptot = np.float32(result.texptime)
    temptot = np.float32(0)
    for im, e in zip(imsets, exptimes, strict=True):
        temptot = np.float32(
            temptot + np.float32(im.sci_header.get("OCCDHTAV", -1.0)) * np.float32(e)
        )
    primary["TEXPTIME"] = float(exptot)
    primary["SKYSUM"] = float(np.float32(result.skysum))
    nrej = int(result.n_rejected.sum())
    if exptot > 0:
        primary["REJ_RATE"] = float(np.float32(nrej) / exptot)
    primary["TEXPSTRT"] = min(starts)
    primary["TEXPEND"] = max(ends)
    for key, value in params.header_cards().items():
        primary[key] = value
    primary["MEANEXP"] = float(np.float32(exptot / n))
    primary["NEXTEND"] = 3
    primary["CRCORR"] = "COMPLETE"
    primary["CAL_VER"] = f"stisdarks {__version__} (native calstis-2)"
    sci_hdr["EXPTIME"] = float(exptot)
    sci_hdr["EXPSTART"] = min(starts)
    sci_hdr["EXPEND"] = max(ends)
    sci_hdr["NCOMBINE"] = n
    if exptot > 0 and temptot > 0:
        sci_hdr["OCCDHTAV"] = float(np.float32(temptot / exptot))
    hdus = [fits.PrimaryHDU(header=primary)]
    for name, data in (("SCI", result.sci), ("ERR", result.err), ("DQ", result.dq)):
        if name == "SCI":
            hdr = sci_hdr
        else:
            hdr = scan_fits(first.path).find(name, first.extver).header.copy()
        for key in (
            "NAXIS",
            "NAXIS1",
            "NAXIS2",
            "PIXVALUE",
            "NPIX1",
            "NPIX2",
            "BITPIX",
            "XTENSION",
            "PCOUNT",
            "GCOUNT",
            "BSCALE",
            "BZERO",
        ):
            hdr.remove(key, ignore_missing=True, remove_all=True)
        hdus.append(fits.ImageHDU(data=data, header=hdr, name=name, ver=1))
    return fits.HDUList(hdus)


def crreject_files(
    inputs: Sequence[os.PathLike],
    output: os.PathLike,
    params: CRParams | None = None,
    overrides: dict | None = None,
    crmask_dir: os.PathLike | None = None,
) -> Path:
    """CR-reject every image set of ``inputs`` together and write a calstis-shaped ``_crj``.

    Parameters
    ----------
    inputs : sequence of path-like
        STIS files with SCI/ERR/DQ image sets (never modified).
    output : path-like
        The combined file, written atomically.
    params : CRParams, optional
        Parameters; by default read from the first input's CRREJTAB as calstis does.
    overrides : dict, optional
        Explicit parameter values that win over the table.
    crmask_dir : path-like, optional
        calstis writes the CR flags into the *input* DQ arrays when CRMASK is set; we never
        modify inputs, so with ``crmask_dir`` copies of the inputs carrying those flags are
        written there instead.
    """
    imsets = scan_imsets(inputs)
    if len(imsets) < 2:
        raise StisDarksError(
            f"cosmic-ray rejection needs at least 2 image sets; {len(imsets)} found in {len(inputs)} file(s)"
        )
    amps = {str(im.primary.get("CCDAMP", "")).strip() for im in imsets}
    if len(amps) > 1:
        raise StisDarksError(
            f"inputs mix CCD amplifiers {sorted(amps)}; combine one amplifier at a time"
        )
    exptime, noise, gain = _noise_params(imsets)
    if params is None:
        mean = float(np.sum(np.asarray(exptime, dtype=np.float32), dtype=np.float32)) / len(imsets)
        params = crparams_for(imsets[0].primary, len(imsets), mean, overrides)
    elif overrides:
        params = params.with_overrides(**overrides)
    log.info("CR rejection of %d image sets (%s)", len(imsets), params.source)
    result = crreject_rows(
        [im.sci for im in imsets],
        [im.dq for im in imsets],
        exptime,
        noise,
        gain,
        params,
        return_masks=crmask_dir is not None and params.crmask,
    )
    hdul = combined_hdulist(imsets, result, params)
    hdul[0].header["FILENAME"] = Path(output).name
    with atomic_path(output) as tmp:
        hdul.writeto(tmp, overwrite=True)
    if result.masks is not None:
        _write_crmask_copies(imsets, result.masks, Path(crmask_dir))
    log.info("wrote %s (%d rejected pixel-image pairs)", output, int(result.n_rejected.sum()))
    return Path(output)


def _write_crmask_copies(imsets: Sequence[ImsetRows], masks: np.ndarray, outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    by_file: dict[Path, list[tuple[int, np.ndarray]]] = {}
    for im, mask in zip(imsets, masks, strict=True):
        by_file.setdefault(im.path, []).append((im.extver, mask))
    for path, items in by_file.items():
        with fits.open(path) as hdul:
            copy = fits.HDUList([h.copy() for h in hdul])
        for extver, mask in items:
            dq = ext_data(copy["DQ", extver], np.int16)
            copy["DQ", extver].data = (
                (dq & np.int16(~CR_FLAG)) | np.where(mask, np.int16(CR_FLAG), np.int16(0))
            ).astype(np.int16)
        with atomic_path(outdir / path.name) as tmp:
            copy.writeto(tmp, overwrite=True)
