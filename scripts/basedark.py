"""Build the period's basedark (rule basedark)."""

from stisdarks import stages
from stisdarks.runner import run_stage
from stisdarks.settings import open_archive_from

i = snakemake.input
run_stage(
    snakemake,
    stages.basedark,
    darks_csv=i.darks,
    dark_dir=snakemake.params.dark_dir,
    period_json=i.period,
    science_json=i.science,
    output=snakemake.output.fits,
    used_csv=snakemake.output.used,
    engine=snakemake.params.engine,
    crreject=dict(snakemake.params.crreject),
    crds=dict(snakemake.params.crds),
    archive=open_archive_from(snakemake.params.archive, snakemake.config),
    threads=snakemake.threads,
    cti=snakemake.params.cti,
)
