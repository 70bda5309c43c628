"""GenRe's hyper-parameters: the stage a run trains, the networks' sizes, the losses' weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from recon.config import ConfigError
from recon.models.method import check_choices

__all__ = ["STAGES", "GenReConfig"]

#: The stages of GenRe's training (``scripts/train_marrnet1.sh``, ``train_inpaint.sh``,
#: ``train_full_genre.sh``) and the networks each one trains; the others are frozen.
STAGES = {
    "estimator": ("estimator",),
    "inpaint": ("inpainter",),
    "refine": ("refiner",),
    "joint": ("estimator", "inpainter", "refiner"),
}


@dataclass(frozen=True)
class GenReConfig:
    """GenRe (Zhang et al. 2018): 2.5D estimator -> spherical inpainting -> voxel refinement."""

    stage: Literal["estimator", "inpaint", "refine", "joint"] = field(
        default="refine",
        metadata={
            "help": "what a run trains: estimator (depth, normals, silhouette), inpaint (the spherical "
            "inpainter, estimator frozen), refine (the 3D U-Net, both frozen) or joint (all three); "
            "each later stage starts from the previous one's run (train.init_from)"
        },
    )
    image_size: int = field(
        default=256, metadata={"help": "side of the estimator's input and outputs (GenRe 256)"}
    )
    estimator_width: int = field(
        default=64, metadata={"help": "channels of the U-ResNet-18s' first stage (ResNet-18: 64)"}
    )
    sph_resolution: int = field(
        default=128, metadata={"help": "side R of the spherical maps (GenRe 128; the packed maps' R)"}
    )
    padding_margin: int = field(
        default=16, metadata={"help": "cells the spherical maps are padded by on each side (GenRe 16)"}
    )
    volume_resolution: int = field(
        default=128,
        metadata={"help": "side n of the refiner's volumes (GenRe 128; the packed view voxels' n)"},
    )
    refiner_width: int = field(
        default=20, metadata={"help": "channels of the 3D U-Net's first level (GenRe nf = 20)"}
    )
    surface_weight: float = field(
        default=10.0,
        metadata={"help": "weight of the voxel loss's surface term (scripts/train_full_genre.sh: 10)"},
    )
    augment: bool = field(
        default=True,
        metadata={
            "help": "jitter brightness, contrast and saturation (0.4) and add PCA lighting noise (0.1) to "
            "training images, as released (models/marrnetbase.py)"
        },
    )
    depth: Literal["predicted", "true"] = field(
        default="predicted",
        metadata={
            "help": "depth fed to the projections: the estimator's (GenRe), or the rendered depth "
            "(the paper's oracle ablation; prediction variant oracle_depth). At training time, the "
            "rendered depth feeds the inpaint and refine stages (like the release's --load_offline)"
        },
    )
    threshold: float = field(
        default=0.3,
        metadata={
            "help": "iso-level of the 128^3 probabilities for meshes (the release searched 0.3 to 0.5 per "
            "class on test data, GenRe issue #67; one fixed level here)"
        },
    )

    def __post_init__(self):
        check_choices(self)
        if self.image_size % 64:
            raise ConfigError(
                f"model.image_size must be a multiple of 64 (the depth min/max head), not {self.image_size}"
            )
        if (self.sph_resolution + 2 * self.padding_margin) % 32:
            raise ConfigError(
                "model.sph_resolution + 2 * padding_margin must be a multiple of 32 (the U-ResNet's stride), "
                f"not {self.sph_resolution + 2 * self.padding_margin}"
            )
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"model.threshold must lie in (0, 1), not {self.threshold}")
