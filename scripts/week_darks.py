"""Pick the darks of the observation's week (checkpoint week_darks)."""

from stisdarks import stages
from stisdarks.runner import run_stage

i = snakemake.input
run_stage(
    snakemake,
    stages.week_list,
    used_csv=i.used,
    period_json=i.period,
    science_json=i.science,
    output=snakemake.output[0],
    week_days=snakemake.params.week_days,
    min_week_darks=snakemake.params.min_week_darks,
)
