"""Generative unlearning for the MAE inpainter (paper Section 5.1, Appendix A.3).

Two methods, both returning a new :class:`~umalib.models.mae.MAE` and never modifying ``original``:

* ``"I2I"`` (:mod:`.i2i`): encoder-latent distillation to a frozen copy of the original; forget
  images are pulled to the latent of a noise image, retain images to their own latent.
* ``"SalUn"`` (:mod:`.salun`): weight saliency from the forget-set reconstruction loss, then
  training of the salient weights only, mapping forget inputs to noise outputs while keeping the
  retain outputs of the original.

Both train on random patch masks; an epoch is one pass over the forget set, each forget batch
paired with a retain batch of the same size drawn from a running permutation of the retain set.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from ...config import GENERATIVE_METHODS as _NAMES
from ...models.mae import MAE
from ._common import noise_like
from .i2i import i2i
from .salun import saliency_mask, salun_mae

__all__ = ["GENERATIVE_METHODS", "unlearn_generative", "i2i", "salun_mae", "saliency_mask",
           "noise_like"]

GENERATIVE_METHODS: dict[str, Callable[..., MAE]] = {"I2I": i2i, "SalUn": salun_mae}
assert tuple(GENERATIVE_METHODS) == _NAMES  # one list of names: umalib.config


def unlearn_generative(name: str, original: MAE, retain_x: Tensor, forget_x: Tensor, *,
                       epochs: int, lr: float, batch_size: int, seed: int = 0,
                       device: str | torch.device = "cpu", progress: bool = True,
                       **method_kwargs) -> MAE:
    """Run the generative unlearning method ``name`` (a key of GENERATIVE_METHODS) on a deep
    copy of ``original``; images (N, C, H, W) in [0, 1]. Extra keyword arguments go to the
    method. Returns the unlearned MAE in eval mode; ``original`` is never modified."""
    if name not in GENERATIVE_METHODS:
        raise ValueError(f"unknown generative unlearning method {name!r}; "
                         f"known: {sorted(GENERATIVE_METHODS)}")
    return GENERATIVE_METHODS[name](original, retain_x, forget_x, epochs=epochs, lr=lr,
                                    batch_size=batch_size, seed=seed, device=device,
                                    progress=progress, **method_kwargs)
