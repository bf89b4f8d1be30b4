"""The native CTI correction against what stis_cti 1.6.2 wrote for the same files (recorded).

Runs in the default install (no stis_cti): tests/cti_cases.py builds each input again, the
native backend corrects it, and every data unit and keyword must equal what stis_cti wrote
(``tests/data/cti/stis_cti_1.6.2.json``, made by ``tests/data/cti/make_fixtures.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stisdarks.cti import ctecorr

from cti_cases import CASES, keywords, unit_hashes, write_case

RECORDED = json.loads((Path(__file__).parent / "data/cti/stis_cti_1.6.2.json").read_text())


@pytest.mark.parametrize("name", list(CASES))
def test_native_writes_what_stis_cti_wrote(name, tmp_path):
    want = RECORDED["cases"][name]
    src = write_case(name, tmp_path / "otest0000q_flt.fits")
    assert unit_hashes(src) == want["input"], (
        "the case's input differs from the one stis_cti corrected (another NumPy?): "
        "rerun tests/data/cti/make_fixtures.py where stis_cti is installed"
    )
    out = ctecorr(src, tmp_path / "otest0000q_cte.fits", engine="native", threads=2)
    assert unit_hashes(out) == want["output"]
    assert keywords(out) == want["keywords"]
