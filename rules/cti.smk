# CTI correction (cti: true; docs/cti.md): every long dark of the period corrected once, by one
# job per period (resources/cte/darks/, shared by every target that uses it), the period's
# basedark built from the corrected darks (results/periods/<period>/cti/), and the science
# recalibrated as stis_cti does it (basic2d, CTI correction, calstis; or, natively, the
# pipeline _flt taken back to bias-subtracted counts, CTI correction, CR rejection, dark, flat).


# every dark of the period CTI-corrected (a dark corrected by an earlier, killed run is kept);
# the list of corrected darks (cti/darks.csv) is written last
rule cte_darks:
    input:
        "results/periods/{period}/darks.csv",
    output:
        "results/periods/{period}/cti/darks.csv",
    log:
        "logs/periods/{period}/cte_darks.log",
    benchmark:
        "benchmarks/periods/{period}/cte_darks.tsv"
    conda:
        "../envs/stisdarks.yaml"
    threads: 2
    resources:
        mem_mb=600,
        runtime=120,
    params:
        pctetab=config["cti"]["pctetab"],
        engine=config["cti"]["engine"],
        dark_dir="resources/archive/darks",
        cte_dir="resources/cte/darks",
    script:
        "../scripts/cte_darks.py"


rule basedark_cti:
    input:
        unpack(period_inputs),
        darks="results/periods/{period}/cti/darks.csv",
    output:
        fits="results/periods/{period}/cti/basedark.fits",
        used="results/periods/{period}/cti/darks_used.csv",
    log:
        "logs/periods/{period}/basedark_cti.log",
    benchmark:
        "benchmarks/periods/{period}/basedark_cti.tsv"
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
        dark_dir="resources/cte/darks",
        cti=True,
    script:
        "../scripts/basedark.py"


# the CTI-corrected products, named as stis_cti names them (_flc, _crc, _s1c)
rule recalibrate_cti:
    input:
        unpack(science_products),
        weekdark="results/{obs}/weekdark.fits",
        references="results/{obs}/references.json",
    output:
        flt="results/{obs}/recal_cti/{obs}_flc.fits",
        crj="results/{obs}/recal_cti/{obs}_crc.fits",
        sx1="results/{obs}/recal_cti/{obs}_s1c.fits",
    log:
        "logs/{obs}/recalibrate_cti.log",
    benchmark:
        "benchmarks/{obs}/recalibrate_cti.tsv"
    conda:
        "../envs/stisdarks.yaml"
    resources:
        mem_mb=600,
        runtime=30,
    params:
        # the PCTETAB is the weekdark's (the darks' and the science's correction agree);
        # calibrator: calstis (auto with cs0.e) is stis_cti's path through hstcal, native
        # (auto without) the same products from the pipeline _flt (docs/cti.md)
        calibrator=f"cti:{config['calibrator']}",
    script:
        "../scripts/recalibrate.py"


rule recalibrate_cti_image:
    input:
        unpack(science_products),
        weekdark="results/{obs}/weekdark.fits",
        references="results/{obs}/references.json",
    output:
        flt="results/{obs}/recal_cti_image/{obs}_flc.fits",
        crj="results/{obs}/recal_cti_image/{obs}_crc.fits",
    log:
        "logs/{obs}/recalibrate_cti_image.log",
    benchmark:
        "benchmarks/{obs}/recalibrate_cti_image.tsv"
    conda:
        "../envs/stisdarks.yaml"
    resources:
        mem_mb=600,
        runtime=30,
    params:
        # the PCTETAB is the weekdark's (the darks' and the science's correction agree);
        # calibrator: calstis (auto with cs0.e) is stis_cti's path through hstcal, native
        # (auto without) the same products from the pipeline _flt (docs/cti.md)
        calibrator=f"cti:{config['calibrator']}",
    script:
        "../scripts/recalibrate.py"
