"""PointSetGen's hyper-parameters (the ``model:`` section of a ``psgn`` experiment)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from recon.config import ConfigError
from recon.models.method import check_choices

__all__ = ["PsgnConfig"]


@dataclass(frozen=True)
class PsgnConfig:
    """Hyper-parameters of the Point Set Generation Network; the defaults are the released two-branch
    generator of fanhqme/PointSetGeneration (``depthestimate/train_nn.py`` ``build_graph``,
    ``depthestimate/BatchFetcher.py:16-21``)."""

    encoder: Literal["hourglass", "resnet18"] = field(
        default="hourglass",
        metadata={
            "help": "hourglass: the released network (two hourglass passes on RGB + background mask, a "
            "deconvolution branch of one point per pixel of the 1/8 map and a fully connected branch); "
            "resnet18: Occupancy Networks' PSGN baseline (configs/img/psgn.yaml: ResNet-18 to a c_dim "
            "code, then its 'simple' decoder of 3 hidden layers of 512 to n_points x 3)"
        },
    )
    pretrained: str | None = field(
        default=None,
        metadata={
            "help": "resnet18 only: torchvision-format ImageNet weights file (ONet starts from "
            "resnet18(pretrained=True)); null: torchvision's random initialization"
        },
    )
    image_size: tuple[int, int] = field(
        default=(192, 256),
        metadata={
            "help": "(height, width) of the network input. hourglass: the release's 192 x 256 "
            "(BatchFetcher.py:18-19); the square view is resized to height x height and padded left and "
            "right with background (white, mask 1) so its aspect is kept; both must be multiples of 8 "
            "(the deconvolution branch's map is height/8 x width/8: 24 x 32 = 768 points). resnet18: a "
            "square, ONet's 224 x 224 (data.img_size)"
        },
    )
    width: int = field(
        default=16,
        metadata={
            "help": "hourglass: channels of the first stage, doubled at each of the 5 strided stages "
            "(the release: 16, 32, 64, 128, 256, 512)"
        },
    )
    fc_hidden: tuple[int, int] = field(
        default=(2048, 1024),
        metadata={
            "help": "hourglass: widths of the fully connected branch before its n_points - 768 points "
            "(train_nn.py:75, 131-132, 152: 2048 then 1024)"
        },
    )
    init: Literal["tflearn", "he"] = field(
        default="tflearn",
        metadata={
            "help": "hourglass: initial weights. tflearn: the release's (tflearn's defaults: convolutions "
            "uniform in +-sqrt(3 / fan_in), fully connected layers a truncated normal of sigma 0.02, biases "
            "0), under which the image's signal loses half its variance at each of ~40 ReLU layers and a "
            "short run learns one mean cloud for every image; he: He et al.'s normal of variance "
            "2 / fan_in, which keeps it (recon's choice for short runs such as the demo)"
        },
    )
    c_dim: int = field(default=256, metadata={"help": "resnet18: size of the image code (model.c_dim)"})
    hidden: int = field(
        default=512, metadata={"help": "resnet18: width of the simple decoder's layers (decoder.py:25-28)"}
    )
    n_points: int = field(
        default=1024,
        metadata={
            "help": "predicted points (OUTPUTPOINTS, BatchFetcher.py:21); hourglass: the fully connected "
            "branch gives those the deconvolution branch does not (1024 - 768 = 256)"
        },
    )
    n_target_points: int = field(
        default=16384,
        metadata={
            "help": "ground-truth surface points per item in the loss (the release: POINTCLOUDSIZE 16384, "
            "BatchFetcher.py:20; ONet's baseline: 1024, pointcloud_target_n), a uniform random subset of "
            "the packed surface samples, new every epoch"
        },
    )
    loss: Literal["chamfer", "emd", "chamfer+emd"] = field(
        default="chamfer",
        metadata={
            "help": "chamfer: the release's (train_nn.py:160-165); emd: the paper's Earth Mover's "
            "distance (recon.models.point_losses.emd_loss against the first n_points target points); "
            "chamfer+emd: their sum"
        },
    )
    chamfer_weights: tuple[float, float] = field(
        default=(10000.0, 5000.0),
        metadata={
            "help": "weights of the mean squared nearest-neighbour distance ground truth -> prediction "
            "and prediction -> ground truth: the release's (mean fwd + mean bwd / 2) x 10000 is "
            "(10000, 5000) (train_nn.py:160-165); ONet's baseline (1, 1) (im2mesh/common.py:111-115)"
        },
    )
    emd_weight: float = field(
        default=1.0,
        metadata={
            "help": "weight of the EMD term, the matched distances summed over the predicted points "
            "(the paper's d_EMD, sum over x of ||x - phi(x)||; n_points x emd_loss)"
        },
    )
    regularizer: float = field(
        default=0.1,
        metadata={
            "help": "factor of the release's L2 regularizer in the loss (train_nn.py:166): "
            "sum of weight_decay * ||W||^2 / 2 over the hourglass's layers (tflearn's L2 on weights, "
            "1e-5 convolutions, 1e-3 and 1e-4 fully connected); 0 turns it off (resnet18 has none)"
        },
    )
    mesh: Literal["voxels", "none"] = field(
        default="voxels",
        metadata={
            "help": "meshes made from the clouds. voxels: the cloud's filled voxels (the voxels holding a "
            "point at voxel_resolution over the packed voxels' cube, dilated, cavities filled, eroded "
            "back; recon.geometry.voxels.filled_point_voxels) meshed by "
            "marching cubes at 0.5 (recon.geometry.extract.occupancy_mesh), so the mesh protocols see the "
            "solid the voxel IoU scores; they are also the predicted voxels. Not ONet's ball pivoting (a "
            "meshlabserver script, im2mesh/psgn/generation.py:45-105, unused for its Table 1: "
            "generate_mesh: false): no such dependency here, and its open surfaces have no inside for an "
            "IoU. none: empty meshes, so the onet protocol scores the cloud alone, as ONet evaluates PSGN"
        },
    )
    voxel_resolution: int = field(
        default=32,
        metadata={"help": "side of the predicted voxels and of the grid the meshes come from"},
    )
    dilation: int = field(
        default=2,
        metadata={
            "help": "dilations of the point voxels before their cavities are filled, then as many "
            "erosions: gaps of up to 2 x dilation voxels close (recon.geometry.voxels.filled_point_voxels, "
            "which the protocols use at 2 for a cloud without a mesh)"
        },
    )

    def __post_init__(self):
        check_choices(self)
        height, width = self.image_size
        for name in (
            "width",
            "c_dim",
            "hidden",
            "n_points",
            "n_target_points",
            "voxel_resolution",
            "dilation",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be at least 1, not {getattr(self, name)}")
        if min(self.fc_hidden) < 1 or height < 8 or width < 8:
            raise ConfigError("model.fc_hidden and model.image_size must be positive (image at least 8 x 8)")
        if self.encoder == "hourglass":
            if height % 8 or width % 8:
                raise ConfigError(
                    f"model.image_size must be multiples of 8 for the hourglass, not {height, width}"
                )
            if self.n_points <= (height // 8) * (width // 8):
                raise ConfigError(
                    f"model.n_points ({self.n_points}) must exceed the deconvolution branch's "
                    f"{(height // 8) * (width // 8)} points (image_size / 8)"
                )
        elif height != width:
            raise ConfigError(f"model.image_size must be square for resnet18, not {height, width}")
        if "emd" in self.loss and self.n_target_points < self.n_points:
            raise ConfigError("model.loss with emd needs n_target_points >= n_points (a bijection)")
        if self.emd_weight < 0 or self.regularizer < 0 or min(self.chamfer_weights) < 0:
            raise ConfigError(
                "model.emd_weight, model.regularizer and model.chamfer_weights must not be negative"
            )
