"""verify_fits: a complete file passes; cut, truncated or foreign files fail in one line.
step_complete: a calibration switch counts as done only when it says COMPLETE."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from stisdarks.errors import InputFileError
from stisdarks.fitsio import verify_fits


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "x_flt.fits"
    primary = fits.PrimaryHDU()
    primary.header["NEXTEND"] = 2
    hdus = [primary, fits.ImageHDU(np.ones((300, 300), np.float32), name="SCI")]
    hdus.append(fits.ImageHDU(name="DQ"))  # header-only, as calstis writes constant arrays
    fits.HDUList(hdus).writeto(path)
    return path


def test_a_complete_file_passes(good):
    verify_fits(good)
    verify_fits(good, good.stat().st_size)


@pytest.mark.parametrize(
    ("keep", "message"),
    [
        (5000, "not a multiple of the 2880-byte FITS block"),
        (2880 * 3, "is truncated"),  # cut on a block boundary, inside the data
        (2880, "NEXTEND = 2 but it has 0 extensions"),  # cut after the primary header
    ],
)
def test_a_cut_file_fails_in_one_line(good, keep, message):
    good.write_bytes(good.read_bytes()[:keep])
    with pytest.raises(InputFileError, match=message) as err:
        verify_fits(good)
    assert "\n" not in str(err.value) and "download" in str(err.value)


def test_wrong_size_and_foreign_files_fail(good, tmp_path):
    with pytest.raises(InputFileError, match="the archive lists 12"):
        verify_fits(good, 12)
    other = tmp_path / "page.fits"
    other.write_bytes(b"<html>" + b" " * (2880 - 6))
    with pytest.raises(InputFileError, match="not a valid FITS file"):
        verify_fits(other)


def test_a_file_cut_inside_its_last_data_unit_fails(tmp_path):
    path = tmp_path / "y_flt.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((300, 300), np.float32))]).writeto(path)
    path.write_bytes(path.read_bytes()[: 2880 * 3])
    with pytest.raises(InputFileError, match="its headers describe"):
        verify_fits(path)


def test_the_caller_can_name_the_fix(good):
    good.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(
        InputFileError, match=r"not a multiple of the 2880-byte FITS block\); do X$"
    ):
        verify_fits(good, fix="do X")


def test_a_header_that_is_not_text_or_has_no_layout_fails(good):
    data = bytearray(good.read_bytes())
    data[2880 + 200] = 0xFF  # a byte of the SCI header that is not ASCII text
    good.write_bytes(bytes(data))
    with pytest.raises(InputFileError, match="not a valid FITS file.*not ASCII text"):
        verify_fits(good)
    data[2880 + 200] = ord(" ")
    start = data.index(b"NAXIS   ", 2880)  # the SCI header's NAXIS card, renamed
    data[start : start + 8] = b"NAXES   "
    good.write_bytes(bytes(data))
    with pytest.raises(InputFileError, match="no BITPIX or NAXIS card"):
        verify_fits(good)


def test_verifying_imports_no_astropy():
    """Every download is verified, in jobs that need nothing else of astropy (its import
    alone costs half a second)."""
    import subprocess
    import sys

    code = (
        "import sys; from stisdarks.fitsblocks import verify_fits; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'astropy'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("value", "done"),
    [("COMPLETE", True), (" complete ", True), ("PERFORM", False), ("OMIT", False), (None, False)],
)
def test_a_calibration_switch_is_done_only_when_it_says_complete(value, done):
    from stisdarks.cti.common import cti_corrected
    from stisdarks.fitsio import step_complete

    header = (
        fits.Header() if value is None else fits.Header([("FLATCORR", value), ("PCTECORR", value)])
    )
    assert step_complete(header, "FLATCORR") is done
    assert cti_corrected(header) is done
    assert cti_corrected(header, "CTECORR") is False
