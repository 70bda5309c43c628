"""DISN against the released code (Xharlie/DISN at 461130dca7005a494e0d9e971fd47fe5fbf19123).

The layer lists below are the released TensorFlow variables, written from the files and lines cited
(``models/CNN/vgg.py`` is the repository's copy of TF-slim's ``vgg_16``, which
``models/model_normalization.py:5`` and ``cam_est/model_cam.py:5`` import from TensorFlow itself).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recon.models.disn import CameraNet, DISNNet, camera_loss
from recon.models.disn.config import DISNCameraConfig
from recon.models.disn.grid import disn_box, prediction_grids
from recon.models.disn.images import encoder_input
from recon.models.encoders import IMAGENET_MEAN, IMAGENET_STD
from recon.models.geometry import (
    matrix_to_rotation_6d,
    resize_bilinear,
    rotation_6d_to_matrix,
    sample_feature_maps,
    sample_resized_feature_maps,
)
from recon.models.method import PredictContext, get_method, method_config
from recon.train import resolve_experiment
from tests.meshes import REPO

EXPERIMENTS = REPO / "config" / "experiments"


def _conv(k: int, c_in: int, c_out: int) -> list[tuple[int, ...]]:
    """A TF convolution's variables: kernel (k, k, in, out) and bias (out,)."""
    return [(k, k, c_in, c_out), (c_out,)]


def _bn(c: int) -> list[tuple[int, ...]]:
    """``tf.contrib.layers.batch_norm(center=True, scale=True)``'s trainable beta and gamma."""
    return [(c,), (c,)]


#: TF-slim vgg_16(num_classes=1024): the 13 convolutions, fc6, fc7 and fc8 as convolutions.
VGG16_FC8_1024 = [
    *_conv(3, 3, 64), *_conv(3, 64, 64),  # conv1: models/CNN/vgg.py:187
    *_conv(3, 64, 128), *_conv(3, 128, 128),  # conv2: models/CNN/vgg.py:189
    *_conv(3, 128, 256), *_conv(3, 256, 256), *_conv(3, 256, 256),  # conv3: models/CNN/vgg.py:191
    *_conv(3, 256, 512), *_conv(3, 512, 512), *_conv(3, 512, 512),  # conv4: models/CNN/vgg.py:193
    *_conv(3, 512, 512), *_conv(3, 512, 512), *_conv(3, 512, 512),  # conv5: models/CNN/vgg.py:195
    *_conv(7, 512, 4096),  # fc6, 7x7 VALID on pool5: models/CNN/vgg.py:199
    *_conv(1, 4096, 4096),  # fc7: models/CNN/vgg.py:202
    *_conv(1, 4096, 1024),  # fc8, num_classes = 1024: models/CNN/vgg.py:211, train/train_sdf.py:39
]  # fmt: skip

#: DISN's two streams (--img_feat_twostream): models/model_normalization.py:103-137 (binary) and
#: :169-204 (regression, the one trained); tf_util.conv2d 1x1 layers with biases (utils/tf_util.py:161-174).
DISN_STREAMS = [
    # sdfprediction, get_sdf_basic2 on [point feature, fc8]
    *_conv(1, 3, 64),  # fold1/conv1: models/sdfnet.py:71
    *_conv(1, 64, 256),  # fold1/conv2: models/sdfnet.py:73
    *_conv(1, 256, 512),  # fold1/conv3: models/sdfnet.py:75
    *_conv(1, 512 + 1024, 512),  # fold2/conv1: models/sdfnet.py:84
    *_conv(1, 512, 256),  # fold2/conv2: models/sdfnet.py:86
    *_conv(1, 256, 1),  # fold2/conv5: models/sdfnet.py:88
    # sdfprediction_imgfeat, get_sdf_basic2_imgfeat_twostream on [point feature, 1472 local features]
    *_conv(1, 3, 64),  # fold1/conv1: models/sdfnet.py:173
    *_conv(1, 64, 256),  # fold1/conv2: models/sdfnet.py:175
    *_conv(1, 256, 512),  # fold1/conv3: models/sdfnet.py:177
    *_conv(1, 512 + 1472, 512),  # fold2/conv1: models/sdfnet.py:182 (1472: models/model_normalization.py:41)
    *_conv(1, 512, 256),  # fold2/conv2: models/sdfnet.py:184
    *_conv(1, 256, 1),  # fold2/conv5: models/sdfnet.py:186
]

#: The camera network's heads: models/posenet.py:176-201 (get_cam_mat), bn=True from
#: cam_est/train_sdf_cam.py:256; tf_util.fully_connected weights and biases (utils/tf_util.py:349-357),
#: batch norm on all but the last layers (utils/tf_util.py:359-360, 528-532).
CAMERA_HEADS = [
    (1024, 64), (64,), *_bn(64),  # distratio/fc1: models/posenet.py:179
    (64, 32), (32,), *_bn(32),  # distratio/fc2: models/posenet.py:180
    (32, 1), (1,),  # distratio/fc3, bn=False: models/posenet.py:181
    (1024, 512), (512,), *_bn(512),  # ortho6d/fc1: models/posenet.py:186
    (512, 256), (256,), *_bn(256),  # ortho6d/fc2: models/posenet.py:187
    (256, 6), (6,),  # ortho6d/fc3, bn=False: models/posenet.py:188
]  # fmt: skip


def _count(shapes: list[tuple[int, ...]]) -> int:
    return sum(math.prod(s) for s in shapes)


def _build_meta(path):
    """The network of an experiment file, on the meta device (shapes only, no memory)."""
    method, config, _ = resolve_experiment(path)
    with torch.device("meta"):
        return method.build(config)


def test_disn_shapenet_has_the_released_parameter_count():
    net = _build_meta(EXPERIMENTS / "disn_shapenet.yaml")
    released = _count(VGG16_FC8_1024) + _count(DISN_STREAMS)
    assert sum(p.numel() for p in net.parameters()) == released


def test_disn_camera_shapenet_has_the_released_parameter_count():
    net = _build_meta(EXPERIMENTS / "disn_camera_shapenet.yaml")
    released = _count(VGG16_FC8_1024) + _count(CAMERA_HEADS)  # vgg_16(num_classes=1024): model_cam.py:143
    assert sum(p.numel() for p in net.parameters()) == released


def test_shapenet_schedules_are_the_released_ones():
    """x 0.9 every 200,000 samples, floored at 1e-6: train/train_sdf.py:153-161 (DISN),
    cam_est/train_sdf_cam.py:171-179 (camera)."""
    for name, lr, beta1 in (("disn_shapenet", 1e-4, 0.5), ("disn_camera_shapenet", 2e-5, 0.9)):
        _, _, train = resolve_experiment(EXPERIMENTS / f"{name}.yaml")
        assert (train.schedule, train.step_gamma, train.min_lr) == ("step", 0.9, 1e-6)
        assert train.step_size * train.batch_size == 200_000
        assert (train.lr, train.betas[0], train.weight_decay_on) == (lr, beta1, "weights")


def _sdf_config(**overrides):
    return method_config("disn", {**get_method("disn").small_config, **overrides})


def _batch(b: int = 2, size: int = 64, seed: int = 0) -> dict:
    """Random views of a camera 2.5 units in front of the origin, looking at it."""
    g = torch.Generator().manual_seed(seed)
    K = torch.tensor([[70.0, 0, size / 2 - 0.5], [0, 70.0, size / 2 - 0.5], [0, 0, 1]])
    Rt = torch.cat([torch.eye(3), torch.tensor([[0.0], [0.0], [2.5]])], 1)
    return {
        "image": torch.randint(0, 256, (b, size, size, 4), generator=g, dtype=torch.uint8),
        "K": K.expand(b, 3, 3).clone(),
        "Rt": Rt.expand(b, 3, 4).clone(),
        "sdf_points": torch.rand(b, 50, 3, generator=g) * 2 - 1,
        "sdf": torch.rand(b, 50, generator=g) * 0.2 - 0.1,
    }


def test_each_stream_has_its_own_point_mlp_and_the_prediction_is_their_sum():
    torch.manual_seed(0)
    config = _sdf_config()
    net = DISNNet(config).eval()
    assert net.global_point_mlp[0].weight.data_ptr() != net.local_point_mlp[0].weight.data_ptr()
    b = _batch()
    images = encoder_input(b["image"], config.image_size)
    points, n = b["sdf_points"], b["sdf_points"].shape[1]

    def global_stream():
        glob = net.image_features(images)[0]
        return net.global_decoder(
            torch.cat([net.global_point_mlp(points), glob[:, None].expand(-1, n, -1)], -1)
        )

    with torch.no_grad():
        full, g = net(images, points, b["K"], b["Rt"], (64, 64)), global_stream()[..., 0]
        net.global_point_mlp[0].weight.zero_()
        full2, g2 = net(images, points, b["K"], b["Rt"], (64, 64)), global_stream()[..., 0]
        glob = net.image_features(images)[0]
    assert not torch.allclose(g, g2)
    torch.testing.assert_close(full - g, full2 - g2)  # the local stream has its own point MLP
    assert bool((glob < 0).any())  # fc8 is linear (no ReLU)


def test_released_sampling_is_tf1_resize_then_clipped_resampler():
    """sample_resized_feature_maps(half_pixel=False) against a literal NumPy port of the released steps:
    tf.image.resize_bilinear (TF 1.x, legacy scaler) of each map to the view, pixels clipped to
    [0, 136] (models/model_normalization.py:249-251) and tf.contrib.resampler at them."""
    g = torch.Generator().manual_seed(0)
    maps = [torch.randn(1, 2, 224 // s, 224 // s, generator=g, dtype=torch.float64) for s in (1, 4, 16)]
    uv = torch.rand(1, 30, 2, generator=g, dtype=torch.float64) * 160 - 10
    ours = sample_resized_feature_maps(maps, uv, 137, 137, half_pixel=False)[0].numpy()

    def lerp_1d(n_in, n_out):  # TF's LegacyScaler: in = out * n_in / n_out, upper index clamped
        src = np.arange(n_out) * (n_in / n_out)
        lo = np.floor(src).astype(int)
        return lo, np.minimum(lo + 1, n_in - 1), src - lo

    expected = []
    for m in maps:
        a = m[0].numpy()
        yl, yh, fy = lerp_1d(a.shape[1], 137)
        xl, xh, fx = lerp_1d(a.shape[2], 137)
        top = a[:, yl][:, :, xl] * (1 - fx) + a[:, yl][:, :, xh] * fx
        bottom = a[:, yh][:, :, xl] * (1 - fx) + a[:, yh][:, :, xh] * fx
        resized = top * (1 - fy[:, None]) + bottom * fy[:, None]  # (C, 137, 137)
        feats = []
        for x, y in np.clip(uv[0].numpy(), 0, 136):
            x0, y0 = int(np.floor(x)), int(np.floor(y))
            x1, y1 = min(x0 + 1, 136), min(y0 + 1, 136)
            wx, wy = x - x0, y - y0
            feats.append(
                resized[:, y0, x0] * (1 - wx) * (1 - wy)
                + resized[:, y0, x1] * wx * (1 - wy)
                + resized[:, y1, x0] * (1 - wx) * wy
                + resized[:, y1, x1] * wx * wy
            )
        expected.append(np.stack(feats))
    np.testing.assert_allclose(ours, np.concatenate(expected, 1), atol=1e-12)


@pytest.mark.parametrize("stride", [2, 8, 16])
def test_tf1_resize_shifts_deep_maps_and_the_aligned_sampling_does_not(stride):
    """Maps whose pixels hold the encoder's image column they cover, read at view pixels u: with
    half-pixel resizes (aligned) the column u shows; with TF 1.x's (released) that column plus
    (stride - 1) / 2, for the image itself was resized the same way (column u * 224 / 137)."""
    size, view = 224, 137
    columns = torch.arange(size, dtype=torch.float64).expand(1, 1, size, size)
    m = F.avg_pool2d(columns, stride)  # pixel j covers columns stride j .. stride j + stride - 1
    u = torch.linspace(20, 110, 7, dtype=torch.float64)
    uv = torch.stack([u, torch.full_like(u, 60)], -1)[None]
    aligned = sample_resized_feature_maps([m], uv, view, view, half_pixel=True)[0, :, 0]
    released = sample_resized_feature_maps([m], uv, view, view, half_pixel=False)[0, :, 0]
    torch.testing.assert_close(aligned, (u + 0.5) * size / view - 0.5)  # half-pixel: column of u
    torch.testing.assert_close(released - u * size / view, torch.full_like(u, (stride - 1) / 2))


def test_points_outside_the_view_read_the_border_when_clipped_and_zeros_natively():
    g = torch.Generator().manual_seed(1)
    maps = [torch.rand(1, 3, 16, 16, generator=g) + 1, torch.rand(1, 4, 8, 8, generator=g) + 1]
    uv = torch.tensor([[[-12.0, 5.0], [0.0, 5.0], [40.0, 70.0], [15.0, 15.0]]])
    clipped = sample_resized_feature_maps(maps, uv, 16, 16)
    torch.testing.assert_close(clipped[0, 0], clipped[0, 1])
    torch.testing.assert_close(clipped[0, 2], clipped[0, 3])
    native = sample_feature_maps(maps, uv, 16, 16)
    assert bool((native[0, 0] == 0).all()) and bool((native[0, 2] == 0).all())


def test_resize_bilinear_half_pixel_is_torch_and_tf1_differs():
    x = torch.rand(2, 3, 137, 137, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    torch.testing.assert_close(
        resize_bilinear(x, (224, 224)), F.interpolate(x, (224, 224), mode="bilinear", align_corners=False)
    )
    legacy = resize_bilinear(x, (224, 224), half_pixel=False)
    torch.testing.assert_close(legacy[..., 0, 0], x[..., 0, 0])  # output (0, 0) reads input (0, 0)
    x_at = 5 * 137 / 224  # output column 5 reads input column 3.058
    lo = math.floor(x_at)
    torch.testing.assert_close(
        legacy[..., 0, 5], x[..., 0, lo] * (lo + 1 - x_at) + x[..., 0, lo + 1] * (x_at - lo)
    )


def test_encoder_input_colours():
    rgba = torch.zeros(1, 4, 4, 4, dtype=torch.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 255  # opaque red
    rgba[0, 0, 0, 3] = 0  # one transparent pixel
    released = encoder_input(rgba, None, "released", background=0.0)
    assert released.shape == (1, 3, 4, 4)
    assert released[0, :, 1, 1].tolist() == [0.0, 0.0, 1.0]  # BGR in [0, 1]
    assert released[0, :, 0, 0].tolist() == [0.0, 0.0, 0.0]  # over black, the release's default
    imagenet = encoder_input(rgba, None)
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(imagenet[0, :, 1, 1], (torch.tensor([1.0, 0, 0]) - mean) / std)
    torch.testing.assert_close(imagenet[0, :, 0, 0], (1 - mean) / std)  # white background
    assert encoder_input(rgba, 224).shape == (1, 3, 224, 224)


def test_camera_loss_is_half_the_sum_of_squares():
    Rt = _batch(3)["Rt"]
    moved = Rt.clone()
    moved[:, 2, 3] += 0.1
    points = torch.rand(3, 40, 3)
    torch.testing.assert_close(camera_loss(moved, Rt, points), torch.tensor(0.5 * 3 * 40 * 0.01))


def test_camera_network_translation_is_a_distance_along_the_optical_axis():
    torch.manual_seed(0)
    small = get_method("disn_camera").small_config
    config = method_config("disn_camera", small)
    net = CameraNet(config).train()
    assert isinstance(net.rotation[1], torch.nn.BatchNorm1d) and net.rotation[1].eps == 1e-3
    Rt = net(encoder_input(_batch(4)["image"], 64))
    R, t = Rt[:, :, :3], Rt[:, :, 3]
    torch.testing.assert_close(R @ R.transpose(1, 2), torch.eye(3).expand(4, 3, 3), atol=1e-5, rtol=0)
    assert bool((t[:, :2] == 0).all()) and bool(((t[:, 2] > 1.0) & (t[:, 2] < 7.0)).all())
    relu = CameraNet(method_config("disn_camera", {**small, "distance_relu": True}))
    with torch.no_grad():
        relu.distance[-1].bias.fill_(-100.0)
    assert relu.eval()(encoder_input(_batch(2)["image"], 64))[:, 2, 3].tolist() == [4.0, 4.0]  # sigmoid(0)
    free = CameraNet(method_config("disn_camera", {**small, "translation": "free"})).eval()
    assert bool((free(encoder_input(_batch(2)["image"], 64))[:, :2, 3] != 0).all())


class _FixedCamera(CameraNet):
    """A camera network that returns given cameras (to check which camera the SDF network reads)."""

    def __init__(self, Rt):
        config = DISNCameraConfig(encoder="resnet18", image_size=None, global_dim=8, rotation_dims=(8,))
        super().__init__(config)
        self.Rt = Rt

    def forward(self, images):
        return self.Rt[: len(images)]


def test_estimated_camera_predicts_with_the_upstream_camera_network():
    torch.manual_seed(0)
    method = get_method("disn")
    config = _sdf_config(camera="estimated", camera_experiment="cams", grid_resolution=9)
    assert method.upstream(config) == {"camera": "cams"}
    true = _sdf_config(camera="true", camera_experiment="cams", grid_resolution=9)
    assert method.predict_variants(true) == {"estimated_camera": {"camera": "estimated"}}
    assert method.upstream(_sdf_config()) == {} and method.predict_variants(_sdf_config()) == {}
    net = method.build(config).eval()
    batch = _batch()
    moved = batch["Rt"].clone()
    moved[:, 0, 3] += 0.4
    sdf = {
        name: method.predict_sdf(net, batch, c, PredictContext(upstream={"camera": _FixedCamera(Rt)}))
        for name, c, Rt in (("true", true, moved), ("right", config, batch["Rt"]), ("moved", config, moved))
    }
    assert sdf["true"].shape == (2, 9, 9, 9)
    torch.testing.assert_close(sdf["right"], sdf["true"])  # the upstream camera is not read with camera: true
    assert not torch.allclose(sdf["moved"], sdf["true"])


def test_grid_boxes_fixed_and_ground_truth():
    box = disn_box(np.array([-1.0, -0.5, 0.0]), np.array([1.0, 0.5, 0.4]))
    np.testing.assert_allclose(
        box, [[-1.2, -1.2, -1.0], [1.2, 1.2, 1.4]]
    )  # cube of 2, x 1.2, about (0, 0, .2)
    batch = {"image": torch.zeros(2, 8, 8, 4), "grid_box": torch.from_numpy(np.stack([box, box / 2]))}
    fixed = prediction_grids(batch, _sdf_config(grid_resolution=5))
    assert [(g.resolution, g.lo, g.hi) for g in fixed] == [(5, -1.1, 1.1)] * 2
    own = prediction_grids(batch, _sdf_config(grid_resolution=5, grid_box="ground_truth"))
    np.testing.assert_allclose(own[1].origin, box[0] / 2)
    np.testing.assert_allclose(own[1].corner, box[1] / 2)
    with pytest.raises(ValueError, match="grid_box"):
        prediction_grids({"image": batch["image"]}, _sdf_config(grid_box="ground_truth"))


def test_rotation_6d_round_trip_is_the_released_gram_schmidt():
    """models/posenet.py:40-54: x = normalize(a1), z = normalize(cross(x, a2)), y = cross(z, x): R's rows."""
    a = torch.randn(5, 6, generator=torch.Generator().manual_seed(3))
    x = F.normalize(a[:, :3], dim=1)
    z = F.normalize(torch.cross(x, a[:, 3:], dim=1), dim=1)
    y = torch.cross(z, x, dim=1)
    R = rotation_6d_to_matrix(a)
    torch.testing.assert_close(R, torch.stack([x, y, z], 1))
    torch.testing.assert_close(matrix_to_rotation_6d(R), torch.cat([x, y], 1))
