# The monthly basedark (shared by every target of the period) and each target's weekdark
# (with week.csv, the darks of the target's week that it is built from).


rule basedark:
    input:
        unpack(period_inputs),
        darks="results/periods/{period}/darks.csv",
    output:
        fits="results/periods/{period}/basedark.fits",
        used="results/periods/{period}/darks_used.csv",
    log:
        "logs/periods/{period}/basedark.log",
    benchmark:
        "benchmarks/periods/{period}/basedark.tsv"
    conda:
        "../envs/stisdarks.yaml"
    threads: 2
    resources:
        mem_mb=600,
        runtime=30,
    params:
        archive=archive_source(config),
        engine=config["engine"],
        crreject=in_key_order(config["crreject"]),
        crds=in_key_order(config["crds"]),
        dark_dir="resources/archive/darks",
        cti=False,
    script:
        "../scripts/basedark.py"


rule weekdark:
    input:
        used=darks_used_of,
        period="results/{obs}/period.json",
        science="results/{obs}/science.json",
        basedark=basedark_of,
    output:
        week="results/{obs}/week.csv",
        fits="results/{obs}/weekdark.fits",
    log:
        "logs/{obs}/weekdark.log",
    benchmark:
        "benchmarks/{obs}/weekdark.tsv"
    conda:
        "../envs/stisdarks.yaml"
    threads: 2
    resources:
        mem_mb=700,
        runtime=20,
    params:
        archive=archive_source(config),
        engine=config["engine"],
        crreject=in_key_order(config["crreject"]),
        crds=in_key_order(config["crds"]),
        dark_dir=dark_dir_of,
        week=config["darks"]["week"],
        week_days=target_setting("week_days"),
        min_week_darks=target_setting("min_week_darks"),
        cti=cti_applied,
        cti_request=cti_request,
    script:
        "../scripts/weekdark.py"
