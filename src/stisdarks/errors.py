"""User-facing errors.

Every problem a user can fix is raised as :class:`StisDarksError` with one line that
names what is wrong and what to do. The CLI and the workflow scripts print that line
and exit non-zero without a traceback.
"""

from __future__ import annotations


class StisDarksError(Exception):
    """An error caused by input, configuration or environment, with a one-line message.

    The message must name the problem *and* the fix, e.g.
    ``"oeik1s030_raw.fits is not a STIS CCD file (DETECTOR='FUV-MAMA'); only CCD data are supported"``.
    """


class ArchiveError(StisDarksError):
    """The archive could not answer (unknown observation, no darks, failed download)."""


class InputFileError(StisDarksError):
    """An input FITS file is missing, unreadable, or not what the step needs."""


class ConfigError(StisDarksError):
    """The workflow configuration is invalid."""
