"""Shared layers: point MLPs, conditional batch norm, 3D up-convolutions; the families' parameter names."""

from __future__ import annotations

import torch
from torch import nn

from recon.models.layers import ConditionalBatchNorm1d, mlp, upsample_conv3d


def test_mlp_puts_a_relu_after_every_layer_but_the_last_unless_asked():
    net = mlp([3, 8, 5], last_activation=False)
    assert [type(m) for m in net] == [nn.Linear, nn.ReLU, nn.Linear]
    assert net(torch.zeros(2, 7, 3)).shape == (2, 7, 5)
    assert [type(m) for m in mlp([3, 8], last_activation=True)] == [nn.Linear, nn.ReLU]


def test_conditional_batch_norm_starts_as_batch_norm_and_follows_the_code():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm1d(c_dim=4, f_dim=6)
    x, c = torch.randn(5, 6, 10), torch.randn(5, 4)
    plain = nn.BatchNorm1d(6, affine=False)
    assert torch.allclose(cbn(x, c), plain(x), atol=1e-6)
    assert torch.allclose(cbn(x, c), cbn(x, c[:, :, None].expand(-1, -1, 10)), atol=1e-6)
    with torch.no_grad():
        cbn.conv_beta.weight.fill_(1.0)
    shifted = cbn(x, c) - plain(x)  # beta(c) = sum of the code, for every channel and point
    assert torch.allclose(shifted, c.sum(1)[:, None, None].expand(-1, 6, 10), atol=1e-5)


def test_upsample_conv3d_doubles_the_grid():
    stage = nn.Sequential(*upsample_conv3d(8, 4))
    assert [type(m) for m in stage] == [nn.Upsample, nn.Conv3d, nn.LeakyReLU]
    assert stage(torch.zeros(2, 8, 4, 4, 4)).shape == (2, 4, 8, 8, 8)


def test_family_networks_keep_their_parameter_names():
    """Checkpoints written before the families became packages load into the networks."""
    from recon.models.disn import DISNNet
    from recon.models.method import method_config
    from recon.models.r2n2 import R2N2Net

    disn = DISNNet(method_config("disn", {"encoder": "resnet18", "camera_loss_weight": 1.0}))
    keys = [k for k in disn.state_dict() if not k.startswith(("encoder.", "camera_net.encoder."))]
    assert keys == [
        *(f"global_embed.0.{p}" for p in ("weight", "bias")),
        *(f"point_mlp.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")),
        *(f"global_decoder.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")),
        *(f"local_decoder.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")),
        *(f"camera_net.head.{i}.{p}" for i in (0, 2, 4) for p in ("weight", "bias")),
    ]
    r2n2 = R2N2Net(method_config("r2n2", {"encoder": "resnet18"}))
    keys = [k for k in r2n2.state_dict() if k.startswith("decoder.")]
    assert keys == [f"decoder.{i}.{p}" for i in (1, 4, 7, 9) for p in ("weight", "bias")]
