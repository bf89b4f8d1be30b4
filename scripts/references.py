"""Sync reference files with CRDS and fetch the pipeline dark (rule references)."""

from stisdarks import stages
from stisdarks.runner import run_stage
from stisdarks.settings import open_archive_from

crds = snakemake.params.crds
run_stage(
    snakemake,
    lambda **kw: stages.references(
        archive=open_archive_from(snakemake.params.archive, snakemake.config), **kw
    ),
    raw=snakemake.input.raw,
    flt=snakemake.input.flt,
    output=snakemake.output[0],
    crds_path=crds["path"],
    crds_mode=crds["mode"],
    crds_server=crds["server"],
)
