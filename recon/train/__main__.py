"""Command line of the trainer: ``python -m recon.train EXPERIMENT --train-store ... --out-dir ...``.

The experiment format is described in :mod:`recon.train`. ``--set section.key=value`` overrides one
value (parsed as YAML: ``--set train.lr=3e-4 --set model.encoder=resnet18``). Under ``torchrun`` every
process runs this command; process 0 writes the outputs.

Other uses: ``--list`` prints the registered methods, ``--describe NAME`` the fields of a method's
config (and ``--describe train`` those of the training config) with defaults and descriptions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import yaml

from recon.models.method import METHODS, config_help, discover_methods, get_method
from recon.train.experiment import TrainConfig
from recon.train.loop import train_from_files


def _overrides(items: list[str]) -> dict:
    out: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set expects section.key=value, got {item!r}")
        *parents, last = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = yaml.safe_load(text)
    return out


def _describe(cls: type) -> str:
    lines = []
    for name, info in config_help(cls).items():
        lines.append(f"{name}: {json.dumps(info['default'])}  ({info['type']})")
        if info["help"]:
            lines.append(f"    {info['help']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m recon.train", description=__doc__.split("\n")[0])
    parser.add_argument("experiment", nargs="?", help="experiment YAML file")
    parser.add_argument("--method", help="method name (when the experiment names none)")
    parser.add_argument("--train-store", help="training store (default: the experiment's data.train)")
    parser.add_argument("--val-store", help="validation store (default: the experiment's data.val)")
    parser.add_argument("--out-dir", help="output folder")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a value")
    parser.add_argument("--stop-at", type=int, help="stop after this many steps (resumable)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--list", action="store_true", help="list the registered methods")
    parser.add_argument("--describe", metavar="NAME", help="fields of a method's config, or of 'train'")
    args = parser.parse_args(argv)

    if args.list:
        errors = discover_methods()
        for name, method in sorted(METHODS.items()):
            print(f"{name}\t{type(method).__module__}.{type(method).__qualname__}")
        for module, error in errors.items():
            print(f"(not importable: {module}: {error})", file=sys.stderr)
        return 0
    if args.describe:
        cls = TrainConfig if args.describe == "train" else get_method(args.describe).Config
        print(_describe(cls))
        return 0
    if args.out_dir is None:
        parser.error("--out-dir is required")
    from recon.logs import setup_logging

    setup_logging()
    summary = train_from_files(
        args.experiment,
        args.train_store,
        args.val_store,
        args.out_dir,
        method=args.method,
        overrides=_overrides(args.set),
        stop_at=args.stop_at,
        progress=not args.no_progress,
    )
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
