"""FITS headers and data offsets, read once per process without astropy's ``fits.open``.

:func:`scan_fits` splits a file's header blocks into HDUs directly (astropy's
``fits.open`` spends most of its time re-serialising each header to find the next one)
and notes where each data unit starts, so that its rows can be read in place
(:class:`~stisdarks.crreject.rows.FitsRows`). A header is parsed by astropy only when
first used; a file that is not plain FITS (compressed) is opened with astropy.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from astropy.io import fits

__all__ = ["HduInfo", "FitsScan", "scan_fits"]


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
