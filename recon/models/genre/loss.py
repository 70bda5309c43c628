"""GenRe's losses as released: the estimator's 2.5D loss, the inpainter's spherical loss, the refiner's
voxel loss, and the refiner's surface-shell target.

=================  ====================================================================================
loss               released
=================  ====================================================================================
estimator          MSE(normal) + MSE(depth) on foreground pixels, MSE(silhouette) on all pixels, in
                   :data:`~recon.models.genre.networks.SCALE_25D` units, + 256^2 / 2 x MSE(depth min/max)
                   (``models/marrnet1.py:104-134``)
inpainter          MSE of the padded predicted full spherical map against the padded full map
                   (``models/depth_pred_with_sph_inpaint.py:59-68``, padding ``:82-92``)
refiner            BCE-with-logits(voxels, shell) + surface_weight x BCE(sigmoid(voxels) x shell, shell),
                   surface_weight 10 (``models/genre_full_model.py:59-72``,
                   ``scripts/train_full_genre.sh:38``)
=================  ====================================================================================
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from recon.models.genre.networks import SCALE_25D

__all__ = ["MINMAX_WEIGHT", "estimator_loss", "inpaint_loss", "surface_shell", "voxel_loss"]

#: Weight of the depth min/max MSE, ``(256 ** 2) / 2`` "matching scale of pixel predictions very roughly"
#: (``models/marrnet1.py:127``): H x W / 2 at the released 256 x 256 input.
MINMAX_WEIGHT = 256**2 / 2


def _masked_mse(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean of (pred - target)^2 over the elements where ``mask`` is true (0 when none is)."""
    mask = mask.expand_as(pred)
    return ((pred - target) ** 2 * mask).sum() / mask.sum().clamp_min(1)


def estimator_loss(
    pred: dict[str, Tensor],
    normal: Tensor,
    depth: Tensor,
    mask: Tensor,
    minmax: Tensor,
    minmax_weight: float = MINMAX_WEIGHT,
) -> tuple[Tensor, dict[str, Tensor]]:
    """The estimator's loss, ``models/marrnet1.py:104-134``.

    The targets are multiplied by :data:`~recon.models.genre.networks.SCALE_25D` (100) as the release's
    preprocessing does (``models/marrnetbase.py:94-123``); the normal and depth MSEs average over the
    foreground (``silhou != 0``), the silhouette MSE over every pixel. The release's MSE of an empty
    foreground is NaN; here it is 0.

    Args:
        pred: the :class:`~recon.models.genre.networks.Estimator`'s outputs: ``normal`` (B, 3, H, W),
            ``depth`` (B, 1, H, W), ``silhou`` (B, 1, H, W) raw, ``depth_minmax`` (B, 2).
        normal: (B, 3, H, W) float target normals encoded in [0, 1], (n + 1) / 2.
        depth: (B, H, W) float relative depth in [0, 1] (:func:`~recon.models.genre.networks.relative_depth`).
        mask: (B, H, W) bool silhouette.
        minmax: (B, 2) float (min, max) foreground depth.
        minmax_weight: weight of the min/max MSE (:data:`MINMAX_WEIGHT` released).

    Returns:
        The scalar loss and its terms ``normal``, ``depth``, ``silhou``, ``depth_minmax`` (weighted), each a
        scalar tensor.
    """
    fg = mask.unsqueeze(1)
    silhou = fg.to(pred["silhou"].dtype) * SCALE_25D
    parts = {
        "normal": _masked_mse(pred["normal"], normal * SCALE_25D, fg),
        "depth": _masked_mse(pred["depth"], depth.unsqueeze(1) * SCALE_25D, fg),
        "silhou": F.mse_loss(pred["silhou"], silhou),
        "depth_minmax": minmax_weight * F.mse_loss(pred["depth_minmax"], minmax),
    }
    return sum(parts.values()), parts


def inpaint_loss(pred: Tensor, target: Tensor) -> Tensor:
    """The inpainter's loss, ``models/depth_pred_with_sph_inpaint.py:64``: the MSE over every pixel of the
    padded maps, margins included.

    Args:
        pred: (B, 1, S, S) the :class:`~recon.models.genre.networks.Inpainter`'s ``spherical`` output.
        target: (B, 1, S, S) float full spherical map padded like the input (``sph_pad``: longitude
            wrapped, latitude edge-replicated, margin 16, ``models/depth_pred_with_sph_inpaint.py:89-90``).

    Returns:
        Scalar loss.
    """
    return F.mse_loss(pred, target)


def voxel_loss(
    logits: Tensor, shell: Tensor, surface_weight: float = 10.0
) -> tuple[Tensor, dict[str, Tensor]]:
    """The refiner's loss, ``models/genre_full_model.py:59-72``, against the surface shell.

    ``BCE_with_logits(logits, shell) + surface_weight * BCE(sigmoid(logits) * shell, shell)``, each a mean
    over every voxel. For a binary shell the second term is ``mean(shell * -log sigmoid(logits))``, which is
    how it is computed here (stable, and allowed under autocast); PyTorch's ``binary_cross_entropy`` clamps
    the log at -100, so the two differ only for logits below -100. Computed in float32.

    Args:
        logits: (B, 1, R, R, R) the :class:`~recon.models.genre.networks.Refiner`'s output.
        shell: (B, 1, R, R, R) bool or {0, 1} float target (:func:`surface_shell`).
        surface_weight: weight of the surface term (10 in ``scripts/train_full_genre.sh:38``; the option's
            default is 1, ``models/genre_full_model.py:25``).

    Returns:
        The scalar loss and its terms ``voxel`` and ``surface`` (weighted), scalar tensors.
    """
    logits, shell = logits.float(), shell.float()
    voxel = F.binary_cross_entropy_with_logits(logits, shell)
    surface = (shell * -F.logsigmoid(logits)).mean()
    parts = {"voxel": voxel, "surface": surface_weight * surface}
    return parts["voxel"] + parts["surface"], parts


def surface_shell(voxels: Tensor, iterations: int = 2) -> Tensor:
    """The refiner's target: ``voxels - binary_erosion(voxels, ones((3, 3, 3)), iterations=2)`` clipped to
    [0, 1] (``models/genre_full_model.py:86-97``), the solid voxels within 2 voxels of the outside.

    The erosion is scipy's with its default ``border_value=0`` (outside the grid counts as empty), done
    with max-pooling. The release transposes and flips its voxels first (``:91-92``), a change of frame
    between its voxel files and its back-projections; voxels given here are already in the frame of the
    refiner's input.

    Args:
        voxels: (..., R, R, R) bool or {0, 1} float occupancy.
        iterations: erosions by the 3x3x3 cube.

    Returns:
        (..., R, R, R) float32 in {0, 1}.
    """
    solid = voxels.float()
    x = solid.reshape(-1, 1, *solid.shape[-3:])
    empty = 1.0 - x
    for _ in range(iterations):
        empty = F.max_pool3d(F.pad(empty, (1,) * 6, value=1.0), 3, stride=1)
    eroded = (1.0 - empty).reshape(solid.shape)
    return torch.clamp(solid - eroded, 0.0, 1.0)
