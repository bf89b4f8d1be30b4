"""The replaceable parts: every registered engine, calibrator and CTI backend has the one interface.

A new engine or calibrator is a module plus one registry line; one whose functions drift
from the others' signatures, or that the configuration schema or the CLI does not offer,
fails here.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stisdarks import calibrators, cti, engines
from stisdarks.cli import build_parser
from stisdarks.errors import StisDarksError

SCHEMA = yaml.safe_load((Path(__file__).parents[1] / "config" / "schema.yaml").read_text())

PARTS = [
    pytest.param(engines, engines.ENGINES, engines.engine_module, id="engines"),
    pytest.param(calibrators, calibrators.CALIBRATORS, calibrators.calibrator_module, id="calibrators"),
    pytest.param(cti, cti.CTI_ENGINES, cti.cti_module, id="cti"),
]  # fmt: skip


@pytest.mark.parametrize(("package", "names", "module_of"), PARTS)
def test_each_registered_module_exposes_the_interface_with_one_signature(package, names, module_of):
    assert names[0] == "auto" and "native" in names
    reference = module_of("native")
    for name in names[1:]:
        module = module_of(name)
        for func in package.INTERFACE:
            assert callable(getattr(module, func, None)), f"{module.__name__} has no {func}"
            assert inspect.signature(getattr(module, func)) == inspect.signature(
                getattr(reference, func)
            ), f"{module.__name__}.{func} differs from {reference.__name__}.{func}"


def test_the_cti_calibrator_exposes_the_calibrator_interface():
    """Chosen by the workflow for ``cti: true`` targets, not registered: checked here."""
    from stisdarks.calibrators import cti

    reference = calibrators.calibrator_module("native")
    for func in calibrators.INTERFACE:
        assert inspect.signature(getattr(cti, func)) == inspect.signature(getattr(reference, func))
    assert "cti" not in calibrators.CALIBRATORS


def test_the_interfaces_are_the_documented_ones():
    native = engines.engine_module("native")
    assert str(inspect.signature(native.make_basedark)) == (
        "(paths: 'Sequence[os.PathLike]', output: 'os.PathLike', *, "
        "overrides: 'dict | None' = None, threads: 'int' = 2) -> 'Path'"
    )
    params = inspect.signature(calibrators.calibrator_module("native").recalibrate).parameters
    assert list(params) == [
        "raw", "flt", "crj", "sx1", "weekdark", "pipeline_dark", "out",
        "oref_dir", "wav", "obs_id", "new_name",
    ]  # fmt: skip


def test_the_schema_and_the_cli_offer_the_registered_names():
    assert SCHEMA["properties"]["engine"]["enum"] == list(engines.ENGINES)
    assert SCHEMA["properties"]["calibrator"]["enum"] == list(calibrators.CALIBRATORS)
    for name in engines.ENGINES:
        args = build_parser().parse_args(["basedark", "-o", "b.fits", "--engine", name, "d.fits"])
        assert args.engine == name
    assert SCHEMA["properties"]["cti"]["properties"]["engine"]["enum"] == list(cti.CTI_ENGINES)
    for name in cti.CTI_ENGINES:
        assert build_parser().parse_args(["cte", "--engine", name, "d.fits"]).engine == name


def test_auto_cti_is_native_and_stis_cti_needs_its_package(monkeypatch):
    assert cti.resolve_cti_engine("auto") == "native"
    import stisdarks.hstcal as hstcal

    monkeypatch.setattr(hstcal, "find_spec", lambda name: None)
    with pytest.raises(StisDarksError, match="cti engine stis_cti needs the stis_cti package"):
        cti.resolve_cti_engine("stis_cti")


def test_choosing_imports_no_engine_and_no_refstis():
    """The registries, resolvers and shared constants import no engine module of their own."""
    code = (
        "import sys; from stisdarks import engines, calibrators, summary; "
        "engines.resolve_engine('native'); calibrators.resolve_calibrator('native'); "
        "print(sorted(m for m in sys.modules if m.startswith(('stisdarks.engines.', "
        "'stisdarks.calibrators.', 'refstis', 'stistools'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['stisdarks.engines.common']"
