"""3D-R2N2's hyper-parameters (the ``model:`` section of an R2N2 experiment)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from recon.config import ConfigError
from recon.models.method import check_choices

__all__ = ["R2N2Config"]


@dataclass(frozen=True)
class R2N2Config:
    """Hyper-parameters of 3D-R2N2; the defaults are the released network (``ResidualGRUNet``,
    ``models/res_gru_net.py``) and its input and view sampling (``lib/config.py``)."""

    encoder: str = field(
        default="r2n2",
        metadata={
            "help": "r2n2 (the residual encoder of res_gru_net.py), r2n2_shallow (gru_net.py's plain one) "
            "or an encoders.py name (ImageNet-normalized input)"
        },
    )
    pretrained: str | None = field(default=None, metadata={"help": "weights file for a torchvision encoder"})
    feature_dim: int = field(default=1024, metadata={"help": "size of the per-view feature vector (fc7)"})
    recurrent: Literal["gru", "lstm"] = field(
        default="gru",
        metadata={"help": "gru (the release's 3D convolutional GRU) or lstm (the paper's 3D LSTM)"},
    )
    recurrent_kernel: int = field(
        default=3, metadata={"help": "side of the hidden-to-hidden 3D convolution: 3 (the release) or 1"}
    )
    hidden: int = field(default=128, metadata={"help": "channels of the 4^3 recurrent hidden state"})
    decoder: Literal["residual", "shallow"] = field(
        default="residual",
        metadata={"help": "residual (res_gru_net.py, 11 3D convolutions) or shallow (gru_net.py, 5)"},
    )
    decoder_dims: tuple[int, ...] = field(
        default=(128, 128, 64, 32),
        metadata={
            "help": "channels at 8^3, 16^3, 32^3 and of the last 32^3 block; residual needs the first two "
            "equal to hidden"
        },
    )
    resolution: int = field(default=32, metadata={"help": "output voxels per axis (packed resolution)"})
    image_size: int = field(
        default=127, metadata={"help": "side of the encoder's input; crops of another size are resized to it"}
    )
    crop_margin: int = field(
        default=10,
        metadata={"help": "pixels cropped off each image axis (the release's PAD_X, PAD_Y: 137 -> 127)"},
    )
    views_per_item: int = field(
        default=5, metadata={"help": "views loaded per training item (the release's N_VIEWS)"}
    )
    random_view_count: bool = field(
        default=True,
        metadata={"help": "each batch feeds 1..views_per_item of them at random (RANDOM_NUM_VIEWS)"},
    )
    test_views: tuple[int, ...] = field(
        default=(1, 2, 3, 4, 5),
        metadata={"help": "view counts predicted, each evaluated as <experiment>@<k>views"},
    )
    predict_views: int = field(
        default=1, metadata={"help": "views fed per prediction (the test_views variants set it)"}
    )
    threshold: float = field(default=0.4, metadata={"help": "occupancy level of the predicted mesh"})

    def __post_init__(self):
        check_choices(self)
        if self.resolution != 32:
            raise ConfigError(f"model.resolution: r2n2 decodes 32^3 voxels, not {self.resolution}")
        if len(self.decoder_dims) != 4:
            raise ConfigError(f"model.decoder_dims: 4 widths, not {self.decoder_dims}")
        if self.decoder == "residual" and not self.hidden == self.decoder_dims[0] == self.decoder_dims[1]:
            raise ConfigError(
                "model.decoder_dims: the residual decoder adds its input to the first two blocks' outputs, "
                f"so their widths must equal hidden ({self.hidden}), got {self.decoder_dims}"
            )
        if self.recurrent_kernel not in (1, 3):
            raise ConfigError(f"model.recurrent_kernel: 1 or 3, not {self.recurrent_kernel}")
        for name in ("views_per_item", "predict_views", "image_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be at least 1, not {getattr(self, name)}")
        if self.crop_margin < 0:
            raise ConfigError(f"model.crop_margin must not be negative, not {self.crop_margin}")
        if any(k < 1 for k in self.test_views):
            raise ConfigError(f"model.test_views must be at least 1 each, got {self.test_views}")
