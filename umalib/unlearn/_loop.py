"""The SGD loop shared by the unlearning methods that train (FT, GA, RL, l1-sparse, SalUn).

A method supplies which batches it sees (retain, forget, or both mixed) and its per-batch
loss; the loop supplies the optimiser, seeding, the progress bar, optional gradient masks
(SalUn) and an optional hook that adds the same loss on perturbed forget inputs (adversarial
unlearning, :mod:`umalib.defenses.adversarial_unlearning`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

import torch
from torch import nn
from tqdm.auto import tqdm

from ..config import MethodConfig
from ..data import BatchLoader, to_float
from ..train import set_seed, sgd

# loss(model, x, y, epoch) -> scalar tensor
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, int], torch.Tensor]


class ForgetHook(Protocol):
    """Called on the forget part of every batch; returns perturbed inputs, or None to skip."""

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None: ...


@dataclass
class LoopStats:
    """What a training-based unlearning run did: losses per epoch, hook calls, seconds."""

    losses: list[float] = field(default_factory=list)
    hook_calls: int = 0
    hook_seconds: float = 0.0
    seconds: float = 0.0


def mixed_batches(retain: BatchLoader | None, forget: BatchLoader | None, batch_size: int,
                  seed: int, epoch: int,
                  forget_labels: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
                  ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Shuffled batches over the union of the given sets: ``(x, y, is_forget)``.

    ``forget_labels(y, generator)`` relabels the forget samples (fresh each epoch: RL).
    """
    xs, ys, flags = [], [], []
    g = torch.Generator().manual_seed(seed * 1000 + epoch)
    for part, is_f in ((retain, False), (forget, True)):
        if part is None:
            continue
        y = part.y
        if is_f and forget_labels is not None:
            y = forget_labels(y, g)
        xs.append(part.x)
        ys.append(y)
        flags.append(torch.full((len(y),), is_f))
    x, y, f = torch.cat(xs), torch.cat(ys), torch.cat(flags)
    order = torch.randperm(len(y), generator=g)
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        yield to_float(x[idx]), y[idx], f[idx]


def run_loop(model: nn.Module, cfg: MethodConfig, loss_fn: LossFn, *,
             retain: BatchLoader | None, forget: BatchLoader | None,
             forget_labels: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
             grad_mask: dict[str, torch.Tensor] | None = None,
             frozen_values: dict[str, torch.Tensor] | None = None,
             forget_hook: ForgetHook | None = None, hook_weight: float = 1.0,
             seed: int = 0, device: str | torch.device = "cpu", progress: bool = True,
             desc: str = "unlearn") -> LoopStats:
    """Train ``model`` in place for ``cfg.epochs`` with SGD (lr ``cfg.lr``, momentum 0.9, wd 5e-4).

    Args:
        loss_fn: per-batch loss of the method.
        retain / forget: which sets the method iterates (None = not used).
        grad_mask: name -> bool mask; gradients outside the mask are zeroed (SalUn).
        frozen_values: name -> tensor; after every step, entries outside ``grad_mask`` are reset
            to these values so weight decay and momentum cannot move them (SalUn).
        forget_hook: adversarial unlearning: for the forget part of each batch, the hook returns
            perturbed inputs and ``hook_weight * loss_fn`` on them is added (Eq. 6 of the paper).
    Returns:
        :class:`LoopStats`.
    """
    set_seed(seed)
    model.to(device).train()
    opt = sgd(model, cfg.lr)
    named = dict(model.named_parameters())
    stats, t0 = LoopStats(), time.perf_counter()
    n = (retain.num_samples if retain else 0) + (forget.num_samples if forget else 0)
    bar = tqdm(total=cfg.epochs * -(-n // cfg.batch_size), desc=desc, disable=not progress)
    for epoch in range(cfg.epochs):
        total, seen = 0.0, 0
        for x, y, is_f in mixed_batches(retain, forget, cfg.batch_size, seed, epoch, forget_labels):
            x, y = x.to(device), y.to(device)
            loss = loss_fn(model, x, y, epoch)
            if forget_hook is not None and bool(is_f.any()):
                th = time.perf_counter()
                fx, fy = x[is_f.to(device)], y[is_f.to(device)]
                x_adv = forget_hook(model, fx, fy)
                model.train()  # the hook's attack runs the model in eval mode
                stats.hook_calls += 1
                stats.hook_seconds += time.perf_counter() - th
                if x_adv is not None:
                    loss = loss + hook_weight * loss_fn(model, x_adv, fy, epoch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_mask is not None:
                for name, m in grad_mask.items():
                    if named[name].grad is not None:
                        named[name].grad.mul_(m)
            opt.step()
            if frozen_values is not None and grad_mask is not None:
                with torch.no_grad():
                    for name, v in frozen_values.items():
                        named[name].copy_(torch.where(grad_mask[name], named[name], v))
            total += float(loss.detach()) * len(y)
            seen += len(y)
            bar.update(1)
        stats.losses.append(total / max(seen, 1))
        bar.set_postfix(loss=f"{stats.losses[-1]:.3f}")
    bar.close()
    model.eval()
    stats.seconds = time.perf_counter() - t0
    return stats
