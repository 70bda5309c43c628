# Evaluate: baselines' predictions, every method under every preset, one table per preset.


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
    """Metrics of method {method}'s predictions of split {split} under preset {preset}."""
    input:
        predictions="results/predict/{method}/{split}.zarr",
        split="results/pack/{split}.zarr",
    output:
        per_item="results/evaluate/{split}/{method}/{preset}.tsv",
        summary="results/evaluate/{split}/{method}/{preset}_summary.tsv",
    log:
        "logs/evaluate/{split}/{method}/{preset}.log",
    benchmark:
        "benchmarks/evaluate/{split}/{method}/{preset}.tsv"
    wildcard_constraints:
        preset="disn|onet|convonet|pix3d|r2n2",
        split="train|val|test",
    conda:
        "../../envs/geometry.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 120 * attempt,
    params:
        config=declared("seed"),
    script:
        "../scripts/evaluate_method.py"


rule evaluate_table:
    """Every method's summary under preset {preset}, in one table (methods x categories)."""
    input:
        lambda wc: [
            f"results/evaluate/{wc.split}/{method}/{wc.preset}_summary.tsv"
            for method in evaluate_methods()
        ],
    output:
        report(
            "results/evaluate/{split}/{preset}.tsv",
            category="Evaluation",
            subcategory="{preset}",
            caption="../report/evaluate_table.rst",
            labels={"split": "{split}", "preset": "{preset}"},
        ),
    log:
        "logs/evaluate/{split}/{preset}.log",
    wildcard_constraints:
        preset="disn|onet|convonet|pix3d|r2n2",
        split="train|val|test",
    localrule: True
    conda:
        "../../envs/geometry.yaml"
    script:
        "../scripts/evaluate_table.py"
