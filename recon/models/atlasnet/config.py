"""AtlasNet's hyper-parameters (the ``model:`` section of an ``atlasnet`` experiment)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from recon.config import ConfigError
from recon.models.method import check_choices

__all__ = ["AtlasnetConfig"]


@dataclass(frozen=True)
class AtlasnetConfig:
    """Hyper-parameters of single-view AtlasNet; the defaults are the paper's best single-view model (25
    square patches) with the release's other settings (ThibaultGROUEIX/AtlasNet v2,
    ``auxiliary/argument_parser.py``, whose own defaults are 1 primitive on the sphere)."""

    encoder: str = field(
        default="resnet18",
        metadata={
            "help": "image encoder (a recon.models.encoders name; the release: resnet18, model/model.py:16)"
        },
    )
    pretrained: str | None = field(
        default=None,
        metadata={
            "help": "torchvision-format ImageNet weights file for the encoder; null: random initialization "
            "(the release: resnet18(pretrained=False), model/model.py:16)"
        },
    )
    image_size: int = field(
        default=224,
        metadata={
            "help": "side the (cropped) views are resized to "
            "(transforms.Resize(224), dataset_shapenet.py:164)"
        },
    )
    crop: float = field(
        default=127 / 137,
        metadata={
            "help": "share of the view's side kept by the crop: random in training, centred at test "
            "(RandomCrop(127) / CenterCrop(127) of the 137 px renders, dataset_shapenet.py:170, 175); "
            "1 = none"
        },
    )
    flip: bool = field(
        default=True,
        metadata={
            "help": "horizontal flip of the training views with probability 1/2, the target points left "
            "as they are (RandomHorizontalFlip, dataset_shapenet.py:171)"
        },
    )
    normalize: Literal["none", "imagenet"] = field(
        default="none",
        metadata={
            "help": "encoder input: none = RGB in [0, 1] over white (transforms.ToTensor, "
            "dataset_shapenet.py:165, 205); imagenet = ImageNet mean / std (for pretrained weights)"
        },
    )
    bottleneck: int = field(
        default=1024, metadata={"help": "size of the image code (bottleneck_size, argument_parser.py:73)"}
    )
    hidden: int = field(
        default=512, metadata={"help": "channels of the decoders' hidden layers (hidden_neurons, line 66)"}
    )
    layers: int = field(
        default=2,
        metadata={
            "help": "hidden hidden-to-hidden layers of each decoder (num_layers, argument_parser.py:65)"
        },
    )
    activation: Literal["relu", "sigmoid", "softplus", "logsigmoid", "softsign", "tanh"] = field(
        default="relu", metadata={"help": "activation of the decoders' layers (activation, line 74)"}
    )
    tanh: bool = field(
        default=False,
        metadata={
            "help": "tanh on the decoders' output, as the 2018 code (PointGenCon); the v2 release has a "
            "linear output (model_blocks.py:105)"
        },
    )
    patches: int = field(
        default=25,
        metadata={
            "help": "primitives, one decoder each (nb_primitives, line 68; the paper: 1, 5, 25 or the sphere)"
        },
    )
    template: Literal["square", "sphere"] = field(
        default="square",
        metadata={
            "help": "template each decoder deforms: square = the unit square [0, 1]^2, sphere = the unit "
            "sphere (template_type SQUARE / SPHERE, line 69; model/template.py)"
        },
    )
    points: int = field(
        default=2500,
        metadata={
            "help": "points of the predicted cloud in training, points // patches per patch, and of the "
            "target cloud (number_points, argument_parser.py:41); at test each square patch is its "
            "floor(sqrt(points // patches))^2 grid (number_points_eval, line 42; template.py:75-88)"
        },
    )
    sphere_subdivisions: int = field(
        default=4,
        metadata={
            "help": "subdivisions of the test-time icosphere of the sphere template (template.py:51: 4, "
            "2,562 vertices per patch whatever the points)"
        },
    )

    def __post_init__(self):
        check_choices(self)
        for name in ("image_size", "bottleneck", "hidden", "patches", "points"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be at least 1, not {getattr(self, name)}")
        if self.layers < 0 or self.sphere_subdivisions < 0:
            raise ConfigError("model.layers and model.sphere_subdivisions must not be negative")
        if not 0.0 < self.crop <= 1.0:
            raise ConfigError(f"model.crop must lie in (0, 1], not {self.crop}")
        if self.points // self.patches < 1:
            raise ConfigError(f"model.points ({self.points}) must be at least model.patches ({self.patches})")
