"""Synthetic calstis ``X1DCORR`` reference tables, and a NumPy twin of calstis6's extraction.

calstis' 1-D extraction (``cs6.e``, run by ``cs0.e`` when ``X1DCORR = PERFORM``) reads eight
reference tables.  :func:`write_x1d_tables` writes minimal synthetic versions of them with
exactly the columns and row-selection keys that hstcal 3.5.0 reads (``pkg/stis/lib/cs6``):

============  ======  ====================================  ==========================================
keyword       suffix  rows selected by                      columns read
============  ======  ====================================  ==========================================
XTRACTAB      _1dx    APERTURE, OPT_ELEM, CENWAVE           SPORDER EXTRSIZE BK1SIZE BK2SIZE BK1OFFST
                                                            BK2OFFST BKTCOEFF NCOEFFBK SLTCOEFF
                                                            NCOEFFSL BACKORD XTRACALG MAXSRCH
SPTRCTAB      _1dt    OPT_ELEM, CENWAVE, SPORDER            A1CENTER A2CENTER NELEM A2DISPL
                                                            (MJD/DEGPERYR optional: trace rotation)
SDCTAB        _sdc    OPT_ELEM, CENWAVE                     SPORDER A2CENTER CDELT2 NPIX2
APDESTAB      _apd    APERTURE (and DISPTAB's REF_APER)     OFFSET1 OFFSET2 WIDTH1 WIDTH2
DISPTAB       _dsp    OPT_ELEM, CENWAVE                     A2CENTER NCOEFF COEFF REF_APER
INANGTAB      _iac    OPT_ELEM, CENWAVE, SPORDER            NCOEFF1 COEFF1 NCOEFF2 COEFF2
PHOTTAB       _pht    OPT_ELEM, CENWAVE, SPORDER            NELEM WAVELENGTH THROUGHPUT ERROR
APERTAB       _apt    APERTURE                              NELEM WAVELENGTH THROUGHPUT
============  ======  ====================================  ==========================================

Every table also has the optional ``PEDIGREE``/``DESCRIP`` columns; a ``PEDIGREE`` starting with
``DUMMY`` (in the primary header or in the selected row) makes calstis skip the step, so these
tables say ``MODEL``.  ``PCTAB``, ``GACTAB`` and ``TDSTAB`` are optional for calstis6 (``N/A``
turns the correction off: factor 1); they are not written.

The table content is chosen so that the extraction is deterministic: the trace is a straight,
slightly tilted line; ``MAXSRCH = 0`` switches the cross-correlation search off (``CrossCorr``
returns offset 0), ``OFFSET1 = OFFSET2 = 0`` and ``SHIFTA1 = SHIFTA2 = 0`` make the aperture and
wavecal offsets zero, so the extraction box is centred on the table trace; the dispersion is
linear; the sensitivity is the smooth curve :func:`throughput_curve`.

:func:`extract_like_x1d` reproduces what calstis6 computes for that set-up from a ``_crj``/``_flt``
image set (unweighted extraction, ``BACKCORR`` with the sigma-clipped background fit and the
pipeline's background smoothing, ``DISPCORR``, ``FLUXCORR`` with the CCD Q-factor), following the
C code operation by operation (float32 where calstis uses ``float``), so that its columns agree
with ``cs6.e``'s ``_sx1`` to float32 rounding.  Notable calstis6 behaviours it reproduces:

* the unweighted extraction does **not** exclude flagged pixels (calstis6 sets ``sdqflags = 0``
  for it): every pixel of the box is summed and the output ``DQ`` is the OR of the DQ of the
  pixels in the box (plus 2048 when more than 1/3 of the background pixels were rejected);
* the box edges are fractional: pixel ``j`` counts with the fraction of ``[j-0.5, j+0.5]`` inside
  ``[y - EXTRSIZE/2, y + EXTRSIZE/2]``, and row 0 of the image is never used;
* background pixels are bilinearly interpolated along the column at the box positions; only
  pixels with DQ bit 4 (``DETECTORPROB``, also set off the image) in one of the interpolation
  neighbours are excluded; the fit is iteratively 3-sigma clipped (the first sigma is the RMS
  about *zero*, a calstis quirk); ``BACKORD`` 0 (mean) and 1 (straight line) are supported;
* with background smoothing (the pipeline default, ``BKS_MEDIAN`` order 3) the ``BACKGROUND``
  column is a 10-pixel running median followed by a cubic fit (columns 10..N-10), ``NET`` is
  recomputed as ``GROSS - BACKGROUND``, and ``NET_ERROR`` has no background term:
  ``NET_ERROR = sqrt(sum(area * ERR**2)) / EXPTIME`` (area, not area squared);
* ``FLUX = NET * h c / (A_HST * T(lambda) * T_ap(lambda) * lambda * dlambda) * ATODGAIN`` and
  ``ERROR = NET_ERROR * that factor * Q``, ``NET_ERROR *= Q`` where ``Q`` is calstis6's CCD
  Q-factor (> 1 below 3425 Angstrom).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

__all__ = [
    "X1DSetup",
    "extract_like_x1d",
    "read_x1d_setup",
    "throughput_curve",
    "write_x1d_tables",
    "x1d_header_cards",
    "x1d_sci_cards",
    "SX1_COLUMNS",
]

# hstcal constants (pkg/stis/include/calstis6.h, stisdq.h)
HST_AREA = 45238.93416
H_PLANCK = 6.6260755e-27
C_LIGHT = 2.9979245800e10
CM_PER_ANGSTROM = 1.0e-8
DETECTORPROB = 4
CALIBDEFECT = 512
X1D_BAD_BACKGROUND = 2048
MAX_CLIP = 5
CCD_PLATE_SCALE = 0.05078  # arcsec per CCD pixel (cross-dispersion)

#: Column names of a real ``_sx1`` table (order as written by calstis6, see o56502010_sx1.fits).
SX1_COLUMNS = (
    "SPORDER", "NELEM", "WAVELENGTH", "GROSS", "BACKGROUND", "NET", "FLUX", "ERROR", "NET_ERROR",
    "DQ", "A2CENTER", "EXTRSIZE", "MAXSRCH", "BK1SIZE", "BK2SIZE", "BK1OFFST", "BK2OFFST",
    "EXTRLOCY", "OFFSET",
)  # fmt: skip

_PEDIGREE = "MODEL 01/01/2024"
_DESCRIP = "synthetic table for stisdarks offline tests -- not for science"


@dataclass(frozen=True)
class X1DSetup:
    """Everything the synthetic X1DCORR tables encode (reference = unbinned detector pixels).

    Attributes
    ----------
    opt_elem, cenwave, aperture : str, int, str
        Row-selection values (must equal OPT_ELEM, CENWAVE, APERTURE of the data).
    a2center : float
        Trace row, 0-indexed detector (reference) pixels, at column ``a1center``.
    trace_slope : float
        Trace tilt, rows per column (``A2DISPL[i] = slope * (i - a1center)``).
    a1center : float
        0-indexed column where ``A2DISPL`` is zero.
    extrsize, bk1size, bk2size, bk1offst, bk2offst : float
        Extraction and background box sizes/offsets (reference pixels).
    backord : int
        Background polynomial order (0 or 1).
    disp_coeff : tuple of float
        DISPTAB ``COEFF``: 1-indexed pixel = c0 + c1 * lambda (+ c2 * lambda**2).
    phot_wave, phot_thru : ndarray
        PHOTTAB wavelength grid and throughput.
    aper_thru : float
        Constant APERTAB throughput.
    """

    opt_elem: str = "G430L"
    cenwave: int = 4300
    aperture: str = "52X2"
    a2center: float = 511.0
    trace_slope: float = 0.0
    a1center: float = 511.0
    extrsize: float = 7.0
    bk1size: float = 5.0
    bk2size: float = 5.0
    bk1offst: float = -20.0
    bk2offst: float = 20.0
    backord: int = 0
    disp_coeff: tuple[float, ...] = ()
    phot_wave: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    phot_thru: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    aper_thru: float = 1.0
    nelem: int = 1024

    @property
    def a2displ(self) -> np.ndarray:
        """The SPTRCTAB ``A2DISPL`` array (float64, ``nelem`` values)."""
        return self.trace_slope * (np.arange(self.nelem, dtype=np.float64) - self.a1center)


def throughput_curve(wave: np.ndarray, peak: float = 0.12) -> np.ndarray:
    """The synthetic total system throughput (PHOTTAB ``THROUGHPUT``) of a first-order CCD mode.

    A Gaussian in wavelength, ``peak * exp(-0.5 ((lambda - 4600) / 1300)**2)``: smooth, positive,
    0.053 at 2900 Angstrom and 0.040 at 5700 Angstrom (the real G430L peaks at ~0.15).
    """
    w = np.asarray(wave, dtype=np.float64)
    return peak * np.exp(-0.5 * ((w - 4600.0) / 1300.0) ** 2)


def _make_setup(
    *,
    opt_elem: str,
    cenwave: int,
    aperture: str,
    trace_row: float,
    trace_slope: float,
    ltv2: float,
    extrsize: float,
    bk_offset: float,
    bk_size: float,
    backord: int,
    wave_range: tuple[float, float],
    nx: int,
    aper_thru: float,
) -> X1DSetup:
    w0, w1 = (float(v) for v in wave_range)
    c1 = (nx - 1) / (w1 - w0)  # pixels per Angstrom
    c0 = 1.0 - c1 * w0  # 1-indexed pixel 1 at w0
    phot_wave = np.arange(1500.0, 11000.0 + 1.0, 10.0)
    return X1DSetup(
        opt_elem=opt_elem, cenwave=int(cenwave), aperture=aperture,
        a2center=float(trace_row) - float(ltv2), trace_slope=float(trace_slope),
        a1center=(nx - 1) // 2, extrsize=float(extrsize), bk1size=float(bk_size),
        bk2size=float(bk_size), bk1offst=-float(bk_offset), bk2offst=float(bk_offset),
        backord=int(backord), disp_coeff=(c0, c1), phot_wave=phot_wave,
        phot_thru=throughput_curve(phot_wave), aper_thru=float(aper_thru), nelem=nx,
    )  # fmt: skip


def _primary(filetype: str, filename: str, setup: X1DSetup, extra: Mapping | None = None):
    hdr = fits.Header()
    hdr["FILENAME"] = filename
    hdr["FILETYPE"] = filetype
    hdr["TELESCOP"] = "HST"
    hdr["INSTRUME"] = "STIS"
    hdr["DETECTOR"] = "CCD"
    hdr["OPT_ELEM"] = setup.opt_elem
    hdr["USEAFTER"] = "Jan 01 1997 00:00:00"
    hdr["PEDIGREE"] = (_PEDIGREE, "not DUMMY: DUMMY makes calstis skip")
    hdr["DESCRIP"] = _DESCRIP
    hdr["COMMENT"] = "Written by stisdarks.x1dtables for hstcal calstis6 (cs6.e)."
    for k, v in (extra or {}).items():
        hdr[k] = v
    return fits.PrimaryHDU(header=hdr)


def _table(cols: list[fits.Column]) -> fits.BinTableHDU:
    return fits.BinTableHDU.from_columns(cols)


def _str(name: str, values: list[str], width: int = 16) -> fits.Column:
    return fits.Column(name, f"{width}A", array=np.array(values, dtype=f"U{width}"))


def _ped(n: int) -> list[fits.Column]:
    return [_str("PEDIGREE", [_PEDIGREE] * n, 30), _str("DESCRIP", [_DESCRIP] * n, 68)]


def _aperture_widths(aperture: str) -> tuple[float, float]:
    """(WIDTH1, WIDTH2) in arcsec from a long-slit name ``<length>X<width>``."""
    try:
        length, width = (float(v) for v in aperture.upper().split("X")[:2])
    except ValueError:
        length, width = 52.0, 2.0
    return width, length


def write_x1d_tables(
    oref_dir: str | Path,
    *,
    opt_elem: str = "G430L",
    cenwave: int = 4300,
    aperture: str = "52X2",
    trace_row: float = 511.0,
    trace_slope: float = 0.0,
    ltv2: float = 0.0,
    extrsize: float = 7.0,
    bk_offset: float = 20.0,
    bk_size: float = 5.0,
    backord: int = 0,
    wave_range: tuple[float, float] = (2900.0, 5700.0),
    nx: int = 1024,
    aper_thru: float = 1.0,
    prefix: str = "synx1d",
) -> dict[str, str]:
    """Write the synthetic X1DCORR reference tables into ``oref_dir``.

    Parameters
    ----------
    oref_dir : str or Path
        Directory (created if needed); point the ``oref`` environment variable at it
        (with a trailing ``/``).
    opt_elem, cenwave, aperture : str, int, str
        Row-selection values written into the tables; they must equal the data's
        ``OPT_ELEM``, ``CENWAVE`` and ``APERTURE`` (``PROPAPER`` without pseudo-aperture suffix).
    trace_row : float
        Trace row at column ``(nx - 1) // 2``, **0-indexed image pixels** of the image that
        will be extracted (for a subarray, of the subarray).
    trace_slope : float
        Rows per column (e.g. ``0.002`` for a 2-pixel rise over the detector).
    ltv2 : float
        ``LTV2`` of the image (``-(first detector row)``, 0-indexed, for a subarray; 0 for full
        frame).  The tables are in detector coordinates: ``A2CENTER = trace_row - ltv2 + 1``.
    extrsize : float
        Extraction box height (pixels), 7 by default.
    bk_offset, bk_size : float
        Background boxes of ``bk_size`` pixels centred at ``-bk_offset`` and ``+bk_offset``.
    backord : int
        Background fit order (0 = mean, 1 = straight line).
    wave_range : (float, float)
        Wavelengths of the first and last column (linear dispersion).
    nx : int
        Number of columns (``A2DISPL`` length, max 1024).
    aper_thru : float
        Constant aperture throughput (APERTAB).
    prefix : str
        File-name prefix.

    Returns
    -------
    dict
        Header keyword -> ``oref$<file>`` for every table written.
    """
    oref = Path(oref_dir)
    oref.mkdir(parents=True, exist_ok=True)
    s = _make_setup(
        opt_elem=opt_elem, cenwave=cenwave, aperture=aperture, trace_row=trace_row,
        trace_slope=trace_slope, ltv2=ltv2, extrsize=extrsize, bk_offset=bk_offset,
        bk_size=bk_size, backord=backord, wave_range=wave_range, nx=nx, aper_thru=aper_thru,
    )  # fmt: skip
    names = {
        "XTRACTAB": f"{prefix}_1dx.fits", "SPTRCTAB": f"{prefix}_1dt.fits",
        "SDCTAB": f"{prefix}_sdc.fits", "APDESTAB": f"{prefix}_apd.fits",
        "DISPTAB": f"{prefix}_dsp.fits", "INANGTAB": f"{prefix}_iac.fits",
        "PHOTTAB": f"{prefix}_pht.fits", "APERTAB": f"{prefix}_apt.fits",
    }  # fmt: skip
    one = {
        "opt": _str("OPT_ELEM", [s.opt_elem], 8),
        "cen": fits.Column("CENWAVE", "J", array=[s.cenwave]),
    }
    a2c_1 = s.a2center + 1.0  # tables are 1-indexed

    # XTRACTAB: one first-order row, unweighted extraction, no cross-correlation search
    zeros8 = np.zeros((1, 8))
    xtr = _table([
        _str("APERTURE", [s.aperture]), one["opt"], one["cen"],
        fits.Column("SPORDER", "I", array=[1]),
        fits.Column("EXTRSIZE", "E", array=[s.extrsize]),
        fits.Column("BK1SIZE", "E", array=[s.bk1size]), fits.Column("BK2SIZE", "E", array=[s.bk2size]),
        fits.Column("BK1OFFST", "E", array=[s.bk1offst]), fits.Column("BK2OFFST", "E", array=[s.bk2offst]),
        fits.Column("BKTCOEFF", "8D", array=zeros8), fits.Column("NCOEFFBK", "J", array=[1]),
        fits.Column("SLTCOEFF", "8D", array=zeros8), fits.Column("NCOEFFSL", "J", array=[1]),
        fits.Column("BACKORD", "I", array=[s.backord]),
        _str("XTRACALG", ["UNWEIGHTED"], 12),
        fits.Column("MAXSRCH", "I", array=[0]),
        *_ped(1),
    ])  # fmt: skip
    # SPTRCTAB: straight tilted trace; no MJD/DEGPERYR columns -> no trace rotation
    trc = _table([
        one["opt"], one["cen"], fits.Column("SPORDER", "I", array=[1]),
        fits.Column("A1CENTER", "D", array=[s.a1center + 1.0]),
        fits.Column("A2CENTER", "D", array=[a2c_1]),
        fits.Column("NELEM", "J", array=[s.nelem]),
        fits.Column("A2DISPL", f"{s.nelem}D", array=s.a2displ[None, :]),
        *_ped(1),
    ])  # fmt: skip
    # SDCTAB: read by cs6 (scattered-light algorithm only) -- minimal cs6 columns
    sdc = _table([
        one["opt"], one["cen"], fits.Column("SPORDER", "I", array=[1]),
        fits.Column("A2CENTER", "D", array=[a2c_1]),
        fits.Column("CDELT2", "D", array=[CCD_PLATE_SCALE]),
        fits.Column("NPIX2", "J", array=[1024]),
        *_ped(1),
    ])  # fmt: skip
    # APDESTAB: zero offsets -> no aperture shift of the trace, delta = 0 for the IAC
    w1_, w2_ = _aperture_widths(s.aperture)
    apd = _table([
        _str("APERTURE", [s.aperture]),
        fits.Column("OFFSET1", "D", array=[0.0]), fits.Column("OFFSET2", "D", array=[0.0]),
        fits.Column("WIDTH1", "D", array=[w1_]), fits.Column("WIDTH2", "D", array=[w2_]),
        *_ped(1),
    ])  # fmt: skip
    # DISPTAB: linear dispersion measured through the same aperture (REF_APER)
    coeff = np.zeros((1, 9))
    coeff[0, : len(s.disp_coeff)] = s.disp_coeff
    dsp = _table([
        one["opt"], one["cen"], fits.Column("A2CENTER", "D", array=[a2c_1]),
        fits.Column("NCOEFF", "J", array=[len(s.disp_coeff)]),
        fits.Column("COEFF", "9D", array=coeff),
        _str("REF_APER", [s.aperture]),
        *_ped(1),
    ])  # fmt: skip
    # INANGTAB: zero incidence-angle coefficients (and delta = 0 anyway)
    iac = _table([
        one["opt"], one["cen"], fits.Column("SPORDER", "I", array=[1]),
        fits.Column("NCOEFF1", "J", array=[2]), fits.Column("COEFF1", "2D", array=np.zeros((1, 2))),
        fits.Column("NCOEFF2", "J", array=[2]), fits.Column("COEFF2", "2D", array=np.zeros((1, 2))),
        *_ped(1),
    ])  # fmt: skip
    # PHOTTAB: smooth throughput curve, 10 A grid covering every first-order CCD mode
    n = s.phot_wave.size
    pht = _table([
        one["opt"], one["cen"], fits.Column("SPORDER", "I", array=[1]),
        fits.Column("NELEM", "J", array=[n]),
        fits.Column("WAVELENGTH", f"{n}D", array=s.phot_wave[None, :]),
        fits.Column("THROUGHPUT", f"{n}D", array=s.phot_thru[None, :]),
        fits.Column("ERROR", f"{n}D", array=0.01 * s.phot_thru[None, :]),
        *_ped(1),
    ])  # fmt: skip
    # APERTAB: constant relative aperture throughput
    apw = np.array([[1500.0, 11000.0]])
    apt = _table([
        _str("APERTURE", [s.aperture]), fits.Column("NELEM", "J", array=[2]),
        fits.Column("WAVELENGTH", "2D", array=apw),
        fits.Column("THROUGHPUT", "2D", array=np.full((1, 2), s.aper_thru)),
        *_ped(1),
    ])  # fmt: skip
    filetypes = {
        "XTRACTAB": "EXTRACTION PARAMETERS TABLE", "SPTRCTAB": "SPECTRUM TRACE TABLE",
        "SDCTAB": "2-D SPECTRUM DISTORTION CORRECTION TABLE", "APDESTAB": "APERTURE DESCRIPTION TABLE",
        "DISPTAB": "DISPERSION COEFFICIENTS TABLE", "INANGTAB": "INCIDENCE ANGLE CORRECTION TABLE",
        "PHOTTAB": "PHOTOMETRIC CONVERSION TABLE", "APERTAB": "APERTURE THROUGHPUT TABLE",
    }  # fmt: skip
    tables = {"XTRACTAB": xtr, "SPTRCTAB": trc, "SDCTAB": sdc, "APDESTAB": apd, "DISPTAB": dsp,
              "INANGTAB": iac, "PHOTTAB": pht, "APERTAB": apt}  # fmt: skip
    out: dict[str, str] = {}
    for key, tab in tables.items():
        tab.header["EXTNAME"] = key
        prim = _primary(filetypes[key], names[key], s, {"CENWAVE": s.cenwave})
        fits.HDUList([prim, tab]).writeto(oref / names[key], overwrite=True)
        out[key] = f"oref${names[key]}"
    return out


def read_x1d_setup(oref_dir: str | Path, tables: Mapping[str, str]) -> X1DSetup:
    """Rebuild the :class:`X1DSetup` from tables written by :func:`write_x1d_tables`.

    Values are read back as calstis reads them (float32 for ``E`` columns, float64 for ``D``).
    """
    oref = Path(oref_dir)

    def row(key: str):
        return fits.getdata(oref / tables[key].split("$", 1)[-1], 1)[0]

    x, t, d, p, a = (row(k) for k in ("XTRACTAB", "SPTRCTAB", "DISPTAB", "PHOTTAB", "APERTAB"))
    a2displ = np.asarray(t["A2DISPL"][: int(t["NELEM"])], dtype=np.float64)
    setup = X1DSetup(
        opt_elem=str(x["OPT_ELEM"]), cenwave=int(x["CENWAVE"]), aperture=str(x["APERTURE"]),
        a2center=float(t["A2CENTER"]) - 1.0, a1center=float(t["A1CENTER"]) - 1.0,
        extrsize=float(np.float32(x["EXTRSIZE"])), bk1size=float(np.float32(x["BK1SIZE"])),
        bk2size=float(np.float32(x["BK2SIZE"])), bk1offst=float(np.float32(x["BK1OFFST"])),
        bk2offst=float(np.float32(x["BK2OFFST"])), backord=int(x["BACKORD"]),
        disp_coeff=tuple(float(c) for c in d["COEFF"][: int(d["NCOEFF"])]),
        phot_wave=np.asarray(p["WAVELENGTH"][: int(p["NELEM"])], dtype=np.float64),
        phot_thru=np.asarray(p["THROUGHPUT"][: int(p["NELEM"])], dtype=np.float64),
        aper_thru=float(a["THROUGHPUT"][0]), nelem=a2displ.size,
    )  # fmt: skip
    object.__setattr__(setup, "_a2displ", a2displ)
    return setup


def x1d_header_cards(
    tables: Mapping[str, str] | None = None,
    *,
    backcorr: bool = True,
    dispcorr: bool = True,
    fluxcorr: bool = True,
) -> dict[str, tuple[str, str]]:
    """Primary-header switches and reference keywords for ``cs0.e`` to run X1DCORR.

    Parameters
    ----------
    tables : mapping, optional
        The result of :func:`write_x1d_tables` (keyword -> ``oref$name``).
    backcorr, dispcorr, fluxcorr : bool
        Whether those X1DCORR sub-steps are PERFORM (FLUXCORR needs DISPCORR).

    Returns
    -------
    dict
        Keyword -> ``(value, comment)``; the comment of each OMIT switch says why.
    """
    onoff = {True: "PERFORM", False: "OMIT"}
    cards: dict[str, tuple[str, str]] = {
        "X1DCORR": ("PERFORM", "1-D extraction with the synthetic tables"),
        "BACKCORR": (onoff[backcorr], "background from the two XTRACTAB boxes"),
        "DISPCORR": (onoff[dispcorr], "wavelengths from the synthetic DISPTAB"),
        "FLUXCORR": (onoff[fluxcorr and dispcorr], "flux from the synthetic PHOTTAB/APERTAB"),
        # OMIT: cs0 treats a missing CTECORR as PERFORM; it needs CTI parameters in CCDTAB
        # (CTINORM, CTIGPOWER, ...) and the synthetic images have no charge-transfer loss
        "CTECORR": ("OMIT", "no CTI in the data; CCDTAB lacks CTI columns"),
        # OMIT: would be computable from RA/DEC/EXPSTART, but keeps WAVELENGTH = DISPTAB exactly
        "HELCORR": ("OMIT", "keep wavelengths equal to the synthetic DISPTAB"),
        # OMIT: needs LAMPTAB/WCPTAB and a lamp-template wavecal; SHIFTA1/2 would move the box
        "WAVECORR": ("OMIT", "no lamp template; SHIFTA1/2 must stay 0"),
        # OMIT: calstis7 needs a full SDCTAB (distortion, plate scales), not modelled
        "X2DCORR": ("OMIT", "rectification needs a full SDCTAB"),
        "SC2DCORR": ("OMIT", "echelle scattered-light correction only"),
        "SGEOCORR": ("OMIT", "MAMA small-scale distortion only"),
        "GEOCORR": ("OMIT", "imaging only"),
        # optional for calstis6: N/A -> correction factor 1
        "PCTAB": ("N/A", "no finite-box photometric correction (factor 1)"),
        "GACTAB": ("N/A", "no grating-aperture correction (factor 1)"),
        "TDSTAB": ("N/A", "no time-dependent sensitivity (factor 1)"),
    }
    for key, name in (tables or {}).items():
        cards[key] = (name, "synthetic X1DCORR reference table")
    return cards


def x1d_sci_cards(
    setup_or_cenwave: X1DSetup | int = 4300, *, meandark: float = 0.0, ncombine: int = 1
) -> dict[str, tuple[object, str]]:
    """SCI-extension keywords calstis6 reads without defaults (besides EXPTIME/EXPSTART/EXPEND).

    ``CD1_1``, ``CD2_2``, ``CRPIX1``, ``CRVAL1``, ``MEANDARK`` and ``NCOMBINE`` are mandatory in
    ``GetGrpInfo6``; ``SHIFTA1/2 = 0`` keeps the wavecal offset out; ``DISPAXIS = 1``.
    """
    cenwave = (
        setup_or_cenwave.cenwave if isinstance(setup_or_cenwave, X1DSetup) else setup_or_cenwave
    )
    disp = 2.73
    if isinstance(setup_or_cenwave, X1DSetup) and len(setup_or_cenwave.disp_coeff) >= 2:
        disp = 1.0 / setup_or_cenwave.disp_coeff[1]
    return {
        "DISPAXIS": (1, "dispersion axis"),
        "CRPIX1": (512.0, "x-coordinate of reference pixel"),
        "CRVAL1": (float(cenwave), "first axis value at reference pixel"),
        "CD1_1": (float(disp), "Angstrom per pixel"),
        "CD2_2": (CCD_PLATE_SCALE / 3600.0, "degrees per pixel"),
        "SHIFTA1": (0.0, "no wavecal shift (WAVECORR OMIT)"),
        "SHIFTA2": (0.0, "no wavecal shift (WAVECORR OMIT)"),
        "MEANDARK": (float(meandark), "average of the dark values subtracted"),
        "NCOMBINE": (int(ncombine), "number of image sets combined"),
    }


# ----------------------------------------------------------------------------------------------
# NumPy twin of calstis6
# ----------------------------------------------------------------------------------------------


def _nint(x: np.ndarray) -> np.ndarray:
    """stis.h NINT: round half away from zero, then C truncation."""
    return np.where(x >= 0.0, np.trunc(x + 0.5), np.trunc(x - 0.5)).astype(np.int64)


def _interp_column(sci, err, dq, xx: np.ndarray, yy: np.ndarray):
    """hstcal ``Interp2D`` with ``sdqflags = 0``, vectorised over points (float32 arithmetic)."""
    ny, nx = sci.shape
    f32 = np.float32
    iix, iiy = _nint(xx), _nint(yy)
    out = (iix < 0) | (iix > nx - 1) | (iiy < 0) | (iiy > ny - 1)
    ii = np.clip(np.trunc(xx).astype(np.int64), 0, nx - 2)
    ij = np.clip(np.trunc(yy).astype(np.int64), 0, ny - 2)
    q = (xx - ii).astype(f32)
    p = f32(1.0) - q
    s = (yy - ij).astype(f32)
    r = f32(1.0) - s
    w0, w1, w2, w3 = p * r, q * r, p * s, q * s
    ii_, ij_ = np.where(out, 0, ii), np.where(out, 0, ij)
    a, b = sci[ij_, ii_], sci[ij_, ii_ + 1]
    c, d = sci[ij_ + 1, ii_], sci[ij_ + 1, ii_ + 1]
    value = w0 * a + w1 * b + w2 * c + w3 * d
    o_dq = dq[ij_, ii_] | dq[ij_, ii_ + 1] | dq[ij_ + 1, ii_] | dq[ij_ + 1, ii_ + 1]
    value = np.where(out, f32(0.0), value)
    o_dq = np.where(out, DETECTORPROB, o_dq)
    return value.astype(f32), o_dq.astype(np.int64)


def _background(sci, err, dq, setup: X1DSetup, ycen: np.ndarray, ltv, ltm):
    """``CalcBack``/``X1DBack`` for tilt 0: per-column coefficients, sigma and DQ flag."""
    nx = sci.shape[1]
    ipix = np.arange(nx)
    rpix = (ipix - ltv[0]) / ltm[0]
    boxes = []
    for size, off in ((setup.bk1size, setup.bk1offst), (setup.bk2size, setup.bk2offst)):
        yc = ycen + off * 1.0  # cos(0) = 1
        x1 = rpix + off * 0.0  # sin(0) = 0
        y1 = yc - (size / 2.0 * 1.0) + 0.5
        xx = x1 * ltm[0] + ltv[0]
        yy = y1 * ltm[1] + ltv[1]
        isize = int(size + 0.5)
        for _ in range(isize):
            o_sci, o_dq = _interp_column(sci, err, dq, xx, yy)
            boxes.append((yy.copy(), o_sci.astype(np.float64), o_dq))
            yy = yy + 1.0  # xx += sin, yy += cos, in double
    nbck = len(boxes)
    bck0, bck1 = np.zeros(nx), np.zeros(nx)
    vbck0, vbck1 = np.zeros(nx), np.zeros(nx)
    sigma = np.full(nx, np.finfo(np.float64).max / 3.1)
    ebck = np.zeros(nx)
    dqbck = np.zeros(nx, dtype=np.int64)
    active = np.ones(nx, dtype=bool)
    for iclip in range(1, MAX_CLIP + 1):
        npts, sumx, sumy, sumx2, sumy2, sumxy, new_sigma = (np.zeros(nx) for _ in range(7))
        nfbck = np.zeros(nx, dtype=np.int64)
        nsbck = np.zeros(nx, dtype=np.int64)
        for yy, o_sci, o_dq in boxes:
            flagged = (o_dq & DETECTORPROB) != 0
            residual = np.abs(o_sci - (bck0 + bck1 * yy))
            keep = ~flagged & (residual <= 3.0 * sigma)
            npts = np.where(keep, npts + 1.0, npts)
            sumx = np.where(keep, sumx + yy, sumx)
            sumy = np.where(keep, sumy + o_sci, sumy)
            sumx2 = np.where(keep, sumx2 + yy * yy, sumx2)
            sumxy = np.where(keep, sumxy + yy * o_sci, sumxy)
            sq = (o_sci.astype(np.float32) * o_sci.astype(np.float32)).astype(
                np.float64
            )  # float product in C
            sumy2 = np.where(keep, sumy2 + sq, sumy2)
            new_sigma = np.where(keep, new_sigma + residual * residual, new_sigma)
            nfbck += flagged
            nsbck += ~flagged & ~keep
        frac = (nfbck + nsbck).astype(np.float32) / np.float32(nbck)
        dq_it = np.where(frac > np.float32(0.33333), X1D_BAD_BACKGROUND, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            if setup.backord == 1:
                delta = npts * sumx2 - sumx * sumx
                ok = np.abs(delta) > 0.0
                b0 = np.where(ok, (sumx2 * sumy - sumx * sumxy) / delta, 0.0)
                b1 = np.where(ok, (sumxy * npts - sumx * sumy) / delta, 0.0)
                v0 = np.where(ok, sumx2 / delta, 0.0)
                v1 = np.where(ok, npts / delta, 0.0)
            else:
                b0 = np.where(npts > 0.0, sumy / npts, 0.0)
                v0 = np.where(npts > 1.0, (sumy2 - sumy * sumy / npts) / (npts - 1.0), 0.0)
                b1 = np.zeros(nx)
                v1 = np.zeros(nx)
            new_sig = np.sqrt(new_sigma / (npts - 1.0))
        upd = active
        bck0, bck1 = np.where(upd, b0, bck0), np.where(upd, b1, bck1)
        vbck0, vbck1 = np.where(upd, v0, vbck0), np.where(upd, v1, vbck1)
        dqbck = np.where(upd, dq_it, dqbck)
        more = upd & (npts > 1.0)
        sigma = np.where(more, new_sig, sigma)
        ebck = np.where(more, new_sig, ebck)
        active = more & ~((nsbck == 0) & (iclip > 1))
        if not active.any():
            break
    return bck0, bck1, vbck0, vbck1, ebck, dqbck


def _gaussj(a: list[list[float]], b: list[float]) -> list[float]:
    """Numerical-Recipes Gauss-Jordan with full pivoting (hstcal ``Sgaussj``), solution only."""
    n = len(a)
    ipiv = [0] * n
    for _ in range(n):
        big = 0.0
        row = col = 0
        for j in range(n):
            if ipiv[j] != 1:
                for k in range(n):
                    if ipiv[k] == 0 and abs(a[j][k]) >= big:
                        big = abs(a[j][k])
                        row, col = j, k
        ipiv[col] += 1
        if row != col:
            a[row], a[col] = a[col], a[row]
            b[row], b[col] = b[col], b[row]
        pivinv = 1.0 / a[col][col]
        a[col][col] = 1.0
        a[col] = [v * pivinv for v in a[col]]
        b[col] *= pivinv
        for j in range(n):
            if j != col:
                t = a[j][col]
                a[j][col] = 0.0
                a[j] = [a[j][m] - a[col][m] * t for m in range(n)]
                b[j] -= b[col] * t
    return b


def _seqsum(v: np.ndarray) -> float:
    """Left-to-right double sum (as a C loop), not NumPy's pairwise sum."""
    return float(np.add.accumulate(np.asarray(v, dtype=np.float64))[-1]) if v.size else 0.0


def _smooth_background(back: np.ndarray, order: int, mode: str) -> np.ndarray:
    """``SmoothBack`` for the CCD: 9-pixel ``BoxcarFilter`` (really [i-5, i+4]), then a poly fit."""
    n = back.size
    f32 = np.float32
    src = back.astype(f32)
    out = np.empty(n, dtype=f32)
    if mode == "median":
        for i in range(n):
            w = np.sort(src[max(0, i - 5) : min(i + 4, n - 1) + 1])
            m = w.size
            h = m // 2
            out[i] = w[h] if m % 2 else (w[h - 1] + w[h]) / f32(2.0)
    else:  # "average": running sum over [i-4, i+4] (calstis BKS_AVERAGE)
        total, cnt = 0.0, 0
        w2 = 9 // 2
        for j in range(w2):
            total += float(src[j])
            cnt += 1
        out[0] = f32(total / cnt)
        for i in range(1, n):
            w2 += 1
            if w2 < n:
                total += float(src[w2])
                cnt += 1
            w1 = w2 - 9
            if w1 > 0:
                total -= float(src[w1 - 1])
                cnt -= 1
            out[i] = f32(total / cnt)
    idx = np.arange(10, n - 10 + 1)
    ax = idx.astype(np.float64)
    ay = out[idx].astype(np.float64)
    avx = _seqsum(ax) / idx.size
    avy = _seqsum(ay) / idx.size
    x = ax - avx
    y = ay - avy
    nterm = order + 1
    basis = [np.array([math.pow(v, float(j)) for v in x]) for j in range(nterm)]
    covar = [[0.0] * nterm for _ in range(nterm)]
    beta = [0.0] * nterm
    for l_ in range(nterm):
        wgt = basis[l_] * 1.0  # sig2i = 1/sqrt(1)
        for m in range(l_ + 1):
            covar[l_][m] = _seqsum(wgt * basis[m])
        beta[l_] = _seqsum(y * wgt)
    for j in range(1, nterm):
        for k in range(j):
            covar[k][j] = covar[j][k]
    coef = _gaussj(covar, beta)
    fit = np.zeros(idx.size)
    for j in range(nterm):
        fit = fit + coef[j] * np.array([math.pow(v - avx, float(j)) for v in ax])
    fit = fit + avy
    out[idx] = fit.astype(f32)
    return out


def _eval_disp(c: tuple[float, ...], m: float, wl: float) -> float:
    n = len(c)
    x = c[0]
    if n >= 2:
        x = c[0] + c[1] * m * wl
    if n >= 3:
        x = x + c[2] * m * m * wl * wl
    if n >= 4:
        x = x + c[3] * m
    if n >= 5:
        x = x + c[4] * wl
    if n > 5:
        raise ValueError("only up to 5 dispersion coefficients are supported")
    return x - 1.0


def _eval_deriv(c: tuple[float, ...], m: float, wl: float) -> float:
    n = len(c)
    if n == 1:
        return 0.0
    if n == 2:
        return c[1] * m
    s = c[1] * m + c[2] * 2.0 * m * m * wl
    if n == 5:
        s = s + c[4]
    return s


def _wavelengths(setup: X1DSetup, nx: int, ltv0: float, ltm0: float) -> np.ndarray:
    """calstis6 ``Wave``: Newton inversion (``evalInvDisp``) of the dispersion, first order."""
    c, m, tol = setup.disp_coeff, 1.0, 0.001
    wave = np.empty(nx)
    est = float(setup.cenwave)
    for i in range(nx):
        pixel = (i - ltv0) / ltm0
        wl_test = est
        x_test = _eval_disp(c, m, wl_test)
        last = wl_test
        for _ in range(102):
            slope = _eval_deriv(c, m, wl_test)
            wl_test = wl_test + (pixel - x_test) / slope
            if abs(wl_test - last) < tol:
                break
            last = wl_test
            x_test = _eval_disp(c, m, wl_test)
        wave[i] = wl_test
        est = wl_test
    return wave


def _interp1d(x: np.ndarray, wl: np.ndarray, f: np.ndarray, extrapolate: bool) -> np.ndarray:
    """hstcal ``interp1d`` (clamped) / ``extrap1d`` (linear extrapolation), vectorised."""
    x = np.asarray(x, dtype=np.float64)
    n = wl.size
    i = np.clip(np.searchsorted(wl, x, side="right") - 1, 0, n - 2)
    p0 = (wl[i + 1] - x) / (wl[i + 1] - wl[i])
    y = f[i] * p0 + f[i + 1] * (1.0 - p0)
    lo, hi = x <= wl[0], x >= wl[-1]
    if extrapolate:
        ylo = f[0] + (f[1] - f[0]) * (x - wl[0]) / (wl[1] - wl[0])
        yhi = f[-2] + (f[-1] - f[-2]) * (x - wl[-2]) / (wl[-1] - wl[-2])
        return np.where(lo, ylo, np.where(hi, yhi, y))
    return np.where(lo, f[0], np.where(hi, f[-1], y))


def _qfactor(wl, extrsize_f32, gross, exptime, meandark, readnse, atodgain, ncombine):
    """calstis6 CCD ``QFactor`` (error inflation for multiple electrons per photon, < 3425 A)."""
    q_wave = np.array([1127.09, 2066.33, 2213.93, 2339.25, 3424.86, 11000.00])
    q_value = np.array([3.00, 1.50, 1.35, 1.40, 1.00, 1.00])
    q = _interp1d(wl, q_wave, q_value, extrapolate=False)
    s = np.where(gross > 0, gross.astype(np.float64), 0.0)
    w = float(extrsize_f32)
    g, n, t, d, r = atodgain, float(ncombine), exptime, meandark, readnse
    num = (s * t + d * w) * g / n + r * r * w
    den = (s * t / q + d * w) * g / n + r * r * w
    return np.sqrt(num / den).astype(np.float32)


def extract_like_x1d(
    sci: np.ndarray,
    err: np.ndarray,
    dq: np.ndarray,
    *,
    setup: X1DSetup,
    exptime: float,
    ltv: tuple[float, float] = (0.0, 0.0),
    ltm: tuple[float, float] = (1.0, 1.0),
    atodgain: float = 1.0,
    readnse: float = 0.0,
    meandark: float = 0.0,
    ncombine: int = 1,
    backcorr: bool = True,
    dispcorr: bool = True,
    fluxcorr: bool = True,
    bks_mode: str = "median",
    bks_order: int = 3,
) -> dict[str, np.ndarray | float | int]:
    """Compute what calstis6 writes into the ``_sx1`` row for the synthetic set-up.

    Parameters
    ----------
    sci, err, dq : ndarray, shape (ny, nx)
        The image set (``_crj``/``_flt`` SCI, ERR, DQ); any subarray.
    setup : X1DSetup
        The table content (:func:`read_x1d_setup` of the tables calstis reads).
    exptime : float
        SCI ``EXPTIME`` (s).
    ltv, ltm : (float, float)
        Header ``LTV1/LTV2`` and ``LTM1_1/LTM2_2`` (1-indexed FITS convention, as in the header).
    atodgain, readnse : float
        Primary ``ATODGAIN`` and ``READNSE``.
    meandark, ncombine : float, int
        SCI ``MEANDARK`` and ``NCOMBINE`` (used by the CCD Q-factor of the errors).
    backcorr, dispcorr, fluxcorr : bool
        The cs6 switches.
    bks_mode : {"median", "average", "off"}
        Background smoothing; ``cs0.e`` and ``cs6.e`` default to ``median`` (``cs6.e -bn``: off).
    bks_order : int
        Order of the polynomial fitted to the smoothed background.

    Returns
    -------
    dict
        The ``_sx1`` columns (:data:`SX1_COLUMNS`) for the single first-order row.
    """
    f32 = np.float32
    sci = np.asarray(sci, dtype=f32)
    err = np.asarray(err, dtype=f32)
    dq = np.asarray(dq).astype(np.int64) & 0xFFFF
    ny, nx = sci.shape
    ltm0, ltm1 = float(ltm[0]), float(ltm[1])
    ltv0, ltv1 = float(ltv[0]) + ltm0 - 1.0, float(ltv[1]) + ltm1 - 1.0  # GetLT0: zero-indexed
    a2displ = getattr(setup, "_a2displ", setup.a2displ)
    cc_a2center = setup.a2center + 0.0  # + SHIFTA2 + aperture OFFSET2 (all zero here)
    ipix = np.arange(nx)
    rpix = np.trunc((ipix - ltv0) / ltm0).astype(np.int64)
    inside = (rpix >= 0) & (rpix < a2displ.size)
    y_box = np.where(inside, cc_a2center + a2displ[np.clip(rpix, 0, a2displ.size - 1)], cc_a2center)
    extrsize = float(f32(setup.extrsize))
    yimg = y_box * ltm1 + ltv1
    ilow = yimg - extrsize * ltm1 / 2.0
    ihigh = yimg + extrsize * ltm1 / 2.0

    def near(v):
        t = np.trunc(v)
        return np.where(v - t < 0.5, t, t + 1.0).astype(np.int64)

    j1, j2 = near(ilow), near(ihigh)
    s1 = 0.5 - (ilow - j1)
    s2 = 0.5 + ihigh - j2

    if backcorr:
        bck0, bck1, vbck0, vbck1, _ebck, dqbck = _background(
            sci, err, dq, setup, y_box, (ltv0, ltv1), (ltm0, ltm1)
        )
    else:
        bck0 = bck1 = vbck0 = vbck1 = np.zeros(nx)
        dqbck = np.zeros(nx, dtype=np.int64)
    smooth = bks_mode != "off"

    acc_sum, acc_back, acc_net, acc_err = (np.zeros(nx) for _ in range(4))
    odq = np.zeros(nx, dtype=np.int64)
    touched = np.zeros(nx, dtype=bool)

    def accum(j, area, ok):
        nonlocal acc_sum, acc_back, acc_net, acc_err, odq, touched
        jj = np.clip(j, 0, ny - 1)
        pix = sci[jj, ipix].astype(np.float64)
        perr = err[jj, ipix].astype(np.float64)
        back = bck0 + bck1 * j
        backvar = 0.0 if smooth else vbck0 + vbck1 * j * j
        acc_back = np.where(ok, acc_back + back * area, acc_back)
        acc_sum = np.where(ok, acc_sum + pix * area, acc_sum)
        acc_net = np.where(ok, acc_net + (pix - back) * area, acc_net)
        acc_err = np.where(ok, acc_err + (perr * perr + backvar) * area, acc_err)
        odq = np.where(ok, odq | dq[jj, ipix], odq)
        touched |= ok

    accum(j1, s1, (j1 > 0) & (j1 < ny))
    accum(j2, s2, (j2 > j1) & (j2 > 0) & (j2 < ny))
    nmid = int(max(0, (j2 - j1 - 1).max()))
    for k in range(1, nmid + 1):
        j = j1 + k
        accum(j, 1.0, (j2 > j1 + 1) & (j <= j2 - 1) & (j > 0) & (j < ny))
    odq = odq | dqbck
    good = touched & (exptime > 0.0)
    gross = np.where(good, (acc_sum.astype(f32).astype(np.float64) / exptime), 0.0).astype(f32)
    backg = np.where(good, (acc_back.astype(f32).astype(np.float64) / exptime), 0.0).astype(f32)
    net = np.where(good, (acc_net.astype(f32).astype(np.float64) / exptime), 0.0).astype(f32)
    error32 = np.where(acc_err > 0.0, np.sqrt(np.where(acc_err > 0, acc_err, 0.0)), 0.0).astype(f32)
    error = np.where(good, error32.astype(np.float64) / exptime, 0.0).astype(f32)
    net_error = error.copy()
    if smooth:
        backg = _smooth_background(backg, bks_order, bks_mode)
        net = (gross - backg).astype(f32)

    extrsize_out = f32(extrsize * ltm1)
    wave = np.zeros(nx)
    flux = np.zeros(nx, dtype=f32)
    ferr = np.zeros(nx, dtype=f32)
    if dispcorr:
        wave = _wavelengths(setup, nx, ltv0, ltm0)
        if fluxcorr:
            photfactor = H_PLANCK * C_LIGHT / HST_AREA
            wl = wave / 1.0
            response = _interp1d(wl, setup.phot_wave, setup.phot_thru, extrapolate=True)
            apw = np.array([1500.0, 11000.0])
            thr = _interp1d(wl, apw, np.full(2, setup.aper_thru), extrapolate=False)
            dsp = np.empty(nx)
            dsp[1:-1] = (wave[2:] - wave[:-2]) / 2.0
            dsp[0] = wave[1] - wave[0]
            dsp[-1] = wave[-1] - wave[-2]
            bad = (thr <= 0.0) | (dsp <= 0.0) | (response <= 0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                corr = (photfactor / (response * thr * wl * dsp * CM_PER_ANGSTROM)).astype(f32)
            corr = (corr.astype(np.float64) * atodgain).astype(f32)
            q = _qfactor(wl, extrsize_out, gross, exptime, meandark, readnse, atodgain, ncombine)
            flux = np.where(bad, f32(0.0), net * corr).astype(f32)
            ferr = np.where(bad, f32(0.0), error * (corr * q)).astype(f32)
            net_error = np.where(bad, net_error, net_error * q).astype(f32)
            odq = np.where(bad, odq | CALIBDEFECT, odq)
    extrlocy = (y_box * ltm1 + ltv1 + 1.0).astype(f32)
    return {
        "SPORDER": 1,
        "NELEM": nx,
        "WAVELENGTH": wave,
        "GROSS": gross,
        "BACKGROUND": backg,
        "NET": net,
        "FLUX": flux,
        "ERROR": ferr,
        "NET_ERROR": net_error,
        "DQ": odq.astype(np.int16),
        "A2CENTER": f32(cc_a2center * ltm1 + ltv1 + 1.0),
        "EXTRSIZE": extrsize_out,
        "MAXSRCH": 0,
        "BK1SIZE": f32(setup.bk1size * ltm1),
        "BK2SIZE": f32(setup.bk2size * ltm1),
        "BK1OFFST": f32(setup.bk1offst * ltm1),
        "BK2OFFST": f32(setup.bk2offst * ltm1),
        "EXTRLOCY": extrlocy,
        "OFFSET": f32(0.0),
    }
