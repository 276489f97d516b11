"""retrain: train from scratch on the retain set only, with the original model's recipe.

The gold standard that approximate methods try to match. It takes the original only for its
architecture: every parameter and buffer is re-initialised, no weight is reused.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

from torch import nn

from ..config import MethodConfig, TrainConfig
from ..data import BatchLoader
from ..train import set_seed, train_classifier
from .registry import register_method


@dataclass(frozen=True)
class RetrainConfig(MethodConfig):
    """retrain: the reference's 160 epochs at lr 0.1 (the rest of the original's recipe)."""

    epochs: int = 160
    lr: float = 0.1


def reinitialise(model: nn.Module, seed: int) -> nn.Module:
    """A copy of ``model`` with freshly initialised parameters and reset BN statistics."""
    fresh = copy.deepcopy(model)
    set_seed(seed)
    for m in fresh.modules():
        if hasattr(m, "reset_parameters") and m is not fresh:
            m.reset_parameters()
    return fresh


@register_method("retrain", config=RetrainConfig, uses_forget_set=False,
                 reference="the SalUn reference code")
def retrain(original: nn.Module, retain: BatchLoader, forget: BatchLoader, cfg: RetrainConfig, *,
            seed: int = 0, device: str = "cpu", progress: bool = True,
            recipe: TrainConfig | None = None, **_: object) -> nn.Module:
    """Return a new model of the same architecture trained on ``retain`` only.

    ``recipe`` is the original's training config; its epochs / lr / batch size are replaced by
    the method config's. ``forget`` is never read.
    """
    recipe = recipe or TrainConfig()
    recipe = dataclasses.replace(recipe, epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size)
    model = reinitialise(original, seed)
    loader = BatchLoader(retain.x, retain.y, cfg.batch_size, shuffle=True, seed=seed)
    train_classifier(model, loader, recipe, seed=seed, device=device, progress=progress,
                     desc="retrain")
    return model
