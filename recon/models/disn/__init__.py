"""DISN: Deep Implicit Surface Network (Wang et al., NeurIPS 2019; Xharlie/DISN).

An image encoder (VGG-16) gives a global feature vector and feature maps. Every query point is
encoded by a point MLP and projected into the image with the view's camera ``K [R|t]``; bilinear
samples of every feature map at that pixel are its *local features*. Two decoders, one on
``[point, global]`` and one on ``[point, local]`` features, each predict an SDF value; the
prediction is their sum (DISN's two-stream model, ``models/model_normalization.py``).

Units follow the released code: the network predicts ``10 · (sdf - 0.003)`` (``SDF_WEIGHT = 10``;
the ground truth is shifted by the iso level of DISN's ground-truth mesh), trained with the weighted
L1 loss ``mean(w · |pred - 10 (sdf - 0.003)|)``, ``w = m1 = 4`` where ``sdf - 0.003 <= 0.01`` (the
interior and the near band) and ``m2 = 1`` elsewhere, on 2,048 points per image. Meshes are the
zero level set of the prediction on a grid (``--sdf_res 64``: 65³ nodes), by marching cubes.

Camera estimation (DISN §3.2, ``cam_est``): a second network regresses the rotation in Zhou et
al.'s continuous 6D representation and the translation from the image, trained with the
point-cloud transform loss ``mean ||(R̂ p + t̂) - (R p + t)||²`` over the shape's sample points. The
SDF network then runs with the true camera (``camera: true``) or the estimated one
(``camera: estimated``); both are trained together when ``camera_loss_weight > 0``.

Modules: :mod:`~recon.models.disn.config` (hyper-parameters), :mod:`~recon.models.disn.network`
(the SDF and camera networks), :mod:`~recon.models.disn.loss` (the two losses),
:mod:`~recon.models.disn.method` (the registered method: targets, loss, predictions).
"""

from recon.models.disn.config import DISNConfig
from recon.models.disn.loss import camera_loss, disn_loss
from recon.models.disn.method import DISN
from recon.models.disn.network import CameraNet, DISNNet

__all__ = ["DISN", "CameraNet", "DISNConfig", "DISNNet", "camera_loss", "disn_loss"]
