"""Download one dark _flt (rule download_dark)."""

from stisdarks import stages
from stisdarks.archive import Product
from stisdarks.runner import run_stage

run_stage(
    snakemake,
    lambda **kw: stages.download_dark(stages.archive_from_config(snakemake.config), **kw),
    product=Product(**snakemake.params.product),
    output=snakemake.output[0],
)
