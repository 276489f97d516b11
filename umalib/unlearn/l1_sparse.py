"""l1-sparse (Jia et al., "Model sparsity can simplify machine unlearning").

Fine-tune on the retain set with cross-entropy + alpha_t * ||theta||_1, where alpha_t decays
linearly from ``alpha`` to 0 over the epochs (the reference's schedule).
Reference defaults: lr 0.01, 10 epochs, alpha 1e-4..5e-4.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..config import MethodConfig
from ..data import BatchLoader
from ._loop import run_loop


def l1_norm(model: nn.Module) -> torch.Tensor:
    """Sum of absolute values of all parameters."""
    return sum(p.abs().sum() for p in model.parameters())


def l1_sparse(original: nn.Module, retain: BatchLoader, forget: BatchLoader, cfg: MethodConfig, *,
              seed: int = 0, device: str = "cpu", progress: bool = True, **_: object) -> nn.Module:
    """Return a copy of ``original`` fine-tuned on ``retain`` with a decaying L1 penalty."""
    model = copy.deepcopy(original)

    def loss(m: nn.Module, x: torch.Tensor, y: torch.Tensor, epoch: int) -> torch.Tensor:
        alpha_t = cfg.alpha * (1 - epoch / cfg.epochs)
        return F.cross_entropy(m(x), y) + alpha_t * l1_norm(m)

    run_loop(model, cfg, loss, retain=retain, forget=None, seed=seed, device=device,
             progress=progress, desc="l1-sparse")
    return model
