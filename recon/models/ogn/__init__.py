"""OGN (Tatarchenko, Dosovitskiy and Brox, ICCV 2017; lmb-freiburg/ogn): image -> dense 3D decoder to a
coarse level -> octree blocks that refine only the mixed cells -> voxels at the octree's finest level.

An image encoder (ResNet-18 by default) gives a code; a dense decoder (a linear map to a 4³ grid, then
2³ up-convolutions and 3³ convolutions) reaches ``dense_level``, where every cell is scored empty, full
or mixed. Each following level is an octree block in plain PyTorch on the pipeline's octree store
(Morton keys, empty / full / mixed states; :mod:`~recon.models.ogn.octree`): the mixed cells of the
level above (with the neighbours its convolutions read) are up-convolved to their 8 children, 3³
convolutions run on those children with absent neighbours read as 0, and a 3-way classifier scores
them. Training follows the ground truth's structure (``propagation: known``) or the predicted one
(``pred``); prediction follows the predicted one. The loss is the cross-entropy of each level's
supervised cells against their ground-truth states, summed over the levels. Memory grows with the
number of cells refined, not with the finest dense grid.

Predictions: voxels at 2^depth (the full cells of every level painted at the finest resolution) and
their boundary as the mesh (:func:`recon.geometry.extract.voxel_mesh`).

Modules: :mod:`~recon.models.ogn.config` (hyper-parameters), :mod:`~recon.models.ogn.octree` (the batched
octree, keys, neighbours, propagation, painting), :mod:`~recon.models.ogn.convolution` (up-convolution,
neighbour convolution and classifier on a level's cells), :mod:`~recon.models.ogn.networks` (dense
decoder, octree blocks, the network), :mod:`~recon.models.ogn.loss` (per-level cross-entropy),
:mod:`~recon.models.ogn.method` (the registered method).
"""

from recon.models.ogn.config import OGNConfig
from recon.models.ogn.method import OGN
from recon.models.ogn.networks import OGNNet

__all__ = ["OGN", "OGNConfig", "OGNNet"]
