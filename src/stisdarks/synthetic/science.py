"""The synthetic science observation: a CR-SPLIT = 2 G430L spectrum or CCD image, and its products.

The ``_raw`` is made like the STIS CCD reads it (the charge of the source, the dark
current of the day and the cosmic rays collected in detector pixels, summed into the
readout's bins, overscan, a bias level drifting with the row, read noise, the gain),
then calibrated exactly as calstis' ``cs0.e`` calibrates it (``calstis1a`` →
``calstis2`` → ``calstis1`` on the ``_crj`` and on each image set for the ``_flt``; see
:mod:`stisdarks.synthetic.basic2d`) with the archive's reference files, the pipeline
dark among them. The readout may be the archive's own, a smaller subarray or a binned
full frame, at gain 1 or 4: the unbinned dark and flat are cut and binned to it as
calstis does (:mod:`stisdarks.binning`).

A spectrum (:mod:`.spectrum`: ``_raw, _wav, _flt, _crj, _sx1``) and an image
(:mod:`.imaging`: a field of stars and galaxies, ``_raw, _flt, _crj``) share the raw
image sets, the basic 2-D calibration and the cosmic-ray rejection; only the scene, the
headers and the products after the ``_crj`` differ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.time import Time

from stisdarks.binning import BinPlan, find_bin, fit_reference
from stisdarks.crreject import CR_FLAG, crreject_stack
from stisdarks.crrejtab import read_crrejtab
from stisdarks.darkswap import dark_scale_factor
from stisdarks.fitsio import write_hdul_atomic
from stisdarks.synthetic import basic2d, imaging, spectrum
from stisdarks.synthetic.detector import (
    ATODGAIN,
    READNSE,
    HotPixels,
    cosmic_rays,
    temperature_factor,
)
from stisdarks.synthetic.geometry import Geometry
from stisdarks.synthetic.headers import empty_extension, image_set, primary_header, switches
from stisdarks.synthetic.reffiles import (
    BIAS_LEVEL,
    BIASFILE,
    BLEV_CLIP,
    BPIXTAB,
    CCDTAB,
    CRRTAB,
    PFLTFILE,
    SATURATE,
    Refs,
)
from stisdarks.synthetic.transfer import ChargeTransfer

__all__ = [
    "KINDS",
    "SCI_EXPTIME",
    "SDQFLAGS",
    "Scene",
    "ScienceMode",
    "truth_path",
    "write_science",
]

SCI_EXPTIME = 900.0  # per CR-SPLIT image set
SDQFLAGS = 31743
CR_SPLIT_TEMPS = (17.6, 17.9)  # housing temperature of each image set (C)
#: kinds of science observation :func:`write_science` makes
KINDS = ("spectrum", "image")


@dataclass(frozen=True)
class Scene:
    """What the detector sees during the science exposure (on the archive's unbinned pixels)."""

    geometry: Geometry
    trace: np.ndarray  # row of the spectrum per column (0-indexed image rows)
    floor: np.ndarray  # dark-current floor (e-/s at 18 C)
    hot: HotPixels
    transfer: ChargeTransfer = ChargeTransfer(enabled=False)  # how the charge is read out


@dataclass(frozen=True)
class ScienceMode:
    """How the science is read out: the readout geometry (binning, rows) and ``CCDGAIN``."""

    geometry: Geometry
    gain: int = 1

    @property
    def atodgain(self) -> float:
        """e⁻/DN (the CCDTAB's ``ATODGAIN``)."""
        return ATODGAIN[self.gain]

    @property
    def readnse(self) -> float:
        """Read noise (e⁻)."""
        return READNSE[self.gain]


def _bin_sum(image: np.ndarray, plan: BinPlan | None) -> np.ndarray:
    """Charge collected in each readout pixel: the image cut and summed within bins."""
    if plan is None:
        return image
    ny, nx = plan.shape
    cut = image[plan.y0 : plan.y0 + ny * plan.ry, plan.x0 : plan.x0 + nx * plan.rx]
    return cut.reshape(ny, plan.ry, nx, plan.rx).sum(axis=(1, 3))


def _raw_image_sets(
    rng, scene: Scene, refs: Refs, readout: ScienceMode, starts, temps, obs_id: str,
    source: np.ndarray, sci_cards: dict,
):  # fmt: skip
    """Raw uint16 image sets with overscan and their SCI-header keywords.

    ``source`` is the scene's count rate (e⁻/s per unbinned archive pixel); ``sci_cards``
    the kind's own SCI keywords (the spectrum's x1d keywords, the image's WCS).
    """
    geometry = readout.geometry
    g, rn = readout.atodgain, readout.readnse
    plan = find_bin(geometry.readout(), scene.geometry.readout(), "archive")
    obs_dark = scene.floor + scene.hot.image(scene.geometry.shape, starts[0])
    ny_raw, nx_raw = geometry.raw_shape
    out, charges = [], []
    for k, (t0, temp) in enumerate(zip(starts, temps, strict=True), 1):
        rate = source * refs.flat[0] + obs_dark * temperature_factor(temp)
        # the charge in the detector's pixels (the source, the dark, cosmic rays), read out
        # through the charge traps, summed into the readout's bins; then the read noise
        charge = rng.poisson(rate * SCI_EXPTIME).astype(np.float64)
        charge += cosmic_rays(rng, scene.geometry.shape, SCI_EXPTIME)
        charges.append(charge)
        read = _bin_sum(scene.transfer.read(charge, t0), plan)
        dn = (read + rng.normal(0, rn, geometry.shape)) / g
        # bias: a level that drifts slightly with the row, the bias image, read noise everywhere
        level = BIAS_LEVEL + 0.6 * (np.arange(ny_raw) / ny_raw - 0.5)
        full = level[:, None] + rng.normal(0, rn / g, (ny_raw, nx_raw))
        geometry.trim(full)[...] += dn + refs.bias[0]
        raw = np.round(np.clip(full, 0, 65535)).astype(np.uint16)
        cards = {"EXPNAME": f"{obs_id[:8]}{k}", "EXPTIME": SCI_EXPTIME, "EXPSTART": t0,
                 "EXPEND": t0 + SCI_EXPTIME / 86400.0, "OCCDHTAV": temp, **geometry.image_cards(raw=True),
                 "BUNIT": "COUNTS", "SDQFLAGS": SDQFLAGS, "ASN_MTYP": "CRSPLIT", **sci_cards}  # fmt: skip
        out.append((raw, cards))
    return out, charges


def _write_truth(
    path: Path, obs_id: str, scene: Scene, exposures: _Exposures, source: np.ndarray,
    charges: list[np.ndarray], spectrum_rate: np.ndarray | None = None,
) -> Path:  # fmt: skip
    """``truth/{obs_id}_truth.fits``: what the detector saw, before its readout.

    ``SOURCE``: the scene's count rate (e⁻/s per archive pixel, flat field not applied);
    ``CHARGE`` (one per image set): the electrons collected in each pixel (source, dark
    current, cosmic rays) before the readout trailed them; for a spectrum, the table
    ``SPECTRUM``: ``WAVELENGTH`` (Å) and ``NET`` (e⁻/s of the source in its whole trace,
    per column). The primary header says whether each image set was trailed (``TRAILED1``,
    ``TRAILED2``).
    """
    primary = fits.PrimaryHDU()
    primary.header["ROOTNAME"] = (obs_id, "the observation this is the truth of")
    primary.header["FILETYPE"] = ("SYNTHETIC TRUTH", "stisdarks synthetic archive")
    for k, t0 in enumerate(exposures.starts, 1):
        primary.header[f"TRAILED{k}"] = (
            scene.transfer.trails(t0),
            f"image set {k} read out through charge traps (CTI)",
        )
    hdus = [primary, fits.ImageHDU(source.astype(np.float32), name="SOURCE")]
    hdus[-1].header["BUNIT"] = "ELECTRONS/S"
    for k, charge in enumerate(charges, 1):
        hdus.append(fits.ImageHDU(charge.astype(np.float32), name="CHARGE", ver=k))
        hdus[-1].header["BUNIT"] = "ELECTRONS"
        hdus[-1].header["EXPSTART"] = exposures.starts[k - 1]
    if spectrum_rate is not None:
        cols = [
            fits.Column("WAVELENGTH", "D", array=spectrum.wavelengths(spectrum_rate.size),
                        unit="Angstroms"),
            fits.Column("NET", "D", array=spectrum_rate, unit="electrons/s"),
        ]  # fmt: skip
        hdus.append(fits.BinTableHDU.from_columns(cols, name="SPECTRUM"))
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_hdul_atomic(fits.HDUList(hdus), path)


def _calstis1a(raw: np.ndarray, readout: ScienceMode, refs: Refs):
    """``_raw`` image set → ``_blv_tmp``: DQICORR, BLEVCORR, ERR, BIASCORR."""
    geometry = readout.geometry
    dq = basic2d.dqicorr(raw, geometry, refs.bpix, SATURATE)
    sci, dq, meanblev = basic2d.blevcorr(
        raw, dq, geometry, sdqflags=SDQFLAGS, ccdbias=BIAS_LEVEL, blev_clip=BLEV_CLIP
    )
    err = basic2d.init_err(sci, readout.atodgain, readout.readnse)
    return basic2d.sub2d((sci, err, dq), refs.bias), meanblev


@dataclass(frozen=True)
class _Calibration:
    """The pipeline dark and the flat as calstis applies them to the readout."""

    dark: tuple[np.ndarray, np.ndarray, np.ndarray]
    dark_header: fits.Header
    flat: tuple[np.ndarray, np.ndarray, np.ndarray]
    atodgain: float

    @classmethod
    def of(cls, scene: Scene, refs: Refs, readout: ScienceMode) -> _Calibration:
        ref_hdr = fits.Header(scene.geometry.image_cards())
        img_hdr = fits.Header(readout.geometry.image_cards())
        shape = readout.geometry.shape
        return cls(
            dark=fit_reference(refs.dark, ref_hdr, img_hdr, shape, average=False),
            dark_header=refs.dark_header,
            flat=fit_reference(refs.flat, ref_hdr, img_hdr, shape, average=True),
            atodgain=readout.atodgain,
        )

    def apply(self, imset, exptime: float, temp: float, expstart: float):
        """DARKCORR (with the pipeline dark) and FLATCORR of one image set."""
        factor = dark_scale_factor(temp, expstart, self.dark_header)
        darked, meandark = basic2d.darkcorr(imset, self.dark, factor, exptime, self.atodgain)
        return basic2d.div2d(darked, self.flat), meandark


@dataclass(frozen=True)
class _Exposures:
    """When the CR-SPLIT image sets were taken and at which housing temperature."""

    starts: tuple[float, ...]
    temps: tuple[float, ...]

    @classmethod
    def at(cls, obs_mjd: float) -> _Exposures:
        return cls((obs_mjd, obs_mjd + (SCI_EXPTIME + 60.0) / 86400.0), CR_SPLIT_TEMPS)

    @property
    def texpstrt(self) -> float:
        return self.starts[0]

    @property
    def texpend(self) -> float:
        return self.starts[-1] + SCI_EXPTIME / 86400.0

    @property
    def t_total(self) -> float:
        return len(self.starts) * SCI_EXPTIME

    def date_cards(self) -> dict[str, str]:
        """``DATE-OBS`` and ``TIME-OBS`` of the first exposure."""
        date_obs = Time(self.texpstrt, format="mjd", scale="utc").datetime
        return {
            "DATE-OBS": date_obs.strftime("%Y-%m-%d"),
            "TIME-OBS": date_obs.strftime("%H:%M:%S"),
        }


def _reference_cards(refs: Refs) -> dict[str, str]:
    """The basic-2-D reference files of the archive's ``oref``, as the raw names them."""
    return dict(
        CCDTAB=f"oref${CCDTAB}", CRREJTAB=f"oref${CRRTAB}", BPIXTAB=f"oref${BPIXTAB}",
        BIASFILE=f"oref${BIASFILE}", DARKFILE=f"oref${refs.darkfile}", PFLTFILE=f"oref${PFLTFILE}",
        DFLTFILE="N/A", LFLTFILE="N/A", SHADFILE="N/A", ATODTAB="N/A",
    )  # fmt: skip


@dataclass(frozen=True)
class _Products:
    """What the spectrum needs of the calibrated ``_crj`` for its ``_sx1``."""

    crj: tuple[np.ndarray, np.ndarray, np.ndarray]
    crj_cards: dict
    done: dict


def _write_raw_flt_crj(
    directory: Path,
    oref: Path,
    obs_id: str,
    mode: ScienceMode,
    refs: Refs,
    calib: _Calibration,
    raw_sets: list,
    exposures: _Exposures,
    common: dict,
    performed: tuple[str, ...],
    add: Callable[..., None],
    indexed: dict,
    *,
    calibrated_cards: dict | None = None,
    record_rejection: bool = False,
) -> _Products:
    """Write ``_raw``, ``_crj`` and ``_flt`` (in that order) as ``cs0.e`` makes them; index each.

    ``calibrated_cards`` are SCI keywords that BLEVCORR changes in the calibrated image sets
    (the image's ``CRPIX``); ``record_rejection`` writes calstis2's ``SKYSUM`` and
    ``REJ_RATE`` into the ``_crj``'s primary header.
    """
    geometry = mode.geometry
    starts, temps, t_total = exposures.starts, exposures.temps, exposures.t_total
    target, texpstrt = common["TARGNAME"], exposures.texpstrt
    # _raw: uint16 with overscan; ERR and DQ header-only (PIXVALUE 0), as in real raw files
    hdus = [fits.PrimaryHDU(header=primary_header(FILENAME=f"{obs_id}_raw.fits", **common,
                                                  **switches("PERFORM", performed), NEXTEND=6))]  # fmt: skip
    for k, (raw, cards) in enumerate(raw_sets, 1):
        s = fits.ImageHDU(raw, name="SCI", ver=k)
        for key, value in cards.items():
            s.header[key] = value
        hdus += [
            s,
            empty_extension("ERR", k, raw.shape, cards),
            empty_extension("DQ", k, raw.shape, cards),
        ]
    path = directory / f"{obs_id}_raw.fits"
    write_hdul_atomic(fits.HDUList(hdus), path)
    add(path, obs_id, "raw", target, texpstrt, t_total, **indexed)

    # calstis1a per image set, then calstis2 with the CRREJTAB row (CRMASK: flags into _blv_tmp)
    blv, meanblev = zip(*(_calstis1a(raw, mode, refs) for raw, _ in raw_sets), strict=True)
    params = read_crrejtab(oref / CRRTAB, len(raw_sets), SCI_EXPTIME, common["OBSTYPE"])
    n = len(raw_sets)
    noise = float(np.float32(mode.readnse) / np.float32(mode.atodgain))
    crj = crreject_stack([b[0] for b in blv], [b[2] for b in blv], [SCI_EXPTIME] * n, [noise] * n,
                         [mode.atodgain] * n, params, return_masks=True)  # fmt: skip
    temptot = np.float32(0)
    for temp in temps:
        temptot = np.float32(temptot + np.float32(temp) * np.float32(SCI_EXPTIME))
    t_crj = float(np.float32(temptot / np.float32(t_total)))
    image = {**geometry.image_cards(), **(calibrated_cards or {})}
    done = switches("COMPLETE", performed)

    # calstis1 on _crj_tmp: dark with the total EXPTIME and exposure-weighted OCCDHTAV, then flat
    (crj_sci, crj_err, crj_dq), meandark = calib.apply(
        (crj.sci, crj.err, crj.dq), t_total, t_crj, starts[0]
    )
    crj_cards = {**raw_sets[0][1], **image, "EXPTIME": t_total, "EXPEND": exposures.texpend,
                 "OCCDHTAV": t_crj, "NCOMBINE": n, "MEANBLEV": float(meanblev[0]), "MEANDARK": meandark}  # fmt: skip
    rejection = {}
    if record_rejection:  # calstis2's own keywords: the total sky and the rate of rejected pixels
        rate = float(np.float32(np.float32(int(np.sum(crj.n_rejected))) / np.float32(t_total)))
        rejection = {"SKYSUM": float(np.float32(crj.skysum)), "REJ_RATE": rate}
    primary = primary_header(
        FILENAME=f"{obs_id}_crj.fits", **common, **done, **params.header_cards(), **rejection
    )
    path = directory / f"{obs_id}_crj.fits"
    write_hdul_atomic(fits.HDUList([fits.PrimaryHDU(header=primary),
                                    *image_set(1, crj_sci, crj_err, crj_dq, crj_cards)]), path)  # fmt: skip
    add(path, obs_id, "crj", target, texpstrt, t_total, **indexed)

    # _flt (EXPSCORR): each _blv_tmp image set with its CR flags, dark- and flat-corrected
    hdus = [
        fits.PrimaryHDU(
            header=primary_header(FILENAME=f"{obs_id}_flt.fits", **common, **done, NEXTEND=3 * n)
        )
    ]
    for k, (imset, (_, cards), temp, t0) in enumerate(
        zip(blv, raw_sets, temps, starts, strict=True)
    ):
        cr = (
            np.where(crj.masks[k], np.int16(CR_FLAG), np.int16(0)) if params.crmask else np.int16(0)
        )
        flagged = (imset[0], imset[1], ((imset[2] & ~np.int16(CR_FLAG)) | cr).astype(np.int16))
        (sci, err, dq), meandark_k = calib.apply(flagged, SCI_EXPTIME, temp, t0)
        cards = {**cards, **image, "MEANBLEV": float(meanblev[k]), "MEANDARK": meandark_k}
        hdus += image_set(k + 1, sci, err, dq, cards)
    path = directory / f"{obs_id}_flt.fits"
    write_hdul_atomic(fits.HDUList(hdus), path)
    add(path, obs_id, "flt", target, texpstrt, t_total, **indexed)
    return _Products((crj_sci, crj_err, crj_dq), crj_cards, done)


def truth_path(directory: Path, obs_id: str) -> Path:
    """Where the truth of ``obs_id`` goes: ``truth/`` beside the archive's ``science/``."""
    return Path(directory).parent / "truth" / f"{obs_id}_truth.fits"


def write_science(
    directory: Path,
    oref: Path,
    rng: np.random.Generator,
    obs_id: str,
    scene: Scene,
    refs: Refs,
    obs_mjd: float,
    add: Callable[..., None],
    mode: ScienceMode | None = None,
    *,
    kind: str = "spectrum",
) -> None:
    """Write the science observation ``obs_id`` into ``directory`` and index its files with ``add``.

    ``kind`` is ``"spectrum"`` (a CR-SPLIT G430L spectrum: ``{obs_id}_{raw,crj,flt,sx1,wav}.fits``)
    or ``"image"`` (a CR-SPLIT clear-aperture image of a field, :mod:`.imaging`:
    ``{obs_id}_{raw,crj,flt}.fits``). ``mode`` is the science readout (default: the
    archive's geometry at gain 1); ``refs.bias`` must be of its shape.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    mode = mode or ScienceMode(scene.geometry)
    if kind == "image":
        _write_image(directory, oref, rng, obs_id, scene, refs, obs_mjd, add, mode)
    else:
        _write_spectrum(directory, oref, rng, obs_id, scene, refs, obs_mjd, add, mode)


def _write_image(
    directory: Path, oref: Path, rng: np.random.Generator, obs_id: str, scene: Scene, refs: Refs,
    obs_mjd: float, add: Callable[..., None], mode: ScienceMode,
) -> None:  # fmt: skip
    """``{obs_id}_{raw,crj,flt}.fits`` of a CR-SPLIT = 2 clear-aperture image (MIRVIS, 50CCD)."""
    geometry = mode.geometry
    calib = _Calibration.of(scene, refs, mode)
    exposures = _Exposures.at(obs_mjd)
    source = imaging.source_image(scene.geometry.shape)
    raw_sets, charges = _raw_image_sets(rng, scene, refs, mode, exposures.starts, exposures.temps,
                                        obs_id, source, imaging.wcs_cards(geometry, raw=True))  # fmt: skip
    _write_truth(truth_path(directory, obs_id), obs_id, scene, exposures, source, charges)
    indexed = {"gain": mode.gain, "binning": geometry.bin, "obstype": "IMAGING"}
    common = dict(
        ROOTNAME=obs_id, **imaging.primary_keywords(), CRSPLIT=2, NRPTEXP=1, **geometry.subarray_cards(),
        SCLAMP="NONE", CCDGAIN=mode.gain, ATODGAIN=mode.atodgain, READNSE=mode.readnse,
        **exposures.date_cards(), TEXPSTRT=exposures.texpstrt, TEXPEND=exposures.texpend,
        TEXPTIME=exposures.t_total, PROPOSID=16196, PROPTTL1="Synthetic deep CCD imaging of a faint field",
        **_reference_cards(refs), IMPHTTAB="N/A", APERTAB="N/A", IDCTAB="N/A", SDSTFILE="N/A",
    )  # fmt: skip
    calibrated = {k: v for k, v in imaging.wcs_cards(geometry).items() if k.startswith("CRPIX")}
    _write_raw_flt_crj(directory, oref, obs_id, mode, refs, calib, raw_sets, exposures, common,
                       imaging.PERFORMED, add, indexed, calibrated_cards=calibrated,
                       record_rejection=True)  # fmt: skip


def _write_spectrum(
    directory: Path, oref: Path, rng: np.random.Generator, obs_id: str, scene: Scene, refs: Refs,
    obs_mjd: float, add: Callable[..., None], mode: ScienceMode,
) -> None:  # fmt: skip
    """``{obs_id}_{raw,crj,flt,sx1,wav}.fits`` of a CR-SPLIT = 2 G430L spectrum."""
    geometry = mode.geometry
    tables = spectrum.write_tables(oref, scene.geometry, scene.trace)
    calib = _Calibration.of(scene, refs, mode)
    exposures = _Exposures.at(obs_mjd)
    source = spectrum.source_image(scene.geometry.shape, scene.trace)
    raw_sets, charges = _raw_image_sets(rng, scene, refs, mode, exposures.starts, exposures.temps,
                                        obs_id, source, spectrum.sci_keywords())  # fmt: skip
    _write_truth(truth_path(directory, obs_id), obs_id, scene, exposures, source, charges,
                 spectrum.source_spectrum(scene.geometry.shape[1]))  # fmt: skip
    indexed = {"gain": mode.gain, "binning": geometry.bin, "obstype": "SPECTROSCOPIC"}
    texpstrt, texpend, t_total = exposures.texpstrt, exposures.texpend, exposures.t_total
    common = dict(
        ROOTNAME=obs_id, OBSTYPE="SPECTROSCOPIC", OBSMODE="ACCUM", TARGNAME="SYNTH-FAINT-STAR", RA_TARG=150.0,
        DEC_TARG=2.2, OPT_ELEM="G430L", APERTURE="52X2", PROPAPER="52X2", APER_FOV="52x2", CENWAVE=4300,
        CRSPLIT=2, NRPTEXP=1, **geometry.subarray_cards(), SCLAMP="NONE", CCDGAIN=mode.gain,
        ATODGAIN=mode.atodgain, READNSE=mode.readnse, **exposures.date_cards(),
        TEXPSTRT=texpstrt, TEXPEND=texpend, TEXPTIME=t_total, PROPOSID=16196,
        PROPTTL1="Synthetic faint-source G430L spectroscopy", WAVECAL=f"{obs_id}_wav.fits",
        **_reference_cards(refs), **spectrum.reference_keywords(tables),
    )  # fmt: skip
    made = _write_raw_flt_crj(directory, oref, obs_id, mode, refs, calib, raw_sets, exposures,
                              common, spectrum.PERFORMED, add, indexed)  # fmt: skip
    done, crj_cards = made.done, made.crj_cards

    # _sx1: calstis' x1d of the _crj
    path = directory / f"{obs_id}_sx1.fits"
    spectrum.write_sx1(path, made.crj, crj_cards,
                       primary_header(FILENAME=path.name, **common, **done, NEXTEND=1), oref, tables)  # fmt: skip
    add(path, obs_id, "sx1", common["TARGNAME"], texpstrt, t_total, **indexed)

    # _wav: a raw lamp exposure through the same slit (emission lines along the slit), with overscan
    t_wav = texpend + 60.0 / 86400.0
    lamp = spectrum.lamp_raw(rng, geometry, BIAS_LEVEL, mode.readnse / mode.atodgain)
    wav_common = {**common, "TARGNAME": "WAVELINE", "TEXPTIME": 1.0, "TEXPSTRT": t_wav,
                  "TEXPEND": t_wav + 1 / 86400, "CRSPLIT": 1, "NEXTEND": 3, "SCLAMP": "HITM1"}  # fmt: skip
    wav_common.pop("WAVECAL")
    primary = primary_header(
        FILENAME=f"{obs_id}_wav.fits", **wav_common, **switches("PERFORM", spectrum.PERFORMED)
    )
    wav_cards = {"EXPNAME": f"{obs_id[:8]}w", "EXPTIME": 1.0, "EXPSTART": t_wav, "EXPEND": t_wav + 1 / 86400,
                 "OCCDHTAV": exposures.temps[-1], **geometry.image_cards(raw=True), "BUNIT": "COUNTS",
                 "SDQFLAGS": SDQFLAGS}  # fmt: skip
    sci = fits.ImageHDU(lamp, name="SCI", ver=1)
    for key, value in wav_cards.items():
        sci.header[key] = value
    path = directory / f"{obs_id}_wav.fits"
    write_hdul_atomic(fits.HDUList([fits.PrimaryHDU(header=primary), sci,
                                    empty_extension("ERR", 1, lamp.shape, wav_cards),
                                    empty_extension("DQ", 1, lamp.shape, wav_cards)]), path)  # fmt: skip
    add(path, obs_id, "wav", "WAVELINE", t_wav, 1.0, **indexed)
