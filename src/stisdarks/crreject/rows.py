"""Row sources: the images the cosmic-ray rejection combines, read a block of rows at a time.

A :class:`RowSource` fills a caller's buffer with rows ``r0..r1-1`` of a 2-D image, so
that memory stays flat whatever the number of image sets. A FITS data unit
(:class:`FitsRows`) is read with ``pread`` on descriptors kept open (:class:`FileHandles`),
never memory-mapped whole, into a per-thread buffer, and byte-swapped and cast as it is
copied out; :class:`ScaledRows` scales rows as they are read (refstis' temperature
scaling); :class:`ArrayRows` and :class:`ConstantRows` serve arrays in memory and
header-only (``PIXVALUE``) data units.
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from stisdarks.errors import InputFileError

__all__ = ["RowSource", "ArrayRows", "ConstantRows", "FitsRows", "FileHandles", "ScaledRows"]


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
