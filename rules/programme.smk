# Programme targets (an HST proposal, or a list of dataset names) expanded to observations,
# and the overview of every target: results/summary.csv and one figure.


checkpoint programme:
    input:
        generated_archive("science", "darks"),
        dataset_list,
    output:
        "results/programmes/{programme}/programme.csv",
    log:
        "logs/programmes/{programme}.log",
    benchmark:
        "benchmarks/programmes/{programme}.tsv"
    conda:
        "../envs/stisdarks.yaml"
    resources:
        archive_connections=1,
    params:
        archive=archive_source(config),
        target=programme_target,
        exptime=config["darks"]["exptime"],
        exptime_tolerance=config["darks"]["exptime_tolerance"],
        week_days=programme_setting("week_days"),
        min_week_darks=programme_setting("min_week_darks"),
        tables=in_key_order(config["periods"]["tables"]),
        from_archive=config["periods"]["from_archive"],
    script:
        "../scripts/programme.py"


rule overview:
    input:
        summaries=summaries,
        programmes=programme_tables,
    output:
        table=report(
            "results/summary.csv",
            caption="../report/overview_table.rst",
            category="Overview",
        ),
        figure=report(
            "results/figures/overview.png",
            caption="../report/overview.rst",
            category="Overview",
        ),
    log:
        "logs/overview.log",
    benchmark:
        "benchmarks/overview.tsv"
    conda:
        "../envs/stisdarks.yaml"
    script:
        "../scripts/overview.py"
