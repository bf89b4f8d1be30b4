"""Choose the target's week of darks and build its weekdark (rule weekdark)."""

from stisdarks import stages
from stisdarks.runner import run_stage
from stisdarks.settings import open_archive_from

i, o, p = snakemake.input, snakemake.output, snakemake.params
run_stage(
    snakemake,
    stages.week_and_weekdark,
    used_csv=i.used,
    period_json=i.period,
    science_json=i.science,
    basedark_fits=i.basedark,
    week_csv=o.week,
    output=o.fits,
    dark_dir=p.dark_dir,
    week=p.week,
    week_days=p.week_days,
    min_week_darks=p.min_week_darks,
    engine=p.engine,
    crreject=dict(p.crreject),
    crds=dict(p.crds),
    archive=open_archive_from(snakemake.params.archive, snakemake.config),
    threads=snakemake.threads,
    cti=p.cti,
    cti_request=p.cti_request,
)
