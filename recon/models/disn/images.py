"""DISN's encoder input from packed RGBA views: background, resize to the encoder's size, colours.

Two colour conventions (``input``):

- ``imagenet`` (default): RGB, ``(x - ImageNet mean) / std``, what torchvision's weights (the
  pretrained weights recon loads, :mod:`recon.models.encoders`) were trained on.
- ``released``: BGR in [0, 1], as the released code feeds its images (OpenCV's ``cv2.imread`` / 255,
  ``data/data_sdf_h5_queue.py``). Its pretrained VGG-16 is TF-slim's ``vgg_16.ckpt`` (README,
  ``--restore_modelcnn``), converted from the Caffe model, which expects RGB in [0, 255] less the
  mean pixel (123.68, 116.78, 103.94): the released input is 255 times too weak and in the wrong
  channel order for its weights.

The views are composited over ``background`` (1 white; the released code keeps the renders' black
background unless ``--backcolorwhite``) and resized bilinearly to ``image_size`` (the released
code's 224), with half-pixel centres or, for ``sampling: released``, TensorFlow 1's resize
(:func:`recon.models.geometry.resize_bilinear`).
"""

from __future__ import annotations

from torch import Tensor

from recon.io.loader import to_float_image
from recon.models.encoders import normalize_images
from recon.models.geometry import resize_bilinear

__all__ = ["encoder_input"]


def encoder_input(
    rgba: Tensor,
    image_size: int | None,
    colours: str = "imagenet",
    background: float = 1.0,
    half_pixel: bool = True,
) -> Tensor:
    """(B, H, W, 4) uint8 RGBA views -> (B, 3, S, S) float encoder input (S = ``image_size``, or H x W).

    Args:
        rgba: the loader's ``image`` batch.
        image_size: size of the square the views are resized to; None keeps H x W.
        colours: ``imagenet`` (RGB, ImageNet-normalized) or ``released`` (BGR in [0, 1]).
        background: grey level the views are composited over.
        half_pixel: resize with half-pixel centres (False: TensorFlow 1's ``resize_bilinear``).
    """
    images = to_float_image(rgba, background)
    if image_size is not None and tuple(images.shape[-2:]) != (image_size, image_size):
        images = resize_bilinear(images, (image_size, image_size), half_pixel)
    if colours == "released":
        return images.flip(1)
    return normalize_images(images)
