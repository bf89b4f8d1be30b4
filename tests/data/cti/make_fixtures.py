"""Record what stis_cti 1.6.2 writes for each case of tests/cti_cases.py (needs stis_cti).

python tests/data/cti/make_fixtures.py      # rewrites tests/data/cti/stis_cti_1.6.2.json
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # tests/, for cti_cases

from cti_cases import CASES, keywords, unit_hashes, write_case  # noqa: E402


def main() -> int:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "(GFIT|NMPFIT) is deprecated", UserWarning)
        import stis_cti
        from stis_cti import StisPixCteCorr
    out = {"stis_cti": stis_cti.__version__, "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in CASES:
            src = write_case(name, Path(tmp) / f"otest{len(out['cases'])}q_flt.fits")
            dest = Path(tmp) / f"{src.stem}_cte.fits"
            with contextlib.redirect_stdout(io.StringIO()):
                StisPixCteCorr.CteCorr(str(src), outFits=str(dest))
            out["cases"][name] = {
                "input": unit_hashes(src),
                "output": unit_hashes(dest),
                "keywords": keywords(dest),
            }
            print(name, "recorded")
    (HERE / "stis_cti_1.6.2.json").write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
