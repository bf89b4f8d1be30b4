"""List and fetch the candidate darks of an anneal period (checkpoint period_darks)."""

from stisdarks import stages
from stisdarks.runner import run_stage
from stisdarks.settings import open_archive_from

run_stage(
    snakemake,
    lambda **kw: stages.period_darks(
        open_archive_from(snakemake.params.archive, snakemake.config), **kw
    ),
    period_json=snakemake.input.period,
    science_json=snakemake.input.science,
    output=snakemake.output[0],
    exptime=snakemake.params.exptime,
    exptime_tolerance=snakemake.params.exptime_tolerance,
    dark_dir=snakemake.params.dark_dir,
    connections=snakemake.params.connections,
    crds=snakemake.params.crds,
)
