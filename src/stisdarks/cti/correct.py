"""CTI correction (and its forward model) of one image set, as stis_cti's ``YCte`` does it.

An image set (``SCI`` and ``ERR`` in DN, 1024 unbinned columns) is corrected in five
steps, those of ``StisPixCteCorr.YCte`` (stis_cti 1.6.2) for each image set:

1. flip it so that the amplifier's corner is ``[0, 0]`` (amplifiers C and D: both axes;
   A and B: not at all) and convert it to electrons (``* ATODGAIN``);
2. split off the read noise (:func:`~stisdarks.cti.kernel.decompose_rn`): CTI acts on
   the charge before the amplifier adds the read noise;
3. find the CTI-free image whose simulated readout is the observed signal
   (:func:`~stisdarks.cti.kernel.fix_y_cte`), with the CTI scaled by the exposure date,
   the column and the distance from the amplifier
   (:func:`~stisdarks.cti.trapmodel.cte_frac_array`);
4. add the noise back, and add 10 % of the change to the error in quadrature;
5. convert back to DN and flip back.

The results are float64; assigned into the file's ``float32`` arrays
(``hdu.data[:, :] = sci``) they are what stis_cti writes, bit for bit.
:func:`add_cti_imset` is the forward direction (``AddYCte``): it trails a CTI-free image.
:func:`ctecorr_keywords` lists the primary-header keywords ``YCte`` sets, and
:func:`stamp_ctecorr_header` sets them as it does. Nothing here reads or writes images:
the trap model comes from :func:`~stisdarks.cti.trapmodel.load_trap_model`.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from stisdarks.cti import kernel
from stisdarks.cti.trapmodel import TrapModel, cte_frac_array, readout_direction

#: rows of the STIS CCD (the CTI scaling grows with the distance from the amplifier)
CCD_ROWS = 1024

__all__ = [
    "STIS_CTE_NAME", "STIS_CTE_VER", "CTECORR_HISTORY", "ADDCTE_HISTORY", "correct_imset",
    "add_cti_imset", "ctecorr_keywords", "addcte_keywords", "stamp_ctecorr_header",
]  # fmt: skip

#: the algorithm's name and version, as stis_cti's ``YCte`` writes them (CTE_NAME, CTE_VER)
STIS_CTE_NAME = "PixelCTE 2012"
STIS_CTE_VER = "3.2"
#: the HISTORY line ``YCte`` adds
CTECORR_HISTORY = "PCTECORR complete ..."
#: the HISTORY line ``AddYCte`` adds
ADDCTE_HISTORY = "CTE blurring performed by PixCteCorr.AddYCte"


def _electrons(image_dn: np.ndarray, atodgain: float, direction: int) -> np.ndarray:
    """``image[::d, ::d].copy().astype(float) * atodgain``, as ``YCte`` builds it."""
    image = np.asarray(image_dn)
    if image.ndim != 2:
        raise ValueError(f"an image set's arrays must be 2-D, not of shape {image.shape}")
    electrons = image[::direction, ::direction].copy().astype(float)
    electrons *= atodgain
    return electrons


def _check_columns(model: TrapModel, shape: tuple[int, ...], ccdamp: str) -> None:
    if shape[1] > len(model.col_scale[ccdamp]):
        raise ValueError(
            f"an image of {shape[1]} columns is wider than the {len(model.col_scale[ccdamp])} "
            "columns of the PCTETAB's COL_SCALE"
        )


def correct_imset(
    sci_dn: np.ndarray, err_dn: np.ndarray, atodgain: float, ccdamp: str, model: TrapModel
) -> tuple[np.ndarray, np.ndarray]:
    """CTI-correct one image set as stis_cti's ``YCte`` does.

    Parameters
    ----------
    sci_dn, err_dn : ndarray
        ``SCI`` and ``ERR`` (DN) as stored in the file (any numeric dtype), same shape.
    atodgain : float
        ``ATODGAIN`` (electrons per DN) of the primary header (``YCte``: 1.0 if absent).
    ccdamp : str
        ``CCDAMP``, ``'A'`` to ``'D'``.
    model : TrapModel
        The trap model for the exposure (:func:`~stisdarks.cti.trapmodel.load_trap_model`).

    Returns
    -------
    sci, err : ndarray
        The corrected image and its error (DN, float64, original orientation).

    Raises
    ------
    ValueError
        For an unknown amplifier, arrays that are not 2-D of one shape, or an image wider
        than the PCTETAB's column scaling.
    """
    direction = readout_direction(ccdamp)
    scidata = _electrons(sci_dn, atodgain, direction)
    errdata = _electrons(err_dn, atodgain, direction)
    if errdata.shape != scidata.shape:
        raise ValueError(f"SCI {scidata.shape} and ERR {errdata.shape} differ in shape")
    _check_columns(model, scidata.shape, ccdamp)
    sigdata, nsedata = kernel.decompose_rn(scidata, float(model.read_noise), model.noise_model)
    cte_frac = cte_frac_array(model, scidata.shape, ccdamp)
    cordata, _ = kernel.fix_y_cte(
        sigdata, model.sim_nit, model.shft_nit, float(model.oversub_thresh), cte_frac,
        model.levels, model.dpde_l, model.chg_leak_lt, model.chg_open_lt,
    )  # fmt: skip
    findata = cordata + nsedata
    delta = 0.1 * np.abs(scidata - findata)
    errdata = np.sqrt(errdata**2 + delta**2)
    findata /= atodgain
    errdata /= atodgain
    return (
        np.ascontiguousarray(findata[::direction, ::direction]),
        np.ascontiguousarray(errdata[::direction, ::direction]),
    )


def add_cti_imset(
    sci_dn: np.ndarray,
    atodgain: float,
    ccdamp: str,
    model: TrapModel,
    *,
    first_row: int | None = None,
) -> np.ndarray:
    """Add CTI trails to one ``SCI`` image as stis_cti's ``AddYCte`` does.

    The image (DN) is flipped and converted to electrons as by :func:`correct_imset`,
    read out once through the trap model (``model.shft_nit`` passes, no read-noise
    separation), converted back to DN and flipped back. ``AddYCte`` leaves ``ERR`` and
    ``DQ`` alone.

    With ``first_row`` (the detector row of the image's row 0), the image is a band of
    the 1024-row CCD read as the whole CCD would be with nothing outside the band: each
    row gets the CTI scaling of its distance from the amplifier, and the empty rows read
    before the band, which fill no trap, are not simulated. ``None``: ``AddYCte``'s own
    scaling, by the image's own rows (the same as ``first_row = 0`` on a full frame).

    Parameters
    ----------
    sci_dn : ndarray
        ``SCI`` (DN) as stored in the file.
    atodgain : float
        ``ATODGAIN`` of the primary header.
    ccdamp : str
        ``CCDAMP``, ``'A'`` to ``'D'``.
    model : TrapModel
        The trap model (``AddYCte`` takes only ``shift_nit`` as an override).
    first_row : int, optional
        The detector row of the image's first row (a band of the CCD; see above).

    Returns
    -------
    ndarray
        The trailed image (DN, float64, original orientation).
    """
    direction = readout_direction(ccdamp)
    scidata = _electrons(sci_dn, atodgain, direction)
    _check_columns(model, scidata.shape, ccdamp)
    rows, cols = scidata.shape
    if first_row is None:
        cte_frac = cte_frac_array(model, scidata.shape, ccdamp)
    else:
        if first_row < 0 or first_row + rows > CCD_ROWS:
            raise ValueError(f"{rows} rows from row {first_row} overflow the {CCD_ROWS}-row CCD")
        # the band's rows in the flipped frame: counted from the amplifier's side
        start = first_row if direction == 1 else CCD_ROWS - first_row - rows
        cte_frac = cte_frac_array(model, (CCD_ROWS, cols), ccdamp)[start : start + rows]
    cordata = kernel.add_y_cte(
        scidata, model.shft_nit, cte_frac, model.levels, model.dpde_l, model.chg_leak_lt,
        model.chg_open_lt,
    )  # fmt: skip
    cordata /= atodgain
    return np.ascontiguousarray(cordata[::direction, ::direction])


def ctecorr_keywords(model: TrapModel, atodgain: float) -> list[tuple[str, object, str | None]]:
    """The primary-header keywords ``YCte`` sets, in its order: ``(key, value, comment)``.

    The values have the types ``YCte`` gives them: ``PCTEFRAC`` a float, ``PCTERNCL`` and
    ``PCTETRSH`` the PCTETAB's ``RN_CLIP`` and ``SUBTHRSH`` as read (floats), ``PCTENSMD``,
    ``PCTESMIT`` and ``PCTESHFT`` ints, the rest strings. A ``None`` comment means
    ``header[key] = value`` (an existing comment is kept). Key ``'HISTORY'`` is the line
    ``YCte`` adds; ``ATODGAIN`` is written back unchanged (``YCte``: 1.0 if absent).
    """
    return [
        ("PCTECORR", "COMPLETE", None),
        ("PCTEFRAC", model.cte_frac, "CTE time scaling value"),
        ("PCTERNCL", model.read_noise, "PCTE readnoise amplitude"),
        ("PCTENSMD", model.noise_model, "PCTE readnoise mitigation algorithm"),
        ("PCTETRSH", model.oversub_thresh, "PCTE over-subtraction threshold"),
        ("PCTESMIT", model.sim_nit, "PCTE readout simulation iterations"),
        ("PCTESHFT", model.shft_nit, "PCTE readout number of shifts"),
        ("CTE_NAME", STIS_CTE_NAME, "name of CTE algorithm"),
        ("CTE_VER", STIS_CTE_VER, "version of CTE algorithm"),
        ("PCTE_VER", model.pcte_ver, "version of PCTETAB"),
        ("HISTORY", CTECORR_HISTORY, None),
        ("ATODGAIN", atodgain, None),
    ]


def addcte_keywords(model: TrapModel) -> list[tuple[str, object, str | None]]:
    """The primary-header keywords ``AddYCte`` sets, as :func:`ctecorr_keywords` lists them."""
    return [
        ("PCTEFRAC", model.cte_frac, None),
        ("PCTERNCL", model.read_noise, None),
        ("PCTESMIT", model.sim_nit, None),
        ("PCTESHFT", model.shft_nit, None),
        ("HISTORY", ADDCTE_HISTORY, None),
    ]


def stamp_ctecorr_header(
    header: fits.Header, keywords: list[tuple[str, object, str | None]]
) -> None:
    """Set ``keywords`` (:func:`ctecorr_keywords` or :func:`addcte_keywords`) as stis_cti does.

    ``(value, comment)`` for a keyword with a comment, the bare value otherwise (keeping
    an existing comment), ``add_history`` for ``HISTORY``.
    """
    for key, value, comment in keywords:
        if key == "HISTORY":
            header.add_history(value)
        elif comment is None:
            header[key] = value
        else:
            header[key] = (value, comment)
