"""One function per workflow stage.

These are the units the Snakemake rules run (through the thin adapters in
``scripts/``). Each takes explicit paths and settings, writes its outputs atomically
and never modifies its inputs, so it can be called and tested without Snakemake.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stisdarks import defaults
from stisdarks.archive import SCIENCE_KINDS, AnnealPeriod
from stisdarks.archive.base import Archive
from stisdarks.atomic import remove_temporaries_in, remove_temporaries_of
from stisdarks.errors import ArchiveError, ConfigError, InputFileError, StisDarksError
from stisdarks.fitsio import verify_fits
from stisdarks.science import read_json, science_facts, write_json
from stisdarks.selection import (
    mode_label,
    mode_of,
    period_key,
    read_dark_table,
    require_darks,
    select_by_header,
    select_by_metadata,
    week_darks,
    write_dark_table,
)
from stisdarks.settings import check_obs_id, require_hstcal_for

__all__ = [
    "demo_archive",
    "download_science",
    "write_science_facts",
    "anneal_period",
    "science_and_period",
    "period_darks",
    "dark_paths",
    "basedark",
    "cte_darks",
    "week_list",
    "weekdark",
    "week_and_weekdark",
    "references",
    "recalibrate",
    "figures",
    "summary",
]

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- stages


def demo_archive(
    root: os.PathLike,
    size: int,
    n_darks: int,
    seed: int,
    obs_id: str = "odemo1010",
    science: dict[str, Any] | None = None,
    programme: dict[str, Any] | None = None,
    parts: tuple[str, ...] = ("science", "darks"),
    cti_trails: bool | None = None,
) -> Path:
    """Generate the synthetic demo archive in ``root``, or some of its halves (``parts``).

    ``science`` is the config's ``archive.demo.science`` (``binaxis1``, ``binaxis2``,
    ``ccdgain``, ``rows``), ``programme`` its ``archive.demo.programme`` (the other
    observations of the programme, see :func:`stisdarks.synthetic.generate_archive`),
    ``cti_trails`` its ``archive.demo.cti_trails`` (None: exposures from 2009-05-01 on
    carry CTI trails, as on the real CCD).
    A half already complete is kept. What each half writes belongs to it alone (the
    darks half: ``darks/``; the science half: ``science/``, ``oref/`` and the files at the
    root), so the temporaries an interrupted generation left there are removed first, and
    the two halves run side by side.
    """
    from stisdarks.synthetic import generate_archive

    science = science or {}
    binning = (int(science.get("binaxis1", 1)), int(science.get("binaxis2", 1)))
    gain, rows = int(science.get("ccdgain", 1)), science.get("rows")
    if binning != (1, 1) and size != 1024:
        raise ConfigError(
            f"archive.demo.science is binned {binning[0]}x{binning[1]} but archive.demo.size is {size}; "
            "binned science is read from the full frame — set size: 1024"
        )
    if rows is not None and int(rows) > size:
        raise ConfigError(
            f"archive.demo.science.rows ({rows}) exceeds archive.demo.size ({size}); lower it"
        )
    root = Path(root)
    if "science" in parts:
        remove_temporaries_in(root)
        for own in ("science", "oref", "truth"):
            remove_temporaries_in(root / own, recursive=True)
    if "darks" in parts:
        remove_temporaries_in(root / "darks", recursive=True)
    log.info(
        "generating the %s of the synthetic STIS CCD archive in %s (%d rows, %d darks, seed %d; "
        "science %s binned %dx%d at gain %d)",
        " and ".join(parts), root, size, n_darks, seed, obs_id, *binning, gain,
    )  # fmt: skip
    written = generate_archive(
        root, size=size, n_darks=n_darks, seed=seed, obs_id=obs_id, science_bin=binning,
        science_gain=gain, science_rows=None if rows is None else int(rows), parts=tuple(parts),
        cti_trails=cti_trails,
        **{k: tuple(v) if isinstance(v, list) else v for k, v in (programme or {}).items()},
    )  # fmt: skip
    return Path(written)


def download_science(
    archive: Archive, obs_id: str, outputs: dict[str, os.PathLike]
) -> dict[str, Path]:
    """Find ``obs_id`` in the archive and download its products (``outputs``: kind → path)."""
    obs_id = check_obs_id(obs_id)
    obs = archive.find_science(obs_id)
    if obs.detector and obs.detector.upper() != "CCD":
        raise ArchiveError(
            f"{obs_id} was taken with the STIS {obs.detector}; only STIS CCD observations are supported"
        )
    missing = [k for k in outputs if k not in obs.products]
    if missing:
        raise ArchiveError(
            f"{obs_id} has no {', '.join('_' + k for k in missing)} product in the {archive.name} archive; "
            f"it lists {', '.join(sorted(obs.products)) or 'nothing'} — is it a CR-split or repeated "
            "CCD spectrum or image?"
        )
    done = {}
    for i, (kind, path) in enumerate(outputs.items(), 1):
        log.info("science product %d/%d: %s", i, len(outputs), obs.products[kind].filename)
        done[kind] = archive.download(obs.products[kind], path)
    return done


def write_science_facts(
    raw: os.PathLike, flt: os.PathLike, crj: os.PathLike, output: os.PathLike
) -> Path:
    """Write ``science.json`` (after checking that the dark monitor's darks can serve it)."""
    facts = science_facts(raw, flt, crj)
    mode_of(facts)  # one line now, for a readout no custom dark can serve
    return write_json(output, facts)


def anneal_period(
    science_json: os.PathLike,
    output: os.PathLike,
    *,
    override: dict[str, str] | None,
    tables: Sequence[os.PathLike],
    archive: Archive | None,
) -> Path:
    """Find the anneal period containing the observation and write ``period.json``."""
    from stisdarks.periods import find_period, period_to_json

    facts = read_json(science_json)
    period = find_period(facts["start_mjd"], override=override, tables=tables, archive=archive)
    data = period_to_json(period)
    data["key"] = period_key(period, facts)
    data["mode"] = mode_label(mode_of(facts))
    log.info(
        "%s lies in anneal period %s (source: %s)", facts["obs_id"], data["key"], period.source
    )
    return write_json(output, data)


def science_and_period(
    raw: os.PathLike,
    flt: os.PathLike,
    crj: os.PathLike,
    science_json: os.PathLike,
    period_json: os.PathLike,
    *,
    override: dict[str, str] | None,
    tables: Sequence[os.PathLike],
    archive: Archive | None,
) -> Path:
    """``science.json`` then ``period.json``: what the observation is and its anneal period.

    One job for both (the workflow's first after the download): each is a small read,
    and a job costs a second of start-up.
    """
    write_science_facts(raw, flt, crj, science_json)
    return anneal_period(
        science_json, period_json, override=override, tables=tables, archive=archive
    )


def _period(data: dict[str, Any]) -> AnnealPeriod:
    return AnnealPeriod(float(data["start_mjd"]), float(data["end_mjd"]), str(data["source"]))


def period_darks(
    archive: Archive,
    period_json: os.PathLike,
    science_json: os.PathLike,
    output: os.PathLike,
    *,
    exptime: float,
    exptime_tolerance: float,
    dark_dir: os.PathLike | None = None,
    connections: int = defaults.CONNECTIONS,
    crds: dict[str, Any] | None = None,
) -> Path:
    """List the period's long dark-monitor darks (unbinned, gain 1, amp D) and fetch them.

    Writes ``darks.csv`` last, once every listed dark is in ``dark_dir`` (at most
    ``connections`` downloads at once, each atomic and kept when already valid), so a
    killed run fetches again only what was not complete. ``dark_dir=None`` lists only.
    With ``crds`` (the config's ``crds``), the reference tables the darks' CR rejection
    reads (CRREJTAB, CCDTAB) are fetched too (:func:`dark_references`): this job runs on
    the submitting node, which has the network a compute node may lack.
    """
    period = _period(read_json(period_json))
    mode = mode_of(read_json(science_json))
    listed = archive.list_darks(period.start_mjd, period.end_mjd, exptime, exptime_tolerance)
    log.info(
        "the %s archive lists %d darks of %g s in the period", archive.name, len(listed), exptime
    )
    kept, dropped = select_by_metadata(listed, period, mode)
    if dropped:
        log.info("dropped %d darks on archive metadata", len(dropped))
    require_darks(kept, period, mode)
    log.info("%d candidate darks for %s", len(kept), mode_label(mode))
    if dark_dir is not None:
        log.info("fetching %d darks into %s, %d at once", len(kept), dark_dir, connections)
        for dark in kept:  # each dark belongs to this period alone: its stale temporaries are ours
            remove_temporaries_of(Path(dark_dir) / dark.product.filename)
        archive.download_many([d.product for d in kept], dark_dir, max_workers=connections)
        if crds is not None:
            dark_references(Path(dark_dir) / kept[0].product.filename, crds, archive)
    return write_dark_table(output, kept)


_REFETCH = "rerun with --forcerun period_darks to fetch it again (the valid darks are kept)"


def _dark_name(filename: str, cti: bool) -> str:
    """A listed dark's file name: as downloaded, or its CTI-corrected copy's."""
    if not cti:
        return filename
    from stisdarks.cti import cte_name

    return cte_name(filename)


def dark_paths(table_csv: os.PathLike, dark_dir: os.PathLike, *, cti: bool = False) -> list[Path]:
    """The files of the darks listed in ``table_csv`` (``darks.csv``, ``week.csv``), verified.

    With ``cti``, their CTI-corrected copies (``<root>_cte.fits``) in ``dark_dir``.

    Raises
    ------
    InputFileError
        When one is missing or damaged (deleted or truncated since the period's darks
        were fetched): one line naming it and how to fetch it again.
    """
    paths = [
        Path(dark_dir) / _dark_name(d.product.filename, cti) for d in read_dark_table(table_csv)
    ]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        names = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise InputFileError(
            f"{len(missing)} dark(s) listed in {table_csv} are missing from {dark_dir} ({names}); "
            + _REFETCH.replace("fetch it", "fetch them")
        )
    for path in paths:
        verify_fits(path, fix=_REFETCH)  # a truncated or damaged download
    return paths


def _rows_for(darks_csv: os.PathLike, paths: Sequence[os.PathLike], *, cti: bool = False):
    names = {Path(p).name for p in paths}
    return [d for d in read_dark_table(darks_csv) if _dark_name(d.product.filename, cti) in names]


def _build_superdark(build, output: os.PathLike, last_dark: Path | None, **stamp: Any) -> Path:
    """``build(path)`` writes a superdark; with ``last_dark`` (CTI-corrected darks), the product
    gets stis_cti's CTI keywords from it (:func:`stisdarks.cti.stamp_superdark`) before it
    appears under its final name."""
    if last_dark is None:
        build(output)
        return Path(output)
    from astropy.io import fits

    from stisdarks.atomic import atomic_path
    from stisdarks.cti import stamp_superdark

    with atomic_path(output) as tmp:
        build(tmp)
        with fits.open(tmp, mode="update") as hdul:
            stamp_superdark(hdul, fits.getheader(last_dark, 0), **stamp)
            hdul[0].header["FILENAME"] = Path(output).name  # the engine wrote the temporary's
    return Path(output)


def dark_references(first_dark: os.PathLike, crds: dict[str, Any], archive: Archive) -> Path:
    """Make the references the darks' CR rejection reads (CRREJTAB, CCDTAB) present; set ``oref``.

    Returns the directory calstis uses as ``oref`` (``<crds.path>/references/hst/stis``).
    """
    from astropy.io import fits

    from stisdarks import references as refs

    hdr = fits.getheader(first_dark, 0)
    archive_oref = getattr(archive, "oref_dir", None)
    for key in ("CRREJTAB", "CCDTAB"):
        name = str(hdr.get(key, "")).strip()
        if name and name.upper() != "N/A":
            try:
                refs.fetch_reference(
                    name,
                    crds["path"],
                    archive_oref=archive_oref,
                    mode=crds["mode"],
                    server_url=crds["server"],
                )
            except StisDarksError as exc:
                log.warning("%s; the documented defaults will be used", exc)
    oref = refs.oref_dir(crds["path"]).resolve()
    os.environ["oref"] = f"{oref}/"
    return oref


def basedark(
    darks_csv: os.PathLike,
    dark_dir: os.PathLike,
    period_json: os.PathLike,
    science_json: os.PathLike,
    output: os.PathLike,
    used_csv: os.PathLike,
    *,
    engine: str,
    crreject: dict[str, Any],
    crds: dict[str, Any],
    archive: Archive,
    threads: int = 2,
    cti: bool = False,
) -> Path:
    """Build the period's basedark from the downloaded darks whose headers show the dark monitor's mode.

    With ``cti``, from their CTI-corrected copies in ``dark_dir``, and with stis_cti's keywords.
    """
    from stisdarks import engines

    require_hstcal_for("engine", engine)
    period = _period(read_json(period_json))
    mode = mode_of(read_json(science_json))
    dark_files = dark_paths(darks_csv, dark_dir, cti=cti)
    kept, dropped = select_by_header(dark_files, mode)
    if dropped:
        log.info(
            "dropped %d of %d downloaded darks on their headers", len(dropped), len(dark_files)
        )
    require_darks(kept, period, mode)
    dark_references(sorted(kept)[0], crds, archive)
    log.info("basedark from %d %sdarks (engine %s)", len(kept), "CTI-corrected " * cti, engine)
    _build_superdark(
        lambda out: engines.make_basedark(
            sorted(kept), out, engine=engine, overrides=crreject, threads=threads
        ),
        output,
        sorted(kept)[-1] if cti else None,
    )
    write_dark_table(used_csv, _rows_for(darks_csv, kept, cti=cti))
    return Path(output)


def cte_darks(
    darks_csv: os.PathLike,
    output: os.PathLike,
    *,
    dark_dir: os.PathLike,
    cte_dir: os.PathLike,
    pctetab: str = "",
    engine: str = defaults.CTI_ENGINE,
    threads: int = 1,
) -> Path:
    """CTI-correct every dark of the period's list, then write its list of corrected darks.

    The darks listed in ``darks_csv`` (in ``dark_dir``, verified) are corrected into
    ``cte_dir`` by the CTI backend ``engine`` on ``threads`` cores
    (:func:`stisdarks.cti.correct_darks`: one already corrected the same way is kept);
    ``output`` (``cti/darks.csv``, the same rows) is written last, so it exists only
    once every corrected dark does.
    """
    from stisdarks.cti import correct_darks

    correct_darks(
        dark_paths(darks_csv, dark_dir),
        cte_dir,
        pctetab=pctetab or None,
        engine=engine,
        threads=threads,
    )
    return write_dark_table(output, read_dark_table(darks_csv))


def week_list(
    used_csv: os.PathLike,
    period_json: os.PathLike,
    science_json: os.PathLike,
    output: os.PathLike,
    *,
    week_days: float,
    min_week_darks: int,
    week: str = defaults.WEEK,
    dark_dir: os.PathLike | None = None,
    cti: bool = False,
) -> Path:
    """Write ``week.csv``: the period's darks of the observation's week.

    ``week="days"``: within ± ``week_days`` of the observation (the notebook's week);
    ``"pipeline"``: the darks of the pipeline week holding it, found as stis_cti finds it
    (:func:`stisdarks.periods.pipeline_week`: grouped by the ``DARKFILE`` in their headers,
    read from the files in ``dark_dir``).
    """
    from stisdarks.periods import pipeline_week, week_window

    period = _period(read_json(period_json))
    facts = read_json(science_json)
    darks = read_dark_table(used_csv)
    if week == "pipeline":
        from astropy.io import fits

        if dark_dir is None:
            raise ValueError("week='pipeline' reads the darks' headers: give dark_dir")
        files = dark_paths(used_csv, dark_dir, cti=cti)
        darkfiles = [str(fits.getheader(f, 0).get("DARKFILE", "")).strip() for f in files]
        chosen_week = pipeline_week(
            facts["start_mjd"],
            [(d.start_mjd, f) for d, f in zip(darks, darkfiles, strict=True)],
            period,
        )
        log.info("pipeline week of %s: DARKFILE %s", facts["obs_id"], chosen_week.darkfile)
        darks = [d for d, f in zip(darks, darkfiles, strict=True) if f == chosen_week.darkfile]
        window = (chosen_week.start_mjd, chosen_week.end_mjd)
    elif week == "days":
        window = week_window(facts["start_mjd"], period, week_days)
    else:
        raise ConfigError(f"darks.week: {week!r} is neither 'days' nor 'pipeline'")
    chosen = week_darks(darks, facts["start_mjd"], window, min_week_darks)
    return write_dark_table(output, chosen)


def weekdark(
    week_csv: os.PathLike,
    dark_dir: os.PathLike,
    basedark_fits: os.PathLike,
    output: os.PathLike,
    *,
    engine: str,
    crreject: dict[str, Any],
    crds: dict[str, Any],
    archive: Archive,
    threads: int = 2,
    cti: bool = False,
) -> Path:
    """Build the target's weekdark on top of the period's basedark (``cti``: from CTI-corrected darks)."""
    from stisdarks import engines

    require_hstcal_for("engine", engine)
    week_files = sorted(dark_paths(week_csv, dark_dir, cti=cti))
    dark_references(week_files[0], crds, archive)

    log.info("weekdark from %d darks over %s (engine %s)", len(week_files), basedark_fits, engine)
    _build_superdark(
        lambda out: engines.make_weekdark(
            week_files, basedark_fits, out, engine=engine, overrides=crreject, threads=threads
        ),
        output,
        week_files[-1] if cti else None,
        basedark=Path(basedark_fits).name,
    )
    return Path(output)


def check_cti(facts: dict[str, Any], request: str) -> None:
    """Stop, or warn in one line, when CTI correction is asked for a target stis_cti cannot serve.

    ``request`` is ``""`` (no CTI correction asked for) or what to do if it cannot be given
    (``cti.unsupported``: ``without`` or ``stop``).

    Raises
    ------
    StisDarksError
        With ``request="stop"``: one line naming the observation, the reason and the fix.
    """
    reason = facts.get("cti_refusal")
    if not request or reason is None:
        return
    what = (
        f"{facts.get('obs_id', 'the observation')}: stis_cti cannot correct it for CTI ({reason})"
    )
    if request == "stop":
        raise StisDarksError(
            f"{what}; set cti: false for this target, or cti.unsupported: without to process "
            "it without CTI correction"
        )
    log.warning("%s; processed without CTI correction (cti.unsupported: without)", what)


def week_and_weekdark(
    used_csv: os.PathLike,
    period_json: os.PathLike,
    science_json: os.PathLike,
    basedark_fits: os.PathLike,
    week_csv: os.PathLike,
    output: os.PathLike,
    *,
    dark_dir: os.PathLike,
    week_days: float,
    min_week_darks: int,
    week: str = defaults.WEEK,
    cti_request: str = "",
    **weekdark_options: Any,
) -> Path:
    """``week.csv`` (:func:`week_list`), then the weekdark from those darks (:func:`weekdark`).

    One job for both: choosing the week is a small read, and a job costs a second of
    start-up. ``weekdark_options``: ``engine``, ``crreject``, ``crds``, ``archive``,
    ``threads``, ``cti``. A target that asked for CTI correction (``cti_request``) that
    stis_cti cannot give stops or is warned about here (:func:`check_cti`).
    """
    check_cti(read_json(science_json), cti_request)
    week_list(
        used_csv,
        period_json,
        science_json,
        week_csv,
        week_days=week_days,
        min_week_darks=min_week_darks,
        week=week,
        dark_dir=dark_dir,
        cti=weekdark_options.get("cti", False),
    )
    return weekdark(week_csv, dark_dir, basedark_fits, output, **weekdark_options)


def references(
    raw: os.PathLike,
    flt: os.PathLike,
    output: os.PathLike,
    *,
    crds_path: os.PathLike,
    crds_mode: str,
    crds_server: str | None,
    archive: Archive,
) -> Path:
    """Sync the raw file's best references and the pipeline dark into the CRDS cache (``references.json``)."""
    from astropy.io import fits

    from stisdarks import references as refs

    archive_oref = getattr(archive, "oref_dir", None)  # a local archive carries its own references
    best = refs.sync_references(
        raw, crds_path, archive_oref=archive_oref, mode=crds_mode, server_url=crds_server
    )
    darkfile = str(fits.getval(flt, "DARKFILE", 0)).strip()
    pipeline_dark = refs.fetch_reference(
        darkfile, crds_path, archive_oref=archive_oref, mode=crds_mode, server_url=crds_server
    )
    data = {
        "oref": str(refs.oref_dir(crds_path)),
        "pipeline_darkfile": darkfile,
        "pipeline_dark": str(pipeline_dark),
        "bestrefs": {k: str(v) for k, v in best.items()},
    }
    return write_json(output, data)


def recalibrate(
    products: dict[str, os.PathLike],
    weekdark_fits: os.PathLike,
    references_json: os.PathLike,
    outputs: dict[str, os.PathLike],
    *,
    obs_id: str,
    calibrator: str,
) -> dict[str, Path]:
    """Recalibrate the observation with the weekdark (``recal/{obs}_{flt,crj,sx1}.fits``).

    ``calibrator`` is a configured calibrator (``auto``, ``native``, ``calstis``) or ``cti``:
    stis_cti's CTI-corrected recalibration (:mod:`stisdarks.calibrators.cti`), whatever
    ``outputs`` are named (the workflow names them ``_flc``, ``_crc``, ``_s1c``).

    ``products`` are the downloaded ``raw``, ``flt``, ``crj`` and, for a spectrum, ``sx1``
    and ``wav``; ``outputs`` name the products to write: ``flt``, ``crj`` and ``sx1`` for a
    spectrum, only ``flt`` and ``crj`` for an image (then nothing is extracted and calstis
    skips the steps after the ``_crj``, :data:`stisdarks.calibrators.AFTER_CRJ_STEPS`).

    The calibrator writes into a scratch directory beside the outputs (named as a
    temporary of the ``_crj``, so a killed job's scratch is removed when it reruns); each
    product gets the primary keyword ``SDCALIB`` (the calibrator that ran) there and is
    then renamed into place, so a product with its final name always carries it.
    """
    import shutil
    import tempfile

    from astropy.io import fits

    from stisdarks import __version__
    from stisdarks.calibrators import recalibrate_to
    from stisdarks.engines.common import VERSION_KEYWORD
    from stisdarks.summary import CALIBRATOR_KEYWORD

    if calibrator == "cti":
        from stisdarks.settings import require_cti_tools

        require_cti_tools()
    else:
        require_hstcal_for("calibrator", calibrator)
    unknown = sorted(set(outputs) - {"flt", "crj", "sx1"})
    if unknown or "crj" not in outputs:
        raise ValueError(f"outputs are the crj, flt and optionally sx1, got {sorted(outputs)}")
    if "sx1" in outputs and "sx1" not in products:
        raise InputFileError(
            "an _sx1 output needs the pipeline _sx1 among the science products; an image "
            "(no _sx1) is recalibrated into its _flt and _crj only"
        )
    refs = read_json(references_json)
    crj = Path(outputs["crj"])
    crj.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".tmp-{crj.stem}-", suffix=crj.suffix, dir=crj.parent))
    try:
        chosen, written = recalibrate_to(
            {kind: scratch / Path(path).name for kind, path in outputs.items()},
            products["raw"],
            products["flt"],
            products["crj"],
            products["sx1"] if "sx1" in outputs else None,
            weekdark_fits,
            refs["pipeline_dark"],
            calibrator=calibrator,
            oref_dir=refs["oref"],
            obs_id=obs_id,
            wav=products.get("wav"),
        )
        for kind in outputs:
            hdul = fits.open(written[kind], mode="update")
            try:
                hdul[0].header[CALIBRATOR_KEYWORD] = (
                    chosen,
                    "stisdarks calibrator that made this file",
                )
                hdul[0].header[VERSION_KEYWORD] = (
                    __version__,
                    "stisdarks version that wrote this file",
                )
            finally:
                hdul.close(output_verify="silentfix")
        for kind, path in outputs.items():
            os.replace(written[kind], path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log.info("recalibrated with the %s calibrator (config: %s)", chosen, calibrator)
    return {k: Path(v) for k, v in outputs.items()}


#: the inputs each comparison figure needs
FIGURE_INPUTS = {
    "basedark": ("basedark",),
    "weekdark": ("weekdark",),
    "ratio": ("weekdark", "references", "pipeline_crj"),
    "crj": ("pipeline_crj", "recal_crj", "pipeline_sx1"),
    "spectrum": ("pipeline_sx1", "recal_sx1"),
    "image": ("pipeline_crj", "recal_crj"),
}


def figures(obs_id: str, outputs: dict[str, os.PathLike], **inputs: os.PathLike) -> dict[str, Path]:
    """Draw the comparison figures named in ``outputs`` (keys of :data:`FIGURE_INPUTS`).

    One process draws them all (matplotlib is imported once); ``inputs`` are the files
    they need (``basedark``, ``weekdark``, ``references``, ``pipeline_crj``, ``recal_crj``,
    ``pipeline_sx1``, ``recal_sx1``). The weekdark / pipeline dark ratio is shown in the
    science's pixels (the pipeline ``_crj``'s readout). An image (no ``_sx1``) gets
    ``image`` (its ``_crj`` before and after, zoomed on the hot pixels removed) instead of
    ``crj`` and ``spectrum``.
    """
    from stisdarks import figures as fig

    unknown = set(outputs) - set(FIGURE_INPUTS)
    if unknown:
        raise ValueError(f"unknown figure(s) {sorted(unknown)}; known: {sorted(FIGURE_INPUTS)}")
    for name in outputs:
        missing = [k for k in FIGURE_INPUTS[name] if k not in inputs]
        if missing:
            raise ValueError(f"figure {name!r} needs the input(s) {missing}")
    get = inputs.get
    draw = {
        "basedark": lambda out: fig.plot_dark(out, get("basedark"), title=f"{obs_id}: basedark"),
        "weekdark": lambda out: fig.plot_dark(out, get("weekdark"), title=f"{obs_id}: weekdark"),
        "ratio": lambda out: fig.plot_ratio(
            out,
            get("weekdark"),
            read_json(get("references"))["pipeline_dark"],
            science=get("pipeline_crj"),
        ),
        "crj": lambda out: fig.plot_crj_comparison(
            out, get("pipeline_crj"), get("recal_crj"), sx1=get("pipeline_sx1")
        ),
        "spectrum": lambda out: fig.plot_spectra(out, get("pipeline_sx1"), get("recal_sx1")),
        "image": lambda out: fig.plot_image_comparison(out, get("pipeline_crj"), get("recal_crj")),
    }
    for i, (name, out) in enumerate(outputs.items(), 1):
        log.info("figure %d/%d: %s", i, len(outputs), Path(out).name)
        draw[name](out)
    return {name: Path(out) for name, out in outputs.items()}


def truth_figure(
    output: os.PathLike, archive_root: os.PathLike, obs_id: str, references: os.PathLike, **inputs
) -> Path:
    """Draw ``figures/truth.png``: the products against the synthetic archive's truth.

    ``inputs`` are the pipeline's and the recalibrated ``_crj`` and ``_sx1`` and the
    ``weekdark`` (:func:`stisdarks.figures.plot_truth`); the pipeline's dark is the one
    ``references`` names, the truth the archive's (:func:`stisdarks.truth.truth_files`).
    """
    from stisdarks import figures as fig
    from stisdarks.truth import truth_files

    found = truth_files(archive_root, obs_id)
    if found is None:
        raise InputFileError(
            f"{archive_root} keeps no truth of {obs_id} (truth/{obs_id}_truth.fits, truth.json); "
            "regenerate the demo archive (delete it and rerun)"
        )
    return fig.plot_truth(
        output, *found, pipeline_dark=read_json(references)["pipeline_dark"], **inputs
    )


def summary(output: os.PathLike, **inputs: Any) -> Path:
    """Write ``summary.json`` (the engine and calibrator are read from the products' headers).

    ``inputs`` are :func:`stisdarks.summary.build_summary`'s: a spectrum's include
    ``pipeline_sx1`` and ``recal_sx1``, an image's do not (its hot pixels are counted over
    the whole ``_crj``).
    """
    from stisdarks import summary as _summary

    data = _summary.build_summary(**inputs)
    return _summary.write_summary(output, data)


SCIENCE_PRODUCTS = SCIENCE_KINDS
