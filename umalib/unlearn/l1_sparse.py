"""l1-sparse (Jia et al., "Model sparsity can simplify machine unlearning").

Fine-tune on the retain set with cross-entropy + alpha_t * ||theta||_1, where alpha_t decays
linearly from ``alpha`` to 0 over the epochs (the reference's schedule).
Reference defaults: lr 0.01, 10 epochs, alpha 1e-4..5e-4.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import MethodConfig
from ..data import BatchLoader
from ._loop import run_loop
from .registry import register_method


@dataclass(frozen=True)
class L1SparseConfig(MethodConfig):
    """l1-sparse: 10 epochs at lr 0.01; ``alpha`` = the initial L1 weight (reference 5e-4)."""

    alpha: float = 5e-4

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (isinstance(self.alpha, (int, float)) and 0 <= self.alpha < float("inf")):
            raise ValueError(f"methods.l1-sparse.alpha must be a finite number >= 0, got {self.alpha!r}")


def l1_norm(model: nn.Module) -> torch.Tensor:
    """Sum of absolute values of all parameters."""
    return sum(p.abs().sum() for p in model.parameters())


@register_method("l1-sparse", config=L1SparseConfig, uses_forget_set=False,
                 reference="Jia et al. 2023; the Sparse reference code")
def l1_sparse(original: nn.Module, retain: BatchLoader, forget: BatchLoader, cfg: L1SparseConfig, *,
              seed: int = 0, device: str = "cpu", progress: bool = True, **_: object) -> nn.Module:
    """Return a copy of ``original`` fine-tuned on ``retain`` with a decaying L1 penalty."""
    model = copy.deepcopy(original)

    def loss(m: nn.Module, x: torch.Tensor, y: torch.Tensor, epoch: int) -> torch.Tensor:
        alpha_t = cfg.alpha * (1 - epoch / cfg.epochs)
        return F.cross_entropy(m(x), y) + alpha_t * l1_norm(m)

    run_loop(model, cfg, loss, retain=retain, forget=None, seed=seed, device=device,
             progress=progress, desc="l1-sparse")
    return model
