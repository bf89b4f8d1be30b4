"""The defaults of every setting, in one place.

The library's functions and the ``stisdarks`` command line take their defaults from here,
and the workflow's ``config/schema.yaml`` declares the same values (Snakemake fills a
config from the schema's defaults); ``tests/test_defaults.py`` checks that the two agree, so
changing a default means changing it here and in the schema, and the test says where.
"""

from __future__ import annotations

#: darks.exptime: exposure time (s) of the long dark-monitor darks
DARK_EXPTIME = 1100.0
#: darks.exptime_tolerance: accepted deviation (s) from DARK_EXPTIME
DARK_EXPTIME_TOLERANCE = 1.0
#: darks.week_days: the weekdark's darks lie within ± this many days of the observation
WEEK_DAYS = 3.0
#: darks.week: "days" (± WEEK_DAYS) or "pipeline" (the darks of the pipeline's own week)
WEEK = "days"
#: darks.min_week_darks: fewest darks a week may hold
MIN_WEEK_DARKS = 2
#: archive.kind / archive.root (the local archive's directory) / archive.connections
ARCHIVE_KIND = "mast"
ARCHIVE_ROOT = "resources/demo_archive"
CONNECTIONS = 4
#: engine / calibrator
ENGINE = "auto"
CALIBRATOR = "auto"
#: cti.enabled / cti.unsupported / cti.pctetab ("": STScI's a02_stis_pcte.fits, shipped with
#: the package) / cti.engine
CTI_ENABLED = False
CTI_UNSUPPORTED = "without"
CTI_PCTETAB = ""
CTI_ENGINE = "auto"
#: hot_pixel_threshold: dark current (e-/s) above which a pixel counts as hot
HOT_PIXEL_THRESHOLD = 0.1
#: archive.demo.*: the synthetic demo archive
DEMO_SIZE = 1024
DEMO_N_DARKS = 56
DEMO_SEED = 2021
DEMO_OBS_ID = "odemo1010"
#: archive.demo.cti_trails: null = trail the charge of exposures from 2009-05-01 on
DEMO_CTI_TRAILS = None

#: where each default sits in config/schema.yaml (keys under ``properties``)
SCHEMA_PATHS: dict[tuple[str, ...], object] = {
    ("darks", "exptime"): DARK_EXPTIME,
    ("darks", "exptime_tolerance"): DARK_EXPTIME_TOLERANCE,
    ("darks", "week"): WEEK,
    ("darks", "week_days"): WEEK_DAYS,
    ("darks", "min_week_darks"): MIN_WEEK_DARKS,
    ("archive", "kind"): ARCHIVE_KIND,
    ("archive", "root"): ARCHIVE_ROOT,
    ("archive", "connections"): CONNECTIONS,
    ("engine",): ENGINE,
    ("calibrator",): CALIBRATOR,
    ("hot_pixel_threshold",): HOT_PIXEL_THRESHOLD,
    ("cti", "enabled"): CTI_ENABLED,
    ("cti", "unsupported"): CTI_UNSUPPORTED,
    ("cti", "pctetab"): CTI_PCTETAB,
    ("cti", "engine"): CTI_ENGINE,
    ("archive", "demo", "size"): DEMO_SIZE,
    ("archive", "demo", "n_darks"): DEMO_N_DARKS,
    ("archive", "demo", "seed"): DEMO_SEED,
    ("archive", "demo", "obs_id"): DEMO_OBS_ID,
    ("archive", "demo", "cti_trails"): DEMO_CTI_TRAILS,
}
