# Dark selection: the period's candidate darks, listed and fetched in one job (the files go
# to resources/archive/darks/, shared by every period), and the target's week.


rule period_darks:
    input:
        unpack(period_inputs),
    output:
        "results/periods/{period}/darks.csv",
    log:
        "logs/periods/{period}/period_darks.log",
    benchmark:
        "benchmarks/periods/{period}/period_darks.tsv"
    conda:
        "../envs/stisdarks.yaml"
    resources:
        archive_connections=1,
    params:
        exptime=config["darks"]["exptime"],
        exptime_tolerance=config["darks"]["exptime_tolerance"],
        dark_dir="resources/archive/darks",
        connections=config["archive"]["connections"],
    script:
        "../scripts/period_darks.py"


rule week_darks:
    input:
        used=darks_used_of,
        period="results/{obs}/period.json",
        science="results/{obs}/science.json",
    output:
        "results/{obs}/week.csv",
    log:
        "logs/{obs}/week_darks.log",
    benchmark:
        "benchmarks/{obs}/week_darks.tsv"
    conda:
        "../envs/stisdarks.yaml"
    params:
        week_days=target_setting("week_days"),
        min_week_darks=target_setting("min_week_darks"),
    script:
        "../scripts/week_darks.py"
