"""FITS structure without astropy: header blocks, a few card values, data spans, checks.

A FITS file is a sequence of HDUs, each a header of 2880-byte blocks of 80-character cards
ending with ``END``, then a data unit whose size the header gives (``BITPIX``, ``NAXISn``,
``PCOUNT``, ``GCOUNT``), padded to whole blocks. Walking that costs well under a
millisecond per file, where ``astropy.io.fits.open`` plus ``verify`` costs about 13 ms
(and importing astropy half a second): :func:`verify_fits`, which every download runs,
and :mod:`stisdarks.crreject.fitsscan`, which reads the darks' headers, use it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from stisdarks.errors import InputFileError

__all__ = ["BLOCK", "CARD", "HeaderBlock", "walk_hdus", "header_cards", "verify_fits"]

BLOCK = 2880
CARD = 80
#: what a header may hold: ASCII text, 32-126 (FITS standard 4.0, section 4.1.2)
_TEXT = re.compile(rb"[\x20-\x7e]*")


class HeaderBlock:
    """One HDU's header as read from the file: its raw bytes and where its data unit lies.

    Attributes
    ----------
    raw : bytes
        The header blocks, through the one holding ``END``.
    start : int
        Byte offset of the header in the file.
    data_start : int
        Byte offset of the data unit (right after the header).
    data_span : int
        Bytes of the data unit, padded to whole blocks (0 for a header-only HDU).
    """

    __slots__ = ("raw", "start", "data_start", "data_span")

    def __init__(self, raw: bytes, start: int, data_span: int) -> None:
        self.raw, self.start, self.data_span = raw, start, data_span
        self.data_start = start + len(raw)

    @property
    def end(self) -> int:
        """Byte offset just past the padded data unit."""
        return self.data_start + self.data_span


def walk_hdus(path: str | os.PathLike, size: int | None = None) -> Iterator[HeaderBlock]:
    """The HDUs of a plain FITS file, in order, from their header blocks (data skipped).

    Bytes after the last HDU that do not start an extension header are ignored, as
    astropy ignores them. The last HDU's data unit may run past the end of the file:
    compare :attr:`HeaderBlock.end` with the size to tell a truncated file.

    Raises
    ------
    OSError
        The file does not start with ``SIMPLE``, or ends inside a header.
    ValueError
        A header is not ASCII text, or its layout keywords are missing or not numbers.
    """
    size = os.path.getsize(path) if size is None else size
    pos = 0
    with open(path, "rb") as fh:
        while pos < size:
            fh.seek(pos)
            raw = _header_blocks(fh, first=pos == 0)
            if raw is None:
                return
            block = HeaderBlock(raw, pos, _data_bytes(raw))
            yield block
            pos = block.end


def _header_blocks(fh: BinaryIO, first: bool) -> bytes | None:
    """The header at the file position: whole 2880-byte blocks through the END card."""
    blocks = []
    while True:
        block = fh.read(BLOCK)
        if not blocks and not block.startswith(b"SIMPLE  =" if first else b"XTENSION="):
            if first:
                raise OSError("the file does not start with a FITS header (SIMPLE card)")
            return None
        if len(block) < BLOCK:
            raise OSError("the file ends inside a header (truncated)")
        if not _TEXT.fullmatch(block):
            raise ValueError(
                f"header {'block' if blocks else 'start'} at byte "
                f"{fh.tell() - BLOCK} is not ASCII text"
            )
        blocks.append(block)
        if any(block[k : k + 8] == b"END     " for k in range(0, BLOCK, CARD)):
            return b"".join(blocks)


def header_cards(raw: bytes, keys: Sequence[str]) -> dict[str, Any]:
    """The first value of each of ``keys`` found in the header (simple values only)."""
    wanted = {k.ljust(8).encode("ascii") for k in keys}
    found: dict[str, Any] = {}
    for k in range(0, len(raw), CARD):
        card = raw[k : k + CARD]
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


def _data_bytes(raw: bytes) -> int:
    """Bytes of the data unit after this header, padded to whole 2880-byte blocks."""
    cards = header_cards(raw, ("BITPIX", "NAXIS", "PCOUNT", "GCOUNT"))
    if "BITPIX" not in cards or "NAXIS" not in cards:
        raise ValueError("a header has no BITPIX or NAXIS card")
    naxis = int(cards["NAXIS"])
    if naxis == 0:
        return 0
    dims = header_cards(raw, [f"NAXIS{i}" for i in range(1, naxis + 1)] + ["GROUPS"])
    missing = [f"NAXIS{i}" for i in range(1, naxis + 1) if f"NAXIS{i}" not in dims]
    if missing:
        raise ValueError(f"a header with NAXIS = {naxis} has no {missing[0]} card")
    shape = [int(dims[f"NAXIS{i}"]) for i in range(1, naxis + 1)]
    if dims.get("GROUPS") is True and shape[0] == 0:  # random groups
        shape = shape[1:]
    nbytes = abs(int(cards["BITPIX"])) // 8 * int(cards.get("GCOUNT", 1))
    nbytes *= int(cards.get("PCOUNT", 0)) + math.prod(shape)
    return -(-nbytes // BLOCK) * BLOCK


def verify_fits(
    path: str | os.PathLike, expected_size: int | None = None, *, fix: str | None = None
) -> None:
    """Check that ``path`` is a complete FITS file.

    Its size is the archive's (when given) and a whole number of 2880-byte blocks; every
    header is ASCII text ending with ``END`` and states its data unit's layout; the
    extensions the primary header announces (``NEXTEND``) are there; and every data unit
    lies wholly inside the file. A truncated or cut file fails without reading the data,
    so checking a month of darks costs a few hundredths of a second, not a read of 560 MB.

    Parameters
    ----------
    path : path-like
        The file.
    expected_size : int, optional
        Its size in bytes, as the archive lists it.
    fix : str, optional
        What the message tells the user to do (default: fetch the file again, in the
        words that fit each problem).

    Raises
    ------
    InputFileError
        With a one-line message saying what is wrong (missing, wrong size, truncated,
        not FITS) and the fix.
    """
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"{p} does not exist; {fix or 'run the download step again'}")
    size = p.stat().st_size
    if expected_size is not None and expected_size > 0 and size != expected_size:
        raise InputFileError(
            f"{p} has {size} bytes but the archive lists {expected_size}; "
            f"{fix or 'delete it and download again'}"
        )
    if size == 0 or size % BLOCK != 0:
        raise InputFileError(
            f"{p} is truncated ({size} bytes is not a multiple of the 2880-byte FITS block); "
            f"{fix or 'delete it and rerun to download it again'}"
        )
    try:
        hdus = list(walk_hdus(p, size))
        announced = int(header_cards(hdus[0].raw, ("NEXTEND",)).get("NEXTEND", 0))
    except (OSError, ValueError) as exc:
        raise InputFileError(
            f"{p} is not a valid FITS file ({exc}); {fix or 'delete it and download again'}"
        ) from exc
    if announced > len(hdus) - 1:
        raise InputFileError(
            f"{p} is truncated (NEXTEND = {announced} but it has {len(hdus) - 1} extensions); "
            f"{fix or 'delete it and rerun to download it again'}"
        )
    end = hdus[-1].end
    if end > size:
        raise InputFileError(
            f"{p} is truncated (its headers describe {end} bytes, the file has {size}); "
            f"{fix or 'delete it and rerun to download it again'}"
        )
