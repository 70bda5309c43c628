"""GenRe (Zhang et al., NeurIPS 2018; xiumingzhang/GenRe-ShapeHD): image -> 2.5D sketches -> spherical map
inpainting -> voxel refinement, in the viewer-centred frame, trained on some categories and tested on all.

A U-ResNet-18 estimator predicts depth (normalized by its predicted min/max), normals and the
silhouette; the depth is back-projected with the view's camera into a partial spherical map and a
volume; a U-ResNet inpaints the padded map into the full one; its back-projection and the depth's
volume go through a 3D U-Net into voxel logits at the refiner's resolution, in the view frame
(:mod:`recon.geometry.view_frame`), trained against the surface shell of the view-aligned voxels
with BCE plus a weight-10 surface term. Training runs in the release's three stages (``stage``:
estimator, inpaint, refine, or joint), each later one starting from the earlier one's run
(``train.init_from``), on the categories ``train.categories`` names.

Modules: :mod:`~recon.models.genre.config` (hyper-parameters, stages), :mod:`~recon.models.genre.networks`
(the three networks), :mod:`~recon.models.genre.loss` (their losses and the surface shell),
:mod:`~recon.models.genre.projection` (the differentiable back-projections, pure PyTorch),
:mod:`~recon.models.genre.views` (views at the estimator's size), :mod:`~recon.models.genre.model` (the
whole network, frozen parts), :mod:`~recon.models.genre.method` (the registered method).
"""

from recon.models.genre.config import STAGES, GenReConfig
from recon.models.genre.method import GenRe

__all__ = ["STAGES", "GenRe", "GenReConfig"]
