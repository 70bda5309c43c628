"""Occupancy Networks (Mescheder et al., CVPR 2019; autonomousvision/occupancy_networks): image -> code ->
occupancy of any point, meshed by MISE.

The single-image model as released (``configs/img/onet.yaml``): a ResNet-18 encodes the view
(ImageNet-normalized, 224²) into a 256-d code c; a decoder of 5 conditional ResNet blocks maps
each query point and c to an occupancy logit, c entering through conditional batch norm
(``gamma(c) * BN(x) + beta(c)``); no latent code (``z_dim: 0``). It trains on the pipeline's
occupancy points (the loader's ``occupancy`` target, 2,048 a item, uniform in the normalization's
cube padded by 10 %: docs/data_format.md §5.3) with binary cross-entropy summed over the points,
and its best checkpoint is the one with the highest validation IoU of those points at the
probability 0.2 (``Method.selection``). Meshes: MISE (32³ refined twice, to 128³) over the same
padded cube, marching cubes at the logit of 0.2; voxel probabilities: the decoder at the voxel
centres.

Modules: :mod:`~recon.models.onet.config` (hyper-parameters), :mod:`~recon.models.onet.networks`
(encoder, conditional blocks, decoder), :mod:`~recon.models.onet.loss` (BCE and IoU),
:mod:`~recon.models.onet.extract` (MISE meshes as the release's generator makes them),
:mod:`~recon.models.onet.method` (the registered method).
"""

from recon.models.onet.config import OnetConfig
from recon.models.onet.method import ONet
from recon.models.onet.networks import CResnetBlockConv1d, DecoderCBatchNorm, OccupancyNetwork

__all__ = [
    "CResnetBlockConv1d",
    "DecoderCBatchNorm",
    "ONet",
    "OccupancyNetwork",
    "OnetConfig",
]
