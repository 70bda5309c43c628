"""GenRe's RGB augmentation against a NumPy transcription of the released ``util/util_img.py``."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from recon.models.encoders import normalize_images
from recon.models.genre.augment import (
    ATTRIBUTES,
    JITTER,
    LIGHTING_STD,
    add_lighting_noise,
    augment_rgb,
    draw_augmentation,
    jitter_colors,
)

# --- The release (util/util_img.py at ee42add), with its random draws made explicit arguments. ---


def _rgb2gray(rgb):  # util_img.py:205-208
    ch = 0.299 * rgb[:, :, 0] + 0.587 * rgb[:, :, 1] + 0.114 * rgb[:, :, 2]
    return np.dstack((ch, ch, ch))


def _alpha_blend(im1, im2, alpha):  # util_img.py:185
    return alpha * im1 + (1 - alpha) * im2


def _adjust_image_attribute(rgb, attr, alpha):  # util_img.py:231-249, alpha drawn by the caller
    gs = _rgb2gray(rgb)
    if attr == "contrast":
        return _alpha_blend(rgb, np.mean(gs[:, :, 0]), alpha)
    if attr == "saturation":
        return _alpha_blend(rgb, gs, alpha)
    if attr == "brightness":
        return _alpha_blend(rgb, 0, alpha)
    raise NotImplementedError(attr)


def _jitter_colors(rgb, ind, alphas):  # util_img.py:267-279, ind = the shuffled indices
    attrs = ["brightness", "contrast", "saturation"]
    rgb_out = rgb.copy()
    for idx in ind:
        rgb_out = _adjust_image_attribute(rgb_out, attrs[idx], alphas[idx])
    return rgb_out


def _add_lighting_noise(rgb_0to1, alpha):  # util_img.py:309-329, alpha drawn by the caller
    eigvals = np.array((0.2175, 0.0188, 0.0045))
    eigvecs = np.array(((-0.5675, 0.7192, 0.4009), (-0.5808, -0.0045, -0.8140), (-0.5836, -0.6948, 0.4203)))
    noise_rgb = np.sum(
        np.multiply(np.multiply(eigvecs, np.tile(alpha, (3, 1))), np.tile(eigvals, (3, 1))), axis=1
    )
    out = rgb_0to1.copy()
    for i in range(3):
        out[:, :, i] += noise_rgb[i]
    return out


def _normalize_colors(rgb_0to1, mean_rgb=(0.485, 0.456, 0.406), std_rgb=(0.229, 0.224, 0.225)):
    out = rgb_0to1.copy()  # util_img.py:351-356
    for i in range(3):
        out[:, :, i] = (out[:, :, i] - mean_rgb[i]) / std_rgb[i]
    return out


def _preprocess_train(im, ind, alphas, light):  # marrnetbase.py:82-92, after the resize
    im = _jitter_colors(im, ind, alphas)
    im = _add_lighting_noise(im, light)
    return _normalize_colors(im).transpose(2, 0, 1)


def _images(batch: int, seed: int = 0, size: int = 6) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).random((batch, 3, size, size)))


def _hwc(rgb: torch.Tensor, b: int) -> np.ndarray:
    return rgb[b].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("attribute", ATTRIBUTES)
def test_each_attribute_matches_release(attribute):
    rgb = _images(2)
    factors = torch.tensor([[0.7, 1.3, 0.9], [1.35, 0.65, 1.2]], dtype=torch.float64)
    k = ATTRIBUTES.index(attribute)
    # Only ``attribute`` moves: the others keep factor 1 and come first in the order.
    factors_one = torch.ones_like(factors)
    factors_one[:, k] = factors[:, k]
    order = torch.tensor([[i for i in range(3) if i != k] + [k]] * 2)
    out = jitter_colors(rgb, order, factors_one)
    for b in range(2):
        expected = _adjust_image_attribute(_hwc(rgb, b), attribute, factors[b, k].item())
        np.testing.assert_allclose(_hwc(out, b), expected, rtol=0, atol=1e-12)
    assert not torch.allclose(out, rgb)


def test_jitter_every_order_matches_release():
    rgb = _images(6, seed=1)
    perms = list(itertools.permutations(range(3)))
    order = torch.tensor(perms)
    factors = torch.from_numpy(np.random.default_rng(2).uniform(0.6, 1.4, (6, 3)))
    out = jitter_colors(rgb, order, factors)
    for b, perm in enumerate(perms):
        expected = _jitter_colors(_hwc(rgb, b), perm, factors[b].numpy())
        np.testing.assert_allclose(_hwc(out, b), expected, rtol=0, atol=1e-12)
    # The three blends commute (the grey weights sum to 1), so every order gives the same image up to
    # rounding: the release's shuffle changes nothing but the last bits.
    same = jitter_colors(rgb[:1].expand(6, -1, -1, -1), order, factors[:1].expand(6, -1))
    assert (same - same[:1]).abs().max() < 1e-14
    assert (same[0] - rgb[0]).abs().max() > 1e-2


def test_lighting_noise_matches_release():
    rgb = _images(3, seed=3)
    alpha = torch.tensor([[0.1, -0.2, 0.05], [-0.15, 0.0, 0.3], [0.0, 0.0, 0.0]], dtype=torch.float64)
    out = add_lighting_noise(rgb, alpha)
    for b in range(3):
        expected = _add_lighting_noise(_hwc(rgb, b), alpha[b].numpy())
        np.testing.assert_allclose(_hwc(out, b), expected, rtol=0, atol=1e-12)
    # One offset per image and channel: first image, channel 0 = sum_j V[0, j] alpha_j lambda_j.
    offset = -0.5675 * 0.1 * 0.2175 + 0.7192 * -0.2 * 0.0188 + 0.4009 * 0.05 * 0.0045
    np.testing.assert_allclose((out - rgb)[0, 0].numpy(), offset, rtol=0, atol=1e-15)


def test_augment_then_normalize_matches_release_order():
    rgb = _images(4, seed=4)
    draws = draw_augmentation(4, torch.Generator().manual_seed(7))
    out = normalize_images(augment_rgb(rgb, torch.Generator().manual_seed(7)))
    for b in range(4):
        expected = _preprocess_train(
            _hwc(rgb, b),
            draws["order"][b].numpy(),
            draws["factors"][b].double().numpy(),
            draws["alpha"][b].double().numpy(),
        )
        np.testing.assert_allclose(out[b].numpy(), expected, rtol=0, atol=1e-12)


def test_neutral_draws_are_identity():
    rgb = _images(3, seed=5)
    order = torch.tensor([[0, 1, 2], [2, 1, 0], [1, 2, 0]])
    out = add_lighting_noise(jitter_colors(rgb, order, torch.ones(3, 3)), torch.zeros(3, 3))
    assert torch.equal(out, rgb)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_dtype_and_no_clamping(dtype):
    rgb = torch.ones(5, 3, 8, 7, dtype=dtype)
    out = augment_rgb(rgb, torch.Generator().manual_seed(0))
    assert out.shape == (5, 3, 8, 7) and out.dtype == dtype
    # White images: brightness > 1 or positive lighting pushes values above 1, and they stay there.
    assert out.max() > 1.0
    with pytest.raises(ValueError):
        augment_rgb(torch.ones(2, 4, 8, 8))


def test_images_in_a_batch_get_independent_draws():
    rgb = _images(1, seed=6).expand(8, -1, -1, -1)
    out = augment_rgb(rgb, torch.Generator().manual_seed(1))
    flat = out.reshape(8, -1)
    gaps = (flat[:, None] - flat[None]).abs().amax(dim=2)
    assert (gaps + torch.eye(8, dtype=gaps.dtype)).min() > 1e-4


def test_draw_distributions():
    draws = draw_augmentation(6000, torch.Generator().manual_seed(2))
    order, factors, alpha = draws["order"], draws["factors"], draws["alpha"]
    assert torch.equal(order.sort(dim=1).values, torch.arange(3).expand(6000, 3))
    counts = torch.unique(order, dim=0, return_counts=True)[1]
    assert len(counts) == 6 and counts.min() > 850 and counts.max() < 1150  # 1000 each
    assert factors.min() >= 1 - JITTER and factors.max() < 1 + JITTER
    assert factors.min() < 1 - 0.99 * JITTER and factors.max() > 1 + 0.99 * JITTER
    assert abs(factors.mean().item() - 1) < 0.01
    assert abs(alpha.std().item() - LIGHTING_STD) < 0.005 and abs(alpha.mean().item()) < 0.005


def test_reproducible_under_global_seed():
    rgb = _images(3, seed=8).float()
    torch.manual_seed(11)
    first = augment_rgb(rgb)
    torch.manual_seed(11)
    again = augment_rgb(rgb)
    torch.manual_seed(12)
    other = augment_rgb(rgb)
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)
    # A passed generator leaves the global one untouched.
    torch.manual_seed(11)
    augment_rgb(rgb, torch.Generator().manual_seed(0))
    assert torch.equal(augment_rgb(rgb), first)
