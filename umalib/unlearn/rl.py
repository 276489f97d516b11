"""RL (random labels, Golatkar et al.; as in the SalUn reference code).

Each epoch iterates the union of the forget set, relabelled with fresh uniform random labels,
and the retain set with its true labels, shuffled together; plain cross-entropy. Both parts
are needed: without retain data the retain accuracy collapses.
Reference defaults: lr 0.01, 10 epochs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..config import MethodConfig
from ..data import BatchLoader
from ._loop import ForgetHook, run_loop
from .registry import register_method


@dataclass(frozen=True)
class RLConfig(MethodConfig):
    """RL: the reference's 10 epochs at lr 0.01."""


def random_labels(num_classes: int) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    """Relabel a forget set with uniform random classes (may hit the true one, as the reference)."""
    return lambda y, g: torch.randint(0, num_classes, y.shape, generator=g)


def num_classes_of(model: nn.Module) -> int:
    """Number of outputs of the model's last linear layer."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1].out_features


@register_method("RL", config=RLConfig, uses_forget_set=True, accepts_forget_hook=True,
                 reference="Golatkar et al.; the SalUn reference code")
def rl(original: nn.Module, retain: BatchLoader, forget: BatchLoader, cfg: MethodConfig, *,
       seed: int = 0, device: str = "cpu", progress: bool = True,
       forget_hook: ForgetHook | None = None, hook_weight: float = 1.0,
       grad_mask: dict[str, torch.Tensor] | None = None, desc: str = "RL",
       **_: object) -> nn.Module:
    """Return a copy of ``original`` trained on retain (true labels) + forget (random labels).

    ``grad_mask`` restricts the update to masked weights and holds the others at their
    original values (used by SalUn).
    """
    model = copy.deepcopy(original)
    frozen = None
    if grad_mask is not None:
        frozen = {n: p.detach().clone() for n, p in model.named_parameters() if n in grad_mask}
    run_loop(model, cfg, lambda m, x, y, e: F.cross_entropy(m(x), y), retain=retain,
             forget=forget, forget_labels=random_labels(num_classes_of(model)),
             grad_mask=grad_mask, frozen_values=frozen, forget_hook=forget_hook,
             hook_weight=hook_weight, seed=seed, device=device, progress=progress, desc=desc)
    return model
