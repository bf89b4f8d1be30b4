"""Where a synthetic STIS CCD image sits on the detector, and its raw overscan layout.

Every synthetic image of one archive (darks, reference files, science) covers the same
detector rows: the full frame (1024 rows) or, for quick tests, a subarray of fewer rows
centred on the detector. Both are read the way the STIS CCD reads them, so calstis
accepts the raw files (hstcal ``stissizes.h`` and ``findover.c``):

- full frame, amplifier D: raw 1062 × 1044 — 19 serial-overscan columns on each side,
  20 virtual-overscan rows at the bottom, bias section = raw columns 1–15 (0-indexed);
- subarray, amplifier D: raw 1060 × ``rows`` — 18 overscan columns on each side (one
  border pixel lost), no virtual overscan, bias section = raw columns 0–13.

Positions follow the IRAF convention of the ``LTV`` keywords: image pixel = detector
pixel + ``LTV`` (0-indexed), so a subarray starting at detector row ``y0`` has
``LTV2 = −y0``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CCD_NPIX", "MIN_ROWS", "Geometry"]

#: illuminated STIS CCD size (pixels)
CCD_NPIX = 1024
#: fewest rows of a synthetic subarray (room for the trace, its background boxes, blemishes)
MIN_ROWS = 32


@dataclass(frozen=True)
class Geometry:
    """The detector rows an archive covers and the amp-D raw layout around them.

    Parameters
    ----------
    rows : int
        Illuminated rows read out: 1024 for the full frame, fewer for a subarray
        centred on the detector (full width, as every STIS CCD subarray).
    """

    rows: int = CCD_NPIX

    def __post_init__(self) -> None:
        if not MIN_ROWS <= self.rows <= CCD_NPIX:
            raise ValueError(f"rows must be between {MIN_ROWS} and {CCD_NPIX}, got {self.rows}")

    @property
    def full_frame(self) -> bool:
        """True for the 1024-row full frame."""
        return self.rows == CCD_NPIX

    @property
    def first_row(self) -> int:
        """Detector row (0-indexed) of the first image row."""
        return 0 if self.full_frame else (CCD_NPIX - self.rows) // 2

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of a calibrated image (rows, columns)."""
        return (self.rows, CCD_NPIX)

    @property
    def left(self) -> int:
        """Serial-overscan columns before the illuminated area (amp D)."""
        return 19 if self.full_frame else 18

    @property
    def right(self) -> int:
        """Serial-overscan columns after the illuminated area (amp D)."""
        return 19 if self.full_frame else 18

    @property
    def bottom(self) -> int:
        """Virtual-overscan rows below the illuminated area (amp D reads them first)."""
        return 20 if self.full_frame else 0

    @property
    def raw_shape(self) -> tuple[int, int]:
        """Shape of a raw image set, overscan included."""
        return (self.rows + self.bottom, CCD_NPIX + self.left + self.right)

    @property
    def bias_section(self) -> tuple[int, int]:
        """First and last raw column (0-indexed) of the serial overscan used for the bias level.

        calstis' amp-A section mirrored for amp D: ``[nx − 1 − R_A, nx − 1 − L_A]``.
        """
        nx = self.raw_shape[1]
        a_left, a_right = (1046, 1060) if self.full_frame else (1046, 1059)
        return (nx - 1 - a_right, nx - 1 - a_left)

    @property
    def ltv(self) -> tuple[float, float]:
        """``LTV1``, ``LTV2`` of a calibrated (trimmed) image."""
        return (0.0, float(-self.first_row))

    @property
    def raw_ltv(self) -> tuple[float, float]:
        """``LTV1``, ``LTV2`` of a raw image set (overscan included)."""
        return (float(self.left), float(self.bottom - self.first_row))

    def trim(self, raw):
        """The illuminated area of a raw array (a view)."""
        return raw[self.bottom : self.bottom + self.rows, self.left : self.left + CCD_NPIX]

    def subarray_cards(self) -> dict:
        """Primary-header keywords that describe the readout (``SUBARRAY``, ``SIZAXIS*``, ``CENTERA*``)."""
        ny, nx = self.raw_shape
        return {
            "SUBARRAY": not self.full_frame,
            "SIZAXIS1": nx,
            "SIZAXIS2": ny,
            "CENTERA1": 532,
            "CENTERA2": self.first_row + self.rows // 2 + 1 if not self.full_frame else 523,
        }

    def image_cards(self, *, raw: bool = False) -> dict:
        """``LTV``/``LTM`` keywords of an image extension."""
        ltv1, ltv2 = self.raw_ltv if raw else self.ltv
        return {"LTV1": ltv1, "LTV2": ltv2, "LTM1_1": 1.0, "LTM2_2": 1.0}
