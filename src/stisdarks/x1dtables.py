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
pipeline's background smoothing, ``DISPCORR``, ``FLUXCORR`` with the CCD Q-factor), so that its
columns agree with ``cs6.e``'s ``_sx1`` to float32 rounding (0 ulp measured).  It is a thin
wrapper: the box per column is the table trace, the wavelengths the Newton inversion of the
DISPTAB (here), and the extraction, background, smoothing, Q-factor and flux conversion are the
calstis6 core of :mod:`stisdarks.x1d` (see there for the calstis behaviours reproduced).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

from stisdarks.x1d import (
    SX1_COLUMNS,
    extract_columns,
    flux_calibrate,
    inverse_sensitivity,
    qfactor,
)

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

CCD_PLATE_SCALE = 0.05078  # arcsec per CCD pixel (cross-dispersion)

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
# NumPy twin of calstis6 for the synthetic tables (the core is stisdarks.x1d)
# ----------------------------------------------------------------------------------------------


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

    The box per column is the table trace (``A2CENTER + A2DISPL``, no offsets); the extraction
    is :func:`stisdarks.x1d.extract_columns`, the wavelengths the Newton inversion of the
    DISPTAB, the flux :func:`stisdarks.x1d.inverse_sensitivity` and :func:`stisdarks.x1d.qfactor`.

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
    nx = np.shape(sci)[1]
    ltm0, ltm1 = float(ltm[0]), float(ltm[1])
    ltv0, ltv1 = float(ltv[0]) + ltm0 - 1.0, float(ltv[1]) + ltm1 - 1.0  # GetLT0: zero-indexed
    a2displ = getattr(setup, "_a2displ", setup.a2displ)
    cc_a2center = setup.a2center + 0.0  # + SHIFTA2 + aperture OFFSET2 (all zero here)
    rpix = np.trunc((np.arange(nx) - ltv0) / ltm0).astype(np.int64)
    inside = (rpix >= 0) & (rpix < a2displ.size)
    y_box = np.where(inside, cc_a2center + a2displ[np.clip(rpix, 0, a2displ.size - 1)], cc_a2center)
    cols = extract_columns(
        sci, err, dq, y_box=y_box, extrsize=float(f32(setup.extrsize)), bk1size=setup.bk1size,
        bk2size=setup.bk2size, bk1offst=setup.bk1offst, bk2offst=setup.bk2offst, exptime=exptime,
        backord=setup.backord, ltv=ltv, ltm=ltm, backcorr=backcorr, bks_mode=bks_mode,
        bks_order=bks_order,
    )  # fmt: skip
    wave = np.zeros(nx)
    cols["FLUX"] = np.zeros(nx, dtype=f32)
    cols["ERROR"] = np.zeros(nx, dtype=f32)
    if dispcorr:
        wave = _wavelengths(setup, nx, ltv0, ltm0)
        if fluxcorr:
            corr = inverse_sensitivity(
                wave, setup.phot_wave, setup.phot_thru, np.array([1500.0, 11000.0]),
                np.full(2, setup.aper_thru), atodgain=atodgain,
            )  # fmt: skip
            q = qfactor(wave, cols["EXTRSIZE"], cols["GROSS"], exptime=exptime, meandark=meandark,
                        readnse=readnse, atodgain=atodgain, ncombine=ncombine)  # fmt: skip
            cols = flux_calibrate(cols, corr, q)
    return {
        "SPORDER": 1,
        "NELEM": nx,
        "WAVELENGTH": wave,
        "GROSS": cols["GROSS"],
        "BACKGROUND": cols["BACKGROUND"],
        "NET": cols["NET"],
        "FLUX": cols["FLUX"],
        "ERROR": cols["ERROR"],
        "NET_ERROR": cols["NET_ERROR"],
        "DQ": np.asarray(cols["DQ"]).astype(np.int16),
        "A2CENTER": f32(cc_a2center * ltm1 + ltv1 + 1.0),
        "EXTRSIZE": cols["EXTRSIZE"],
        "MAXSRCH": 0,
        "BK1SIZE": cols["BK1SIZE"],
        "BK2SIZE": cols["BK2SIZE"],
        "BK1OFFST": cols["BK1OFFST"],
        "BK2OFFST": cols["BK2OFFST"],
        "EXTRLOCY": cols["EXTRLOCY"],
        "OFFSET": f32(0.0),
    }
