"""Download the science products of one observation (rule download_science)."""

from stisdarks import stages
from stisdarks.runner import run_stage
from stisdarks.settings import open_archive_from

run_stage(
    snakemake,
    lambda **kw: stages.download_science(
        open_archive_from(snakemake.params.archive, snakemake.config), **kw
    ),
    obs_id=snakemake.wildcards.obs,
    outputs=dict(snakemake.output.items()),
)
