"""SalUn (Fan et al., ICLR 2024): weight saliency + random labelling.

1. Saliency: accumulate the gradient of the forget-set loss over the whole forget set (the
   reference takes the gradient of -CE; the sign does not matter for |g|), rank |g| globally
   over ALL parameters (BatchNorm and biases included) and keep the top ``mask_ratio``.
2. RL (see :mod:`umalib.unlearn.rl`) with the gradients of non-salient weights zeroed; the
   non-salient weights are also reset to their original values after every step, because
   weight decay and momentum would otherwise move them.
Reference defaults: mask ratio 0.5, lr ~0.013, 10 epochs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import MethodConfig
from ..data import BatchLoader
from ._loop import ForgetHook
from .rl import rl
from .registry import register_method
from .saliency import top_share_mask


@dataclass(frozen=True)
class SalUnConfig(MethodConfig):
    """SalUn: 10 epochs at lr 0.013; ``mask_ratio`` = the share of weights updated (0.5)."""

    lr: float = 0.013
    mask_ratio: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (isinstance(self.mask_ratio, (int, float)) and 0 < self.mask_ratio <= 1):
            raise ValueError(f"methods.SalUn.mask_ratio must be in (0, 1], got {self.mask_ratio!r}")


def saliency_mask(model: nn.Module, forget: BatchLoader, ratio: float,
                  device: str = "cpu") -> dict[str, torch.Tensor]:
    """Boolean mask per parameter: True for the globally top-``ratio`` |grad of forget loss|.

    Exactly ``round(ratio * total)`` entries are True (ties broken by index order).
    """
    model = model.to(device)
    was_training = model.training
    model.eval()  # gradients at the trained model, BN in inference mode as when deployed
    params = dict(model.named_parameters())
    grads = {n: torch.zeros_like(p) for n, p in params.items()}
    for x, y in forget:
        model.zero_grad(set_to_none=True)
        loss = -F.cross_entropy(model(x.to(device)), y.to(device), reduction="sum")
        loss.backward()
        for n, p in params.items():
            if p.grad is not None:
                grads[n] += p.grad
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return top_share_mask(grads, ratio)


@register_method("SalUn", config=SalUnConfig, uses_forget_set=True, accepts_forget_hook=True,
                 reference="Fan et al., ICLR 2024; the SalUn reference code")
def salun(original: nn.Module, retain: BatchLoader, forget: BatchLoader, cfg: SalUnConfig, *,
          seed: int = 0, device: str = "cpu", progress: bool = True,
          forget_hook: ForgetHook | None = None, hook_weight: float = 1.0,
          **_: object) -> nn.Module:
    """Return a copy of ``original`` unlearned by saliency-masked random labelling."""
    mask = saliency_mask(original, forget, cfg.mask_ratio, device)
    return rl(original, retain, forget, cfg, seed=seed, device=device, progress=progress,
              forget_hook=forget_hook, hook_weight=hook_weight, grad_mask=mask, desc="SalUn")
