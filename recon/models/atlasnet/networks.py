"""AtlasNet's single-view network: a ResNet-18 image code, one point MLP per patch.

Layer for layer the release's (ThibaultGROUEIX/AtlasNet v2), with its decoder's parameter names:

- the encoder is ``resnet.resnet18(pretrained=False, num_classes=bottleneck_size)`` (``model/model.py:
  15-16``): ResNet-18, the global average pool of its last map (``model/resnet.py``: ``AvgPool2d(7)``
  on 224 px inputs) and a linear layer ``fc`` 512 -> 1024; here
  :class:`recon.models.encoders.CodeEncoder` (torchvision's ResNet-18 from
  :mod:`recon.models.encoders` as ``features``, then ``fc``);
- :class:`Mapping2Dto3D` (``model/model_blocks.py:63-105``): 1x1 convolutions ``conv1`` (template
  dim -> bottleneck), the code added as a bias, ``bn1`` and the activation; ``conv2`` (bottleneck ->
  hidden), ``bn2``, activation; ``layers`` x (``conv_list[i]`` hidden -> hidden, ``bn_list[i]``,
  activation); ``last_conv`` (hidden -> 3), linear (the 2018 code's ``tanh`` is an option);
- :class:`AtlasnetDecoder` (``model/atlasnet.py:9-60``): ``decoder`` = one :class:`Mapping2Dto3D` per
  patch, each deforming its template points under the same code, so the keys are the release's
  ``decoder.decoder.<k>.conv1.weight`` ...
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from recon.models.encoders import CodeEncoder

__all__ = ["ACTIVATIONS", "AtlasNet", "AtlasnetDecoder", "Mapping2Dto3D"]

#: ``get_activation`` (model_blocks.py:16-25).
ACTIVATIONS = {
    "relu": F.relu,
    "sigmoid": torch.sigmoid,
    "softplus": F.softplus,
    "logsigmoid": F.logsigmoid,
    "softsign": F.softsign,
    "tanh": torch.tanh,
}


class Mapping2Dto3D(nn.Module):
    """Template points (1 or B, dim, n) and codes (B, bottleneck, 1) -> points (B, 3, n).

    Args:
        dim: template coordinates (2 square, 3 sphere); bottleneck: code size; hidden: hidden channels;
        layers: hidden-to-hidden layers; activation: an :data:`ACTIVATIONS` name; tanh: squash the output.
    """

    def __init__(self, dim: int, bottleneck: int = 1024, hidden: int = 512, layers: int = 2,
                 activation: str = "relu", tanh: bool = False):  # fmt: skip
        super().__init__()
        self.conv1 = nn.Conv1d(dim, bottleneck, 1)
        self.conv2 = nn.Conv1d(bottleneck, hidden, 1)
        self.conv_list = nn.ModuleList([nn.Conv1d(hidden, hidden, 1) for _ in range(layers)])
        self.last_conv = nn.Conv1d(hidden, 3, 1)
        self.bn1 = nn.BatchNorm1d(bottleneck)
        self.bn2 = nn.BatchNorm1d(hidden)
        self.bn_list = nn.ModuleList([nn.BatchNorm1d(hidden) for _ in range(layers)])
        self.activation = ACTIVATIONS[activation]
        self.tanh = tanh

    def forward(self, x: Tensor, latent: Tensor) -> Tensor:
        x = self.conv1(x) + latent  # model_blocks.py:100, broadcast over the batch
        x = self.activation(self.bn1(x))
        x = self.activation(self.bn2(self.conv2(x)))
        for conv, bn in zip(self.conv_list, self.bn_list, strict=True):
            x = self.activation(bn(conv(x)))
        x = self.last_conv(x)
        return torch.tanh(x) if self.tanh else x


class AtlasnetDecoder(nn.Module):
    """Codes (B, bottleneck) and template points (K, dim, n) -> points (B, K, n, 3), patch k from
    decoder k (atlasnet.py:55-60)."""

    def __init__(self, patches: int, dim: int, bottleneck: int, hidden: int, layers: int,
                 activation: str = "relu", tanh: bool = False):  # fmt: skip
        super().__init__()
        self.decoder = nn.ModuleList(
            [Mapping2Dto3D(dim, bottleneck, hidden, layers, activation, tanh) for _ in range(patches)]
        )

    def forward(self, code: Tensor, templates: Tensor) -> Tensor:
        latent = code[:, :, None]
        out = [mlp(templates[k : k + 1], latent).transpose(1, 2) for k, mlp in enumerate(self.decoder)]
        return torch.stack(out, dim=1)


class AtlasNet(nn.Module):
    """Images and template points -> points: ``decoder(encoder(images), templates)``.

    Args:
        encoder: image encoder name; pretrained: its weights file or None; patches, dim, bottleneck,
            hidden, layers, activation, tanh: the decoders' (:class:`Mapping2Dto3D`).
    """

    def __init__(self, encoder: str, pretrained: str | None, patches: int, dim: int, bottleneck: int,
                 hidden: int, layers: int, activation: str = "relu", tanh: bool = False):  # fmt: skip
        super().__init__()
        self.encoder = CodeEncoder(encoder, pretrained, bottleneck)
        self.decoder = AtlasnetDecoder(patches, dim, bottleneck, hidden, layers, activation, tanh)

    def forward(self, images: Tensor, templates: Tensor) -> Tensor:
        """Args: images (B, 3, S, S); templates (K, dim, n) float. Returns: (B, K, n, 3) points."""
        return self.decoder(self.encoder(images), templates)
