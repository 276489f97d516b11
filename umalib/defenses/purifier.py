"""Test-time purification with a VAE (paper Appendix A.2, Tables 5-6).

Every query is reconstructed by a small convolutional VAE before the unlearned classifier sees
it: ``Purified(vae, f_u)(x) = f_u(vae.reconstruct(x))``. Reconstruction through a low-dimensional
latent removes much of a small adversarial perturbation. Two threat models:

* **unaware** (Table 5): the attacker does not know about the purifier. delta is crafted with
  UMA against the unlearned classifier alone, then the purified system is scored on x + delta.
* **aware** (Table 6): the attacker knows the purifier and runs UMA against the whole purified
  system, differentiating end to end through the VAE decoder and encoder (real gradients; no
  straight-through / BPDA approximation is used, none is needed: the reconstruction is a
  smooth deterministic function of the input).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ..attacks.uma import UMAResult, uma
from ..config import THREAT_MODELS, DefenseConfig
from ..data import to_float
from ..metrics.classification import predict
from ..models.vae import ConvVAE
from ..train import set_seed

__all__ = ["ConvVAE", "train_vae", "Purified", "PurifiedAttack", "attack_unaware", "attack_aware",
           "THREAT_MODELS"]



def train_vae(x_train: torch.Tensor, cfg: DefenseConfig, *, seed: int = 0,
              device: str | torch.device = "cpu", progress: bool = True
              ) -> tuple[ConvVAE, list[float]]:
    """Train a :class:`ConvVAE` on images.

    Args:
        x_train: (N, C, H, W) uint8 or float in [0, 1]; all of them are used (subsample first).
        cfg: ``vae_latent``, ``vae_width``, ``vae_epochs``, ``vae_lr`` (Adam),
            ``vae_batch_size`` and ``vae_beta`` (KL weight).
    Returns:
        ``(vae, losses)``: the VAE in eval mode and the mean loss (negative beta-ELBO per
        image, nats) of every epoch.
    """
    if x_train.dim() != 4 or len(x_train) == 0:
        raise ValueError(f"x_train must be a non-empty (N, C, H, W) tensor, got {tuple(x_train.shape)}")
    if x_train.shape[2] != x_train.shape[3]:
        raise ValueError(f"x_train images must be square, got {tuple(x_train.shape[2:])}")
    set_seed(seed)
    vae = ConvVAE(x_train.shape[1], x_train.shape[2], cfg.vae_latent, cfg.vae_width).to(device)
    opt = torch.optim.Adam(vae.parameters(), lr=cfg.vae_lr)
    g = torch.Generator().manual_seed(seed + 31337)
    n, bs = len(x_train), cfg.vae_batch_size
    losses: list[float] = []
    bar = tqdm(total=cfg.vae_epochs * -(-n // bs), desc="VAE", disable=not progress)
    vae.train()
    for _ in range(cfg.vae_epochs):
        order = torch.randperm(n, generator=g)
        total = 0.0
        for b in range(0, n, bs):
            x = to_float(x_train[order[b:b + bs]]).to(device)
            loss, _, _ = vae.loss(x, cfg.vae_beta)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(x)
            bar.update(1)
        losses.append(total / n)
        bar.set_postfix(loss=f"{losses[-1]:.1f}")
    bar.close()
    return vae.eval(), losses


class Purified(nn.Module):
    """``forward(x) = classifier(vae.reconstruct(x))``: a classifier behind a VAE purifier.

    Usable wherever a classifier is (logits (N, K) from images in [0, 1]); ``features(x)`` is
    available when the classifier has it (the classifier's features of the reconstruction).
    """

    def __init__(self, vae: ConvVAE, classifier: nn.Module) -> None:
        super().__init__()
        self.vae = vae
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.vae.reconstruct(x))

    def __getattr__(self, name: str) -> Any:
        if name == "features":
            clf = self._modules["classifier"]
            if hasattr(clf, "features"):
                return lambda x: clf.features(self._modules["vae"].reconstruct(x))
        return super().__getattr__(name)


@dataclass
class PurifiedAttack:
    """An attack on a purified system. Tensors on the CPU; N = attacked inputs.

    x_adv:   (N, C, H, W) attacked inputs (before purification).
    outputs: (N, K) purified-system logits on x_adv.
    target:  (N, K) original model's logits on the clean inputs.
    threat:  "unaware" or "aware".
    seconds: wall time (attack + scoring).
    result:  the UMA run behind x_adv when this call ran it (loss, loss history), else None.
    """

    x_adv: torch.Tensor
    outputs: torch.Tensor
    target: torch.Tensor
    threat: str
    seconds: float
    result: UMAResult | None = None


def attack_unaware(original: nn.Module, unlearned: nn.Module, vae: ConvVAE, x: torch.Tensor, *,
                   eps: float, x_adv: torch.Tensor | None = None,
                   device: str | torch.device = "cpu", **uma_kwargs: Any) -> PurifiedAttack:
    """Unaware threat model: UMA against ``unlearned`` alone (the VAE is never queried while
    delta is crafted), then ``Purified(vae, unlearned)`` is scored on x + delta.

    Args:
        x: (N, C, H, W) clean inputs in [0, 1].
        eps: L-inf budget of the attack (pixel units).
        x_adv: an existing UMA result against ``unlearned`` (e.g. notebook 02's cached attack)
            to score instead of running the attack again.
        uma_kwargs: passed to :func:`umalib.attacks.uma` (steps, step_size, loss, ...).
    """
    t0 = time.perf_counter()
    target, _ = predict(original, x, device=device)  # batched: a whole forget set may be large
    if x_adv is None:
        res = uma(original, unlearned, x, eps=eps, device=device, target=target, **uma_kwargs)
        x_adv = res.x_adv
    outputs, _ = predict(Purified(vae, unlearned), x_adv, device=device)
    return PurifiedAttack(x_adv.cpu(), outputs, target, "unaware", time.perf_counter() - t0)


def attack_aware(original: nn.Module, unlearned: nn.Module, vae: ConvVAE, x: torch.Tensor, *,
                 eps: float, device: str | torch.device = "cpu", **uma_kwargs: Any
                 ) -> PurifiedAttack:
    """Aware threat model: UMA against ``Purified(vae, unlearned)`` end to end, i.e. the
    gradient of KL(f(x) || f_u(VAE(x + delta))) flows through the VAE decoder and encoder
    exactly (posterior mean, no sampling, no straight-through estimator).

    Args as :func:`attack_unaware` (without ``x_adv``).
    """
    t0 = time.perf_counter()
    res = uma(original, Purified(vae, unlearned), x, eps=eps, device=device, **uma_kwargs)
    return PurifiedAttack(res.x_adv, res.outputs, res.target, "aware", time.perf_counter() - t0,
                          result=res)
