"""DISN's hyper-parameters: the ``model:`` section of a ``disn`` and of a ``disn_camera`` experiment."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from recon.config import ConfigError
from recon.models.method import check_choices

__all__ = ["DISNCameraConfig", "DISNConfig"]


@dataclass(frozen=True)
class DISNConfig:
    """Hyper-parameters of DISN's SDF network (defaults: the released code's, except where it has a bug)."""

    #: Keys read under their old names for one release (with a warning): old -> new.
    RENAMED_KEYS: ClassVar[dict[str, str]] = {"sdf_preset": "samples"}

    encoder: str = field(default="vgg16", metadata={"help": "image encoder: vgg16, vgg16_bn, resnet18, ..."})
    pretrained: str | None = field(default=None, metadata={"help": "torchvision-format weights file"})
    image_size: int | None = field(
        default=224, metadata={"help": "size the views are resized to (bilinear) for the encoder; None: keep"}
    )
    input: Literal["imagenet", "released"] = field(
        default="imagenet",
        metadata={
            "help": "encoder input colours: imagenet (RGB, ImageNet mean and std: torchvision's weights) "
            "or released (BGR in [0, 1], as the released code feeds OpenCV's images)"
        },
    )
    background: float = field(
        default=1.0,
        metadata={"help": "grey level the RGBA views are composited over (1 white; the release: 0 black)"},
    )
    global_dim: int = field(default=1024, metadata={"help": "size of the global feature (fc8's outputs)"})
    point_dims: tuple[int, ...] = field(
        default=(64, 256, 512), metadata={"help": "widths of each stream's point MLP"}
    )
    decoder_dims: tuple[int, ...] = field(
        default=(512, 256), metadata={"help": "hidden widths of both decoders"}
    )
    local: bool = field(default=True, metadata={"help": "use the local (projected) features stream"})
    sampling: Literal["aligned", "released", "native"] = field(
        default="aligned",
        metadata={
            "help": "local features: aligned (maps resized to the view, points clipped to it, half-pixel "
            "resizes), released (the same with TensorFlow 1's misaligned resizes) or native (each map "
            "at its own size, zeros outside the view)"
        },
    )
    n_points: int = field(default=2048, metadata={"help": "SDF samples per image"})
    samples: str = field(
        default="disn", metadata={"help": "packed SDF sample group: disn or gaussian (formerly sdf_preset)"}
    )
    m1: float = field(default=4.0, metadata={"help": "loss weight near/inside the surface"})
    m2: float = field(default=1.0, metadata={"help": "loss weight elsewhere"})
    near: float = field(default=0.01, metadata={"help": "sdf - iso at or below which m1 applies"})
    camera: Literal["true", "estimated", "joint"] = field(
        default="true",
        metadata={
            "help": "camera of the local features: true; estimated (trained on the true camera, predicts "
            "with the camera network of camera_experiment); joint (a camera network trained with it)"
        },
    )
    camera_experiment: str | None = field(
        default=None,
        metadata={"help": "experiment of the disn_camera network used with camera: estimated"},
    )
    camera_loss_weight: float = field(
        default=1.0, metadata={"help": "weight of the camera network's loss with camera: joint"}
    )
    grid_resolution: int = field(default=65, metadata={"help": "nodes per axis of the prediction grid"})
    grid_box: Literal["fixed", "ground_truth"] = field(
        default="fixed",
        metadata={
            "help": "prediction grid: fixed ([-h, h]^3) or ground_truth (each shape's own DISN box from "
            "its ground-truth mesh, as the released test script; uses the ground truth)"
        },
    )
    grid_half_extent: float = field(default=1.1, metadata={"help": "h of the fixed grid [-h, h]^3"})

    def __post_init__(self):
        check_choices(self)
        if self.camera == "estimated" and not self.camera_experiment:
            raise ConfigError("disn: camera 'estimated' needs camera_experiment (a disn_camera experiment)")


@dataclass(frozen=True)
class DISNCameraConfig:
    """Hyper-parameters of DISN's camera network (``cam_est/model_cam.py``, ``models/posenet.py``)."""

    encoder: str = field(default="vgg16", metadata={"help": "image encoder: vgg16, vgg16_bn, resnet18, ..."})
    pretrained: str | None = field(default=None, metadata={"help": "torchvision-format weights file"})
    image_size: int | None = field(
        default=224, metadata={"help": "size the views are resized to (bilinear) for the encoder; None: keep"}
    )
    input: Literal["imagenet", "released"] = field(
        default="imagenet", metadata={"help": "encoder input colours: imagenet or released (as DISN's)"}
    )
    background: float = field(
        default=1.0,
        metadata={"help": "grey level the RGBA views are composited over (1 white; the release: 0 black)"},
    )
    global_dim: int = field(default=1024, metadata={"help": "size of the global feature (fc8's outputs)"})
    rotation_dims: tuple[int, ...] = field(
        default=(512, 256), metadata={"help": "hidden widths of the 6D rotation head"}
    )
    distance_dims: tuple[int, ...] = field(
        default=(64, 32), metadata={"help": "hidden widths of the distance head"}
    )
    batch_norm: bool = field(default=True, metadata={"help": "batch norm in the heads' hidden layers"})
    translation: Literal["distance", "free"] = field(
        default="distance",
        metadata={
            "help": "distance: t = (0, 0, d), the camera looks at the world origin (the release's); "
            "free: t = (x, y, d) with x and y free"
        },
    )
    distance_range: tuple[float, float] = field(
        default=(1.0, 7.0), metadata={"help": "d = lo + (hi - lo) sigmoid(x), world units"}
    )
    distance_relu: bool = field(
        default=False,
        metadata={"help": "a ReLU before the sigmoid (the release's: only the upper half of the range)"},
    )
    n_points: int = field(default=2048, metadata={"help": "points of the transform loss per image"})
    samples: str = field(default="disn", metadata={"help": "packed SDF sample group the points come from"})

    def __post_init__(self):
        check_choices(self)
        lo, hi = self.distance_range
        if not 0 < lo < hi:
            raise ConfigError(f"disn_camera: distance_range must be 0 < lo < hi, got {self.distance_range}")
