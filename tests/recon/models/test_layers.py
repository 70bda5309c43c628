"""Shared layers: point MLPs, conditional batch norm; the families' parameter names."""

from __future__ import annotations

import torch
from torch import nn

from recon.models.layers import ConditionalBatchNorm1d, mlp


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


def test_family_networks_keep_their_parameter_names():
    """The parameter names checkpoints hold: the released layers' names where the release names them."""
    from recon.models.disn import DISNNet
    from recon.models.method import method_config
    from recon.models.r2n2 import R2N2Net

    disn = DISNNet(method_config("disn", {"encoder": "resnet18", "camera": "joint"}))
    keys = [k for k in disn.state_dict() if not k.startswith(("encoder.", "camera_net.encoder."))]
    linear = ("weight", "bias")
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    assert keys == [
        *(f"fc8.{p}" for p in linear),
        *(f"{s}.{i}.{p}" for s in ("global_point_mlp", "global_decoder") for i in (0, 2, 4) for p in linear),
        *(f"{s}.{i}.{p}" for s in ("local_point_mlp", "local_decoder") for i in (0, 2, 4) for p in linear),
        *(f"camera_net.fc8.{p}" for p in linear),
        *(f"camera_net.{h}.{i}.{p}" for h in ("rotation", "distance") for i, ps in
          ((0, linear), (1, bn), (3, linear), (4, bn), (6, linear)) for p in ps),
    ]  # fmt: skip
    r2n2 = R2N2Net(method_config("r2n2", {"encoder": "resnet18"}))
    keys = [k for k in r2n2.state_dict() if k.startswith("decoder.")]
    convs = ("7a", "7b", "8a", "8b", "9a", "9b", "9c", "10a", "10b", "10c", "11")
    assert keys == [f"decoder.conv{c}.{p}" for c in convs for p in ("weight", "bias")]  # the release's names
