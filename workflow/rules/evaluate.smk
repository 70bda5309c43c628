# Evaluate: baselines' predictions, every method under every protocol, one table per protocol.


rule baseline:
    """Predict split {split} with a baseline that needs no training (mean shape, retrievals)."""
    input:
        train="results/pack/train.zarr",
        split="results/pack/{split}.zarr",
    output:
        store=directory("results/predict/{baseline}/{split}.zarr"),
    log:
        "logs/predict/{baseline}/{split}.log",
    benchmark:
        "benchmarks/predict/{baseline}/{split}.tsv"
    wildcard_constraints:
        baseline="mean_shape|retrieval_oracle|retrieval_image",
        split="train|val|test",
    conda:
        "../../envs/geometry.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
    params:
        config=declared("evaluate.views"),
    script:
        "../scripts/baseline.py"


rule evaluate_method:
    """Metrics of method {method}'s predictions of split {split} under protocol {protocol}."""
    input:
        predictions="results/predict/{method}/{split}.zarr",
        split="results/pack/{split}.zarr",
    output:
        per_item="results/evaluate/{split}/{method}/{protocol}.tsv",
        summary="results/evaluate/{split}/{method}/{protocol}_summary.tsv",
    log:
        "logs/evaluate/{split}/{method}/{protocol}.log",
    benchmark:
        "benchmarks/evaluate/{split}/{method}/{protocol}.tsv"
    wildcard_constraints:
        protocol="disn|onet|convonet|pix3d|r2n2|genre",
        split="train|val|test",
    conda:
        "../../envs/geometry.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 120 * attempt,
    params:
        config=declared("seed"),
        seen=lambda wc: seen_categories(wc.method),
    script:
        "../scripts/evaluate_method.py"


rule evaluate_table:
    """Every method's summary under protocol {protocol}, in one table (methods x categories)."""
    input:
        lambda wc: [
            f"results/evaluate/{wc.split}/{method}/{wc.protocol}_summary.tsv"
            for method in evaluate_methods()
        ],
    output:
        report(
            "results/evaluate/{split}/{protocol}.tsv",
            category="Evaluation",
            subcategory="{protocol}",
            caption="../report/evaluate_table.rst",
            labels={"split": "{split}", "protocol": "{protocol}"},
        ),
    log:
        "logs/evaluate/{split}/{protocol}.log",
    wildcard_constraints:
        protocol="disn|onet|convonet|pix3d|r2n2|genre",
        split="train|val|test",
    localrule: True
    conda:
        "../../envs/geometry.yaml"
    script:
        "../scripts/evaluate_table.py"
