"""Custom STIS CCD weekly darks.

The library behind the Snakemake workflow: a native superdark engine faithful to
refstis + calstis, archive access (MAST and local), CRDS reference sync, the native
dark swap recalibration, figures and summaries.
"""

from stisdarks.errors import StisDarksError

__all__ = ["StisDarksError", "__version__"]
__version__ = "0.1.0"
