"""OGN's convolutions on the cells of an octree level (``OGNConv``), with the parameters of dense layers.

Each function takes a ``torch.nn`` 3D layer and applies it to the (M, C) features of a level's cells
(:mod:`recon.models.ogn.octree`) as that layer would act on a dense grid holding those cells and
zeros elsewhere, so the dense and the octree parts of a network are the same layer types:

- :func:`up_convolution`: ``ConvTranspose3d(kernel 2, stride 2)`` -> the features of each cell's 8
  children (OGNConv with ``is_deconv``, filter 2: ``src/caffe/layers/ogn_conv_layer.cpp:94-109``
  makes the children keys ``key << 3 | i``, ``:128-136`` the features);
- :func:`neighbour_convolution`: ``Conv3d(kernel 3, padding 1)`` over the cells present, absent
  neighbours read as 0 (OGNConv with filter 3: ``im2col_octree_cpu``, ``:297-353``, zero where
  ``get_neighbor_keys`` finds no key);
- :func:`pointwise`: ``Conv3d(kernel 1)``, the 3-way classifier.

The neighbour convolution is a custom autograd function that keeps only the (M, k³) neighbour
index for the backward pass and recomputes the gathers there, so a level's memory is its (M, C)
features and that index, not the (M, k³ C) column matrix.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

__all__ = ["neighbour_convolution", "pointwise", "up_convolution"]


def up_convolution(features: Tensor, layer: nn.ConvTranspose3d) -> Tensor:
    """(8M, C') features of the children of (M, C) cells, child c of cell i at row 8i + c.

    Child c has offset ``(c >> 2 & 1, c >> 1 & 1, c & 1)`` on (x, y, z), the (D, H, W) axes of the
    layer's (C, C', 2, 2, 2) weight: the output is ``layer`` applied to a dense grid, at the children.
    """
    if layer.kernel_size != (2, 2, 2) or layer.stride != (2, 2, 2) or layer.padding != (0, 0, 0):
        raise ValueError(f"up_convolution needs ConvTranspose3d(kernel 2, stride 2, padding 0), got {layer}")
    c_in, c_out = layer.weight.shape[:2]
    weight = layer.weight.permute(0, 2, 3, 4, 1).reshape(c_in, 8 * c_out)
    out = (features @ weight.to(features.dtype)).reshape(-1, c_out)
    return out if layer.bias is None else out + layer.bias.to(out.dtype)


class _NeighbourConvolution(torch.autograd.Function):
    """out[i] = sum_k x[index[i, k]] @ weight[k], rows with index -1 read as 0."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)
    def forward(ctx, x: Tensor, weight: Tensor, index: Tensor) -> Tensor:
        padded = torch.cat([x, x.new_zeros(1, x.shape[1])])  # row M: the absent neighbours' zeros
        taps = index.T.contiguous().long()  # (k³, M): one contiguous row per tap
        out = x.new_zeros(x.shape[0], weight.shape[2])
        for k in range(weight.shape[0]):
            out.addmm_(padded[taps[k]], weight[k])
        ctx.save_for_backward(x, weight, index)
        return out

    @staticmethod
    @once_differentiable
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, grad: Tensor):
        x, weight, index = ctx.saved_tensors
        padded = torch.cat([x, x.new_zeros(1, x.shape[1])])
        grad_x = torch.zeros_like(padded) if ctx.needs_input_grad[0] else None
        grad_w = torch.zeros_like(weight) if ctx.needs_input_grad[1] else None
        taps = index.T.contiguous().long()
        for k in range(weight.shape[0]):
            rows = taps[k]
            if grad_x is not None:
                grad_x.index_add_(0, rows, grad @ weight[k].T)
            if grad_w is not None:
                grad_w[k] = padded[rows].T @ grad
        return (None if grad_x is None else grad_x[:-1]), grad_w, None


def neighbour_convolution(features: Tensor, neighbours: Tensor, layer: nn.Conv3d) -> Tensor:
    """(M, C') ``layer`` (a k³ ``Conv3d`` with padding k // 2, stride 1) on the (M, C) features of cells.

    Args:
        features: (M, C) features of a level's cells.
        neighbours: (M, k³) int index of each cell's neighbour at each kernel tap
            (:func:`~recon.models.ogn.octree.neighbour_index` with radius k // 2), -1 where absent.
        layer: the convolution; its weight is (C', C, k, k, k), taps in the order of
            :func:`~recon.models.ogn.octree.neighbour_offsets`.
    """
    k = layer.kernel_size[0]
    if (
        layer.kernel_size != (k,) * 3
        or layer.padding != (k // 2,) * 3
        or layer.stride != (1, 1, 1)
        or k % 2 == 0
    ):
        raise ValueError(f"neighbour_convolution needs an odd cubic Conv3d with 'same' padding, got {layer}")
    if neighbours.shape != (features.shape[0], k**3):
        raise ValueError(f"neighbours must be ({features.shape[0]}, {k**3}), got {tuple(neighbours.shape)}")
    c_out, c_in = layer.weight.shape[:2]
    weight = layer.weight.permute(2, 3, 4, 1, 0).reshape(k**3, c_in, c_out)
    index = torch.where(neighbours < 0, features.shape[0], neighbours).to(torch.int32)
    out = _NeighbourConvolution.apply(features, weight, index)
    return out if layer.bias is None else out + layer.bias.to(out.dtype)


def pointwise(features: Tensor, layer: nn.Conv3d) -> Tensor:
    """(M, C') ``layer`` (a 1³ ``Conv3d``) on (M, C) features."""
    if layer.kernel_size != (1, 1, 1):
        raise ValueError(f"pointwise needs a 1^3 Conv3d, got {layer}")
    return nn.functional.linear(features, layer.weight.flatten(1), layer.bias)
