"""NegGrad+ (Kurmanji et al., NeurIPS 2023, the baseline of the SCRUB paper), as its reference code
(meghdadk/SCRUB, ``train_negrad`` / ``negative_grad``) runs it.

Loss per step: beta * CE(retain batch) - (1 - beta) * CE(forget batch), each the mean over its
own batch, from separate forward passes (so BatchNorm never mixes the two sets). One epoch = one
pass over the retain set; the forget set is drawn alongside it, reshuffled every time it runs
out (not replayed in the same order, as ``itertools.cycle`` would). Optimiser: SGD without
momentum or weight decay. beta = 1 is plain fine-tuning, beta = 0 plain gradient ascent.

Defaults: the reference's CIFAR-10 ResNet-18 setting: beta 0.9999, 5 epochs, lr 0.01, retain
batch 32, forget batch 16.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..config import MethodConfig
from ..data import BatchLoader
from ..train import set_seed
from .registry import register_method


@dataclass(frozen=True)
class NegGradPlusConfig(MethodConfig):
    """NegGrad+'s hyperparameters: beta = the retain term's weight (the forget term has
    1 - beta); batch_size / forget_batch_size: the two batches of a step."""

    epochs: int = 5
    lr: float = 0.01
    batch_size: int = 32
    forget_batch_size: int = 16
    beta: float = 0.9999

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (isinstance(self.forget_batch_size, int) and self.forget_batch_size >= 1):
            raise ValueError("methods.NegGrad+.forget_batch_size must be an integer >= 1, "
                             f"got {self.forget_batch_size!r}")
        if not (isinstance(self.beta, (int, float)) and 0 <= self.beta <= 1):
            raise ValueError(f"methods.NegGrad+.beta must be in [0, 1], got {self.beta!r}")


def endless(loader: BatchLoader) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of ``loader`` forever, reshuffled on every pass."""
    while True:
        yield from loader


@register_method("NegGrad+", config=NegGradPlusConfig, uses_forget_set=True,
                 reference="Kurmanji et al., NeurIPS 2023; meghdadk/SCRUB (main), train_negrad")
def neggrad_plus(original: nn.Module, retain: BatchLoader, forget: BatchLoader,
                 cfg: NegGradPlusConfig, *, seed: int = 0, device: str = "cpu",
                 progress: bool = True, **_: object) -> nn.Module:
    """Return a copy of ``original`` trained on retain CE minus (1 - beta) forget CE."""
    set_seed(seed)
    model = copy.deepcopy(original).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.0, weight_decay=0.0)
    ret = BatchLoader(retain.x, retain.y, cfg.batch_size, shuffle=True, seed=seed)
    fgt = endless(BatchLoader(forget.x, forget.y, cfg.forget_batch_size, shuffle=True, seed=seed + 1))
    bar = tqdm(total=cfg.epochs * len(ret), desc="NegGrad+", disable=not progress)
    for _epoch in range(cfg.epochs):
        for x, y in ret:
            fx, fy = next(fgt)
            loss = (cfg.beta * F.cross_entropy(model(x.to(device)), y.to(device))
                    - (1 - cfg.beta) * F.cross_entropy(model(fx.to(device)), fy.to(device)))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            bar.update(1)
    bar.close()
    return model.eval()
