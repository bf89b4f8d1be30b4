"""Reference files: the CRDS equivalent of ``crds bestrefs --update-bestrefs --sync-references=1``.

References land in ``<crds_path>/references/hst/oref/``, which is calstis' ``oref``. The
raw file is never modified: best references are assigned on a copy and returned, and
:func:`apply_bestrefs` writes them into *another* copy (the one calstis will run on).

For the ``local`` archive (the synthetic demo, or a directory of your own files) the
references named by the headers are copied from the archive's ``oref/`` directory
into the same cache layout, with no server involved. With ``mode="local"`` CRDS runs
offline (``CRDS_MODE=local``) on a pre-populated cache; a reference missing from it is
named in the error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

from astropy.io import fits

from stisdarks.atomic import shared_atomic_path
from stisdarks.errors import StisDarksError
from stisdarks.fitsio import verify_fits

__all__ = ["REFERENCE_KEYWORDS", "oref_dir", "sync_references", "fetch_reference", "apply_bestrefs"]

log = logging.getLogger(__name__)

#: Reference keywords calstis uses for a CCD spectrum (CALSTIS.md §3).
REFERENCE_KEYWORDS = (
    "CCDTAB", "BPIXTAB", "BIASFILE", "CRREJTAB", "DARKFILE", "PFLTFILE", "DFLTFILE", "LFLTFILE",
    "WCPTAB", "LAMPTAB", "APDESTAB", "SDCTAB", "SPTRCTAB", "DISPTAB", "INANGTAB", "XTRACTAB", "PHOTTAB",
    "APERTAB", "PCTAB", "TDSTAB", "GACTAB",
)  # fmt: skip


def oref_dir(crds_path: os.PathLike) -> Path:
    """``<crds_path>/references/hst/oref`` — what calstis' ``oref`` must point to."""
    return Path(crds_path) / "references" / "hst" / "oref"


def _basename(value: str) -> str | None:
    value = str(value).strip()
    if not value or value.upper() in ("N/A", "NONE"):
        return None
    return value.split("$", 1)[-1]


@contextlib.contextmanager
def _crds_env(crds_path: os.PathLike, mode: str, server_url: str | None):
    saved = {
        k: os.environ.get(k)
        for k in ("CRDS_PATH", "CRDS_MODE", "CRDS_SERVER_URL", "CRDS_OBSERVATORY")
    }
    os.environ["CRDS_PATH"] = str(Path(crds_path).resolve())
    os.environ["CRDS_OBSERVATORY"] = "hst"
    os.environ["CRDS_MODE"] = {"local": "local", "remote": "remote"}.get(mode, "auto")
    if server_url:
        os.environ["CRDS_SERVER_URL"] = server_url
    else:
        os.environ.setdefault("CRDS_SERVER_URL", "https://hst-crds.stsci.edu")
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _copy_from_archive(names: dict[str, str], archive_oref: Path, dest: Path) -> dict[str, Path]:
    out = {}
    for key, base in names.items():
        src = archive_oref / base
        if not src.is_file():
            raise StisDarksError(
                f"{key}={base} is not in the local archive's {archive_oref}; add the reference file there"
            )
        target = dest / base
        if not target.is_file():
            # the cache is shared by concurrent jobs: a locked write (see stisdarks.atomic)
            with shared_atomic_path(target) as tmp:
                shutil.copyfile(src, tmp)
        out[key] = target
    return out


def _header_references(path: os.PathLike) -> dict[str, str]:
    hdr = fits.getheader(path, 0)
    return {k: base for k in REFERENCE_KEYWORDS if k in hdr and (base := _basename(hdr[k]))}


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
    """
    dest = oref_dir(crds_path)
    dest.mkdir(parents=True, exist_ok=True)
    if archive_oref is not None:
        refs = _copy_from_archive(_header_references(raw_path), Path(archive_oref), dest)
        log.info("copied %d reference files from the local archive into %s", len(refs), dest)
        return refs
    if mode == "local":
        # offline: the cache is the authority; the raw header names the references to use
        names = _header_references(raw_path)
        missing = sorted(b for b in names.values() if not (dest / b).is_file())
        if missing:
            raise StisDarksError(
                f"crds.mode is local and {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not in {dest}; "
                "copy the file(s) there or set crds.mode: auto with network access"
            )
        log.info(
            "CRDS offline: %d references of %s found in %s", len(names), Path(raw_path).name, dest
        )
        return {k: dest / b for k, b in names.items()}
    with _crds_env(crds_path, mode, server_url):
        try:
            import crds
            from crds.bestrefs import assign_bestrefs
        except ImportError as exc:  # pragma: no cover - crds is a dependency
            raise StisDarksError("the crds package is missing; pip install crds") from exc
        scratch = Path(tempfile.mkdtemp(prefix="bestrefs-"))
        try:
            copy = scratch / Path(raw_path).name
            shutil.copyfile(raw_path, copy)
            try:
                assign_bestrefs([str(copy)], sync_references=True, verbosity=-1)
            except Exception as exc:  # crds raises many kinds; all mean the same to the user
                raise StisDarksError(
                    f"CRDS could not assign best references to {Path(raw_path).name} ({exc}); with no network, "
                    f"pre-populate {crds_path} and set crds.mode: local"
                ) from exc
            names = _header_references(copy)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        missing = [b for b in names.values() if not (dest / b).is_file()]
        if missing:
            try:
                crds.api.dump_references(crds.get_default_context("hst"), baserefs=missing)
            except Exception as exc:
                raise StisDarksError(
                    f"reference file(s) {', '.join(missing)} are not in {dest} and CRDS could not fetch them "
                    f"({exc}); copy them there or run with network access"
                ) from exc
    return {k: dest / b for k, b in names.items()}


def fetch_reference(
    name: str,
    crds_path: os.PathLike,
    *,
    archive_oref: os.PathLike | None = None,
    mode: str = "auto",
    server_url: str | None = None,
) -> Path:
    """Make one reference file (e.g. the pipeline ``DARKFILE``, ``oref$x_drk.fits``) present in the cache."""
    base = _basename(name)
    if base is None:
        raise StisDarksError(f"reference name {name!r} is empty; the product header lacks it")
    dest = oref_dir(crds_path)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / base
    if target.is_file():
        verify_fits(target)
        return target
    if archive_oref is not None:
        return _copy_from_archive({"reference": base}, Path(archive_oref), dest)["reference"]
    if mode == "local":
        raise StisDarksError(
            f"{base} is not in the CRDS cache {dest} and crds.mode is local; copy it there or allow network access"
        )
    with _crds_env(crds_path, mode, server_url):
        import crds

        try:
            crds.api.dump_files(crds.get_default_context("hst"), [base])
        except Exception as exc:
            raise StisDarksError(
                f"CRDS could not fetch {base} ({exc}); copy it into {dest} or check the network"
            ) from exc
    if not target.is_file():
        raise StisDarksError(f"CRDS did not deliver {base} into {dest}; copy it there by hand")
    return target


def apply_bestrefs(fits_copy: os.PathLike, refs: dict[str, os.PathLike]) -> None:
    """Write ``refs`` into a *copy*'s primary header as ``oref$NAME``."""
    with fits.open(fits_copy, mode="update") as hdul:
        for key, path in refs.items():
            hdul[0].header[key] = f"oref${Path(path).name}"
