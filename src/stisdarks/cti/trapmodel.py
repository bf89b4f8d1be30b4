"""The charge-trap model of stis_cti's pixel-based CTI correction, read from a PCTETAB.

The physics
-----------
A CCD is read by shifting every charge packet, row after row, down its column to the
serial register and the amplifier. Defects in the silicon lattice (*traps*) sit at various
heights in a pixel's potential well: a packet of ``q`` electrons fills the well up to a
height that depends on ``q``, meets every empty trap below that height, and loses an
electron to each with some probability. A trap releases its electron after a random
delay, i.e. some transfers later, into a packet that follows it up the column. The image
thus comes out with charge missing from sources and smeared into trails behind them, away
from the amplifier: charge-transfer inefficiency (CTI). Faint packets lose a larger
fraction, as they meet only the densest, lowest traps.

Anderson & Bedin (2010, PASP 122, 1035) model this with two functions, both stored in a
PCTETAB (stis_cti's ``data/*_pcte.fits``):

- ``phi(q)`` (extension ``DTDE``: values ``DTDE`` at charges ``Q``): how many electrons a
  packet loses, per electron of well height at ``q``, in a transfer over the whole
  1024-row column (:data:`CTE_REF_ROW`). It is interpolated log-log to every integer
  ``q`` (:func:`interpolate_phi`) and turned into the probability that the trap layer at
  height ``q`` captures an electron during one of the ``SHFT_NIT`` shifts the simulated
  readout breaks a column transfer into: ``1 - (1 - phi/1024) ** (1024 / SHFT_NIT)``.
- ``psi(n, q)`` (extensions ``CHG_LEAKn``, each valid for ``MJD1 <= TEXPSTRT < MJD2``):
  the profile of the trail, the fraction of a trapped electron released ``n`` transfers
  after its capture, tabulated at a few nodes ``n`` (``NODE``) for four charges
  (``LOG_Q_1..4``: ``log10 q`` = 1, 2, 3, 4). It is interpolated to every
  ``n = 1..`` :data:`MAX_TAIL_LEN` and normalised so that each trail releases all it
  took (``chg_leak``); ``chg_open`` is what is still held after ``n`` transfers
  (:func:`interpolate_psi`).

The continuum of trap heights is cut into :data:`NUM_LEV` *levels* (extension ``LEVELS``,
in electrons): level ``l`` holds the traps between ``levels[l]`` and ``levels[l+1]``, of
capacity ``dpde_l[l+1]`` (``phi`` summed over that range), with the trail profile of its
charge interpolated in ``log10 q`` (:func:`fill_level_arrays`). The strength of the whole
model scales with the age of the detector (``CTE_SCALE``: a linear function of the MJD,
:func:`calc_cte_frac`), with the column (``COL_SCALE``, one factor per amplifier and
column) and with the number of transfers a pixel undergoes, i.e. its distance from the
serial register (row ``/ 1024``): :func:`cte_frac_array`.

Everything here is a port of stis_cti 1.6.2 (``StisPixCteCorr._PixCteParams`` and the C
functions ``CalcCteFrac``, ``InterpolatePsi``, ``InterpolatePhi``, ``FillLevelArrays``),
computed in the same floating-point order with the same C library (``math.log10``,
``math.pow``), so that the arrays are bit-identical to the extension's. The readout
simulation that uses them lives in :mod:`stisdarks.cti.kernel`.

A PCTETAB that is missing, unreadable or not shaped as the model needs, or that does not
cover the exposure's ``TEXPSTRT``, raises :class:`~stisdarks.errors.InputFileError` with
one line (stis_cti would crash, or read past the end of its arrays).
"""

from __future__ import annotations

import datetime
import functools
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
from astropy.io import fits

from stisdarks.errors import InputFileError

__all__ = [
    "NUM_PHI", "NUM_PSI", "NUM_LOGQ", "NUM_LEV", "NUM_SCALE", "MAX_TAIL_LEN", "MAX_PHI",
    "CTE_REF_ROW", "CCD_COLUMNS", "AMPLIFIERS", "PcteParams", "TrapModel", "read_pctetab",
    "build_trap_model", "load_trap_model", "calc_cte_frac", "interpolate_psi",
    "interpolate_phi", "fill_level_arrays", "readout_direction", "cte_frac_array",
]  # fmt: skip

#: stis_cti's compiled-in table sizes (``StisPixCteCorr.h``): phi values, psi nodes, log q
#: columns of psi, charge levels, CTE_SCALE points
NUM_PHI, NUM_PSI, NUM_LOGQ, NUM_LEV, NUM_SCALE = 12, 17, 4, 298, 2
#: trails are followed for this many transfers
MAX_TAIL_LEN = 60
#: phi is interpolated at every charge 1..MAX_PHI electrons
MAX_PHI = 150000
#: the number of transfers over which phi is measured (a full column)
CTE_REF_ROW = 1024
#: COL_SCALE has one row per unbinned detector column
CCD_COLUMNS = 1024
AMPLIFIERS = ("A", "B", "C", "D")
#: the fix every PCTETAB complaint ends with
_FIX = "point cti.pctetab at a stis_cti PCTETAB (e.g. its a02_stis_pcte.fits)"
_MJD0 = datetime.datetime(1858, 11, 17)


def _frozen(array: np.ndarray) -> np.ndarray:
    """A read-only C-contiguous copy."""
    out = np.array(array, order="C", copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class PcteParams:
    """What stis_cti's ``_PixCteParams`` reads from a PCTETAB for one exposure.

    Attributes
    ----------
    path : Path
        The PCTETAB.
    texpstrt : float
        The exposure start (MJD) the parameters are for.
    cte_frac : float
        The time scaling of the CTI at ``texpstrt`` (header ``PCTEFRAC``).
    sim_nit, shft_nit : int
        Readout simulations per column (``SIM_NIT``) and shifts per simulation (``SHFT_NIT``).
    read_noise : float
        ``RN_CLIP``: the largest amplitude (electrons) the read-noise model removes.
    noise_model : int
        ``NSEMODEL``: 0 no read-noise separation, 1 normal, 2 strong.
    oversub_thresh : float
        ``SUBTHRSH``: corrected pixels below this (electrons) are re-corrected.
    pcte_ver : str
        ``PCTE_VER``, the PCTETAB's version.
    q_dtde, dtde_l : ndarray
        ``Q`` (int) and ``DTDE`` (float64) of extension ``DTDE``: phi(q) at its nodes.
    levels : ndarray
        ``LEVEL`` of extension ``LEVELS`` (int32), the charge levels in electrons.
    scale_mjd, scale_val : ndarray
        ``MJD`` and ``SCALE`` of extension ``CTE_SCALE`` (float64).
    chg_leak_ext : str
        The ``CHG_LEAKn`` extension valid at ``texpstrt``.
    psi_node, chg_leak : ndarray
        Its ``NODE`` (int) and its other columns (float64, ``NUM_PSI x NUM_LOGQ``).
    col_scale : Mapping[str, ndarray]
        ``AMPA``..``AMPD`` of extension ``COL_SCALE`` (float64), by amplifier letter.
    """

    path: Path
    texpstrt: float
    cte_frac: float
    sim_nit: int
    shft_nit: int
    read_noise: float
    noise_model: int
    oversub_thresh: float
    pcte_ver: str
    q_dtde: np.ndarray
    dtde_l: np.ndarray
    levels: np.ndarray
    scale_mjd: np.ndarray
    scale_val: np.ndarray
    chg_leak_ext: str
    psi_node: np.ndarray
    chg_leak: np.ndarray
    col_scale: Mapping[str, np.ndarray]


@dataclass(frozen=True, eq=False)
class TrapModel:
    """Everything the simulated readout needs: the trap levels, their trails, the scalings.

    Built by :func:`build_trap_model` (or :func:`load_trap_model`). The arrays are
    read-only and C-contiguous, ready for :mod:`stisdarks.cti.kernel`.

    Attributes
    ----------
    pctetab : Path
        The PCTETAB it was read from.
    pcte_ver : str
        Its ``PCTE_VER``.
    texpstrt : float
        The exposure start (MJD) it is for.
    cte_frac : float
        The time scaling of the CTI at ``texpstrt``.
    sim_nit, shft_nit : int
        Readout simulations per column and shifts per simulation.
    read_noise : float
        Read-noise clipping amplitude (electrons) of :func:`~stisdarks.cti.kernel.decompose_rn`.
    noise_model : int
        0, 1 or 2: the read-noise separation.
    oversub_thresh : float
        The over-subtraction threshold (electrons).
    levels : ndarray
        ``(NUM_LEV,)`` int32 charge levels (electrons).
    dpde_l : ndarray
        ``(NUM_LEV,)`` trap capacity of each level per shift (``dpde_l[0] = 0``).
    chg_leak_lt : ndarray
        ``(MAX_TAIL_LEN, NUM_LEV)`` fraction of a level's trapped charge released at the
        ``t``-th transfer after capture (row ``t - 1``).
    chg_open_lt : ndarray
        ``(MAX_TAIL_LEN, NUM_LEV)`` fraction still trapped after ``t`` transfers.
    col_scale : Mapping[str, ndarray]
        Column scaling (float64, :data:`CCD_COLUMNS` values) by amplifier letter.
    """

    pctetab: Path
    pcte_ver: str
    texpstrt: float
    cte_frac: float
    sim_nit: int
    shft_nit: int
    read_noise: float
    noise_model: int
    oversub_thresh: float
    levels: np.ndarray
    dpde_l: np.ndarray
    chg_leak_lt: np.ndarray
    chg_open_lt: np.ndarray
    col_scale: Mapping[str, np.ndarray]


# --------------------------------------------------------------------------- reading


def _refusal(path: Path, reason: str, fix: str = _FIX) -> InputFileError:
    """The one-line error for PCTETAB ``path``: ``reason`` (whitespace folded), then ``fix``."""
    return InputFileError(f"PCTETAB {os.fspath(path)} {' '.join(reason.split())}; {fix}")


def _keyword(
    header: fits.Header, key: str, kind: type, path: Path, where: str = "its primary header"
) -> object:
    """A header keyword of the right type (int: not bool; float: int or float)."""
    if key not in header:
        raise _refusal(path, f"has no {key} in {where}")
    value = header[key]
    if kind is str:
        ok = isinstance(value, str)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        wanted = {str: "a string", int: "an integer"}.get(kind, "a number")
        raise _refusal(path, f"has {key} = {value!r} in {where}, not {wanted}")
    return value


def _table(hdul: fits.HDUList, extname: str, path: Path) -> fits.BinTableHDU:
    if extname not in hdul:
        raise _refusal(path, f"has no {extname} extension (not a stis_cti PCTETAB)")
    hdu = hdul[extname]
    if not isinstance(hdu, (fits.BinTableHDU, fits.TableHDU)) or hdu.data is None:
        raise _refusal(path, f"has an extension {extname} that is not a table with rows")
    return hdu


def _column(hdu: fits.BinTableHDU, name: str, rows: int, path: Path) -> np.ndarray:
    """Column ``name`` of table ``hdu``, checked to hold ``rows`` scalar values."""
    if name not in hdu.columns.names:
        raise _refusal(path, f"has no column {name} in extension {hdu.name}")
    data = np.asarray(hdu.data[name])
    if data.ndim != 1 or len(data) != rows:
        raise _refusal(
            path,
            f"has {len(data)} rows of shape {data.shape[1:]} in {hdu.name}.{name}; "
            f"the CTE model needs {rows} scalar values",
        )
    return data


def _increasing(values: np.ndarray) -> bool:
    return bool(np.all(np.diff(values) > 0))


def _read_phi(hdul: fits.HDUList, path: Path) -> tuple[np.ndarray, np.ndarray]:
    hdu = _table(hdul, "DTDE", path)
    dtde_l = _column(hdu, "DTDE", NUM_PHI, path).astype(np.float64)
    q_dtde = _column(hdu, "Q", NUM_PHI, path).astype(np.int64)
    if q_dtde[0] != 1 or q_dtde[-1] != MAX_PHI or not _increasing(q_dtde):
        raise _refusal(path, f"has DTDE.Q {q_dtde.tolist()}, not increasing from 1 to {MAX_PHI}")
    if not np.all(dtde_l > 0):
        raise _refusal(path, "has a DTDE.DTDE value <= 0 (phi is interpolated in log)")
    return q_dtde, dtde_l


def _read_levels(hdul: fits.HDUList, path: Path) -> np.ndarray:
    levels = _column(_table(hdul, "LEVELS", path), "LEVEL", NUM_LEV, path)
    if levels[0] < 0 or levels[-1] > MAX_PHI or not _increasing(levels):
        raise _refusal(path, f"has LEVELS.LEVEL not increasing within 0..{MAX_PHI}")
    return levels.astype(np.int32)


def _read_scale(hdul: fits.HDUList, path: Path) -> tuple[np.ndarray, np.ndarray]:
    hdu = _table(hdul, "CTE_SCALE", path)
    mjd = _column(hdu, "MJD", NUM_SCALE, path).astype(np.float64)
    val = _column(hdu, "SCALE", NUM_SCALE, path).astype(np.float64)
    return mjd, val


def _read_col_scale(hdul: fits.HDUList, path: Path) -> Mapping[str, np.ndarray]:
    hdu = _table(hdul, "COL_SCALE", path)
    scales = {amp: _column(hdu, f"AMP{amp}", CCD_COLUMNS, path) for amp in AMPLIFIERS}
    return MappingProxyType({amp: _frozen(v.astype(np.float64)) for amp, v in scales.items()})


def _mjd_text(mjd: float) -> str:
    try:
        return f"{mjd:.2f} ({_MJD0 + datetime.timedelta(days=mjd):%Y-%m-%d})"
    except (OverflowError, ValueError):
        return f"{mjd:g}"


def _read_chg_leak(
    hdul: fits.HDUList, path: Path, texpstrt: float
) -> tuple[str, np.ndarray, np.ndarray]:
    """The first ``CHG_LEAKn`` with ``MJD1 <= texpstrt < MJD2``: its name, nodes and psi."""
    nchg = _keyword(hdul[0].header, "NCHGLEAK", int, path)
    if nchg < 1:
        raise _refusal(path, f"has NCHGLEAK = {nchg}, no CHG_LEAK extension")
    ranges = []
    for extname in (f"CHG_LEAK{i}" for i in range(1, nchg + 1)):
        hdu = _table(hdul, extname, path)
        mjd1, mjd2 = (
            _keyword(hdu.header, key, float, path, f"extension {extname}")
            for key in ("MJD1", "MJD2")
        )
        ranges.append(f"{mjd1:g}-{mjd2:g}")
        if mjd1 <= texpstrt < mjd2:
            break
    else:
        raise _refusal(
            path,
            f"covers no TEXPSTRT {_mjd_text(texpstrt)}: its CHG_LEAK extensions are valid "
            f"for MJD {', '.join(ranges)}",
            "use a PCTETAB that covers it (cti.pctetab)",
        )
    names = hdu.columns.names
    if len(names) != 1 + NUM_LOGQ or names[0] != "NODE":
        raise _refusal(path, f"has columns {names} in {extname}, not NODE and {NUM_LOGQ} psi")
    psi_node = _column(hdu, "NODE", NUM_PSI, path).astype(np.int64)
    chg_leak = np.column_stack(
        [_column(hdu, name, NUM_PSI, path).astype(np.float64) for name in names[1:]]
    )
    if psi_node[0] < 1 or psi_node[-1] < MAX_TAIL_LEN or not _increasing(psi_node):
        raise _refusal(path, f"has {extname}.NODE not increasing from >= 1 to >= {MAX_TAIL_LEN}")
    return extname, psi_node, chg_leak


def read_pctetab(path: os.PathLike | str, texpstrt: float) -> PcteParams:
    """Read a PCTETAB for an exposure that started at ``texpstrt``: ``_PixCteParams``.

    Parameters
    ----------
    path : path-like
        The PCTETAB (a FITS file as stis_cti ships, e.g. ``a02_stis_pcte.fits``).
    texpstrt : float
        The exposure start (MJD), ``TEXPSTRT`` of its primary header.

    Returns
    -------
    PcteParams
        The header parameters, the tables and the time scaling ``cte_frac``.

    Raises
    ------
    InputFileError
        One line naming the file, the reason and the fix: the file is missing or no FITS,
        an extension, column or keyword is missing, a table has the wrong number of rows,
        or ``texpstrt`` is outside every ``CHG_LEAKn`` extension's ``MJD1..MJD2`` or before
        the first ``CTE_SCALE`` point.
    """
    path = Path(path)
    texpstrt = float(texpstrt)
    if not path.is_file():
        raise _refusal(path, "does not exist", "fix cti.pctetab")
    try:
        with fits.open(path, memmap=False) as hdul:
            return _read_params(hdul, path, texpstrt)
    except InputFileError:
        raise
    except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise _refusal(path, f"cannot be read as FITS ({exc})") from exc


def _read_params(hdul: fits.HDUList, path: Path, texpstrt: float) -> PcteParams:
    header = hdul[0].header
    values = {
        "read_noise": _keyword(header, "RN_CLIP", float, path),
        "noise_model": _keyword(header, "NSEMODEL", int, path),
        "sim_nit": _keyword(header, "SIM_NIT", int, path),
        "shft_nit": _keyword(header, "SHFT_NIT", int, path),
        "oversub_thresh": _keyword(header, "SUBTHRSH", float, path),
        "pcte_ver": _keyword(header, "PCTE_VER", str, path),
    }
    _check_settings(values, lambda reason: _refusal(path, reason))
    q_dtde, dtde_l = _read_phi(hdul, path)
    levels = _read_levels(hdul, path)
    scale_mjd, scale_val = _read_scale(hdul, path)
    cte_frac = calc_cte_frac(texpstrt, scale_mjd, scale_val)
    if cte_frac < 0:
        raise _refusal(
            path,
            f"has no CTE scaling at TEXPSTRT {_mjd_text(texpstrt)} (CTE_SCALE at MJD "
            f"{', '.join(f'{m:g}' for m in scale_mjd)} gives {cte_frac:g})",
            "use a PCTETAB that covers it (cti.pctetab)",
        )
    chg_leak_ext, psi_node, chg_leak = _read_chg_leak(hdul, path, texpstrt)
    col_scale = _read_col_scale(hdul, path)
    return PcteParams(
        path=path, texpstrt=texpstrt, cte_frac=cte_frac, q_dtde=_frozen(q_dtde),
        dtde_l=_frozen(dtde_l), levels=_frozen(levels), scale_mjd=_frozen(scale_mjd),
        scale_val=_frozen(scale_val), chg_leak_ext=chg_leak_ext, psi_node=_frozen(psi_node),
        chg_leak=_frozen(chg_leak), col_scale=col_scale, **values,
    )  # fmt: skip


def _check_settings(values: Mapping[str, object], error) -> None:
    """Refuse settings the model cannot run with (``error(reason)`` builds the exception)."""
    if values["noise_model"] not in (0, 1, 2):
        raise error(f"has NSEMODEL = {values['noise_model']}, not 0, 1 or 2")
    for key, name in (("sim_nit", "SIM_NIT"), ("shft_nit", "SHFT_NIT")):
        if values[key] < 1:
            raise error(f"has {name} = {values[key]}, not a positive number of iterations")


# --------------------------------------------------------------------------- the model


def calc_cte_frac(expstart: float, scale_mjd: np.ndarray, scale_val: np.ndarray) -> float:
    """The CTI time scaling at ``expstart``: stis_cti's ``CalcCteFrac``.

    Linear in the MJD between the two ``CTE_SCALE`` points, extrapolated after the last;
    ``-9999.0`` before the first (stis_cti then raises ``ValueError``).
    """
    mjd = [float(m) for m in scale_mjd[:NUM_SCALE]]
    val = [float(v) for v in scale_val[:NUM_SCALE]]
    mjd_pt1 = mjd_pt2 = 0.0
    cte_pt1 = cte_pt2 = 0.0
    for i in range(NUM_SCALE - 1):
        if expstart >= mjd[i] and expstart < mjd[i + 1]:
            mjd_pt1, mjd_pt2, cte_pt1, cte_pt2 = mjd[i], mjd[i + 1], val[i], val[i + 1]
            break
    if expstart >= mjd[NUM_SCALE - 1] and mjd_pt1 == 0 and mjd_pt2 == 0:
        mjd_pt1, mjd_pt2 = mjd[NUM_SCALE - 2], mjd[NUM_SCALE - 1]
        cte_pt1, cte_pt2 = val[NUM_SCALE - 2], val[NUM_SCALE - 1]
    elif mjd_pt1 == 0 and mjd_pt2 == 0:
        return -9999.0
    return ((cte_pt2 - cte_pt1) / (mjd_pt2 - mjd_pt1)) * (expstart - mjd_pt1) + cte_pt1


def interpolate_psi(chg_leak: np.ndarray, psi_node: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The trail profile at every transfer 1..MAX_TAIL_LEN: stis_cti's ``InterpolatePsi``.

    Parameters
    ----------
    chg_leak : ndarray
        ``(NUM_PSI, NUM_LOGQ)`` psi at the nodes.
    psi_node : ndarray
        ``(NUM_PSI,)`` the nodes (transfers), increasing, the last ``>= MAX_TAIL_LEN``.

    Returns
    -------
    chg_leak_kt, chg_open_kt : ndarray
        ``(MAX_TAIL_LEN, NUM_LOGQ)``: psi interpolated linearly between nodes and
        normalised to sum 1 in each column; ``1 -`` its running sum.
    """
    leak = [[float(v) for v in row] for row in chg_leak]
    node = [int(n) for n in psi_node]
    interp = [[0.0] * NUM_LOGQ for _ in range(MAX_TAIL_LEN)]
    i1, i2 = 0, 1
    for i in range(MAX_TAIL_LEN):
        if i + 1 == node[i1]:
            interp[i] = list(leak[i1])
        else:
            frac = float(i + 1 - node[i1]) / float(node[i2] - node[i1])
            interp[i] = [
                leak[i1][j] + (frac * (leak[i2][j] - leak[i1][j])) for j in range(NUM_LOGQ)
            ]
        # the C compares with psi_node[NUM_PSI] (out of bounds) only after the last transfer
        if i2 < NUM_PSI and i + 2 == node[i2]:
            i1 += 1
            i2 += 1
    leak_kt = np.empty((MAX_TAIL_LEN, NUM_LOGQ))
    open_kt = np.empty((MAX_TAIL_LEN, NUM_LOGQ))
    for j in range(NUM_LOGQ):
        total = 0.0
        for t in range(MAX_TAIL_LEN):
            total += interp[t][j]
        cumulative = 0.0
        for t in range(MAX_TAIL_LEN):
            value = interp[t][j] / total
            leak_kt[t, j] = value
            cumulative += value
            open_kt[t, j] = 1.0 - cumulative
    return leak_kt, open_kt


@functools.lru_cache(maxsize=8)
def _phi_cached(dtde_l: tuple[float, ...], q_dtde: tuple[int, ...], shft_nit: int) -> np.ndarray:
    dtde_q = [0.0] * MAX_PHI
    for p in range(NUM_PHI - 1):
        q_a, q_b = q_dtde[p], q_dtde[p + 1]
        if p == NUM_PHI - 2:  # the last interval: linear to 0 instead of log-log
            for q in range(q_a, q_b):
                dtde_q[q - 1] = dtde_l[p] * (1.0 - float(q - q_a) / float(q_b - q_a))
            continue
        log_qa, log_qb = math.log10(float(q_a)), math.log10(float(q_b))
        log_da, log_db = math.log10(dtde_l[p]), math.log10(dtde_l[p + 1])
        for q in range(q_a, q_b):
            dist = (math.log10(float(q)) - log_qa) / (log_qb - log_qa)
            dtde_q[q - 1] = math.pow(10.0, log_da + (dist * (log_db - log_da)))
    dtde_q[MAX_PHI - 1] = 0.0
    exponent = float(CTE_REF_ROW) / float(shft_nit)
    out = np.array(
        [1.0 - math.pow(1.0 - d / float(CTE_REF_ROW), exponent) for d in dtde_q], dtype=float
    )
    out.setflags(write=False)
    return out


def interpolate_phi(dtde_l: np.ndarray, q_dtde: np.ndarray, shft_nit: int) -> np.ndarray:
    """Capture probability per shift at every charge 1..MAX_PHI: ``InterpolatePhi``.

    phi is interpolated log-log between its nodes (linearly to 0 over the last interval),
    then turned from a loss over :data:`CTE_REF_ROW` transfers into a probability per
    each of the ``1024 / shft_nit``-transfer shifts. Element ``q - 1`` is for charge ``q``.
    The result is cached and read-only.
    """
    return _phi_cached(
        tuple(float(d) for d in dtde_l), tuple(int(q) for q in q_dtde), int(shft_nit)
    )


def fill_level_arrays(
    chg_leak_kt: np.ndarray, chg_open_kt: np.ndarray, dtde_q: np.ndarray, levels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The trap capacity and trail of each charge level: stis_cti's ``FillLevelArrays``.

    Returns
    -------
    chg_leak_lt, chg_open_lt : ndarray
        ``(MAX_TAIL_LEN, NUM_LEV)``: the trail profile interpolated linearly in
        ``log10 q`` (clipped to 1..3.999) at each level's upper charge.
    dpde_l : ndarray
        ``(NUM_LEV,)``: the capture probability summed over each level's charges.
    """
    nlev = len(levels)
    leak_lt = np.empty((MAX_TAIL_LEN, nlev))
    open_lt = np.empty((MAX_TAIL_LEN, nlev))
    dpde_l = np.empty(nlev)
    dtde = dtde_q.tolist()
    lev = [int(v) for v in levels]
    dpde_l[0] = 0.0
    leak_lt[:, 0] = chg_leak_kt[:, 0]
    open_lt[:, 0] = chg_open_kt[:, 0]
    total, previous = 0.0, 0.0
    for l in range(1, nlev):  # noqa: E741 (the C's name)
        q = lev[l - 1]
        while q < lev[l]:
            total += dtde[q]
            q += 1
        dpde_l[l] = total - previous
        previous = total
        logq = min(max(math.log10(float(q)) if q > 0 else -math.inf, 1.0), 3.999)
        index = 0 if logq < 2 else 1 if logq < 3 else 2
        dist = logq - math.floor(logq)
        # element-wise products and sums: the same IEEE operations as the C's t loop
        leak_lt[:, l] = ((1.0 - dist) * chg_leak_kt[:, index]) + (dist * chg_leak_kt[:, index + 1])
        open_lt[:, l] = ((1.0 - dist) * chg_open_kt[:, index]) + (dist * chg_open_kt[:, index + 1])
    return leak_lt, open_lt, dpde_l


def build_trap_model(
    params: PcteParams,
    *,
    read_noise: float | None = None,
    noise_model: int | None = None,
    oversub_thresh: float | None = None,
    sim_nit: int | None = None,
    shift_nit: int | None = None,
) -> TrapModel:
    """The trap model of a PCTETAB for one exposure, as ``YCte`` sets it up.

    The keyword arguments override the PCTETAB's settings as ``CteCorr``'s do (``None``:
    the PCTETAB's ``RN_CLIP``, ``NSEMODEL``, ``SUBTHRSH``, ``SIM_NIT``, ``SHFT_NIT``).

    Raises
    ------
    ValueError
        When ``noise_model`` is not 0, 1 or 2, or ``sim_nit`` or ``shift_nit`` is below 1.
    """
    settings = {
        "read_noise": params.read_noise if read_noise is None else read_noise,
        "noise_model": params.noise_model if noise_model is None else noise_model,
        "oversub_thresh": params.oversub_thresh if oversub_thresh is None else oversub_thresh,
        "sim_nit": params.sim_nit if sim_nit is None else sim_nit,
        "shft_nit": params.shft_nit if shift_nit is None else shift_nit,
    }
    _check_settings(settings, lambda reason: ValueError(f"the CTE model setting {reason}"))
    leak_kt, open_kt = interpolate_psi(params.chg_leak, params.psi_node)
    dtde_q = interpolate_phi(params.dtde_l, params.q_dtde, settings["shft_nit"])
    leak_lt, open_lt, dpde_l = fill_level_arrays(leak_kt, open_kt, dtde_q, params.levels)
    return TrapModel(
        pctetab=params.path, pcte_ver=params.pcte_ver, texpstrt=params.texpstrt,
        cte_frac=params.cte_frac, levels=_frozen(params.levels.astype(np.int32)),
        dpde_l=_frozen(dpde_l), chg_leak_lt=_frozen(leak_lt), chg_open_lt=_frozen(open_lt),
        col_scale=params.col_scale, **settings,
    )  # fmt: skip


def load_trap_model(path: os.PathLike | str, texpstrt: float, **overrides) -> TrapModel:
    """:func:`read_pctetab` then :func:`build_trap_model` (``overrides``: its keywords)."""
    return build_trap_model(read_pctetab(path, texpstrt), **overrides)


# --------------------------------------------------------------------------- geometry


def readout_direction(ccdamp: str) -> int:
    """``1`` for amplifiers A and B, ``-1`` for C and D: how ``YCte`` flips an image.

    The flip (``image[::d, ::d]``) brings the amplifier's corner to ``[0, 0]``: row 0 is
    read first, and charge trails towards higher rows.

    Raises
    ------
    ValueError
        For any other amplifier.
    """
    if ccdamp in ("A", "B"):
        return 1
    if ccdamp in ("C", "D"):
        return -1
    raise ValueError(f"amplifier {ccdamp!r} is unrecognized; STIS CCD amplifiers are A-D")


def cte_frac_array(model: TrapModel, shape: tuple[int, int], ccdamp: str) -> np.ndarray:
    """The per-pixel CTI scaling of a flipped image (row 0 next to the amplifier), as ``YCte``.

    ``cte_frac * col_scale[amp][column] * (row + 1) / 1024``, in ``YCte``'s order of
    operations: the column scale of the first ``shape[1]`` columns, flipped with the image.
    """
    rows, cols = shape
    col_scale = model.col_scale[ccdamp][:cols][:: readout_direction(ccdamp)]
    frac = model.cte_frac * np.ones(shape, dtype=float) * col_scale
    frac = frac * np.arange(1, rows + 1).reshape((rows, 1))
    frac /= 1024.0
    return frac
