"""Find the anneal period of the observation (checkpoint anneal_period)."""

from stisdarks import stages
from stisdarks.runner import run_stage

p = snakemake.params
run_stage(
    snakemake,
    lambda **kw: stages.anneal_period(
        archive=stages.archive_from_config(snakemake.config) if p.from_archive else None, **kw
    ),
    science_json=snakemake.input.science,
    output=snakemake.output[0],
    override=p.override,
    tables=p.tables,
)
