"""Mem3D (Yang, Xu, Xie, Perry, Xia, CVPR 2021, arXiv 2003.03711; no released code): one view -> image
feature -> shape priors read from a memory of training shapes -> 32³ voxels.

An ImageNet CNN trunk and three convolutions encode the view into a feature vector F. The memory holds
m slots of (key = an image feature, value = the 32³ ground-truth voxels written with it, age); the
reader takes the k values whose keys are most similar to F (cosine similarity above a threshold),
ordered by similarity, and a one-layer LSTM over the flattened volumes makes a shape prior vector; a
3D transposed-convolution decoder maps [F, prior] to 32³ occupancy. Training minimizes the voxel BCE
plus the voxel triplet loss, which pulls F towards the keys of slots whose voxels resemble the ground
truth and away from the others; after each training batch the writer updates the nearest slot (if its
voxels are within δ of the ground truth) or writes the item into an empty or the oldest slot. The
memory is part of the model's state (checkpoints) and is frozen outside training: evaluation and
prediction only read it. Under DDP every process writes the items of all processes in rank order, so
the memories stay identical. ``k: 0`` is the ablation without the memory (zero prior).

Predictions: occupancy probabilities at 32³ (evaluated as voxels by the r2n2 and pix3d protocols)
and their iso-surface at ``threshold`` (0.3, the paper's IoU threshold) as the mesh (onet, pix3d).

Modules: :mod:`~recon.models.mem3d.config` (hyper-parameters, with what was chosen where the paper is
silent), :mod:`~recon.models.mem3d.memory` (the memory, reader, writer, similarities),
:mod:`~recon.models.mem3d.networks` (image encoder, LSTM shape encoder, decoder, the whole model),
:mod:`~recon.models.mem3d.loss` (the voxel triplet loss), :mod:`~recon.models.mem3d.method` (the
registered method).
"""

from recon.models.mem3d.config import Mem3DConfig
from recon.models.mem3d.loss import voxel_triplet_loss
from recon.models.mem3d.memory import ShapeMemory, gather_rows, key_similarity, voxel_similarity
from recon.models.mem3d.method import Mem3D
from recon.models.mem3d.networks import ImageEncoder, Mem3DNet, ShapeEncoder, VoxelDecoder

__all__ = [
    "ImageEncoder",
    "Mem3D",
    "Mem3DConfig",
    "Mem3DNet",
    "ShapeEncoder",
    "ShapeMemory",
    "VoxelDecoder",
    "gather_rows",
    "key_similarity",
    "voxel_similarity",
    "voxel_triplet_loss",
]
