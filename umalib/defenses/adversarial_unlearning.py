"""Adversarial unlearning (paper Section 5.3, Eq. 6).

    min_{f_u}  E[ L_u(f_u(x_u), y) + max_{delta in A(f, f_u, x)} L_u(f_u(x_u + delta), y) ]

L_u is the loss of an existing unlearning method that uses the forget set (RL, GA, SalUn), and
A is UMA (:func:`umalib.attacks.uma`) run against the CURRENT model f_u towards the frozen
original's outputs f(x) on the clean forget batch. The inner attack is regenerated at every
optimiser step that sees forget samples (through the unlearning loop's ``forget_hook``), and
the method's own loss on the attacked inputs, weighted by ``adv_weight``, is added to its loss.
The outer step thus trains f_u to keep forgetting exactly the inputs UMA would use to map it
back onto f.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import torch
from torch import nn

from ..attacks.uma import uma
from ..config import DefenseConfig, MethodConfig
from ..data import BatchLoader
from ..unlearn import METHOD_REGISTRY, unlearn

__all__ = ["UMAHook", "adversarial_unlearning"]


class UMAHook:
    """A ``forget_hook`` for the unlearning loop: UMA against the model being trained.

    Each call runs ``steps`` sign-gradient steps of UMA (KL loss, keep-best) on the forget part
    of the batch against ``model`` (the current f_u; :func:`uma` puts it in eval mode and
    restores its modes, and leaves no gradients on its parameters), with the target
    ``original(x)`` on the clean inputs, and returns the perturbed inputs (same device as x).

    Start ``init="uniform"`` (default): a random point of the eps ball, re-seeded per call
    (``seed + calls``) so runs repeat. A zero start would be wasted early in unlearning, when
    f_u still equals f on x: the KL gradient is exactly 0 there and sign(0) never moves.

    Attributes:
        calls: number of calls so far.
        images: total inner-attack inputs (sum of batch sizes).
        seconds: total wall time spent in the inner attack.
    """

    def __init__(self, original: nn.Module, *, eps: float, step_size: float, steps: int,
                 init: str = "uniform", loss: str = "kl", seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        # A private frozen copy: the hook's target must not move, whatever the caller does.
        self.original = copy.deepcopy(original).to(device).eval().requires_grad_(False)
        self.eps, self.step_size, self.steps = float(eps), float(step_size), int(steps)
        self.init, self.loss, self.seed, self.device = init, loss, int(seed), device
        self.calls = 0
        self.images = 0
        self.seconds = 0.0

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Return UMA inputs (same shape and device as ``x``, within eps of x and in [0, 1])."""
        t0 = time.perf_counter()
        with torch.no_grad():
            target = self.original(x.detach())
        res = uma(self.original, model, x.detach(), eps=self.eps, step_size=self.step_size,
                  steps=self.steps, loss=self.loss, init=self.init, batch_size=max(len(x), 1),
                  seed=self.seed + self.calls, device=x.device, progress=False, target=target)
        self.calls += 1
        self.images += len(x)
        self.seconds += time.perf_counter() - t0
        return res.x_adv.to(x.device)


def adversarial_unlearning(method: str, original: nn.Module, retain: BatchLoader,
                           forget: BatchLoader, method_cfg: MethodConfig,
                           defense_cfg: DefenseConfig, *, seed: int = 0,
                           device: str | torch.device = "cpu", progress: bool = True,
                           ) -> tuple[nn.Module, dict[str, Any]]:
    """Unlearn with ``method`` plus the robust term of Eq. 6 (inner UMA per forget batch).

    Args:
        method: a registered method that accepts a forget hook ("RL", "GA", "SalUn").
        original: the trained model (not modified).
        retain / forget: loaders over the retain and forget sets.
        method_cfg: the method's hyperparameters (epochs, lr, batch size, ...).
        defense_cfg: ``adv_eps``, ``adv_step_size``, ``adv_steps``, ``adv_init`` (inner UMA)
            and ``adv_weight`` (weight of the loss on the attacked inputs).
    Returns:
        ``(model, info)``: the new model (eval mode) and the extra cost: ``hook_calls``,
        ``inner_images``, ``inner_seconds`` (inner attack wall time), ``seconds`` (total wall
        time) and ``inner_share`` (inner / total).
    Raises:
        ValueError: ``method`` takes no forget hook (e.g. "FT", which never reads the forget set).
    """
    hooked = [m for m, spec in METHOD_REGISTRY.items() if spec.accepts_forget_hook]
    if method not in hooked:
        raise ValueError(f"method: adversarial unlearning needs a method that uses the forget "
                         f"set through a forget hook, one of {hooked}; got {method!r}")
    hook = UMAHook(original, eps=defense_cfg.adv_eps, step_size=defense_cfg.adv_step_size,
                   steps=defense_cfg.adv_steps, init=defense_cfg.adv_init, seed=seed,
                   device=device)
    t0 = time.perf_counter()
    model = unlearn(method, original, retain, forget, method_cfg, seed=seed, device=device,
                    progress=progress, forget_hook=hook, hook_weight=defense_cfg.adv_weight)
    total = time.perf_counter() - t0
    info = {"method": method, "hook_calls": hook.calls, "inner_images": hook.images,
            "inner_seconds": hook.seconds, "seconds": total,
            "inner_share": hook.seconds / max(total, 1e-9)}
    return model, info
