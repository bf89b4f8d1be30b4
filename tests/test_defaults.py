"""Each default has one home (stisdarks.defaults), and the config schema declares the same."""

from __future__ import annotations

import inspect

import pytest
import yaml

from stisdarks import defaults
from stisdarks.archive.local import LocalArchive
from stisdarks.programme import expand
from stisdarks.synthetic import DEFAULT_OBS_ID, generate_archive

from workflow_helpers import REPO

SCHEMA = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())


def _schema_default(path: tuple[str, ...]):
    node = SCHEMA
    for key in path:
        node = node["properties"][key]
    return node["default"]


@pytest.mark.parametrize("path", list(defaults.SCHEMA_PATHS), ids=".".join)
def test_the_schema_declares_the_library_default(path):
    assert _schema_default(path) == defaults.SCHEMA_PATHS[path], (
        f"config/schema.yaml's default of {'.'.join(path)} differs from stisdarks.defaults"
    )


def test_library_signatures_use_the_defaults():
    params = inspect.signature(expand).parameters
    assert params["exptime"].default == defaults.DARK_EXPTIME
    assert params["week_days"].default == defaults.WEEK_DAYS
    assert params["min_week_darks"].default == defaults.MIN_WEEK_DARKS
    listing = inspect.signature(LocalArchive.list_darks).parameters
    assert listing["exptime_tolerance"].default == defaults.DARK_EXPTIME_TOLERANCE
    demo = inspect.signature(generate_archive).parameters
    assert (demo["size"].default, demo["n_darks"].default, demo["seed"].default) == (
        defaults.DEMO_SIZE, defaults.DEMO_N_DARKS, defaults.DEMO_SEED,
    )  # fmt: skip
    assert DEFAULT_OBS_ID == defaults.DEMO_OBS_ID
