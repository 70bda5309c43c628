# Train: one run per experiment (config/experiments/<name>.yaml), then its predictions for evaluation.
# GPUs, threads and run time of a job are resources, not config keys: a training job trains with one
# process per GPU it gets (`gpu`, default 1; torchrun for more), so ask for more in a profile or with
# --set-resources train_model:gpu=4 (runtime=MIN likewise), and for threads with --set-threads.


rule train_model:
    """Train experiment {experiment} on the packed train split (validation on val); resumable."""
    input:
        experiment=lambda wc: experiment_file(wc.experiment),
        init=get_init_checkpoint,
        train="results/pack/train.zarr",
        val="results/pack/val.zarr",
    output:
        config="results/train/{experiment}/config.yaml",
        history="results/train/{experiment}/history.tsv",
        last="results/train/{experiment}/checkpoints/last.pt",
    log:
        "logs/train/{experiment}.log",
    benchmark:
        "benchmarks/train/{experiment}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: cluster_fact("train.threads", 2)
    resources:
        gpu=cluster_fact("train.gpus", 1),
        mem_mb=lambda wc, attempt: 16000 * attempt,
        runtime=lambda wc, attempt: cluster_fact("train.runtime_min", 240) * attempt,
    params:
        config=declared("seed", "train.num_workers"),
    script:
        "../scripts/train_model.py"


rule predict_model:
    """Meshes (and voxels) of trained experiment {experiment} (or <experiment>@<variant>) for every
    shape of split {split}."""
    input:
        unpack(get_predict_runs),
        split="results/pack/{split}.zarr",
    output:
        store=directory("results/predict/{experiment}/{split}.zarr"),
    log:
        "logs/predict/{experiment}/{split}.log",
    benchmark:
        "benchmarks/predict/{experiment}/{split}.tsv"
    wildcard_constraints:
        experiment=trained_name_pattern(),
        split="train|val|test",
    conda:
        "../../envs/train.yaml"
    threads: 2
    resources:
        gpu=cluster_fact("train.gpus", 1),
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
    params:
        config=declared("seed", "evaluate.views"),
    script:
        "../scripts/predict_model.py"
