"""3D-R2N2 (Choy et al., ECCV 2016; chrischoy/3D-R2N2): views -> 3D convolutional GRU -> 32³ voxels.

Each view is encoded by a 2D CNN into a 1,024-d vector; the views are fed one after the other to a
3D convolutional GRU whose hidden state is a 4³ grid of 128 channels (each gate a fully connected
map of the view plus a 3³ convolution of the grid); the last hidden state is decoded by 3D
convolutions and zero-fill unpooling (4³ -> 8³ -> 16³ -> 32³) into two-class scores, trained with
the voxel-wise softmax cross-entropy against the filled 32³ voxels, solid or surface (the loader's
``voxels`` target: what 3D-R2N2's ``ShapeNetVox32`` holds and what the r2n2 protocol evaluates
against). The defaults are the released network, ``ResidualGRUNet`` (``models/res_gru_net.py``:
residual encoder and decoder); ``encoder: r2n2_shallow`` and ``decoder: shallow`` give the
release's ``GRUNet``, ``recurrent: lstm`` the paper's 3D LSTM, ``recurrent_kernel: 1`` its
1x1x1 variants. Any :func:`recon.models.encoders.build_encoder` name is an encoder too.

Training follows the release's data pipeline: each item carries up to 5 views of a shape drawn
with replacement, each batch feeds a random 1 to 5 of them, so one model predicts from any number
of views; views are composited on a random light background, randomly cropped 10 pixels smaller
(137² -> 127²) and flipped, and scaled to [0, 1]; at test time they are centre-cropped on grey 240.
Predictions: occupancy probabilities at 32³ (evaluated as voxels by the r2n2 and pix3d protocols)
and their iso-surface at 0.4 as the mesh, from ``predict_views`` views; the prediction variants
``<k>views`` (``test_views``, 1 to 5) evaluate one trained model at each view count.

Modules: :mod:`~recon.models.r2n2.config` (hyper-parameters), :mod:`~recon.models.r2n2.encoder`,
:mod:`~recon.models.r2n2.recurrent`, :mod:`~recon.models.r2n2.decoder` (the network's parts),
:mod:`~recon.models.r2n2.network` (the whole network and its initialization),
:mod:`~recon.models.r2n2.augment` (input preparation), :mod:`~recon.models.r2n2.views` (several
views of a shape per item), :mod:`~recon.models.r2n2.loss` (voxel cross-entropy and IoU),
:mod:`~recon.models.r2n2.method` (the registered method).
"""

from recon.models.r2n2.config import R2N2Config
from recon.models.r2n2.loss import voxel_iou, voxel_loss
from recon.models.r2n2.method import R2N2
from recon.models.r2n2.network import R2N2Net
from recon.models.r2n2.recurrent import GRU3d, LSTM3d
from recon.models.r2n2.views import MultiViewDataset, PredictionViews

__all__ = [
    "R2N2",
    "GRU3d",
    "LSTM3d",
    "MultiViewDataset",
    "PredictionViews",
    "R2N2Config",
    "R2N2Net",
    "voxel_iou",
    "voxel_loss",
]
