"""science.json facts and their one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits

from stisdarks.errors import StisDarksError
from stisdarks.science import check_obs_id, read_json, science_facts, write_json


def product(path, primary: dict, nimsets: int = 2):
    hdr = fits.Header()
    hdr.update(
        {
            "ROOTNAME": "oeik1s030",
            "INSTRUME": "STIS",
            "DETECTOR": "CCD",
            "OBSTYPE": "SPECTROSCOPIC",
            "OPT_ELEM": "G430L",
            "APERTURE": "52X2",
            "TARGNAME": "HD-TEST",
            "TEXPSTRT": 59339.5208,
            "TEXPEND": 59339.5347,
            "TEXPTIME": 1200.0,
            "CRSPLIT": 2,
            "CCDGAIN": 1,
            "CCDAMP": "D",
            "CCDOFFST": 3,
            "BINAXIS1": 1,
            "BINAXIS2": 1,
            "ATODGAIN": 1.0,
            "READNSE": 5.4,
            "DARKFILE": "oref$3bj1833ro_drk.fits",
            "DARKCORR": "COMPLETE",
        }
    )
    hdr.update(primary)
    hdus = [fits.PrimaryHDU(header=hdr)]
    for i in range(1, nimsets + 1):
        sci = fits.ImageHDU(np.zeros((4, 4), np.float32), name="SCI", ver=i)
        sci.header["EXPSTART"] = 59339.5208
        hdus += [
            sci,
            fits.ImageHDU(np.zeros((4, 4), np.float32), name="ERR", ver=i),
            fits.ImageHDU(np.zeros((4, 4), np.int16), name="DQ", ver=i),
        ]
    fits.HDUList(hdus).writeto(path)
    return path


@pytest.fixture
def products(tmp_path):
    raw = product(
        tmp_path / "oeik1s030_raw.fits", {"DARKCORR": "PERFORM", "DARKFILE": "oref$old_drk.fits"}
    )
    flt = product(tmp_path / "oeik1s030_flt.fits", {})
    crj = product(tmp_path / "oeik1s030_crj.fits", {}, nimsets=1)
    return raw, flt, crj


def test_facts_read_from_headers(products, tmp_path):
    facts = science_facts(*products)
    assert facts["obs_id"] == "oeik1s030"
    assert facts["start_iso"].startswith("2021-05-05 12:29")
    assert (facts["ccdgain"], facts["ccdamp"], facts["binaxis1"], facts["binaxis2"]) == (
        1,
        "D",
        1,
        1,
    )
    assert facts["darkfile"] == "oref$3bj1833ro_drk.fits"  # from the calibrated _flt, not the _raw
    assert facts["nimsets"] == 2 and facts["readnse"] == 5.4
    out = write_json(tmp_path / "science.json", facts)
    assert read_json(out) == json.loads(json.dumps(facts))


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"DETECTOR": "FUV-MAMA"}, "only STIS CCD observations are supported"),
        ({"INSTRUME": "COS"}, "STIS CCD darks only"),
    ],
)
def test_non_ccd_observation_is_one_clear_line(tmp_path, keys, message):
    raw = product(tmp_path / "x_raw.fits", keys)
    flt = product(tmp_path / "x_flt.fits", keys)
    with pytest.raises(StisDarksError, match=message) as err:
        science_facts(raw, flt, flt)
    assert "\n" not in str(err.value)


def test_obs_id_pattern():
    assert check_obs_id(" OEIK1S030 ") == "oeik1s030"
    with pytest.raises(StisDarksError, match="not a STIS dataset name"):
        check_obs_id("ldq401010")
    with pytest.raises(StisDarksError, match="not a STIS dataset name"):
        check_obs_id("oeik1s03")


def test_missing_json_names_the_fix(tmp_path):
    with pytest.raises(StisDarksError, match="rerun the workflow"):
        read_json(tmp_path / "nope.json")
