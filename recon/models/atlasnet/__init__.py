"""AtlasNet (Groueix et al., CVPR 2018; ThibaultGROUEIX/AtlasNet, v2 code): image -> code -> K learned
parametrizations of the surface, each deforming a template (the unit square or the unit sphere).

The single-view model as released: a ResNet-18 encodes the view (127² crop of the render resized to
224², RGB in [0, 1]) into a 1,024-d code; K point MLPs (``Mapping2Dto3D``: 1x1 convolutions with
batch norm and ReLU, the code added as a bias after the first) map points of the template to 3D,
``2500 // K`` points each. Training draws new random template points every step and minimizes the
Chamfer distance (squared, mean each way, summed) of the fused patches to 2,500 surface points of the
shape (the loader's ``surface`` target, in the packed store's normalized frame); validation and
prediction deform the regular template (each square patch's ``int(sqrt(2500 // K))²`` grid, the sphere's
icosphere of 2,562 vertices), and the meshes carry the template's triangles over: K open sheets, or a
closed sphere.

Modules: :mod:`~recon.models.atlasnet.config` (hyper-parameters), :mod:`~recon.models.atlasnet.template`
(random and regular template points, the grids' triangles), :mod:`~recon.models.atlasnet.networks`
(encoder and decoders), :mod:`~recon.models.atlasnet.images` (crop, flip, resize),
:mod:`~recon.models.atlasnet.loss` (Chamfer), :mod:`~recon.models.atlasnet.method` (the registered method).
"""

from recon.models.atlasnet.config import AtlasnetConfig
from recon.models.atlasnet.method import Atlasnet
from recon.models.atlasnet.networks import AtlasNet, AtlasnetDecoder, Mapping2Dto3D

__all__ = ["AtlasNet", "Atlasnet", "AtlasnetConfig", "AtlasnetDecoder", "Mapping2Dto3D"]
