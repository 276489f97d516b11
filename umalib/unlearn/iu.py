"""IU (influence unlearning, Koh & Liang; Izzo et al.), WoodFisher variant as in the Sparse
reference code.

One-shot Newton step: theta <- theta + alpha * H^-1 (g_forget - g_retain), where g_forget and
g_retain are the loss gradients over the forget and retain sets weighted by their shares of
the training set (g_forget = sum_f / N, g_retain = sum_r * N_f / (N * N_r)), and H^-1 v is
estimated with the WoodFisher rank-1 recursion over ``samples`` retain samples taken one at a
time (empirical Fisher, each rank-1 term scaled by 1/``samples``). The model is in eval mode
throughout, and ``alpha`` must be tuned per model: it is the only knob.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..config import MethodConfig
from ..data import BatchLoader
from .registry import register_method


@dataclass(frozen=True)
class IUConfig(MethodConfig):
    """IU: ``alpha`` = the Newton step's scale (the only knob; reference 0.2), ``samples`` =
    retain samples in the WoodFisher estimate (1,000). Epochs and lr are not used."""

    epochs: int = 1
    lr: float = 1.0
    alpha: float = 0.2
    samples: int = 1000

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (isinstance(self.alpha, (int, float)) and 0 < self.alpha < float("inf")):
            raise ValueError(f"methods.IU.alpha must be a finite number > 0, got {self.alpha!r}")
        if not (isinstance(self.samples, int) and self.samples >= 1):
            raise ValueError(f"methods.IU.samples must be an integer >= 1, got {self.samples!r}")


def _flat_grad(model: nn.Module, loss: torch.Tensor) -> torch.Tensor:
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params)
    return torch.cat([g.flatten() for g in grads])


def summed_gradient(model: nn.Module, loader: BatchLoader, device: str = "cpu") -> tuple[torch.Tensor, int]:
    """Sum over the loader of per-sample CE gradients (flattened), and the sample count."""
    total, n = None, 0
    for x, y in loader:
        g = _flat_grad(model, F.cross_entropy(model(x.to(device)), y.to(device), reduction="sum"))
        total = g if total is None else total + g
        n += len(y)
    return total, n


def woodfisher_inverse_product(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                               v: torch.Tensor, device: str = "cpu",
                               progress: bool = True) -> torch.Tensor:
    """Approximate F^-1 v with the WoodFisher rank-1 recursion over the samples (x, y).

    With N samples, each per-sample gradient g_k updates the running product k and the running
    direction o: t = o.g_k; k <- k - (k.g_k) / (N + t) * o; o <- o - t / (N + t) * o, with o and
    k started from g_1 and v. O(P) memory, one backward pass per sample.
    """
    n = len(y)
    k_vec, o_vec = v.clone(), None
    for i in tqdm(range(n), desc="IU WoodFisher", disable=not progress):
        g = _flat_grad(model, F.cross_entropy(model(x[i:i + 1].to(device)), y[i:i + 1].to(device)))
        with torch.no_grad():
            if o_vec is None:
                o_vec = g.clone()
            else:
                t = torch.dot(o_vec, g)
                k_vec -= torch.dot(k_vec, g) / (n + t) * o_vec
                o_vec -= t / (n + t) * o_vec
    return k_vec


@register_method("IU", config=IUConfig, uses_forget_set=True,
                 reference="Koh & Liang; Izzo et al.; WoodFisher as in the Sparse reference code")
def iu(original: nn.Module, retain: BatchLoader, forget: BatchLoader, cfg: IUConfig, *,
       seed: int = 0, device: str = "cpu", progress: bool = True, **_: object) -> nn.Module:
    """Return a copy of ``original`` after one influence (Newton) step of size ``cfg.alpha``."""
    model = copy.deepcopy(original).to(device)
    model.eval()
    g_f, n_f = summed_gradient(model, forget, device)
    g_r, n_r = summed_gradient(model, retain, device)
    n = n_f + n_r
    v = g_f / n - g_r * n_f / (n * n_r)
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(retain.num_samples, generator=gen)[: cfg.samples]
    from ..data import to_float
    direction = woodfisher_inverse_product(model, to_float(retain.x[idx]), retain.y[idx], v,
                                           device, progress)
    with torch.no_grad():
        i = 0
        for p in model.parameters():
            if p.requires_grad:
                p += cfg.alpha * direction[i:i + p.numel()].view_as(p)
                i += p.numel()
    model.zero_grad(set_to_none=True)
    return model
