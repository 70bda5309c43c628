"""GenRe's networks and losses against the released code (xiumingzhang/GenRe-ShapeHD at
ee42add2707de509b5914ab444ae91b832f75981).

The parameter counts below are written from the released layer lists, at the files and lines cited; the
encoder is torchvision's ``resnet18`` (``networks/revresnet.py:6``, ``networks/uresnet.py:16``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import binary_erosion

from recon.models.encoders import load_pretrained, resnet18
from recon.models.genre.loss import MINMAX_WEIGHT, estimator_loss, inpaint_loss, surface_shell, voxel_loss
from recon.models.genre.networks import (
    SCALE_25D,
    Estimator,
    Inpainter,
    Refiner,
    absolute_depth,
    from_released_state_dict,
    relative_depth,
)


def _conv(c_in: int, c_out: int, k: int, bias: bool, dims: int = 2) -> int:
    """A (transposed) convolution's parameters: weight c_in x c_out x k^dims, bias c_out."""
    return c_in * c_out * k**dims + (c_out if bias else 0)


def _bn(c: int) -> int:
    """A batch norm's weight and bias."""
    return 2 * c


def _linear(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def _block(c_in: int, c: int, shortcut: bool) -> int:
    """torchvision's BasicBlock: two bias-free 3x3 convs with BN, 1x1 conv + BN shortcut when projecting;
    the release's RevBasicBlock has the same layers transposed (``networks/revresnet.py:21-35``)."""
    return (
        _conv(c_in, c, 3, False)
        + _bn(c)
        + _conv(c, c, 3, False)
        + _bn(c)
        + (_conv(c_in, c, 1, False) + _bn(c) if shortcut else 0)
    )


def _resnet18_encoder(input_planes: int) -> int:
    """conv1 (7x7, no bias), bn1, layer1..4 (``networks/uresnet.py:14-31``; in_conv for 1 input plane)."""
    return (
        _conv(input_planes, 64, 7, False) + _bn(64)
        + _block(64, 64, False) + _block(64, 64, False)
        + _block(64, 128, True) + _block(128, 128, False)
        + _block(128, 256, True) + _block(256, 256, False)
        + _block(256, 512, True) + _block(512, 512, False)
    )  # fmt: skip


def _revuresnet18_decoder(out_planes: int, last_kernel: int = 7) -> int:
    """revuresnet18 as the U-Net uses it: planes [256, 128, 64, 64], inplanes [512, 512, 256, 128, 128]
    (``networks/revresnet.py:189-200``); layers made by ``_make_layer`` (``:146-165``); deconv1 3x3 with
    bias and bn1 (``:116-123,133``); deconv2 7x7 without bias (``:124-132``) or the inpainter's 8x8
    (``networks/uresnet.py:104``)."""
    return (
        _block(512, 256, True) + _block(256, 256, False)  # layer1, stride 2
        + _block(512, 128, True) + _block(128, 128, False)  # layer2, stride 2
        + _block(256, 64, True) + _block(64, 64, False)  # layer3, stride 2
        + _block(128, 64, True) + _block(64, 64, False)  # layer4, stride 1, 128 != 64 channels
        + _conv(128, 64, 3, True) + _bn(64)
        + _conv(64, out_planes, last_kernel, False)
    )  # fmt: skip


#: models/marrnet1.py:142-153: Conv2d(512, 512, 2, stride=2), Conv2d(512, 512, 4), Linear 512 -> 256, BN,
#: Linear 256 -> 128, BN, Linear 128 -> 2.
MINMAX_HEAD = (
    _conv(512, 512, 2, True) + _conv(512, 512, 4, True)
    + _linear(512, 256) + _bn(256) + _linear(256, 128) + _bn(128) + _linear(128, 2)
)  # fmt: skip

#: models/marrnet1.py:26-30 with the head: normal (3), depth (1), silhou (1) decoders.
ESTIMATOR = _resnet18_encoder(3) + _revuresnet18_decoder(3) + 2 * _revuresnet18_decoder(1) + MINMAX_HEAD

#: models/depth_pred_with_sph_inpaint.py:102: Net_inpaint([1], ['spherical'], input_planes=1).
INPAINTER = _resnet18_encoder(1) + _revuresnet18_decoder(1, last_kernel=8)

#: networks/networks.py:147-167 with nf = 20, in_channel = 2: Conv3d_block = Conv3d with bias + BN
#: (:193-199), Deconv3d_skip = ConvTranspose3d with bias + BN, dec6 without BN (:206-218).
NF = 20
REFINER = (
    _conv(2, NF, 8, True, 3) + _bn(NF)  # enc1
    + _conv(NF, 2 * NF, 4, True, 3) + _bn(2 * NF)  # enc2
    + _conv(2 * NF, 4 * NF, 4, True, 3) + _bn(4 * NF)  # enc3
    + _conv(4 * NF, 8 * NF, 4, True, 3) + _bn(8 * NF)  # enc4
    + _conv(8 * NF, 16 * NF, 4, True, 3) + _bn(16 * NF)  # enc5
    + _conv(16 * NF, 32 * NF, 4, True, 3) + _bn(32 * NF)  # enc6
    + _linear(32 * NF, 32 * NF)  # full_conv_block
    + _conv(64 * NF, 16 * NF, 4, True, 3) + _bn(16 * NF)  # dec1
    + _conv(32 * NF, 8 * NF, 4, True, 3) + _bn(8 * NF)  # dec2
    + _conv(16 * NF, 4 * NF, 4, True, 3) + _bn(4 * NF)  # dec3
    + _conv(8 * NF, 2 * NF, 4, True, 3) + _bn(2 * NF)  # dec4
    + _conv(4 * NF, NF, 8, True, 3) + _bn(NF)  # dec5
    + _conv(2 * NF, 1, 4, True, 3)  # dec6
)  # fmt: skip


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_match_the_release():
    assert _resnet18_encoder(3) == 11_176_512  # torchvision's 11,689,512 less fc (512 x 1000 + 1000)
    assert _count(Estimator()) == ESTIMATOR
    assert _count(Inpainter()) == INPAINTER
    assert _count(Refiner()) == REFINER


def test_refiner_names_are_the_release_s():
    """Unet_3D's state dict keys (networks/networks.py:151-167,193-218), so its checkpoints' refine_net.*
    entries load."""
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    keys = [f"enc{i}.net.{p}" for i in range(1, 7) for p in ("0.weight", "0.bias", *(f"1.{b}" for b in bn))]
    keys += ["full_conv_block.0.weight", "full_conv_block.0.bias"]
    keys += [f"dec{i}.net.{p}" for i in range(1, 6) for p in ("0.weight", "0.bias", *(f"1.{b}" for b in bn))]
    keys += ["dec6.net.weight", "dec6.net.bias"]
    assert list(Refiner().state_dict()) == keys


def test_estimator_encoder_loads_torchvision_weights(tmp_path):
    state = resnet18().state_dict()
    state |= {"fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)}
    torch.save(state, tmp_path / "resnet18.pth")
    net = Estimator()
    assert load_pretrained(net.encoder, tmp_path / "resnet18.pth") == ["fc.bias", "fc.weight"]
    assert torch.equal(net.encoder.layer4[1].conv2.weight, state["layer4.1.conv2.weight"])


def test_forward_shapes_at_small_sizes():
    torch.manual_seed(0)
    out = Estimator(width=8, input_size=64)(torch.randn(2, 3, 64, 64))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "normal": (2, 3, 64, 64),
        "depth": (2, 1, 64, 64),
        "silhou": (2, 1, 64, 64),
        "depth_minmax": (2, 2),
    }
    assert Inpainter(width=8)(torch.randn(2, 1, 160, 160))["spherical"].shape == (2, 1, 160, 160)
    for res, bottleneck in ((32, 4 * 8), (64, 4 * 16)):  # nf * 2^(log2(res) - 2)
        net = Refiner(nf=4, resolution=res)
        assert net.full_conv_block[0].in_features == bottleneck
        assert net(torch.randn(2, 2, res, res, res)).shape == (2, 1, res, res, res)
    with pytest.raises(ValueError, match="power of two"):
        Refiner(resolution=48)


def test_release_init():
    net = Refiner(nf=4, resolution=32)
    conv = net.enc1.net[0]  # Conv3d(2, 4, 8): fan-in 2 * 8^3 = 1024, He std sqrt(2 / 1024)
    assert torch.all(conv.bias == 0)
    assert conv.weight.std().item() == pytest.approx((2 / 1024) ** 0.5, rel=0.1)
    bn = Estimator(width=8, input_size=64).decoder_minmax[4]  # weight N(1, 0.02), bias 0
    assert torch.all(bn.bias == 0)
    assert bn.weight.std().item() == pytest.approx(0.02, rel=0.5)
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=0.02)


def test_relative_and_absolute_depth():
    depth = torch.tensor([[[2.0, 2.5], [3.0, 9.0]], [[1.0, 1.0], [1.0, 1.0]]])
    mask = torch.tensor([[[True, True], [True, False]], [[False, False], [False, False]]])
    rel, minmax = relative_depth(depth, mask)
    assert torch.allclose(rel[0], torch.tensor([[1.0, 0.5], [0.0, 0.0]]))  # near 1, far and background 0
    assert torch.equal(rel[1], torch.zeros(2, 2))
    assert torch.equal(minmax, torch.tensor([[2.0, 3.0], [0.0, 0.0]]))
    back = absolute_depth(rel.unsqueeze(1), minmax)  # (1 - d) (max - min + 1e-4) + min
    assert back.shape == (2, 1, 2, 2)
    assert torch.allclose(back[0, 0], torch.tensor([[2.0, 2.50005], [3.0001, 3.0001]]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_surface_shell_is_scipy_s(seed):
    rng = np.random.default_rng(seed)
    vox = rng.random((2, 12, 13, 14)) < 0.85
    vox = vox.astype(float)  # the release erodes float voxels (datasets/shapenet.py:181-182)
    expected = [np.clip(v - binary_erosion(v, np.ones((3, 3, 3)), iterations=2), 0, 1) for v in vox]
    shell = surface_shell(torch.from_numpy(vox))
    assert shell.dtype == torch.float32
    np.testing.assert_array_equal(shell.numpy(), np.stack(expected).astype(np.float32))


def test_surface_shell_of_a_cube():
    vox = torch.zeros(10, 10, 10, dtype=torch.bool)
    vox[1:9, 1:9, 1:9] = True  # 8^3 solid; erosion by 2 keeps the inner 4^3
    shell = surface_shell(vox)
    assert shell.sum().item() == 8**3 - 4**3
    assert shell[3:7, 3:7, 3:7].sum().item() == 0


def _targets(b=2, h=8, w=8):
    g = torch.Generator().manual_seed(0)
    mask = torch.rand(b, h, w, generator=g) > 0.4
    normal = torch.rand(b, 3, h, w, generator=g)
    depth = torch.rand(b, h, w, generator=g) * mask
    minmax = torch.rand(b, 2, generator=g) + torch.tensor([1.5, 2.5])
    return normal, depth, mask, minmax


def test_estimator_loss_values():
    normal, depth, mask, minmax = _targets()
    perfect = {
        "normal": normal * SCALE_25D,
        "depth": depth.unsqueeze(1) * SCALE_25D,
        "silhou": mask.unsqueeze(1).float() * SCALE_25D,
        "depth_minmax": minmax.clone(),
    }
    loss, parts = estimator_loss(perfect, normal, depth, mask, minmax)
    assert loss.item() == 0.0
    # background normals and depths do not count; a min/max error of 0.01 costs 32768 * 1e-4
    off = dict(perfect, normal=perfect["normal"] + 50.0 * ~mask.unsqueeze(1), depth_minmax=minmax + 0.01)
    loss, parts = estimator_loss(off, normal, depth, mask, minmax)
    assert parts["normal"].item() == 0.0
    assert parts["depth_minmax"].item() == pytest.approx(MINMAX_WEIGHT * 1e-4, rel=1e-4)
    # zero outputs: the MSEs of the scaled targets, normal and depth over the foreground only
    zero = {k: torch.zeros_like(v) for k, v in perfect.items()}
    loss, parts = estimator_loss(zero, normal, depth, mask, minmax)
    fg = mask.unsqueeze(1).expand(-1, 3, -1, -1)
    assert parts["normal"].item() == pytest.approx(((100 * normal[fg]) ** 2).mean().item(), rel=1e-5)
    assert parts["depth"].item() == pytest.approx(((100 * depth[mask]) ** 2).mean().item(), rel=1e-5)
    assert parts["silhou"].item() == pytest.approx(100**2 * mask.float().mean().item(), rel=1e-5)
    assert loss.item() == pytest.approx(sum(p.item() for p in parts.values()), rel=1e-6)


def test_estimator_loss_trains_the_estimator():
    torch.manual_seed(0)
    net = Estimator(width=4, input_size=64)
    normal, depth, mask, minmax = _targets(2, 64, 64)
    loss, _ = estimator_loss(net(torch.randn(2, 3, 64, 64)), normal, depth, mask, minmax)
    loss.backward()
    assert torch.isfinite(loss)
    for part in (net.encoder.conv1, net.decoder_depth[4][3], net.decoder_minmax[9]):
        assert part.weight.grad is not None and part.weight.grad.abs().sum() > 0


def test_inpaint_loss():
    torch.manual_seed(0)
    net = Inpainter(width=4)
    target = torch.rand(2, 1, 160, 160)
    assert inpaint_loss(target, target).item() == 0.0
    pred = net(torch.rand(2, 1, 160, 160))["spherical"]
    loss = inpaint_loss(pred, target)
    assert loss.item() == pytest.approx(((pred - target) ** 2).mean().item(), rel=1e-6)
    loss.backward()
    assert net.decoder_spherical[4][3].weight.grad.abs().sum() > 0


def test_voxel_loss_is_the_release_s():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 1, 6, 6, 6, generator=g, dtype=torch.float64) * 3
    shell = (torch.rand(2, 1, 6, 6, 6, generator=g) > 0.7).double()
    released = F.binary_cross_entropy_with_logits(logits, shell) + 10.0 * F.binary_cross_entropy(
        torch.sigmoid(logits) * shell, shell
    )  # models/genre_full_model.py:64-68, surface_weight 10
    loss, parts = voxel_loss(logits, shell)
    assert loss.item() == pytest.approx(released.item(), rel=1e-5)
    assert parts["surface"].item() == pytest.approx(
        10 * (shell * F.softplus(-logits)).mean().item(), rel=1e-5
    )
    confident, _ = voxel_loss((2 * shell - 1) * 40, shell.bool())
    assert confident.item() < 1e-15


def test_voxel_loss_trains_the_refiner():
    torch.manual_seed(0)
    net = Refiner(nf=4, resolution=32)
    vox = torch.zeros(2, 1, 32, 32, 32, dtype=torch.bool)
    vox[:, :, 8:24, 10:22, 6:26] = True
    loss, _ = voxel_loss(net(torch.rand(2, 2, 32, 32, 32)), surface_shell(vox))
    loss.backward()
    assert torch.isfinite(loss)
    assert net.enc1.net[0].weight.grad.abs().sum() > 0
    assert net.full_conv_block[0].weight.grad.abs().sum() > 0


def _released_key(key: str) -> str:
    """Our key -> the release's: the U-ResNet encoder is ModuleList([Sequential(conv1, bn1, relu, maxpool),
    layer1, layer2, layer3, layer4]) (networks/uresnet.py:15-31)."""
    for ours, theirs in (("conv1", "0.0"), ("bn1", "0.1"), *((f"layer{i}", str(i)) for i in range(1, 5))):
        if key.startswith(f"encoder.{ours}."):
            return f"encoder.{theirs}." + key.removeprefix(f"encoder.{ours}.")
    return key


def test_released_checkpoints_load():
    net = Inpainter(width=4)
    state = {_released_key(k): v.clone() for k, v in net.state_dict().items()}
    assert "encoder.0.0.weight" in state and "encoder.4.1.bn2.running_var" in state
    state["deconv2.weight"] = state["decoder_spherical.4.3.weight"]  # Net_inpaint's alias (uresnet.py:104)
    state = {"net2." + k: v for k, v in state.items()}
    fresh = Inpainter(width=4)
    renamed = {k.removeprefix("net2."): v for k, v in from_released_state_dict(state).items()}
    fresh.load_state_dict(renamed, strict=True)
    assert torch.equal(fresh.encoder.conv1.weight, net.encoder.conv1.weight)
    block = fresh.decoder_spherical[0][0]  # a RevBasicBlock's deconv2 keeps its name
    assert torch.equal(block.deconv2.weight, net.decoder_spherical[0][0].deconv2.weight)
