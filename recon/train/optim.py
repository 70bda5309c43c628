"""The optimizer, its learning-rate schedule, and one optimization step."""

from __future__ import annotations

import bisect
import math
from typing import Any

from recon.models.method import Method
from recon.train.experiment import TrainConfig

__all__ = ["lr_factor", "make_optimizer", "train_step"]


def lr_factor(step: int, config: TrainConfig) -> float:
    """Learning rate of 0-based step ``step`` as a fraction of ``config.lr``.

    After the warm-up, the schedule's factor is floored at ``config.min_lr / config.lr`` (DISN's
    released code floors its step decay at an absolute learning rate).
    """
    warm = config.warmup_steps
    if step < warm:
        return (step + 1) / warm
    return max(_schedule_factor(step - warm, config), config.min_lr / config.lr)


def _schedule_factor(step: int, config: TrainConfig) -> float:
    """The schedule's factor ``step`` steps after the warm-up."""
    if config.schedule == "constant":
        return 1.0
    if config.schedule == "step":
        if config.milestones:
            return config.step_gamma ** bisect.bisect_right(config.milestones, step)
        return config.step_gamma ** (step // config.step_size)
    span = max(1, config.steps - config.warmup_steps - 1)
    progress = min(1.0, step / span)
    return config.min_lr_ratio + (1.0 - config.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_optimizer(params: list, config: TrainConfig):
    """``(optimizer, scheduler)`` of ``train.optimizer`` (Adam or AdamW) over ``params``, with the
    learning rate of each step ``config.lr * lr_factor(step, config)`` (a ``LambdaLR``).

    With ``weight_decay_on: weights`` the parameters of 2 dimensions and more (linear and
    convolution weights) are decayed, and the others (biases, normalization scales and shifts) are
    a second parameter group without decay, as 3D-R2N2's and DISN's released codes decay weights only.
    """
    import torch

    opt_cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    groups = params
    if config.weight_decay_on == "weights" and config.weight_decay > 0:
        groups = [
            {"params": [p for p in params if p.dim() >= 2]},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
    optimizer = opt_cls(groups, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, config))
    return optimizer, scheduler


def train_step(
    method: Method,
    model,
    batch: dict,
    config: Any,
    optimizer,
    scheduler,
    params,
    grad_clip: float,
    autocast,
    where: str = "",
):
    """One optimization step: loss, backward, gradient norm (clipped when ``grad_clip`` > 0), update.

    Args:
        method, model, batch, config: what :meth:`Method.loss` takes (``model`` may be wrapped in DDP).
        optimizer, scheduler: stepped once each.
        params: the trained parameters (for the gradient norm).
        grad_clip: ``train.grad_clip``; 0 = measure the norm only.
        autocast: a callable giving the mixed-precision context (or a null context).
        where: the step, for the error message.

    Returns:
        ``(loss, scalars, grad_norm)``: the loss tensor, the method's scalars and the norm tensor.

    Raises:
        FloatingPointError: the loss is not finite (nothing is updated).
    """
    import torch

    with autocast():
        loss, scalars = method.loss(model, batch, config)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"loss is {loss.item()} {where}".strip())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        grad_norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
    else:
        grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
    optimizer.step()
    scheduler.step()
    return loss, scalars, grad_norm
