"""OGN's hyper-parameters (the ``model:`` section of an OGN experiment)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from recon.config import ConfigError
from recon.models.method import check_choices

__all__ = ["FIRST_LEVEL", "OGNConfig"]

#: Level of the grid the image code is reshaped to: 4³ cells.
FIRST_LEVEL = 2


@dataclass(frozen=True)
class OGNConfig:
    """Hyper-parameters of OGN (Tatarchenko et al. 2017): image encoder, dense 3D decoder to
    ``dense_level``, then one octree block per level down to ``depth``."""

    encoder: str = field(
        default="resnet18", metadata={"help": "image encoder (a recon.models.encoders name)"}
    )
    pretrained: str | None = field(default=None, metadata={"help": "weights file for the encoder"})
    image_size: int = field(
        default=137, metadata={"help": "side of the encoder's input (the r2n2 renders' 137 px)"}
    )
    depth: int = field(
        default=6,
        metadata={
            "help": "finest level: the output is (2^depth)^3 voxels; must equal the packed octree's "
            "depth (voxelize.octree.depth)"
        },
    )
    dense_level: int = field(
        default=3,
        metadata={
            "help": "level the dense decoder ends at (classified densely there); octree blocks refine "
            "the levels below it"
        },
    )
    channels: tuple[int, ...] = field(
        default=(256, 128, 64, 32, 16),
        metadata={"help": "feature channels of the levels 2 (4^3) .. depth, one per level"},
    )
    block_convs: int = field(
        default=1,
        metadata={"help": "3^3 convolutions after each 2^3 up-convolution (dense and octree levels)"},
    )
    neighbours: bool = field(
        default=True,
        metadata={
            "help": "propagate, with each mixed cell, the neighbours the next block's 3^3 convolutions "
            "read (the released OGNProp); they are computed but not supervised nor refined"
        },
    )
    propagation: Literal["known", "pred"] = field(
        default="known",
        metadata={
            "help": "training: refine the ground truth's mixed cells (known) or the predicted ones "
            "(pred); prediction always follows the predicted ones"
        },
    )
    negative_slope: float = field(
        default=0.2, metadata={"help": "slope of the leaky ReLU after every layer but the classifiers"}
    )

    def __post_init__(self):
        check_choices(self)
        if not 1 <= self.depth <= 10:
            raise ConfigError(f"model.depth must be in [1, 10], not {self.depth}")
        if not FIRST_LEVEL <= self.dense_level <= self.depth:
            raise ConfigError(
                f"model.dense_level must be in [{FIRST_LEVEL}, depth = {self.depth}], not {self.dense_level}"
            )
        if len(self.channels) != self.depth - FIRST_LEVEL + 1:
            raise ConfigError(
                f"model.channels: one width per level {FIRST_LEVEL}..{self.depth} "
                f"({self.depth - FIRST_LEVEL + 1}), got {len(self.channels)}: {list(self.channels)}"
            )
        if any(c < 1 for c in self.channels):
            raise ConfigError(f"model.channels must be positive, got {list(self.channels)}")
        if self.block_convs < 0:
            raise ConfigError(f"model.block_convs must not be negative, not {self.block_convs}")
        if self.image_size < 1:
            raise ConfigError(f"model.image_size must be at least 1, not {self.image_size}")

    def width(self, level: int) -> int:
        """Feature channels at ``level`` (FIRST_LEVEL..depth)."""
        return self.channels[level - FIRST_LEVEL]
