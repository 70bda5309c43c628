# Entry point at the repository root, so `snakemake --cores N <target>` works from here.
# The workflow itself lives in workflow/Snakefile (its table of contents).


include: "workflow/Snakefile"


# An include does not carry the default target over; declare it again here (same inputs as `all`).
rule default:
    default_target: True
    input:
        rules.ledger.output,
        get_render_outputs,
        rules.sdf_ledger.output,
        get_voxelize_outputs,
        rules.pack.input,
        get_evaluate_tables,
        rules.report_page.output,
    localrule: True
