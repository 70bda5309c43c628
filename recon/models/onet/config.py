"""Occupancy Networks' hyper-parameters (the ``model:`` section of an ``onet`` experiment)."""

from __future__ import annotations

from dataclasses import dataclass, field

from recon.config import ConfigError
from recon.models.method import check_choices

__all__ = ["OnetConfig"]


@dataclass(frozen=True)
class OnetConfig:
    """Hyper-parameters of the single-image Occupancy Network; the defaults are the release's
    ``configs/img/onet.yaml`` (autonomousvision/occupancy_networks)."""

    encoder: str = field(
        default="resnet18",
        metadata={"help": "image encoder (a recon.models.encoders name; the release: resnet18)"},
    )
    pretrained: str | None = field(
        default=None,
        metadata={
            "help": "torchvision-format ImageNet weights file for the encoder (the release starts from "
            "resnet18(pretrained=True)); null: torchvision's random initialization"
        },
    )
    image_size: int = field(
        default=224, metadata={"help": "side the views are resized to for the encoder (data.img_size)"}
    )
    c_dim: int = field(default=256, metadata={"help": "size of the image code c (model.c_dim)"})
    hidden: int = field(
        default=256, metadata={"help": "channels of the decoder (DecoderCBatchNorm hidden_size)"}
    )
    blocks: int = field(
        default=5, metadata={"help": "conditional ResNet blocks of the decoder (the release: 5)"}
    )
    n_points: int = field(
        default=2048,
        metadata={"help": "occupancy points per item in the loss (data.points_subsample)"},
    )
    threshold: float = field(
        default=0.2,
        metadata={"help": "occupancy probability of the surface and of IoU (test.threshold for images)"},
    )
    resolution_0: int = field(
        default=32, metadata={"help": "cells per axis of MISE's coarsest grid (generation.resolution_0)"}
    )
    upsampling_steps: int = field(
        default=2, metadata={"help": "MISE refinements, each doubling the grid (generation.upsampling_steps)"}
    )
    padding: float = field(
        default=0.1,
        metadata={
            "help": "MISE's box is the packed voxels' cube [-h, h]^3 grown by this share of its side "
            "(Generator3D padding: ONet's [-0.55, 0.55]^3 for h = 0.5), the box of the occupancy points"
        },
    )
    batch_points: int = field(
        default=100_000, metadata={"help": "points per decoder call at prediction (generation.batch_size)"}
    )
    voxel_resolution: int = field(
        default=32,
        metadata={"help": "side of the predicted voxel probabilities (the decoder at voxel centres)"},
    )

    def __post_init__(self):
        check_choices(self)
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"model.threshold must lie in (0, 1), not {self.threshold}")
        for name in ("image_size", "c_dim", "hidden", "blocks", "n_points", "resolution_0", "batch_points"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be at least 1, not {getattr(self, name)}")
        if self.upsampling_steps < 0 or self.padding < 0:
            raise ConfigError("model.upsampling_steps and model.padding must not be negative")
        if self.voxel_resolution < 1:
            raise ConfigError(f"model.voxel_resolution must be at least 1, not {self.voxel_resolution}")
