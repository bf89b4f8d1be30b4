"""Archives: where science observations and darks come from (``local`` or ``mast``)."""

from __future__ import annotations

from stisdarks.archive.base import (
    SCIENCE_KINDS,
    AnnealPeriod,
    Archive,
    DarkExposure,
    Product,
    ScienceObservation,
)

__all__ = [
    "SCIENCE_KINDS",
    "AnnealPeriod",
    "Archive",
    "DarkExposure",
    "Product",
    "ScienceObservation",
    "open_archive",
]


def open_archive(kind: str, **options) -> Archive:
    """Open an archive by its config name.

    Parameters
    ----------
    kind : {"local", "mast"}
    **options
        Passed to the implementation (``root=`` for local; ``timeout=``, ``max_workers=``,
        ``server=`` for mast).
    """
    if kind == "local":
        from stisdarks.archive.local import LocalArchive

        return LocalArchive(**options)
    if kind == "mast":
        from stisdarks.archive.mast import MastArchive

        return MastArchive(**options)
    from stisdarks.errors import ConfigError

    raise ConfigError(f"unknown archive kind {kind!r}; use 'local' or 'mast'")
