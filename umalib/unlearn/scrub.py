"""SCRUB (Kurmanji et al., "Towards Unbounded Machine Unlearning", NeurIPS 2023), as its reference
code (meghdadk/SCRUB, ``main``) runs it.

Teacher = a frozen copy of the original (eval mode, no gradients); student = a copy that is
trained (train mode: its BatchNorm statistics update). Distance = the RepDistiller ``DistillKL``:
KL(teacher || student) at temperature T, summed over classes, times T^2, divided by the batch.
Every epoch: while ``epoch <= msteps``, one pass over the forget set with the *max* step
(loss = -KL: move away from the teacher); then one pass over the retain set with the *min* step
(loss = gamma * CE + alpha * KL: stay with the teacher). One SGD optimiser (momentum 0.9, weight
decay 5e-4) is shared by both steps; lr = lr x 0.1 for each milestone below the epoch.
The last ``epochs - msteps`` epochs are min-only (the reference's utility recovery).

Defaults: the reference's large-scale (class-wise CIFAR-10) configuration: 3 epochs, 2 max
epochs, lr 5e-4, gamma 0.99, alpha 0.001, T 4, retain batch 256, forget batch 512,
milestones 3, 5, 9. The reference's rewinding variant (SCRUB+R) is not implemented: it targets
privacy on a random forget set and needs a forget-validation set.
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
from ..train import set_seed, sgd
from .registry import register_method


@dataclass(frozen=True)
class SCRUBConfig(MethodConfig):
    """SCRUB's hyperparameters (defaults: the reference's class-wise CIFAR-10 setting).

    epochs: total epochs; msteps: the first ``msteps`` also run the max (forget) pass;
    lr / batch_size: the min (retain) pass; forget_batch_size: the max pass;
    gamma / alpha: weights of CE and KL in the min step; kd_t: the distillation temperature;
    milestones: epochs (1-based) after which the lr drops 10x.
    """

    epochs: int = 3
    lr: float = 5e-4
    batch_size: int = 256
    forget_batch_size: int = 512
    msteps: int = 2
    gamma: float = 0.99
    alpha: float = 0.001
    kd_t: float = 4.0
    milestones: tuple[int, ...] = (3, 5, 9)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, low in (("forget_batch_size", 1), ("msteps", 0)):
            v = getattr(self, name)
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= low):
                raise ValueError(f"methods.SCRUB.{name} must be an integer >= {low}, got {v!r}")
        for name, positive in (("gamma", False), ("alpha", False), ("kd_t", True)):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0 <= v < float("inf") and (v > 0 or not positive)):
                raise ValueError(f"methods.SCRUB.{name} must be a finite number "
                                 f"{'> 0' if positive else '>= 0'}, got {v!r}")
        if not (isinstance(self.milestones, tuple) and all(isinstance(m, int) for m in self.milestones)):
            raise ValueError(f"methods.SCRUB.milestones must be a tuple of integers, got {self.milestones!r}")


def distill_kl(student: torch.Tensor, teacher: torch.Tensor, t: float) -> torch.Tensor:
    """RepDistiller's ``DistillKL``: KL(softmax(teacher/t) || softmax(student/t)) summed over
    classes, times t^2, divided by the batch size (the reference's reduction)."""
    log_q = F.log_softmax(student / t, dim=1)
    p = F.softmax(teacher / t, dim=1)
    return F.kl_div(log_q, p, reduction="sum") * t * t / student.shape[0]


@register_method("SCRUB", config=SCRUBConfig, uses_forget_set=True,
                 reference="Kurmanji et al., NeurIPS 2023; meghdadk/SCRUB (main)")
def scrub(original: nn.Module, retain: BatchLoader, forget: BatchLoader, cfg: SCRUBConfig, *,
          seed: int = 0, device: str = "cpu", progress: bool = True, **_: object) -> nn.Module:
    """Return a student copy of ``original`` trained by SCRUB's max-min schedule."""
    set_seed(seed)
    teacher = copy.deepcopy(original).to(device).eval().requires_grad_(False)
    student = copy.deepcopy(original).to(device).train()
    opt = sgd(student, cfg.lr)
    ret = BatchLoader(retain.x, retain.y, cfg.batch_size, shuffle=True, seed=seed)
    fgt = BatchLoader(forget.x, forget.y, cfg.forget_batch_size, shuffle=True, seed=seed + 1)
    total = cfg.epochs * len(ret) + min(cfg.msteps, cfg.epochs) * len(fgt)
    bar = tqdm(total=total, desc="SCRUB", disable=not progress)

    def step(loss: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.update(1)

    for epoch in range(1, cfg.epochs + 1):
        for group in opt.param_groups:
            group["lr"] = cfg.lr * 0.1 ** sum(m < epoch for m in cfg.milestones)
        if epoch <= cfg.msteps:  # max step: away from the teacher on the forget set
            for x, _y in fgt:
                x = x.to(device)
                with torch.no_grad():
                    t_out = teacher(x)
                step(-distill_kl(student(x), t_out, cfg.kd_t))
        for x, y in ret:  # min step: stay with the teacher, and right, on the retain set
            x, y = x.to(device), y.to(device)
            with torch.no_grad():
                t_out = teacher(x)
            s_out = student(x)
            step(cfg.gamma * F.cross_entropy(s_out, y) + cfg.alpha * distill_kl(s_out, t_out, cfg.kd_t))
    bar.close()
    return student.eval()
