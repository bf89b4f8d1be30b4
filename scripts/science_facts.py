"""Write science.json and period.json (checkpoint science_facts)."""

from stisdarks import stages
from stisdarks.runner import run_stage
from stisdarks.settings import open_archive_from

i, p = snakemake.input, snakemake.params
run_stage(
    snakemake,
    lambda **kw: stages.science_and_period(
        archive=open_archive_from(snakemake.params.archive, snakemake.config)
        if p.from_archive
        else None,
        **kw,
    ),
    raw=i.raw,
    flt=i.flt,
    crj=i.crj,
    science_json=snakemake.output.science,
    period_json=snakemake.output.period,
    override=p.override,
    tables=p.tables,
)
