# Recalibration of a copy of the science data with the weekdark.


rule recalibrate:
    input:
        unpack(science_products),
        weekdark="results/{obs}/weekdark.fits",
        references="results/{obs}/references.json",
    output:
        flt="results/{obs}/recal/{obs}_flt.fits",
        crj="results/{obs}/recal/{obs}_crj.fits",
        sx1="results/{obs}/recal/{obs}_sx1.fits",
    log:
        "logs/{obs}/recalibrate.log",
    benchmark:
        "benchmarks/{obs}/recalibrate.tsv"
    conda:
        "../envs/stisdarks.yaml"
    resources:
        mem_mb=400,
        runtime=30,
    params:
        calibrator=config["calibrator"],
    script:
        "../scripts/recalibrate.py"
