# Dark selection: the period's candidate darks (a checkpoint) and the target's week.


checkpoint period_darks:
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
    params:
        exptime=config["darks"]["exptime"],
        exptime_tolerance=config["darks"]["exptime_tolerance"],
    script:
        "../scripts/period_darks.py"


checkpoint week_darks:
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
