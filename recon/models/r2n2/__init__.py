"""3D-R2N2 (Choy et al., ECCV 2016; chrischoy/3D-R2N2): views -> 3D convolutional LSTM -> 32³ voxels.

Each view is encoded by a 2D CNN into a vector; a fully connected layer maps it to the input of
a 3D convolutional LSTM whose hidden state is a 4³ grid of ``hidden`` channels (each cell sees its
3³ neighbourhood, ``lib/layer.py``'s ``FCConv3DLayer``); the views are fed one after the other and
the last hidden state is decoded by 3D convolutions and unpooling (4³ -> 8³ -> 16³ -> 32³) into
occupancy logits, trained with the voxel-wise cross-entropy against the filled 32³ voxels, solid or
surface (the loader's ``voxels`` target: what 3D-R2N2's ``ShapeNetVox32`` holds and what the r2n2
protocol evaluates against; two-class softmax = a logistic loss on the logit difference). One view:
single-view reconstruction; several views of a shape (``views_per_item``): multi-view.

The encoder is the paper's shallow CNN (``encoder: r2n2``: six 3x3 / 7x7 conv + pool stages, 1,024-d
output) or any :func:`recon.models.encoders.build_encoder` name (its pooled last map + a linear
layer to 1,024). Predictions: occupancy probabilities at 32³ (evaluated as voxels by the r2n2 and
pix3d protocols) and their iso-surface at 0.4 as the mesh.

Modules: :mod:`~recon.models.r2n2.config` (hyper-parameters), :mod:`~recon.models.r2n2.network`
(encoders, LSTM, decoder), :mod:`~recon.models.r2n2.loss` (voxel cross-entropy and IoU),
:mod:`~recon.models.r2n2.views` (several views of a shape per item),
:mod:`~recon.models.r2n2.method` (the registered method).
"""

from recon.models.r2n2.config import R2N2Config
from recon.models.r2n2.loss import voxel_iou, voxel_loss
from recon.models.r2n2.method import R2N2
from recon.models.r2n2.network import ConvLSTM3d, R2N2Net
from recon.models.r2n2.views import MultiViewDataset

__all__ = ["R2N2", "ConvLSTM3d", "MultiViewDataset", "R2N2Config", "R2N2Net", "voxel_iou", "voxel_loss"]
