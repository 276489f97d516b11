"""GA (gradient ascent): maximise the cross-entropy on the forget set only (Thudi et al.).

Reference defaults: lr in 1e-4..1e-3, 5 epochs; too small an lr does nothing and too large
destroys the model, since nothing anchors the retain set.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn

from ..config import MethodConfig
from ..data import BatchLoader
from ._loop import ForgetHook, run_loop
from .registry import register_method


@dataclass(frozen=True)
class GAConfig(MethodConfig):
    """GA: 5 epochs at lr 1e-4 (the reference's range is 1e-4..1e-3)."""

    epochs: int = 5
    lr: float = 1e-4


@register_method("GA", config=GAConfig, uses_forget_set=True, accepts_forget_hook=True,
                 reference="Thudi et al.; the SalUn reference code")
def ga(original: nn.Module, retain: BatchLoader, forget: BatchLoader, cfg: GAConfig, *,
       seed: int = 0, device: str = "cpu", progress: bool = True,
       forget_hook: ForgetHook | None = None, hook_weight: float = 1.0, **_: object) -> nn.Module:
    """Return a copy of ``original`` trained to minimise -CE on ``forget``."""
    model = copy.deepcopy(original)
    run_loop(model, cfg, lambda m, x, y, e: -F.cross_entropy(m(x), y), retain=None, forget=forget,
             forget_hook=forget_hook, hook_weight=hook_weight, seed=seed, device=device,
             progress=progress, desc="GA")
    return model
