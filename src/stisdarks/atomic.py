"""Atomic outputs, and removal of the temporaries a killed run leaves behind.

Every output is written through :func:`atomic_path`: under a temporary name
``.tmp-<stem>-<random><suffix>`` in the destination's directory, then renamed onto the
destination, so a file with a final name is always complete. A process killed with
SIGKILL (or on a lost node) cannot clean up and leaves its temporary behind. Each one is
removed when the work that made it is done again, by whoever owns its directory entry:

- **a job's own outputs** — :func:`remove_temporaries_of`, which
  :func:`stisdarks.runner.run_stage` calls for every path of ``snakemake.output`` before
  the stage starts. Snakemake gives each file exactly one producing job, so a temporary
  named after an output can only be a leftover of an earlier attempt of the same job;
  that stays true while other jobs write into the same directory. A killed job always
  runs again: its output is missing, or present but marked incomplete (redone under
  ``--rerun-incomplete``, which ``profiles/default`` sets).
- **a directory one job owns whole** (the generated demo archive) —
  :func:`remove_temporaries_in`, before it is written.
- **a directory several jobs write** (the CRDS cache, by the ``references``,
  ``basedark`` and ``weekdark`` jobs) — :func:`shared_atomic_path`: every writer there
  holds an exclusive ``flock`` on the directory's ``.stisdarks.lock`` while it writes,
  so any temporary it finds under the lock belongs to a dead process and is removed.
  The kernel drops the lock of a killed process. On a file system without ``flock``
  the write goes ahead unlocked and leftovers are not swept there.

Test hook: when ``STISDARKS_TEST_PAUSE_BEFORE_RENAME`` holds a glob (:mod:`fnmatch`,
where ``*`` also matches ``/``) that matches a destination's absolute path,
:func:`atomic_path` sleeps before the rename, so a test can SIGKILL the run while that
temporary certainly exists (``tests/test_crash.py``). Unset, it does nothing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import fnmatch
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = [
    "TEMP_PREFIX",
    "LOCK_NAME",
    "PAUSE_HOOK",
    "atomic_path",
    "shared_atomic_path",
    "remove_temporaries_of",
    "remove_temporaries_in",
]

log = logging.getLogger(__name__)

#: Start of every temporary name.
TEMP_PREFIX = ".tmp-"
#: Lock file of a directory written by several jobs (see :func:`shared_atomic_path`).
LOCK_NAME = ".stisdarks.lock"
#: Test-only environment variable: a glob of destinations to pause at before the rename.
PAUSE_HOOK = "STISDARKS_TEST_PAUSE_BEFORE_RENAME"
_PAUSE_SECONDS = 600.0
#: The random part :func:`tempfile.mkstemp` puts in a name.
_RANDOM = "[a-z0-9_]+"


def _temporary_name(stem: str, suffix: str) -> re.Pattern[str]:
    """The names :func:`atomic_path` gives the temporaries of ``<stem><suffix>``.

    The random part has no ``-`` or ``.``, so the temporaries of ``a.fits`` are never
    mistaken for those of ``a-b.fits``, ``a.b.fits`` or ``a.csv``.
    """
    return re.compile(re.escape(f"{TEMP_PREFIX}{stem}-") + _RANDOM + re.escape(suffix))


def _umask() -> int:
    """The process umask, read without changing it where the system allows."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pause_for_tests(dest: Path) -> None:
    """The :data:`PAUSE_HOOK` test hook: sleep if the variable's glob matches ``dest``."""
    pattern = os.environ.get(PAUSE_HOOK)
    if pattern and fnmatch.fnmatchcase(os.path.abspath(dest), pattern):
        log.warning("%s is set: pausing before renaming onto %s (a test hook)", PAUSE_HOOK, dest)
        time.sleep(_PAUSE_SECONDS)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary ``.tmp-<stem>-<random><suffix>`` lives in the same directory (so the
    rename is atomic), has the permissions of a newly created file (``0o666`` less the
    umask, not ``mkstemp``'s ``0o600``), and is removed if the block raises. A killed
    process leaves at most such a temporary, never a file that looks finished; see the
    module's documentation for who removes it.

    Parameters
    ----------
    path : path-like
        Final destination.
    suffix : str, optional
        Suffix of the temporary name (default: the destination's own suffix, so that
        tools that look at extensions, e.g. ``.fits``, still recognise it).
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f"{TEMP_PREFIX}{dest.stem}-",
        suffix=suffix if suffix is not None else dest.suffix,
        dir=dest.parent,
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        tmp_path.chmod(0o666 & ~_umask())
        yield tmp_path
        _pause_for_tests(dest)
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def remove_temporaries_of(path: str | os.PathLike, suffix: str | None = None) -> list[Path]:
    """Remove the temporaries :func:`atomic_path` left for ``path`` (and inside it, if a directory).

    Only the process that owns ``path`` may call this — in the workflow, the job that
    produces it (:func:`stisdarks.runner.run_stage` does), before it writes.

    Parameters
    ----------
    path : path-like
        An output path.
    suffix : str, optional
        The ``suffix`` given to :func:`atomic_path`, if any.

    Returns
    -------
    list of Path
        What was removed.
    """
    dest = Path(path)
    removed = remove_temporaries_in(dest, recursive=True) if dest.is_dir() else []
    if not dest.parent.is_dir():
        return removed
    pattern = _temporary_name(dest.stem, suffix if suffix is not None else dest.suffix)
    return removed + _remove(
        sorted(p for p in dest.parent.glob(f"{TEMP_PREFIX}*") if pattern.fullmatch(p.name))
    )


def remove_temporaries_in(directory: str | os.PathLike, *, recursive: bool = False) -> list[Path]:
    """Remove every temporary (``.tmp-*``) in ``directory``, which the caller alone writes.

    Parameters
    ----------
    directory : path-like
        A directory owned by the calling job (a missing one is fine).
    recursive : bool
        Also look in its subdirectories.

    Returns
    -------
    list of Path
        What was removed.
    """
    root = Path(directory)
    if not root.is_dir():
        return []
    found = root.rglob(f"{TEMP_PREFIX}*") if recursive else root.glob(f"{TEMP_PREFIX}*")
    return _remove(sorted(found))


def _remove(paths: Iterable[Path]) -> list[Path]:
    removed = []
    for path in paths:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue  # inside a temporary directory removed just before
        except OSError as exc:
            log.warning("could not remove %s, left by an interrupted run (%s)", path, exc)
            continue
        log.info("removed %s, a partial write left by an interrupted run", path)
        removed.append(path)
    return removed


@contextlib.contextmanager
def shared_atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """:func:`atomic_path` for a directory that several jobs write into (the CRDS cache).

    Holds an exclusive lock on the directory (``flock`` on its :data:`LOCK_NAME` file,
    released by the kernel if the process dies) for the whole write and first removes
    every temporary there: all writers of the directory go through this function, so
    none of them is writing at that moment. Keep the block short (a copy): it
    serialises the directory's writers.

    Parameters
    ----------
    path : path-like
        Final destination.
    suffix : str, optional
        As for :func:`atomic_path`.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _directory_lock(dest.parent) as locked:
        if locked:
            remove_temporaries_in(dest.parent)
        with atomic_path(dest, suffix) as tmp:
            yield tmp


@contextlib.contextmanager
def _directory_lock(directory: Path) -> Iterator[bool]:
    """Hold an exclusive lock on ``directory``; yield whether the file system supports it."""
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        yield _flock(fd, directory)
    finally:
        os.close(fd)  # releases the lock


def _flock(fd: int, directory: Path) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError as exc:
        if exc.errno not in (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
            raise
        log.debug("no file locks in %s (%s): leftovers of killed runs stay there", directory, exc)
        return False
    return True
