"""The ``recon`` command line: small tools around the workflow's data.

    recon demo OUT            generate the procedural ShapeNet-layout demo dataset
    recon check MESH          quality-check one mesh file as ingestion does (--folder: its shape folder)
    recon config [FILE]       print a config with every default filled in
    recon show STORE          print the arrays and attributes of a Zarr store
    recon fingerprint RESULTS print the dataset fingerprint of RESULTS/pack/<split>.zarr

The pipeline itself runs with ``snakemake --cores N <target>`` from the repository root.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _cmd_demo(args: argparse.Namespace) -> int:
    from recon.demo import make_demo_dataset

    shapes = make_demo_dataset(
        Path(args.out),
        seed=args.seed,
        layout=args.layout,
        categories=args.categories,
        shapes_per_category=args.shapes_per_category,
    )
    print(f"wrote {len(shapes)} shapes to {args.out}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from recon.config import load_config
    from recon.ingest.stage import measure_mesh

    config = load_config(args.config)
    path = Path(args.mesh)
    row, _, _ = measure_mesh(path, path.suffix.lstrip(".").lower(), config["ingest"], args.folder)
    row["status"] = "quarantined" if row["reason"] else "ok"
    print(json.dumps(row, indent=2))
    return 0 if row["status"] == "ok" else 1


def _cmd_config(args: argparse.Namespace) -> int:
    import yaml

    from recon.config import load_config

    print(yaml.safe_dump(load_config(args.file), sort_keys=False), end="")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from recon.io.store import open_store

    root = open_store(args.store)

    def walk(group, indent: str) -> None:
        for name, member in sorted(group.members()):
            if hasattr(member, "dtype"):
                dims = ", ".join(member.metadata.dimension_names or ())
                print(f"{indent}{name}: {member.shape} {member.dtype} ({dims})")
            else:
                print(f"{indent}{name}/")
                walk(member, indent + "  ")

    print(f"{args.store}/")
    walk(root, "  ")
    attrs = dict(root.attrs)
    if not args.all_attrs:
        attrs.pop("provenance", None)
    print(json.dumps(attrs, indent=2))
    return 0


def _cmd_fingerprint(args: argparse.Namespace) -> int:
    from recon.pack.fingerprint import SPLIT_ORDER, fingerprint_rows, format_rows

    pack = Path(args.results) / "pack"
    stores = [pack / f"{split}.zarr" for split in SPLIT_ORDER if (pack / f"{split}.zarr").is_dir()]
    if not stores:
        print(f"no packed split store in {pack} (run: snakemake --cores N pack)", file=sys.stderr)
        return 2
    print(format_rows(fingerprint_rows(stores)), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``recon``."""
    parser = argparse.ArgumentParser(prog="recon", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="generate the procedural ShapeNet-layout demo dataset")
    p.add_argument("out", help="output folder (replaced if it exists)")
    p.add_argument("--layout", choices=("v1", "v2"), default="v1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--categories", nargs="+", default=None, help="default: all demo categories")
    p.add_argument("--shapes-per-category", type=int, default=8)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("check", help="quality-check one mesh file as ingestion does (exit 1 if quarantined)")
    p.add_argument("mesh")
    p.add_argument("--config", default=None, help="config file for the limits (default: schema defaults)")
    p.add_argument(
        "--folder",
        default=None,
        help="the shape's folder, the only place the files it names may be (default: the mesh's own "
        "folder; <synset>/<id> for a ShapeNet v2 mesh, whose .mtl names ../images/)",
    )
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("config", help="print a config with every default filled in")
    p.add_argument("file", nargs="?", default=None, help="config file (default: only defaults)")
    p.set_defaults(func=_cmd_config)

    p = sub.add_parser("show", help="print the arrays and attributes of a Zarr store")
    p.add_argument("store")
    p.add_argument("--all-attrs", action="store_true", help="include provenance")
    p.set_defaults(func=_cmd_show)

    p = sub.add_parser(
        "fingerprint",
        help="print one SHA-256 per packed split over its arrays' contents, with the per-stage digests",
    )
    p.add_argument("results", help="the results folder (holding pack/<split>.zarr)")
    p.set_defaults(func=_cmd_fingerprint)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``recon`` console script."""
    from recon.config import ConfigError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as error:  # a bad config is the user's to fix: its message, no traceback
        print(f"recon {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
