# What the observation is and which anneal period contains it (one job: a checkpoint, since
# the period names the directory its targets share).


checkpoint science_facts:
    input:
        raw="resources/archive/{obs}/{obs}_raw.fits",
        flt="resources/archive/{obs}/{obs}_flt.fits",
        crj="resources/archive/{obs}/{obs}_crj.fits",
    output:
        science="results/{obs}/science.json",
        period="results/{obs}/period.json",
    log:
        "logs/{obs}/science_facts.log",
    benchmark:
        "benchmarks/{obs}/science_facts.tsv"
    conda:
        "../envs/stisdarks.yaml"
    params:
        archive=archive_source(config),
        override=target_setting("period"),
        tables=in_key_order(config["periods"]["tables"]),
        from_archive=config["periods"]["from_archive"],
    script:
        "../scripts/science_facts.py"
