"""The workflow configuration, read without heavy imports.

What the ``Snakefile`` and ``rules/common.smk`` need while Snakemake builds the DAG —
the checks the schema cannot make, dataset names, per-target settings, which archive —
lives here, free of numpy and astropy, so that every ``snakemake`` invocation (a no-op
rerun included) starts quickly. The stages (:mod:`stisdarks.stages`) do the work.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stisdarks import defaults
from stisdarks.errors import ConfigError, StisDarksError

if TYPE_CHECKING:
    from stisdarks.archive.base import Archive

__all__ = [
    "OBS_ID_PATTERN",
    "check_obs_id",
    "check_config",
    "require_hstcal_for",
    "archive_from_config",
    "archive_source",
    "open_archive_from",
    "target_settings",
    "entry_settings",
    "single_targets",
    "programme_key",
    "programme_targets",
    "in_key_order",
]

#: HST dataset names: 9 characters, STIS ones start with ``o``.
OBS_ID_PATTERN = re.compile(r"^o[a-z0-9]{8}$")


def check_obs_id(obs_id: str) -> str:
    """Return the lower-cased obs id, or raise a one-line error if it is not a STIS dataset name."""
    value = str(obs_id).strip().lower()
    if not OBS_ID_PATTERN.match(value):
        raise StisDarksError(
            f"{obs_id!r} is not a STIS dataset name (9 characters starting with 'o', e.g. 'oeik1s030'); "
            "fix the obs_id in the config"
        )
    return value


def check_config(config: dict[str, Any], *, uses_conda: bool = False) -> None:
    """Check what the schema cannot, before any job runs (the ``Snakefile`` calls this).

    - the ``crreject`` overrides, with the ranges the CLI uses
      (:func:`stisdarks.crrejtab.check_overrides`);
    - ``engine: refstis`` and ``calibrator: calstis`` need hstcal's ``cs0.e`` on ``PATH``
      (with ``cti``, ``calibrator: calstis`` makes the science through it; ``native`` and
      ``auto`` without ``cs0.e`` correct it natively), and ``cti.engine: stis_cti`` needs
      stis_cti (skipped with ``uses_conda=True``: the jobs then run in
      ``envs/stisdarks.yaml``, which brings hstcal).

    Raises
    ------
    ConfigError
        One line naming the config key and the fix.
    """
    from stisdarks.crrejtab import check_overrides

    try:
        check_overrides(config.get("crreject"))
    except StisDarksError as exc:
        raise ConfigError(f"config crreject: {exc}") from exc
    programme_targets(config)
    if uses_conda:
        return
    for key in ("engine", "calibrator"):
        require_hstcal_for(key, config.get(key, "auto"))
    if uses_cti(config):
        require_cti_tools(
            config.get("cti", {}).get("engine", defaults.CTI_ENGINE),
            config.get("calibrator", defaults.CALIBRATOR),
        )


def uses_cti(config: dict[str, Any]) -> bool:
    """Whether CTI correction is asked for, globally or by any target."""
    targets = config.get("targets", [])
    return any(entry_settings(config, t)["cti"] for t in targets) if targets else False


def require_cti_tools(
    engine: str = defaults.CTI_ENGINE, calibrator: str = defaults.CALIBRATOR
) -> None:
    """Raise unless the CTI path can run: the chosen CTI backend (``cti.engine``: stis_cti
    needs its package) and, when the science goes through calstis (``calibrator:
    calstis``), hstcal's ``cs0.e`` on PATH. ``auto`` and ``native`` need no hstcal: without
    ``cs0.e`` the science is corrected natively (:mod:`stisdarks.calibrators.native_cti`)."""
    from stisdarks.cti import resolve_cti_engine
    from stisdarks.hstcal import has_calstis

    try:
        resolve_cti_engine(engine)
    except StisDarksError as exc:
        raise ConfigError(f"cti.engine: {exc}") from exc
    if calibrator == "calstis" and not has_calstis():
        raise ConfigError(
            "cti: calibrator: calstis makes the CTI-corrected science with hstcal's cs0.e, which "
            "is not on PATH; install hstcal (conda install -c conda-forge hstcal, or run with "
            "--sdm conda) or set calibrator: native (no hstcal needed)"
        )


def require_hstcal_for(key: str, value: str) -> None:
    """Raise if the config's ``engine`` / ``calibrator`` needs hstcal (e.g. ``refstis``,
    ``calstis``: the registries' ``NEEDS_HSTCAL``) and ``cs0.e`` is not on PATH.

    The message names the config key (the library's own message names the CLI flag).
    """
    from stisdarks import calibrators, engines
    from stisdarks.hstcal import has_calstis

    needs = {"engine": engines.NEEDS_HSTCAL, "calibrator": calibrators.NEEDS_HSTCAL}[key]
    if value in needs and not has_calstis():
        raise ConfigError(
            f"{key}: {value} needs hstcal's cs0.e on PATH; install hstcal "
            f"(conda install -c conda-forge hstcal, or run with --sdm conda) or set {key}: native"
        )


#: ``archive`` keys that say where the data come from: they reach each job that fetches as its
#: ``params.archive``, so changing one reruns those jobs (and what depends on them)
ARCHIVE_SOURCE_KEYS = ("kind", "root", "server")
#: ``archive`` keys that only say how to fetch (time-out, attempts): read when the job runs,
#: they never change a product, so changing one reruns nothing (no download is redone)
ARCHIVE_TRANSPORT_KEYS = ("timeout", "retries")


def archive_source(config: dict[str, Any]) -> dict[str, Any]:
    """Where the workflow config's data come from: ``archive.kind``, ``root``, ``server``."""
    acfg = config.get("archive", {})
    return {
        "kind": acfg.get("kind", defaults.ARCHIVE_KIND),
        "root": acfg.get("root", defaults.ARCHIVE_ROOT) if acfg.get("kind") == "local" else None,
        "server": acfg.get("server") if acfg.get("kind", defaults.ARCHIVE_KIND) == "mast" else None,
    }


def open_archive_from(source: dict[str, Any], config: dict[str, Any] | None = None) -> Archive:
    """Open the archive ``source`` (:func:`archive_source`) names, with the config's transport
    options (``archive.timeout``, ``archive.retries``)."""
    from stisdarks.archive import open_archive

    if source["kind"] == "local":
        return open_archive("local", root=source["root"])
    acfg = (config or {}).get("archive", {})
    options = {k: acfg[k] for k in ARCHIVE_TRANSPORT_KEYS if acfg.get(k) is not None}
    if source.get("server") is not None:
        options["server"] = source["server"]
    return open_archive("mast", **options)


def archive_from_config(config: dict[str, Any]) -> Archive:
    """Open the archive the workflow config names (``archive.kind``)."""
    return open_archive_from(archive_source(config), config)


def programme_key(target: dict[str, Any]) -> str | None:
    """The name of a programme target's directory: ``p<proposal>`` or ``list-<file stem>``
    (``None`` for a single-observation target)."""
    if "proposal" in target:
        return f"p{int(target['proposal'])}"
    if "datasets" in target:
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(str(target["datasets"])).stem)
        return f"list-{stem}"
    return None


def programme_targets(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The config's programme targets (``proposal`` or ``datasets``) by :func:`programme_key`.

    Raises
    ------
    ConfigError
        For two list files of the same name, a programme given twice, or a ``period``
        override on a programme (it would apply one period to observations of many).
    """
    found: dict[str, dict[str, Any]] = {}
    for target in config.get("targets", []):
        key = programme_key(target)
        if key is None:
            continue
        if key in found:
            raise ConfigError(
                f"two targets name the programme {key}; give each programme or list file once"
            )
        if "datasets" in target and not Path(str(target["datasets"])).is_file():
            raise ConfigError(
                f"targets: the dataset list {target['datasets']} does not exist; give the path "
                "of a file of dataset names, one per line (relative to where you run snakemake)"
            )
        if "period" in target:
            raise ConfigError(
                f"targets: {key} sets 'period', which can only apply to one observation; "
                "remove it (each observation's anneal period is found) or list that obs_id alone"
            )
        found[key] = target
    return found


def target_settings(
    config: dict[str, Any], obs_id: str, target: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Per-target settings: the target's overrides over the global ``darks``/``period`` keys.

    ``target`` is the config entry the observation comes from (default: the entry with
    this ``obs_id``; a programme's observations pass their programme's entry).
    """
    obs_id = check_obs_id(obs_id)
    if target is None:
        target = single_targets(config).get(obs_id)
    if target is None:
        raise ConfigError(f"{obs_id} is not one of the config's targets; add it under 'targets'")
    return {"obs_id": obs_id, **entry_settings(config, target)}


def single_targets(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The config's ``obs_id`` entries by lower-case obs id (the first, if one is repeated)."""
    found: dict[str, dict[str, Any]] = {}
    for target in config.get("targets", []):
        if "obs_id" in target:
            found.setdefault(check_obs_id(target["obs_id"]), target)
    return found


def entry_settings(config: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """A ``targets`` entry's overrides over the global ``darks``/``period`` keys."""
    darks = config.get("darks", {})
    return {
        "week_days": float(target.get("week_days", darks.get("week_days", defaults.WEEK_DAYS))),
        "min_week_darks": int(
            target.get("min_week_darks", darks.get("min_week_darks", defaults.MIN_WEEK_DARKS))
        ),
        "period": target.get("period", config.get("period")),
        "cti": bool(target.get("cti", config.get("cti", {}).get("enabled", defaults.CTI_ENABLED))),
    }


def in_key_order(value: Any) -> Any:
    """``value`` with the keys of every mapping in it sorted, for a rule's ``params``.

    Snakemake decides whether a setting changed by comparing the ``repr`` of each
    parameter, and a dict's ``repr`` follows the order its keys were written in: the same
    ``crreject:`` or ``crds:`` block with its keys in another order, or with a default
    written out, would otherwise rerun everything that uses it.

    Parameters
    ----------
    value : Any
        A setting: a mapping, a list, or a plain value.

    Returns
    -------
    Any
        The same setting, every mapping's keys in sorted order.
    """
    if isinstance(value, dict):
        return {key: in_key_order(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, list):
        return [in_key_order(item) for item in value]
    return value
