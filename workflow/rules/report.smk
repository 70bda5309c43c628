# Report: one static HTML page of the results (tables, renders, SDF slices, predictions, curves).


rule report_page:
    """results/report/index.html: metric tables per protocol and the images behind them."""
    input:
        tables=get_evaluate_tables,
        predictions=lambda wc: expand(
            "results/predict/{method}/{split}.zarr",
            method=evaluate_methods(),
            split=config["evaluate"]["split"],
        ),
        split=lambda wc: f"results/pack/{config['evaluate']['split']}.zarr",
        sdf_manifest="results/sdf/manifest.tsv",
        fingerprint="results/pack/fingerprint.tsv",
    output:
        report(
            directory("results/report"),
            htmlindex="index.html",
            category="Report",
            caption="../report/report_page.rst",
        ),
    log:
        "logs/report/report.log",
    conda:
        "../../envs/geometry.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        config=declared(
            "seed",
            "evaluate.split",
            "evaluate.protocols",
            "evaluate.baselines",
            "train.experiments",
            "report",
        ),
    script:
        "../scripts/report_page.py"
