"""Custom STIS CCD weekly darks.

The library behind the Snakemake workflow: a native superdark engine faithful to
refstis + calstis, archive access (MAST and local), CRDS reference sync, the native
dark swap recalibration, figures and summaries.
"""

#: the package version (pyproject.toml reads it; every product records it as ``SDVERS``)
__version__ = "0.1.0"

from stisdarks.errors import StisDarksError  # noqa: E402

__all__ = ["StisDarksError", "__version__"]
