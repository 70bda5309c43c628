"""DISN's hyper-parameters (the ``model:`` section of a DISN experiment)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

__all__ = ["DISNConfig"]


@dataclass(frozen=True)
class DISNConfig:
    """Hyper-parameters of DISN (defaults: the released code's)."""

    #: Keys read under their old names for one release (with a warning): old -> new.
    RENAMED_KEYS: ClassVar[dict[str, str]] = {"sdf_preset": "samples"}

    encoder: str = field(default="vgg16", metadata={"help": "image encoder: vgg16, vgg16_bn, resnet18, ..."})
    pretrained: str | None = field(default=None, metadata={"help": "torchvision-format weights file"})
    global_dim: int = field(default=1024, metadata={"help": "size of the global image embedding"})
    point_dims: tuple[int, ...] = field(default=(64, 256, 512), metadata={"help": "point MLP widths"})
    decoder_dims: tuple[int, ...] = field(
        default=(512, 256), metadata={"help": "hidden widths of both decoders"}
    )
    local: bool = field(default=True, metadata={"help": "use the local (projected) features stream"})
    n_points: int = field(default=2048, metadata={"help": "SDF samples per image"})
    samples: str = field(
        default="disn", metadata={"help": "packed SDF sample group: disn or gaussian (formerly sdf_preset)"}
    )
    m1: float = field(default=4.0, metadata={"help": "loss weight near/inside the surface"})
    m2: float = field(default=1.0, metadata={"help": "loss weight elsewhere"})
    near: float = field(default=0.01, metadata={"help": "sdf - iso at or below which m1 applies"})
    camera: str = field(default="true", metadata={"help": "camera for the local features: true or estimated"})
    camera_loss_weight: float = field(
        default=0.0, metadata={"help": "weight of the camera network's loss (0: no camera network)"}
    )
    grid_resolution: int = field(default=65, metadata={"help": "nodes per axis of the prediction grid"})
    grid_half_extent: float = field(default=1.1, metadata={"help": "the grid covers [-h, h]^3"})
    image_size: int | None = field(default=None, metadata={"help": "resize views to this size (None: keep)"})
