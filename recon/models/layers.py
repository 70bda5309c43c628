"""Layers shared by the model families: point MLPs and conditional batch norm.

Image encoders are in :mod:`recon.models.encoders`, camera projection and feature sampling in
:mod:`recon.models.geometry`, image preparation in :mod:`recon.models.inputs`. A layer goes here
once a second family needs it; a family's own layers stay in its ``network.py``.

The builders return plain modules (or lists of modules to splice into a family's
``nn.Sequential``), created in the order of their arguments, so that moving a network's layers
here changes neither its parameter names nor the order its initial weights are drawn in.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["ConditionalBatchNorm1d", "mlp"]


def mlp(dims: list[int], last_activation: bool) -> nn.Sequential:
    """Linear layers ``dims[0] -> dims[1] -> ... -> dims[-1]`` with a ReLU after each but the last.

    Applied to (..., dims[0]) inputs, e.g. (B, N, 3) points (DISN's point MLP and decoders).

    Args:
        dims: the widths, input first (at least two).
        last_activation: put a ReLU after the last layer too.

    Returns:
        ``nn.Sequential`` of ``Linear`` (indices 0, 2, 4, ...) and in-place ``ReLU``.
    """
    layers: list[nn.Module] = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2 or last_activation:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class ConditionalBatchNorm1d(nn.Module):
    """Batch norm whose scale and shift are predicted from a code (Occupancy Networks' ``CBatchNorm1d``).

    ``out = gamma(c) * BN(x) + beta(c)`` with a BN without affine parameters and ``gamma``, ``beta``
    1x1 convolutions of the code. At initialization ``gamma`` is 1 and ``beta`` 0 for every code
    (zero weights, biases 1 and 0), so the layer starts as a plain batch norm.

    Args:
        c_dim: size of the conditioning code.
        f_dim: channels of the normalized features.
    """

    def __init__(self, c_dim: int, f_dim: int):
        super().__init__()
        self.c_dim, self.f_dim = c_dim, f_dim
        self.conv_gamma = nn.Conv1d(c_dim, f_dim, 1)
        self.conv_beta = nn.Conv1d(c_dim, f_dim, 1)
        self.bn = nn.BatchNorm1d(f_dim, affine=False)
        nn.init.zeros_(self.conv_gamma.weight)
        nn.init.zeros_(self.conv_beta.weight)
        nn.init.ones_(self.conv_gamma.bias)
        nn.init.zeros_(self.conv_beta.bias)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """Args: x (B, f_dim, T) features, c (B, c_dim) or (B, c_dim, T) codes. Returns: (B, f_dim, T)."""
        if c.dim() == 2:
            c = c[:, :, None]
        return self.conv_gamma(c) * self.bn(x) + self.conv_beta(c)
