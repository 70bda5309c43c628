"""PointSetGen (Fan, Su and Guibas, CVPR 2017; fanhqme/PointSetGeneration): image -> a set of 1,024 points.

The released two-branch generator (``depthestimate/train_nn.py`` ``build_graph``): the view as RGB plus
a background mask at 192 x 256, two hourglass passes with skip connections, then a deconvolution branch
giving one point per pixel of a 24 x 32 map (768 points) and a fully connected branch (2048 -> 1024 ->
256 x 3) giving the other 256. It trains on the release's Chamfer distance against the pipeline's
surface samples (the loader's ``surface`` target, a fresh random subset of ``n_target_points`` per item
and epoch; 16,384 as released), ``(mean gt->pred + mean pred->gt / 2) x 10000`` of squared distances,
plus 0.1 x tflearn's L2 regularizer; optionally the paper's EMD (``loss: emd | chamfer+emd``).
``encoder: resnet18`` is Occupancy Networks' PSGN baseline instead (``configs/img/psgn.yaml``).

Predictions: the cloud (``predict_points``) in the packed store's object frame, and, for the protocols
that read voxels or meshes, the cloud's filled voxels over the packed voxels' cube and their
marching-cubes mesh (``mesh: voxels``; ``none`` leaves the cloud alone).

Modules: :mod:`~recon.models.psgn.config` (hyper-parameters), :mod:`~recon.models.psgn.images` (network
inputs), :mod:`~recon.models.psgn.networks` (the hourglass generator and the ResNet-18 baseline),
:mod:`~recon.models.psgn.loss` (Chamfer, EMD, regularizer), :mod:`~recon.models.psgn.method` (the
registered method).
"""

from recon.models.psgn.config import PsgnConfig
from recon.models.psgn.method import PointSetGen
from recon.models.psgn.networks import HourglassGenerator, ResnetGenerator, SimpleDecoder

__all__ = ["HourglassGenerator", "PointSetGen", "PsgnConfig", "ResnetGenerator", "SimpleDecoder"]
