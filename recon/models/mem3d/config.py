"""Mem3D's hyper-parameters (the ``model:`` section of a ``mem3d`` experiment).

Mem3D has no released code. The defaults are the paper's where it gives a value (Yang et al., CVPR 2021,
arXiv 2003.03711, §3.3 and §4.2, as quoted by the third-party reimplementation
fuseai-fellowship/Single-View-3D-Reconstruction-with-Semantic-Shape-Priors, ``config.py``); every
other value is chosen here, and its help says so and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from recon.config import ConfigError
from recon.models.method import check_choices

__all__ = ["Mem3DConfig"]


@dataclass(frozen=True)
class Mem3DConfig:
    """Mem3D (Yang et al. 2021): image encoder, a memory of (image feature, 32³ voxels, age) slots read by
    key similarity, an LSTM over the retrieved volumes, a 3D transposed-convolution decoder."""

    encoder: str = field(
        default="resnet50",
        metadata={
            "help": "image trunk (a recon.models.encoders name); the paper's is ResNet-50 cut after its "
            "third block (conv1, layer1, layer2: 512 x 28 x 28 at 224 px; paper §3.3)"
        },
    )
    pretrained: str | None = field(
        default=None,
        metadata={
            "help": "torchvision-format ImageNet weights for the trunk (the paper starts from ImageNet); "
            "null: torchvision's random initialization"
        },
    )
    encoder_stage: int = field(
        default=2,
        metadata={
            "help": "map of the trunk the head reads (recon.models.encoders order; ResNet: 0 stem, 1..4 "
            "layer1..4; VGG: conv1_2..conv5_3); later layers are not built. 2 = ResNet layer2 (paper)"
        },
    )
    head_dims: tuple[int, int, int] = field(
        default=(512, 256, 256),
        metadata={
            "help": "channels of the three 3x3 conv + BN + ReLU layers after the trunk, 2x2 max-pools "
            "after the second and third (paper §3.3: 512, 256, 256 -> 256 x 7 x 7 at 224 px)"
        },
    )
    feature_dim: int = field(
        default=256,
        metadata={
            "help": "size of the image feature F (the memory's keys): a linear map of the flattened head "
            "output. Chosen: 256, the reimplementation's (config.py:15); the paper gives no size"
        },
    )
    image_size: int = field(
        default=224, metadata={"help": "side the views are resized to for the encoder (paper: 224)"}
    )
    memory_size: int = field(
        default=4000,
        metadata={
            "help": "memory slots m. Chosen: 4000, the value the reimplementation's argument parser "
            "quotes from the paper (config.py:91); about one slot per 10 ShapeNet train shapes"
        },
    )
    k: int = field(
        default=3,
        metadata={
            "help": "values read per image (top-k of key similarity). 0 = no memory (the ablation): no "
            "reads, no writes, no triplet loss, no LSTM, and the decoder sees a zero prior vector. "
            "Chosen: 3, the reimplementation's (config.py:19)"
        },
    )
    read_threshold: float = field(
        default=0.0,
        metadata={
            "help": "a slot is read only if its key's cosine similarity to F exceeds this; missing reads "
            "are empty volumes. Chosen: 0, keys positively correlated with F (F is a linear output, so "
            "the similarity spans [-1, 1]); the paper states a threshold but no value"
        },
    )
    sequence_order: Literal["ascending", "descending"] = field(
        default="ascending",
        metadata={
            "help": "order of the retrieved volumes fed to the LSTM: ascending similarity (the most "
            "similar last, nearest the output; empty volumes first) or descending. Chosen: ascending, "
            "so the best match has the most direct path to the prior vector"
        },
    )
    lstm_hidden: int = field(
        default=2048,
        metadata={"help": "hidden size of the one-layer LSTM shape encoder = the prior vector (paper §3.3)"},
    )
    decoder_dims: tuple[int, int, int, int] = field(
        default=(512, 128, 32, 8),
        metadata={
            "help": "channels of the four 4^3 stride-2 transposed convolutions (2^3 -> 32^3), each with BN "
            "and ReLU, before the 1^3 one to 1 channel (paper §3.3: 512, 128, 32, 8, 1)"
        },
    )
    delta: float = field(
        default=0.90,
        metadata={
            "help": "writer: the nearest slot is updated when its voxel similarity 1 - mean((V - V')^2) "
            "to the ground truth exceeds delta, else a new slot is written (paper §4.2: 0.90). The "
            "similarity counts all n^3 voxels, so sparse shapes are alike: raise it for data that fills "
            "little of its grid (the demo's 4 %: 0.98)"
        },
    )
    beta: float = field(
        default=0.85,
        metadata={
            "help": "triplet loss: slots whose voxel similarity to the ground truth exceeds beta are "
            "positives, the others negatives (paper §4.2: 0.85; the demo: 0.97, see delta)"
        },
    )
    margin: float = field(
        default=0.1, metadata={"help": "triplet loss margin alpha on cosine similarities (paper §4.2: 0.1)"}
    )
    triplet_weight: float = field(
        default=1.0,
        metadata={
            "help": "lambda in BCE + lambda * triplet. Chosen: 1, as the reimplementation (config.py:47 "
            "weighs the reconstruction term by 1); the paper does not weigh them"
        },
    )
    resolution: int = field(default=32, metadata={"help": "voxels per axis (Mem3D decodes 32^3)"})
    threshold: float = field(
        default=0.3,
        metadata={
            "help": "occupancy level of the predicted mesh: the paper's IoU threshold t = 0.3 (Pix2Vox's)"
        },
    )

    def __post_init__(self):
        check_choices(self)
        if self.resolution != 32:
            raise ConfigError(f"model.resolution: Mem3D decodes 32^3 voxels, not {self.resolution}")
        if len(self.head_dims) != 3 or len(self.decoder_dims) != 4:
            raise ConfigError(
                f"model.head_dims needs 3 widths and model.decoder_dims 4, got {self.head_dims}, "
                f"{self.decoder_dims}"
            )
        for name in ("feature_dim", "image_size", "lstm_hidden"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be at least 1, not {getattr(self, name)}")
        if self.k < 0:
            raise ConfigError(f"model.k must not be negative, not {self.k}")
        if self.k > 0 and self.memory_size < self.k:
            raise ConfigError(f"model.memory_size ({self.memory_size}) must hold at least k = {self.k} slots")
        if not -1.0 <= self.read_threshold < 1.0:
            raise ConfigError(f"model.read_threshold must be in [-1, 1), not {self.read_threshold}")
        for name in ("delta", "beta"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"model.{name} is a voxel similarity in [0, 1], not {getattr(self, name)}")
        if self.margin < 0 or self.triplet_weight < 0:
            raise ConfigError("model.margin and model.triplet_weight must not be negative")
        if self.encoder_stage < 0:
            raise ConfigError(f"model.encoder_stage must not be negative, not {self.encoder_stage}")

    @property
    def uses_memory(self) -> bool:
        """Whether the memory is read, written and trained (k > 0)."""
        return self.k > 0
