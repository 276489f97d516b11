"""Helpers shared by the generative unlearning methods: noise targets, argument checks, the
learning-rate schedule and the paired forget / retain batches of every step."""

from __future__ import annotations

import math
from typing import Iterator

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ...config import GENERATIVE_SCHEDULES
from ...models.hf_mae import HFMAE
from ...models.mae import MAE, _check_images


def noise_like(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Noise images N(mean(x_i), std(x_i)) per image (stats over C, H, W), clamped to [0, 1].

    x (N, C, H, W) -> (N, C, H, W). Random numbers come from ``generator`` (on its device) and
    are moved to x's device.
    """
    dims = tuple(range(1, x.dim()))
    mean = x.mean(dim=dims, keepdim=True)
    std = x.std(dim=dims, keepdim=True)
    gen_device = generator.device if generator is not None else x.device
    eps = torch.randn(x.shape, generator=generator, device=gen_device, dtype=x.dtype).to(x.device)
    return (mean + std * eps).clamp(0.0, 1.0)


def _validate(original: MAE | HFMAE, retain_x: Tensor, forget_x: Tensor, epochs: int,
              lr: float, batch_size: int) -> None:
    # Both speak the same interface: cfg, encode, forward, encoder_parameters.
    if not isinstance(original, (MAE, HFMAE)):
        raise ValueError("original must be a umalib.models.mae.MAE or a "
                         "umalib.models.hf_mae.HFMAE (the paper's ViT-MAE)")
    _check_images(retain_x, original.cfg, "retain_x")
    _check_images(forget_x, original.cfg, "forget_x")
    if epochs < 1:
        raise ValueError("epochs must be >= 1")
    if lr <= 0:
        raise ValueError("lr must be > 0")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")


def _check_ratio(name: str, value: float, low_open: bool = False) -> None:
    ok = (0.0 < value < 1.0) if low_open else (0.0 <= value < 1.0)
    if not ok:
        raise ValueError(f"{name} must be in {'(0, 1)' if low_open else '[0, 1)'}, got {value}")


def _check_schedule(schedule: str) -> None:
    if schedule not in GENERATIVE_SCHEDULES:
        raise ValueError(f"schedule must be one of {GENERATIVE_SCHEDULES}, got {schedule!r}")


def _set_lr(opt: torch.optim.Optimizer, lr: float, step: int, total: int, schedule: str) -> None:
    """Constant ``lr`` or cosine decay from ``lr`` to 0 over ``total`` steps."""
    if schedule == "cosine":
        lr = lr * 0.5 * (1.0 + math.cos(math.pi * step / max(1, total)))
    for g in opt.param_groups:
        g["lr"] = lr



def _paired_batches(n_forget: int, n_retain: int, batch_size: int,
                    gen: torch.Generator) -> Iterator[tuple[Tensor, Tensor]]:
    """Endless (forget_idx, retain_idx) pairs; retain indices continue across epochs."""
    retain_perm = torch.randperm(n_retain, generator=gen)
    r_pos = 0
    while True:
        f_perm = torch.randperm(n_forget, generator=gen)
        for i in range(0, n_forget, batch_size):
            f_idx = f_perm[i:i + batch_size]
            need = f_idx.numel()
            parts = []
            while need > 0:
                if r_pos >= n_retain:
                    retain_perm, r_pos = torch.randperm(n_retain, generator=gen), 0
                take = min(need, n_retain - r_pos)
                parts.append(retain_perm[r_pos:r_pos + take])
                r_pos += take
                need -= take
            yield f_idx, torch.cat(parts)




def paired_steps(forget_x: Tensor, retain_x: Tensor, *, epochs: int, batch_size: int,
                 gen: torch.Generator, opt: torch.optim.Optimizer, lr: float, schedule: str,
                 device: str | torch.device, desc: str, progress: bool
                 ) -> Iterator[tuple[Tensor, Tensor, tqdm]]:
    """The training steps of a generative method: ``(forget batch, retain batch, bar)`` on
    ``device``, ``epochs`` passes over the forget set, the learning rate set for each step."""
    steps = epochs * math.ceil(forget_x.shape[0] / batch_size)
    batches = _paired_batches(forget_x.shape[0], retain_x.shape[0], batch_size, gen)
    bar = tqdm(range(steps), desc=desc, disable=not progress)
    for step in bar:
        _set_lr(opt, lr, step, steps, schedule)
        f_idx, r_idx = next(batches)
        yield forget_x[f_idx].to(device), retain_x[r_idx].to(device), bar
