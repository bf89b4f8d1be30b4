"""FITS headers and data offsets, read once per process without astropy's ``fits.open``.

:func:`scan_fits` splits a file's header blocks into HDUs directly (astropy's
``fits.open`` spends most of its time re-serialising each header to find the next one)
and notes where each data unit starts, so that its rows can be read in place
(:class:`~stisdarks.crreject.rows.FitsRows`). A header is parsed by astropy only when
first used; a file that is not plain FITS (compressed) is opened with astropy.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from astropy.io import fits

from stisdarks.fitsblocks import header_cards, walk_hdus

__all__ = ["HduInfo", "FitsScan", "scan_fits"]


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
        return header_cards(self._raw, _LAYOUT)


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
    hdus: list[HduInfo] = []
    for block in walk_hdus(path, size):
        cards = header_cards(block.raw, ("EXTNAME", "EXTVER"))
        name = str(cards.get("EXTNAME", "PRIMARY" if not hdus else "")).strip().upper()
        hdus.append(HduInfo(name, cards.get("EXTVER", 1), block.data_start, block.raw))
    return tuple(hdus)


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
