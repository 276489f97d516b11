"""The relearning probe: fine-tune a copy of the unlearned model for a few steps and watch its
forget-set accuracy come back (a weight-space probe, beside UMA's input-space one).

Facts from the relearning literature (e.g. arXiv 2505.22310, whose reference code fine-tunes on
the retain set plus k forget images, and keeps those images out of the evaluation): an
approximate method's forget accuracy can return within a few hundred steps, even from retain data
alone, while a retrained model's stays low. Here the budget is much smaller (tens of steps), so
what returns fast is what was merely suppressed.

Each step draws a seeded batch of ``batch_size`` images: ``forget_per_batch`` of the relearning
forget images and retain images for the rest (``x_forget=None``: retain images only, the
retain-only variant). SGD with momentum, no weight decay, the model in train mode (BatchNorm
statistics move, as in any fine-tuning). Forget accuracy is measured, in eval mode, on
``eval_x`` after each step count in ``steps`` (0 = before any update).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data import to_float
from ..metrics.classification import predictions
from .probe import register_probe


@dataclass
class RelearnResult:
    """Forget accuracy (%) of the relearned copy after each step count, and the wall time."""

    accuracy: dict[int, float] = field(default_factory=dict)
    seconds: float = 0.0


def _check(steps: Sequence[int], n_retain: int, n_forget: int, batch_size: int,
           forget_per_batch: int, lr: float) -> list[int]:
    ts = list(steps)
    if not ts or any(not isinstance(t, int) or t < 0 for t in ts) or ts != sorted(set(ts)):
        raise ValueError(f"steps: must be an increasing sequence of distinct ints >= 0, got {steps!r}")
    if n_retain < 1:
        raise ValueError("retain: needs at least one retain image")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size: must be an int >= 1, got {batch_size!r}")
    if n_forget and not (isinstance(forget_per_batch, int) and 1 <= forget_per_batch < batch_size):
        raise ValueError(f"forget_per_batch: must be an int in [1, batch_size), got {forget_per_batch!r}")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr: must be a number > 0, got {lr!r}")
    return ts


@register_probe("relearn", space="weights",
                summary="fine-tune a copy on retain (+ a few forget) images; forget accuracy returns?")
def relearn(original: nn.Module | None, unlearned: nn.Module, eval_x: torch.Tensor,
            eval_y: torch.Tensor, retain_x: torch.Tensor, retain_y: torch.Tensor,
            x_forget: torch.Tensor | None = None, y_forget: torch.Tensor | None = None, *,
            steps: Sequence[int] = (0, 10, 50, 100), lr: float = 0.01, momentum: float = 0.9,
            batch_size: int = 128, forget_per_batch: int = 16, seed: int = 0,
            device: str | torch.device = "cpu") -> RelearnResult:
    """Relearn a copy of ``unlearned`` (never modified; ``original`` is not used).

    Args:
        eval_x / eval_y: forget images scored after each step count (uint8 or float in [0, 1]).
        retain_x / retain_y: retain images the relearner trains on.
        x_forget / y_forget: the few forget images it may also train on (disjoint from eval_x);
            None = the retain-only variant.
        steps: step counts at which forget accuracy is measured (0 = before relearning).
    Returns:
        :class:`RelearnResult` with ``accuracy[t]`` in % for each ``t`` in ``steps``.
    """
    n_f = 0 if x_forget is None else len(x_forget)
    ts = _check(steps, len(retain_y), n_f, batch_size, forget_per_batch, lr)
    t0 = time.perf_counter()
    model = copy.deepcopy(unlearned).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    n_r = batch_size - (forget_per_batch if n_f else 0)
    ex = to_float(eval_x)
    res = RelearnResult()
    for t in range(ts[-1] + 1):
        if t in ts:
            hits = predictions(model, ex, device=str(device)) == eval_y  # predict(): eval mode
            res.accuracy[t] = float(hits.float().mean()) * 100
        if t == ts[-1]:
            break
        ir = torch.randint(len(retain_y), (n_r,), generator=gen)
        x, y = to_float(retain_x[ir]), retain_y[ir]
        if n_f:
            jf = torch.randint(n_f, (forget_per_batch,), generator=gen)
            x, y = torch.cat([x, to_float(x_forget[jf])]), torch.cat([y, y_forget[jf]])
        model.train()
        loss = F.cross_entropy(model(x.to(device)), y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    res.seconds = time.perf_counter() - t0
    return res
