"""Seeded SGD training of classifiers, shared by the original model and the unlearning methods."""

from __future__ import annotations

import contextlib
import math
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .config import TrainConfig
from .data.splits import BatchLoader


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def autocast(bf16: bool, device: str | torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on the given device when asked, else a no-op context."""
    dev = torch.device(device).type
    return torch.autocast(dev, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def sgd(model: nn.Module, lr: float, momentum: float = 0.9, weight_decay: float = 5e-4,
        params: Iterable[nn.Parameter] | None = None) -> torch.optim.SGD:
    """The reference code's optimiser: SGD with momentum 0.9 and weight decay 5e-4."""
    return torch.optim.SGD(model.parameters() if params is None else params, lr=lr,
                           momentum=momentum, weight_decay=weight_decay)


def lr_lambda(schedule: str, total_steps: int) -> Callable[[int], float]:
    """Multiplier on the base lr at optimiser step ``t`` (cosine, step decay at 50%/75%, constant)."""
    if schedule == "cosine":
        return lambda t: 0.5 * (1 + math.cos(math.pi * min(t, total_steps) / max(total_steps, 1)))
    if schedule == "multistep":
        return lambda t: 0.1 ** ((t >= 0.5 * total_steps) + (t >= 0.75 * total_steps))
    return lambda t: 1.0


def augment_batch(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop with ``pad`` zero padding and horizontal flip, per sample (CIFAR recipe)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    rows = (dy.view(n, 1) + torch.arange(h).view(1, h)).view(n, 1, h, 1)
    cols = (dx.view(n, 1) + torch.arange(w).view(1, w)).view(n, 1, 1, w)
    out = padded.gather(2, rows.expand(n, x.shape[1], h, padded.shape[3]))
    out = out.gather(3, cols.expand(n, x.shape[1], h, w))
    flip = torch.rand(n, generator=generator) < 0.5
    out[flip] = out[flip].flip(3)
    return out


@dataclass
class TrainResult:
    """Per-epoch mean loss and training accuracy (%), and the wall time in seconds."""

    losses: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)
    seconds: float = 0.0


def prepare(model: nn.Module, cfg: TrainConfig, device: str | torch.device) -> nn.Module:
    """Move to ``device`` and, if asked, channels_last memory format."""
    model = model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def batches(loader: BatchLoader, device: str | torch.device, channels_last: bool = False
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield device batches from a loader, optionally channels_last."""
    for x, y in loader:
        x = x.to(device, non_blocking=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        yield x, y.to(device, non_blocking=True)


def train_classifier(model: nn.Module, loader: BatchLoader, cfg: TrainConfig, *, seed: int = 0,
                     device: str | torch.device = "cpu", progress: bool = True,
                     desc: str = "train") -> TrainResult:
    """Train ``model`` in place with SGD + cross-entropy, as ``cfg`` says.

    Args:
        model: classifier (inputs in [0, 1], logits out).
        loader: shuffling :class:`~umalib.data.BatchLoader` over the training set.
        cfg: epochs, lr, schedule, weight decay, augmentation, bf16 autocast, channels_last.
    Returns:
        :class:`TrainResult` with per-epoch loss / accuracy and wall time.
    """
    set_seed(seed)
    model = prepare(model, cfg, device)
    opt = sgd(model, cfg.lr, cfg.momentum, cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg.schedule, cfg.epochs * len(loader)))
    gen = torch.Generator().manual_seed(seed)
    result, t0 = TrainResult(), time.perf_counter()
    bar = tqdm(range(cfg.epochs), desc=desc, disable=not progress)
    for _ in bar:
        model.train()
        tot_loss, correct, seen = 0.0, 0, 0
        for x, y in batches(loader, device, cfg.channels_last):
            if cfg.augment:
                x = augment_batch(x.cpu(), gen).to(device)
            with autocast(cfg.bf16, device):
                logits = model(x)
                loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot_loss += float(loss.detach()) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
        result.losses.append(tot_loss / seen)
        result.accuracies.append(100.0 * correct / seen)
        bar.set_postfix(loss=f"{result.losses[-1]:.3f}", acc=f"{result.accuracies[-1]:.1f}")
    result.seconds = time.perf_counter() - t0
    model.eval()
    return result
