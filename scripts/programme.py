"""Expand a programme target to its observations: programme.csv (checkpoint programme)."""

from stisdarks.programme import expand_to_table
from stisdarks.runner import run_stage
from stisdarks.settings import open_archive_from

p = snakemake.params
run_stage(
    snakemake,
    lambda **kw: expand_to_table(
        open_archive_from(snakemake.params.archive, snakemake.config), **kw
    ),
    target=p.target,
    output=snakemake.output[0],
    exptime=p.exptime,
    exptime_tolerance=p.exptime_tolerance,
    week_days=p.week_days,
    min_week_darks=p.min_week_darks,
    tables=p.tables,
    from_archive=p.from_archive,
)
