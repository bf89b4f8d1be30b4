"""Reference files: the CRDS equivalent of ``crds bestrefs --update-bestrefs --sync-references=1``.

Where references live
---------------------
CRDS decides where a reference goes in its cache, and this module asks it rather than
assuming: :func:`reference_dir` is ``crds.hst.locate.locate_dir("stis")`` for the cache.
In CRDS' default ``instrument`` layout that is ``<crds_path>/references/hst/stis/``, and
CRDS itself links ``references/hst/oref`` to it when no ``oref`` exists; in a ``flat``
cache it is ``references/hst/``. The same directory is calstis' ``oref$``
(:func:`oref_dir`), so every reference, whether CRDS fetched it or it came from a local
archive, is found there. A file CRDS filed elsewhere (a name CRDS attributes to another
instrument) is copied into that directory, and so is a file found only in a
``references/hst/oref`` that is a directory of its own (what older stisdarks versions
made; CRDS then leaves ``oref`` alone and keeps using ``stis/``).

Modes
-----
The raw file is never modified: best references are assigned on a copy and returned, and
:func:`apply_bestrefs` writes them into *another* copy (the one calstis will run on).

- A ``local`` archive (the synthetic demo, or a directory of your own files): the
  references named by the headers are copied from the archive's ``oref/`` directory into
  the cache, with no server involved.
- ``mode="local"``: CRDS runs offline (``CRDS_MODE=local``, no server contacted). If the
  cache holds CRDS rules (``config/hst/server_config`` and the mappings, as a synced cache
  has), CRDS assigns the best references from them; otherwise the raw header's references
  are used. Either way a reference missing from the cache is named in the error.
- ``mode="auto"`` / ``"remote"``: CRDS with its server, syncing what is missing.

CRDS failures (an unreachable server exits through ``SystemExit``; a non-zero error
count from ``assign_bestrefs``) become one-line :class:`~stisdarks.errors.StisDarksError`.
"""

from __future__ import annotations

import contextlib
import filecmp
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from astropy.io import fits

from stisdarks.atomic import shared_atomic_path
from stisdarks.errors import StisDarksError
from stisdarks.fitsio import verify_fits

__all__ = [
    "REFERENCE_KEYWORDS",
    "reference_dir",
    "oref_dir",
    "sync_references",
    "fetch_reference",
    "apply_bestrefs",
]

log = logging.getLogger(__name__)

#: Reference keywords calstis uses for a CCD spectrum (CALSTIS.md §3).
REFERENCE_KEYWORDS = (
    "CCDTAB", "BPIXTAB", "BIASFILE", "CRREJTAB", "DARKFILE", "PFLTFILE", "DFLTFILE", "LFLTFILE",
    "WCPTAB", "LAMPTAB", "APDESTAB", "SDCTAB", "SPTRCTAB", "DISPTAB", "INANGTAB", "XTRACTAB", "PHOTTAB",
    "APERTAB", "PCTAB", "TDSTAB", "GACTAB",
)  # fmt: skip

#: CRDS server used when none is configured.
DEFAULT_SERVER = "https://hst-crds.stsci.edu"
#: In ``local`` mode CRDS is pointed at a "serverless" URL: it then never tries the network.
_SERVERLESS = "https://hst-serverless.stsci.edu"
#: Environment variables that would move parts of the cache away from ``crds_path``.
_CACHE_OVERRIDES = tuple(
    f"{root}{single}"
    for root in ("CRDS_PATH", "CRDS_REFPATH", "CRDS_MAPPATH", "CRDS_CFGPATH")
    for single in ("", "_SINGLE")
)
_FIX = {
    "local": "the CRDS rules in {cache} are incomplete or corrupt: sync the cache again with network access "
    "(crds.mode: auto), or remove {cache}/config/hst/server_config to use the raw header's references",
    "online": "check crds.server and the network, or pre-populate {cache} and set crds.mode: local",
}


def _basename(value: str) -> str | None:
    value = str(value).strip()
    if not value or value.upper() in ("N/A", "NONE"):
        return None
    return value.split("$", 1)[-1]


@contextlib.contextmanager
def _crds_env(crds_path: os.PathLike, mode: str, server_url: str | None) -> Iterator[None]:
    """CRDS configured for the cache ``crds_path`` (environment and CRDS' process-wide state).

    CRDS reads its configuration from the environment and caches derived facts (the
    cache's sub-directory layout, the server info, the context) for the process; both
    are reset on entry so that several caches can be used by one process, and the
    environment is restored on exit.
    """
    keys = (*_CACHE_OVERRIDES, "CRDS_MODE", "CRDS_SERVER_URL", "CRDS_OBSERVATORY")
    saved = {k: os.environ.get(k) for k in keys}
    for k in _CACHE_OVERRIDES:
        os.environ.pop(k, None)
    os.environ["CRDS_PATH"] = str(Path(crds_path).resolve())
    os.environ["CRDS_OBSERVATORY"] = "hst"
    os.environ["CRDS_MODE"] = {"local": "local", "remote": "remote"}.get(mode, "auto")
    url = (
        _SERVERLESS
        if mode == "local"
        else (server_url or os.environ.get("CRDS_SERVER_URL") or DEFAULT_SERVER)
    )
    os.environ["CRDS_SERVER_URL"] = url
    try:
        from crds.client import api
        from crds.core import config, utils
    except ImportError as exc:  # pragma: no cover - crds is a dependency
        raise StisDarksError("the crds package is missing; pip install crds") from exc
    config.CRDS_REF_SUBDIR_MODE = "None"  # re-read this cache's layout tag
    utils.clear_function_caches()
    api.set_crds_server(url)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        config.CRDS_REF_SUBDIR_MODE = "None"
        utils.clear_function_caches()


class _CrdsErrors(logging.Handler):
    """Collects the messages of CRDS' own logger (``CRDS``, not propagated) at ERROR and above."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = " ".join(record.getMessage().split())
        # drop CRDS' "(0000012) -" message counter
        self.messages.append(text.split(") - ", 1)[-1] if text.startswith("(") else text)


@contextlib.contextmanager
def _crds_errors() -> Iterator[_CrdsErrors]:
    handler = _CrdsErrors()
    logger = logging.getLogger("CRDS")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def _reason(exc: BaseException, handler: _CrdsErrors) -> str:
    """One-line reason: CRDS' first logged error, else the exception."""
    if handler.messages:
        text = handler.messages[0]
    elif isinstance(exc, SystemExit):
        text = f"CRDS exited with status {exc.code}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def _locate_dir() -> Path:
    """CRDS' STIS reference directory for the cache configured in the environment."""
    from crds.hst import locate

    # in "instrument" layout this also links references/hst/oref -> stis when no oref exists
    return Path(locate.locate_dir("stis"))


def _legacy_oref(dest: Path) -> Path | None:
    """``references/hst/oref`` if it is a directory of its own beside ``dest`` (older stisdarks
    versions, or a hand-made cache, put references there), else None."""
    legacy = dest.parent / "oref"
    if legacy.is_dir() and not legacy.is_symlink() and legacy.resolve() != dest.resolve():
        return legacy
    return None


def _present(dest: Path, base: str) -> Path | None:
    """``dest/base``, copied there first from a legacy ``oref`` directory if only that has it."""
    target = dest / base
    if target.is_file():
        return target
    legacy = _legacy_oref(dest)
    if legacy is not None and (legacy / base).is_file():
        log.warning("%s is in %s, a directory of its own; copying it into %s, where CRDS keeps STIS "
                    "references (calstis' oref)", base, legacy, dest)  # fmt: skip
        return _place(legacy / base, target)
    return None


def _known_instrument_dir(crds_path: Path) -> Path | None:
    """``references/hst/stis`` when the cache says it uses CRDS' "instrument" layout and has it."""
    if os.environ.get("CRDS_REF_SUBDIR_MODE", "None") not in ("None", "instrument"):
        return None
    try:
        mode = (crds_path / "config" / "hst" / "ref_cache_subdir_mode").read_text().strip()
    except OSError:
        return None
    where = (crds_path / "references" / "hst" / "stis").absolute()  # as CRDS gives it
    return where if mode == "instrument" and where.is_dir() else None


def reference_dir(crds_path: os.PathLike) -> Path:
    """The directory where CRDS keeps STIS reference files in the cache ``crds_path``.

    Parameters
    ----------
    crds_path : path-like
        The CRDS cache directory (``CRDS_PATH``).

    Returns
    -------
    Path
        ``crds.hst.locate.locate_dir("stis")`` for this cache (created if absent):
        ``<crds_path>/references/hst/stis`` in CRDS' default layout. Once CRDS has recorded
        that layout in the cache (``config/hst/ref_cache_subdir_mode`` = ``instrument``) and
        the directory exists, it is returned without importing crds (a second of start-up
        for every job that only needs to know where the references are).
    """
    known = _known_instrument_dir(Path(crds_path))
    if known is not None:
        return known
    with _crds_env(crds_path, "local", None):
        where = _locate_dir()
    where.mkdir(parents=True, exist_ok=True)
    return where


def oref_dir(crds_path: os.PathLike) -> Path:
    """What calstis' ``oref$`` must point to: :func:`reference_dir` (``references/hst/stis``).

    CRDS also links ``references/hst/oref`` to it in a fresh cache; either path works.
    """
    return reference_dir(crds_path)


def _copy_from_archive(names: dict[str, str], archive_oref: Path, dest: Path) -> dict[str, Path]:
    out = {}
    for key, base in names.items():
        src = archive_oref / base
        if not src.is_file():
            raise StisDarksError(
                f"{key}={base} is not in the local archive's {archive_oref}; add the reference file there"
            )
        out[key] = _place(src, dest / base)
    return out


def _place(src: Path, target: Path) -> Path:
    """Copy ``src`` to ``target`` unless the same file is already there (a locked write: the
    cache is shared); a local archive regenerated with other data replaces its old copy."""
    if not target.is_file() or not filecmp.cmp(src, target, shallow=False):
        with shared_atomic_path(target) as tmp:
            shutil.copyfile(src, tmp)
    return target


def _header_references(path: os.PathLike) -> dict[str, str]:
    hdr = fits.getheader(path, 0)
    return {k: base for k in REFERENCE_KEYWORDS if k in hdr and (base := _basename(hdr[k]))}


def _has_rules(crds_path: os.PathLike) -> bool:
    """True if the cache holds CRDS' configuration from a synced server (rules usable offline)."""
    return (Path(crds_path) / "config" / "hst" / "server_config").is_file()


def _in_stis_dir(names: dict[str, str], dest: Path) -> tuple[dict[str, Path], list[str]]:
    """Where CRDS keeps each of ``names``; copies any it filed outside ``dest`` into it.

    Returns the ``{keyword: path in dest}`` found and the sorted basenames missing.
    """
    from crds.hst import locate

    found, missing = {}, set()
    for key, base in names.items():
        target = dest / base
        if _present(dest, base) is not None:
            found[key] = target
            continue
        try:
            where = Path(locate.locate_file(base, parameters={"INSTRUME": "STIS"}))
        except Exception:  # CRDS cannot place the name: it is not in the cache either
            where = target
        if where.is_file():
            found[key] = _place(where, target)
        else:
            missing.add(base)
    return found, sorted(missing)


def _assign_bestrefs(raw_path: os.PathLike, crds_path: os.PathLike, mode: str) -> dict[str, str]:
    """Run CRDS bestrefs on a scratch copy of ``raw_path``; the references it chose.

    Missing references are synced unless ``mode`` is ``local`` (then the caller names them).
    """
    from crds.bestrefs import assign_bestrefs

    fix = _FIX["local" if mode == "local" else "online"].format(cache=crds_path)
    name = Path(raw_path).name
    scratch = Path(tempfile.mkdtemp(prefix="bestrefs-"))
    try:
        copy = scratch / name
        shutil.copyfile(raw_path, copy)
        with _crds_errors() as errors:
            try:
                n_errors = assign_bestrefs(
                    [str(copy)], sync_references=mode != "local", verbosity=-1
                )
            except (Exception, SystemExit) as exc:  # an unreachable server exits via SystemExit
                if isinstance(exc, SystemExit) and not _has_rules(crds_path):
                    raise StisDarksError(
                        f"CRDS could not reach its server {os.environ.get('CRDS_SERVER_URL')} and {crds_path} "
                        "holds no CRDS rules to work offline; check crds.server and the network, or "
                        f"pre-populate {crds_path} (crds sync) and set crds.mode: local"
                    ) from exc
                raise StisDarksError(
                    f"CRDS could not assign best references to {name} ({_reason(exc, errors)}); "
                    + fix
                ) from exc
        if n_errors:
            first = f"first: {errors.messages[0]}; " if errors.messages else ""
            raise StisDarksError(
                f"CRDS reported {n_errors} error(s) assigning best references to {name} ({first}see the log); "
                + fix
            )
        return _header_references(copy)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _missing_error(missing: list[str], dest: Path, fix: str) -> StisDarksError:
    if len(missing) == 1:
        what = f"{missing[0]} is"
    elif len(missing) <= 4:
        what = f"{', '.join(missing)} are"
    else:
        what = (
            f"{len(missing)} references ({', '.join(missing[:3])} and {len(missing) - 3} more) are"
        )
    return StisDarksError(f"{what} not in the CRDS cache {dest}; {fix}")


def sync_references(
    raw_path: os.PathLike,
    crds_path: os.PathLike,
    *,
    archive_oref: os.PathLike | None = None,
    mode: str = "auto",
    server_url: str | None = None,
) -> dict[str, Path]:
    """Best references of ``raw_path``, present in the cache; ``{keyword: path}``.

    Parameters
    ----------
    raw_path : path-like
        The science ``_raw`` (never modified).
    crds_path : path-like
        The CRDS cache directory (``CRDS_PATH``).
    archive_oref : path-like, optional
        A local archive's reference directory: copy the header's references from there.
    mode : {"auto", "local", "remote"}
        CRDS mode (``local``: cache only, no network).
    server_url : str, optional
        CRDS server.

    Returns
    -------
    dict
        ``{keyword: path}``, every path inside :func:`reference_dir` (calstis' ``oref``).

    Raises
    ------
    StisDarksError
        CRDS failed (server unreachable, errors reported) or a reference is missing.
    """
    dest = reference_dir(crds_path)
    if archive_oref is not None:
        refs = _copy_from_archive(_header_references(raw_path), Path(archive_oref), dest)
        log.info("copied %d reference files from the local archive into %s", len(refs), dest)
        return refs
    if mode == "local" and not _has_rules(crds_path):
        # offline without CRDS rules: the raw header names the references to use
        names = _header_references(raw_path)
        missing = sorted(b for b in names.values() if _present(dest, b) is None)
        if missing:
            raise _missing_error(
                missing, dest,
                "crds.mode is local: copy the file(s) there or set crds.mode: auto with network access",
            )  # fmt: skip
        log.info(
            "CRDS offline: %d references of %s found in %s", len(names), Path(raw_path).name, dest
        )
        return {k: dest / b for k, b in names.items()}
    with _crds_env(crds_path, mode, server_url):
        names = _assign_bestrefs(raw_path, crds_path, mode)
        found, missing = _in_stis_dir(names, dest)
        if missing and mode != "local":
            import crds

            with _crds_errors() as errors:
                try:
                    crds.api.dump_references(crds.get_default_context("hst"), baserefs=missing)
                except (Exception, SystemExit) as exc:
                    raise StisDarksError(
                        f"reference file(s) {', '.join(missing)} are not in {dest} and CRDS could not fetch them "
                        f"({_reason(exc, errors)}); copy them there or run with network access"
                    ) from exc
            found, missing = _in_stis_dir(names, dest)
    if missing:
        raise _missing_error(
            missing, dest, "copy the file(s) there or set crds.mode: auto with network access"
        )
    log.info("CRDS: %d best references of %s in %s", len(found), Path(raw_path).name, dest)
    return found


def fetch_reference(
    name: str,
    crds_path: os.PathLike,
    *,
    archive_oref: os.PathLike | None = None,
    mode: str = "auto",
    server_url: str | None = None,
) -> Path:
    """Make one reference file (e.g. the pipeline ``DARKFILE``, ``oref$x_drk.fits``) present in the cache.

    Parameters
    ----------
    name : str
        The header value (``oref$NAME`` or ``NAME``).
    crds_path : path-like
        The CRDS cache directory.
    archive_oref, mode, server_url
        As for :func:`sync_references`.

    Returns
    -------
    Path
        The file, inside :func:`reference_dir`.
    """
    base = _basename(name)
    if base is None:
        raise StisDarksError(f"reference name {name!r} is empty; the product header lacks it")
    dest = reference_dir(crds_path)
    target = dest / base
    if _present(dest, base) is not None:
        verify_fits(target)
        return target
    if archive_oref is not None:
        return _copy_from_archive({"reference": base}, Path(archive_oref), dest)["reference"]
    if mode == "local":
        with _crds_env(crds_path, mode, server_url):
            found, _ = _in_stis_dir({"reference": base}, dest)
        if found:
            return found["reference"]
        raise StisDarksError(
            f"{base} is not in the CRDS cache {dest} and crds.mode is local; copy it there or allow network access"
        )
    with _crds_env(crds_path, mode, server_url):
        import crds

        with _crds_errors() as errors:
            try:
                crds.api.dump_files(crds.get_default_context("hst"), [base])
            except (Exception, SystemExit) as exc:
                raise StisDarksError(
                    f"CRDS could not fetch {base} ({_reason(exc, errors)}); copy it into {dest} or "
                    "check crds.server and the network"
                ) from exc
        found, _ = _in_stis_dir({"reference": base}, dest)
    if not found:
        raise StisDarksError(f"CRDS did not deliver {base} into {dest}; copy it there by hand")
    return found["reference"]


def apply_bestrefs(fits_copy: os.PathLike, refs: dict[str, os.PathLike]) -> None:
    """Write ``refs`` into a *copy*'s primary header as ``oref$NAME``."""
    with fits.open(fits_copy, mode="update") as hdul:
        for key, path in refs.items():
            hdul[0].header[key] = f"oref${Path(path).name}"
