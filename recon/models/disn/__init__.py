"""DISN: Deep Implicit Surface Network (Xu et al., NeurIPS 2019; Xharlie/DISN), as released.

**SDF network** (``disn``; ``models/model_normalization.py``, ``models/sdfnet.py``, two-stream
``--img_feat_twostream``). The view is resized bilinearly to 224x224 and encoded by VGG-16 (TF-slim's
``vgg_16``): its global feature is VGG's own fc6 (7x7 over pool5) and fc7, each with a ReLU, and a
linear fc8 to 1,024 (:func:`~recon.models.disn.network.image_encoder`; fc6 and fc7 load torchvision's
``classifier.0`` and ``classifier.3``). Its local features are the five maps conv1_2 .. conv5_3 (1,472
channels), each resized to the view's size, read bilinearly where the query point projects through the
view's camera ``K [R|t]``, the pixel clipped to the view. Each stream has its own point MLP
(3 -> 64 -> 256 -> 512, ReLU) and decoder (512 -> 256 -> 1 on ``[point, fc8]`` and on
``[point, local]``); the prediction is their sum.

**Units and loss** follow the released code: the network predicts ``10 · (sdf - 0.003)``
(``SDF_WEIGHT = 10``; the ground truth is shifted by the iso level of DISN's ground-truth mesh),
trained with the weighted L1 ``mean(w · |pred - 10 (sdf - 0.003)|)``, ``w = m1 = 4`` where
``sdf - 0.003 <= 0.01`` and ``m2 = 1`` elsewhere, on 2,048 of the shape's DISN samples per image.
Meshes are the zero level set of the prediction on 65³ nodes (``--sdf_res 64``), by marching cubes.

**Camera network** (``disn_camera``; ``cam_est/model_cam.py``, ``models/posenet.py``), trained on its
own: a second VGG-16 to fc8 at 224x224, a 6D rotation head (1024 -> 512 -> 256 -> 6) and a distance
head (1024 -> 64 -> 32 -> 1, t = (0, 0, d)), batch norm in both, trained with the point-cloud
transform loss ``½ Σ ||(R̂ p + t̂) - (R p + t)||²`` over the shape's sample points. A ``disn``
experiment uses it at prediction with ``camera: estimated`` and ``camera_experiment`` (or as its
``estimated_camera`` variant); ``camera: joint`` trains one inside the SDF network instead.

Where recon departs from the release by default, because the release has a bug there, the released
behaviour stays available by name: ``input: released`` (BGR in [0, 1], which its pretrained VGG does
not expect), ``sampling: released`` (TensorFlow 1's resizes, which misalign deep maps by up to
(stride - 1) / 2 pixels), ``grid_box: ground_truth`` (the test shape's ground-truth box) and the camera
network's ``distance_relu``.

Modules: :mod:`~recon.models.disn.config` (hyper-parameters), :mod:`~recon.models.disn.images`
(encoder input), :mod:`~recon.models.disn.network` (the SDF and camera networks),
:mod:`~recon.models.disn.loss` (the two losses), :mod:`~recon.models.disn.grid` (prediction grids),
:mod:`~recon.models.disn.method` and :mod:`~recon.models.disn.camera` (the registered methods).
"""

from recon.models.disn.camera import DISNCamera
from recon.models.disn.config import DISNCameraConfig, DISNConfig
from recon.models.disn.loss import camera_loss, disn_loss
from recon.models.disn.method import DISN
from recon.models.disn.network import CameraNet, DISNNet

__all__ = [
    "DISN",
    "CameraNet",
    "DISNCamera",
    "DISNCameraConfig",
    "DISNConfig",
    "DISNNet",
    "camera_loss",
    "disn_loss",
]
