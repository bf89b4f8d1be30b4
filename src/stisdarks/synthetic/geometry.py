"""Where a synthetic STIS CCD image sits on the detector, and its raw overscan layout.

Darks and the pipeline's reference images of a synthetic archive cover the full frame
(1024 rows) or, for quick tests, a full-width subarray of fewer rows centred on the
detector. The science may be read the same way, or as a smaller centred subarray, or
binned on the chip (full frame only: calstis cannot find the bias level of a binned
subarray). Every readout is laid out as the STIS CCD lays it out for amplifier D, so
calstis accepts the raw files (hstcal ``stissizes.h`` and ``findover.c``):

- full frame, unbinned: raw 1062 × 1044 — 19 serial-overscan columns on each side, 20
  virtual-overscan rows at the bottom, bias section = raw columns 1–15 (0-indexed);
- subarray, unbinned: raw 1060 × ``rows`` — 18 overscan columns on each side (one border
  pixel lost), no virtual overscan, bias section = raw columns 0–13;
- binned ``b1`` × ``b2`` (``b`` = 1 or 2): 10 virtual-overscan rows at the bottom;
  ``b1 = 2``: raw 532 columns, 511 illuminated (the two half-illuminated edge pixels are
  trimmed), 11 overscan columns before and 10 after; ``b1 = 1``: raw 1054 columns, 11
  before, 19 after. Bias sections are calstis' binned ones mirrored for amp D.

Positions follow the IRAF convention of the ``LTV``/``LTM`` keywords: image pixel
(1-indexed) = ``LTM`` · detector pixel + ``LTV``, so an unbinned subarray starting at
detector row ``y0`` (0-indexed) has ``LTV2 = −y0`` and a 2 × 1 full frame has
``LTM1_1 = 0.5``, ``LTV1 = −0.25`` once trimmed (its first pixel sums detector columns
1 and 2, 0-indexed), as in STScI's binned products.
"""

from __future__ import annotations

from dataclasses import dataclass

from stisdarks.binning import Readout

__all__ = ["CCD_NPIX", "MIN_ROWS", "BINNINGS", "Geometry"]

#: illuminated STIS CCD size (pixels)
CCD_NPIX = 1024
#: fewest rows of a synthetic subarray (room for the trace, its background boxes, blemishes)
MIN_ROWS = 32
#: on-chip binnings the synthetic archive can read out (per axis)
BINNINGS = (1, 2)
_VIRTUAL_BINNED = 10  # virtual-overscan rows of a binned readout


@dataclass(frozen=True)
class Geometry:
    """A readout of the STIS CCD through amplifier D: rows, binning and the raw layout.

    Parameters
    ----------
    rows : int
        Detector rows read out: 1024 for the full frame, fewer for a full-width subarray
        centred on the detector.
    bin : (int, int)
        On-chip binning along columns (``BINAXIS1``) and rows (``BINAXIS2``).
    """

    rows: int = CCD_NPIX
    bin: tuple[int, int] = (1, 1)

    def __post_init__(self) -> None:
        if not MIN_ROWS <= self.rows <= CCD_NPIX:
            raise ValueError(f"rows must be between {MIN_ROWS} and {CCD_NPIX}, got {self.rows}")
        if any(b not in BINNINGS for b in self.bin):
            raise ValueError(f"binning must be 1 or 2 per axis, got {self.bin}")
        if self.binned and not self.full_frame:
            raise ValueError(
                "a binned readout must be the full frame (calstis cannot find its bias level otherwise)"
            )

    @property
    def full_frame(self) -> bool:
        """True for the 1024-row full frame."""
        return self.rows == CCD_NPIX

    @property
    def binned(self) -> bool:
        """True when read out binned."""
        return self.bin != (1, 1)

    @property
    def first_row(self) -> int:
        """Detector row (0-indexed) of the first image row."""
        return 0 if self.full_frame else (CCD_NPIX - self.rows) // 2

    @property
    def first_column(self) -> int:
        """Detector column (0-indexed) where the first image pixel starts."""
        return 1 if self.bin[0] > 1 else 0

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of a calibrated (trimmed) image (rows, columns)."""
        ncols = CCD_NPIX // self.bin[0] - (1 if self.bin[0] > 1 else 0)
        return (self.rows // self.bin[1], ncols)

    @property
    def _raw_width(self) -> int:
        if not self.binned:
            return CCD_NPIX + 38 if self.full_frame else CCD_NPIX + 36
        return 1054 if self.bin[0] == 1 else 532

    @property
    def left(self) -> int:
        """Serial-overscan columns before the illuminated area (amp D)."""
        if not self.binned:
            return 19 if self.full_frame else 18
        a_left = 19 if self.bin[0] == 1 else (19 + 1) // self.bin[0]
        return self._raw_width - self.shape[1] - a_left  # amp A's right-hand overscan

    @property
    def right(self) -> int:
        """Serial-overscan columns after the illuminated area (amp D)."""
        return self._raw_width - self.shape[1] - self.left

    @property
    def bottom(self) -> int:
        """Virtual-overscan rows below the illuminated area (amp D reads them first)."""
        if self.binned:
            return _VIRTUAL_BINNED
        return 20 if self.full_frame else 0

    @property
    def raw_shape(self) -> tuple[int, int]:
        """Shape of a raw image set, overscan included."""
        return (self.shape[0] + self.bottom, self._raw_width)

    @property
    def bias_section(self) -> tuple[int, int]:
        """First and last raw column (0-indexed) of the serial overscan used for the bias level.

        calstis' amp-A section mirrored for amp D: ``[nx − 1 − R_A, nx − 1 − L_A]``.
        """
        nx = self.raw_shape[1]
        if not self.binned:
            a_left, a_right = (1046, 1060) if self.full_frame else (1046, 1059)
        else:
            a_left, a_right = (1046, 1052) if self.bin[0] == 1 else (524, 530)
        return (nx - 1 - a_right, nx - 1 - a_left)

    @property
    def ltm(self) -> tuple[float, float]:
        """``LTM1_1``, ``LTM2_2``."""
        return (1.0 / self.bin[0], 1.0 / self.bin[1])

    @property
    def ltv(self) -> tuple[float, float]:
        """``LTV1``, ``LTV2`` of a calibrated (trimmed) image."""
        corner = (self.first_column, self.first_row)
        return tuple(1.0 - (c + (b + 1) / 2.0) / b for c, b in zip(corner, self.bin, strict=True))  # type: ignore[return-value]

    @property
    def raw_ltv(self) -> tuple[float, float]:
        """``LTV1``, ``LTV2`` of a raw image set (overscan included)."""
        return (self.ltv[0] + self.left, self.ltv[1] + self.bottom)

    def trim(self, raw):
        """The illuminated area of a raw array (a view)."""
        ny, nx = self.shape
        return raw[self.bottom : self.bottom + ny, self.left : self.left + nx]

    def subarray_cards(self) -> dict:
        """Primary-header keywords that describe the readout (``SUBARRAY``, ``SIZAXIS*``, ``CENTERA*``)."""
        ny, nx = self.raw_shape
        if self.binned:
            ny, nx = CCD_NPIX + 20, CCD_NPIX + 38  # STScI writes the unbinned size
        return {
            "SUBARRAY": not self.full_frame,
            "SIZAXIS1": nx,
            "SIZAXIS2": ny,
            "CENTERA1": 532,
            "CENTERA2": self.first_row + self.rows // 2 + 1 if not self.full_frame else 523,
            "BINAXIS1": self.bin[0],
            "BINAXIS2": self.bin[1],
        }

    def readout(self) -> Readout:
        """The trimmed image's place on the detector, as calstis reads it from ``LTV``/``LTM``."""
        return Readout(bin=self.bin, corner=(self.first_column, self.first_row), shape=self.shape)

    def image_cards(self, *, raw: bool = False) -> dict:
        """``LTV``/``LTM`` keywords of an image extension."""
        ltv1, ltv2 = self.raw_ltv if raw else self.ltv
        return {"LTV1": ltv1, "LTV2": ltv2, "LTM1_1": self.ltm[0], "LTM2_2": self.ltm[1]}
