"""Write results/summary.csv and the overview figure (rule overview)."""

from stisdarks.overview import overview_rows, plot_overview, write_overview_table
from stisdarks.runner import run_stage


def overview(summaries, programmes, table, figure):
    rows = overview_rows(summaries, programmes)
    write_overview_table(table, rows)
    return plot_overview(figure, rows)


run_stage(
    snakemake,
    overview,
    summaries=list(snakemake.input.summaries),
    programmes=list(snakemake.input.programmes),
    table=snakemake.output.table,
    figure=snakemake.output.figure,
)
