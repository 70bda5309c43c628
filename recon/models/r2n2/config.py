"""3D-R2N2's hyper-parameters (the ``model:`` section of an R2N2 experiment)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["R2N2Config"]


@dataclass(frozen=True)
class R2N2Config:
    """Hyper-parameters of 3D-R2N2 (defaults: the paper's residual LSTM network, single view)."""

    encoder: str = field(default="r2n2", metadata={"help": "r2n2 (the paper's CNN) or an encoders.py name"})
    pretrained: str | None = field(default=None, metadata={"help": "weights file for a torchvision encoder"})
    feature_dim: int = field(default=1024, metadata={"help": "size of the per-view feature vector"})
    hidden: int = field(default=128, metadata={"help": "channels of the 4^3 LSTM hidden state"})
    views_per_item: int = field(
        default=1, metadata={"help": "views fed to the LSTM per shape (1: single view)"}
    )
    resolution: int = field(default=32, metadata={"help": "output voxels per axis (packed resolution)"})
    decoder_dims: tuple[int, ...] = field(
        default=(128, 64, 32), metadata={"help": "channels at 8^3, 16^3, 32^3"}
    )
    threshold: float = field(default=0.4, metadata={"help": "occupancy level of the predicted mesh"})
    image_size: int | None = field(default=None, metadata={"help": "resize views to this size (None: keep)"})
