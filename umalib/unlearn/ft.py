"""FT (fine-tuning): plain cross-entropy training on the retain set only (Warnecke et al.).

Reference defaults: lr 0.01, 10 epochs, SGD momentum 0.9, weight decay 5e-4.
Forgetting happens only through catastrophic forgetting of what the retain set does not
reinforce, which is why FT often leaves the forget set partly recognisable.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn

from ..config import MethodConfig
from ..data import BatchLoader
from ._loop import run_loop
from .registry import register_method


@dataclass(frozen=True)
class FTConfig(MethodConfig):
    """FT: the reference's 10 epochs at lr 0.01 (SGD, momentum 0.9, weight decay 5e-4)."""


@register_method("FT", config=FTConfig, uses_forget_set=False,
                 reference="Warnecke et al.; the SalUn reference code")
def ft(original: nn.Module, retain: BatchLoader, forget: BatchLoader, cfg: FTConfig, *,
       seed: int = 0, device: str = "cpu", progress: bool = True, **_: object) -> nn.Module:
    """Return a copy of ``original`` fine-tuned on ``retain`` (``forget`` is not used)."""
    model = copy.deepcopy(original)
    run_loop(model, cfg, lambda m, x, y, e: F.cross_entropy(m(x), y), retain=retain, forget=None,
             seed=seed, device=device, progress=progress, desc="FT")
    return model
