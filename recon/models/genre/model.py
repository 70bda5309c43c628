"""GenRe's whole network: the three trained parts, and which of them a stage trains."""

from __future__ import annotations

from torch import nn

from recon.models.genre.config import STAGES, GenReConfig
from recon.models.genre.networks import Estimator, Inpainter, Refiner

__all__ = ["GenReNet"]


class GenReNet(nn.Module):
    """The estimator, the inpainter and the refiner; every stage builds all three, so that each
    stage's checkpoint loads into the next (``train.init_from``) and the last one holds the chain.

    The parts a stage does not train (:data:`~recon.models.genre.config.STAGES`) are frozen: no
    gradients, and they stay in eval mode (batch norm with its running statistics) when the model is
    put in training mode. The release runs them under ``torch.no_grad`` but in training mode
    (``depth_pred_with_sph_inpaint.py:114-118``, ``genre_full_model.py:117-121``), so their batch
    norms normalize with the batch's statistics and keep updating their running ones while
    "frozen"; recon freezes them fully.
    """

    def __init__(self, config: GenReConfig):
        super().__init__()
        self.estimator = Estimator(width=config.estimator_width, input_size=config.image_size)
        self.inpainter = Inpainter(width=config.estimator_width)
        self.refiner = Refiner(nf=config.refiner_width, resolution=config.volume_resolution)
        self.trained = STAGES[config.stage]
        for name in ("estimator", "inpainter", "refiner"):
            getattr(self, name).requires_grad_(name in self.trained)

    def train(self, mode: bool = True):
        """Training mode for the stage's parts; the frozen ones stay in eval mode."""
        super().train(mode)
        for name in ("estimator", "inpainter", "refiner"):
            if name not in self.trained:
                getattr(self, name).eval()
        return self
