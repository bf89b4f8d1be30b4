"""Build the target's weekdark (rule weekdark)."""

from stisdarks import stages
from stisdarks.runner import run_stage

run_stage(
    snakemake,
    stages.weekdark,
    week_csv=snakemake.input.week,
    dark_dir=snakemake.params.dark_dir,
    basedark_fits=snakemake.input.basedark,
    output=snakemake.output[0],
    engine=snakemake.params.engine,
    crreject=dict(snakemake.params.crreject),
    crds=dict(snakemake.params.crds),
    archive=stages.archive_from_config(snakemake.config),
    threads=snakemake.threads,
)
