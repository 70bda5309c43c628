"""GenRe's training-time RGB augmentation: colour jitter, then AlexNet-style PCA lighting noise.

As the released ``MarrnetBaseModel.preprocess`` (``models/marrnetbase.py:78-92``, inherited by GenRe
through ``depth_pred_with_sph_inpaint.py:83-84`` and ``genre_full_model.py:87-88``) prepares an RGB
image of floats in [0, 1] after resizing it, in training only (``mode == 'train'``; validation and
test images are only normalized):

1. ``util/util_img.py:252-279`` ``jitter_colors`` with ``d = 0.4`` for each attribute
   (``marrnetbase.py:13``): brightness, contrast and saturation in a uniformly random order
   (``np.random.shuffle``), each ``x <- a x + (1 - a) t`` (``alpha_blend``, ``util_img.py:171-187``)
   with ``a = 1 + U[-d, d)`` drawn per attribute (``util_img.py:236``) and the target ``t``
   (``util_img.py:240-245``): 0 for brightness, the mean of the grey image over all pixels for contrast,
   the grey image for saturation, where grey = ``0.299 R + 0.587 G + 0.114 B`` of the image as the
   previous attributes left it (``rgb2gray``, ``util_img.py:205``, computed anew per attribute at
   ``util_img.py:231``);
2. ``util_img.py:282-329`` ``add_lighting_noise`` with ``alpha_std = 0.1`` (``marrnetbase.py:14``):
   ``alpha ~ N(0, 0.1^2)`` per eigenvector, and the same offset ``sum_j V[c, j] alpha_j lambda_j`` added
   to every pixel of channel ``c`` (eigenvalues ``lambda`` and eigenvectors ``V``, columns, at
   ``util_img.py:284-287``);
3. ``util_img.py:332-356`` ``normalize_colors``: ImageNet mean and std.

The three blends are linear and commute (brightness is a scalar; grey of the grey image and of the
mean-grey image is the same since the grey weights sum to 1), so the random order changes only
rounding; it is drawn anyway, as released. Nothing is clamped: jittered and lit values may leave
[0, 1] and are normalized as they are. The lighting noise is added *before* normalization, so
:func:`augment_rgb` returns images in the [0, 1] scale and the caller normalizes them with
:func:`recon.models.encoders.normalize_images`, exactly as at test time. Each image of a batch gets its
own order and draws; they come from ``generator``, or from torch's global generator when it is None
(the trainer seeds torch per run). The release draws with NumPy's global state inside the data
loader; only the distributions are reproduced, not its stream.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "ATTRIBUTES",
    "GREY_WEIGHTS",
    "JITTER",
    "LIGHTING_EIGVALS",
    "LIGHTING_EIGVECS",
    "LIGHTING_STD",
    "add_lighting_noise",
    "augment_rgb",
    "draw_augmentation",
    "jitter_colors",
]

#: Jitter attributes, indexed as in ``order`` and ``factors`` (``util_img.py:267``).
ATTRIBUTES = ("brightness", "contrast", "saturation")
#: Half-width ``d`` of each attribute's blend factor range [1 - d, 1 + d) (``marrnetbase.py:13``).
JITTER = 0.4
#: Standard deviation of the lighting noise's per-eigenvector weight (``marrnetbase.py:14``).
LIGHTING_STD = 0.1
#: Eigenvalues of the RGB covariance (``util_img.py:284``).
LIGHTING_EIGVALS = (0.2175, 0.0188, 0.0045)
#: Eigenvectors of the RGB covariance, one per column; row ``c`` is channel ``c`` (``util_img.py:285-287``).
LIGHTING_EIGVECS = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)
#: Grey level of an RGB pixel (``rgb2gray``, ``util_img.py:205``).
GREY_WEIGHTS = (0.299, 0.587, 0.114)


def draw_augmentation(
    batch: int, generator: torch.Generator | None = None, jitter: float = JITTER, std: float = LIGHTING_STD
) -> dict[str, Tensor]:
    """Independent draws for ``batch`` images, on the generator's device (CPU for the global one).

    Returns:
        ``order`` (batch, 3) int64, a uniformly random permutation of the attribute indices
        (:data:`ATTRIBUTES`) per image; ``factors`` (batch, 3) float32, the blend factor of each attribute
        in [1 - jitter, 1 + jitter); ``alpha`` (batch, 3) float32, the lighting weights, N(0, std^2).
    """
    device = generator.device if generator is not None else torch.device("cpu")
    order = torch.rand(batch, 3, generator=generator, device=device).argsort(dim=1)
    factors = 1 + jitter * (2 * torch.rand(batch, 3, generator=generator, device=device) - 1)
    alpha = std * torch.randn(batch, 3, generator=generator, device=device)
    return {"order": order, "factors": factors, "alpha": alpha}


def jitter_colors(rgb: Tensor, order: Tensor, factors: Tensor) -> Tensor:
    """The released colour jitter with given draws (``util_img.py:211-279``).

    Args:
        rgb: (B, 3, H, W) float RGB.
        order: (B, 3) int, per image the attribute indices (:data:`ATTRIBUTES`) in the order applied.
        factors: (B, 3) float, per image the blend factor of each attribute, indexed as
            :data:`ATTRIBUTES` (not in the order applied); 1 leaves the attribute unchanged.

    Returns:
        (B, 3, H, W) tensor of ``rgb``'s dtype, not clamped.
    """
    weights = rgb.new_tensor(GREY_WEIGHTS).view(1, 3, 1, 1)
    order = order.to(rgb.device)
    factors = factors.to(rgb.device, rgb.dtype)
    out = rgb
    for step in range(3):
        attribute = order[:, step]
        a = factors.gather(1, attribute[:, None]).view(-1, 1, 1, 1)
        grey = (out * weights).sum(dim=1, keepdim=True)
        contrast = (attribute == ATTRIBUTES.index("contrast")).view(-1, 1, 1, 1)
        saturation = (attribute == ATTRIBUTES.index("saturation")).view(-1, 1, 1, 1)
        # Brightness blends toward 0, contrast toward the mean grey level, saturation toward the grey image.
        mean_grey = grey.mean(dim=(2, 3), keepdim=True)
        target = torch.where(saturation, grey, torch.where(contrast, mean_grey, 0.0))
        out = a * out + (1 - a) * target
    return out


def add_lighting_noise(rgb: Tensor, alpha: Tensor) -> Tensor:
    """The released PCA lighting noise with given weights (``util_img.py:309-329``).

    Args:
        rgb: (B, 3, H, W) float RGB in the [0, 1] scale (before normalization).
        alpha: (B, 3) float, per image the weight of each eigenvector (0 adds nothing).

    Returns:
        (B, 3, H, W) tensor of ``rgb``'s dtype: ``rgb[b, c] + sum_j V[c, j] alpha[b, j] lambda_j``.
    """
    eigvals = rgb.new_tensor(LIGHTING_EIGVALS)
    eigvecs = rgb.new_tensor(LIGHTING_EIGVECS)
    offset = (alpha.to(rgb.device, rgb.dtype) * eigvals) @ eigvecs.T
    return rgb + offset[:, :, None, None]


def augment_rgb(rgb: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """GenRe's training augmentation of a batch, each image with its own draws (:func:`draw_augmentation`).

    Args:
        rgb: (B, 3, H, W) float RGB in [0, 1], already at the network's input size (the release jitters
            after resizing, ``marrnetbase.py:81-90``).
        generator: source of the draws; None draws from torch's global generator.

    Returns:
        (B, 3, H, W) tensor of ``rgb``'s dtype, in the [0, 1] scale but not clamped, to be normalized by
        :func:`recon.models.encoders.normalize_images` (``marrnetbase.py:91``).
    """
    if rgb.ndim != 4 or rgb.shape[1] != 3 or not rgb.is_floating_point():
        raise ValueError(f"rgb must be (B, 3, H, W) floats, got {tuple(rgb.shape)} {rgb.dtype}")
    draws = draw_augmentation(rgb.shape[0], generator)
    return add_lighting_noise(jitter_colors(rgb, draws["order"], draws["factors"]), draws["alpha"])
