# Dark selection: the period's candidate darks, listed and fetched in one job (the files go
# to resources/archive/darks/, shared by every period). The target's week is chosen by the
# weekdark job (rules/superdarks.smk), which writes week.csv beside the weekdark.


rule period_darks:
    input:
        unpack(period_inputs),
        archive=generated_archive("darks"),
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
        archive=archive_source(config),
        exptime=config["darks"]["exptime"],
        exptime_tolerance=config["darks"]["exptime_tolerance"],
        dark_dir="resources/archive/darks",
        connections=config["archive"]["connections"],
        crds=in_key_order(config["crds"]),
    script:
        "../scripts/period_darks.py"
