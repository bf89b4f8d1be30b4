"""Dark selection: CCD-mode matching on metadata and headers, the week window, tables."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from stisdarks.archive import AnnealPeriod, DarkExposure, Product
from stisdarks.errors import ArchiveError, StisDarksError
from stisdarks.selection import (
    mode_label,
    period_key,
    read_dark_table,
    require_darks,
    select_by_header,
    select_by_metadata,
    week_darks,
    write_dark_table,
)

MODE = {"ccdgain": 1, "ccdamp": "D", "binaxis1": 1, "binaxis2": 1}
PERIOD = AnnealPeriod(59311.107, 59339.583, "test")


def dark(root: str, start: float, **kw) -> DarkExposure:
    product = Product(root, "flt", f"{root}_flt.fits", f"/archive/{root}_flt.fits", 2880 * 10)
    return DarkExposure(root, start, start + 0.0127, 1100.0, product, **kw)


def write_flt(path, **keys):
    hdr = fits.Header()
    hdr.update(
        {
            "INSTRUME": "STIS",
            "DETECTOR": "CCD",
            "TARGNAME": "DARK",
            "CCDGAIN": 1,
            "CCDAMP": "D",
            "BINAXIS1": 1,
            "BINAXIS2": 1,
        }
    )
    hdr.update(keys)
    fits.HDUList(
        [fits.PrimaryHDU(header=hdr), fits.ImageHDU(np.zeros((4, 4), np.float32), name="SCI")]
    ).writeto(path)
    return path


def test_metadata_selection_drops_wrong_mode_and_outside_period_but_keeps_unknown_amp():
    darks = [
        dark("oa0000010", 59320.0, ccdgain=1, ccdamp=None),  # amp unknown: kept for header check
        dark("oa0000020", 59321.0, ccdgain=4),  # gain 4: dropped
        dark("oa0000030", 59322.0, ccdgain=1, ccdamp="A"),  # amp A: dropped
        dark("oa0000040", 59340.0, ccdgain=1),  # after the anneal: dropped
        dark("oa0000050", 59323.0, ccdgain=1, binaxis1=2),  # binned: dropped
    ]
    kept, dropped = select_by_metadata(darks, PERIOD, MODE)
    assert [d.rootname for d in kept] == ["oa0000010"]
    reasons = {d.rootname: r for d, r in dropped}
    assert "CCDGAIN=4" in reasons["oa0000020"]
    assert "CCDAMP=A" in reasons["oa0000030"]
    assert reasons["oa0000040"] == "outside the anneal period"
    assert "BINAXIS1=2" in reasons["oa0000050"]


def test_header_selection_checks_amp_after_download(tmp_path):
    good = write_flt(tmp_path / "oa0000010_flt.fits")
    amp_a = write_flt(tmp_path / "oa0000020_flt.fits", CCDAMP="A")
    mama = write_flt(tmp_path / "oa0000030_flt.fits", DETECTOR="FUV-MAMA")
    bias = write_flt(tmp_path / "oa0000040_flt.fits", TARGNAME="BIAS")
    kept, dropped = select_by_header([good, amp_a, mama, bias], MODE)
    assert kept == [good]
    reasons = {p.name: r for p, r in dropped}
    assert "CCDAMP=A (dark monitor D)" in reasons["oa0000020_flt.fits"]
    assert "not the CCD" in reasons["oa0000030_flt.fits"]
    assert "not DARK" in reasons["oa0000040_flt.fits"]


def test_week_window_is_inclusive_and_errors_when_too_few():
    darks = [dark(f"oa00000{i}0", 59330.0 + i) for i in range(8)]
    chosen = week_darks(darks, 59335.0, (59332.0, 59338.0), min_darks=2)
    assert [d.start_mjd for d in chosen] == [59332.0 + i for i in range(6)]
    with pytest.raises(StisDarksError, match=r"only 1 dark\(s\).*widen week_days"):
        week_darks(darks, 59335.0, (59336.5, 59337.5), min_darks=2)


def test_table_roundtrip(tmp_path):
    darks = [
        dark("oa0000010", 59320.0, ccdgain=1, ccdamp="D", binaxis1=1, binaxis2=1, proposid=16511),
        dark("oa0000020", 59321.5),
    ]
    path = write_dark_table(tmp_path / "darks.csv", darks)
    assert read_dark_table(path) == darks


def test_period_key_and_error_messages():
    facts = dict(MODE)
    assert period_key(PERIOD, facts).endswith("_gain1_ampD_bin1x1")
    assert mode_label(MODE) == "gain1_ampD_bin1x1"
    with pytest.raises(ArchiveError, match="at least 2 are needed") as err:
        require_darks([], PERIOD, MODE)
    assert "\n" not in str(err.value)
