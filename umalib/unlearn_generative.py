"""Generative unlearning for the MAE inpainter (paper Section 5.1, Appendix A.3).

Two methods, both returning a new :class:`~umalib.mae.MAE` and never modifying ``original``:

* ``"I2I"`` (:func:`i2i`): encoder-latent distillation to a frozen copy of the original; forget
  images are pulled to the latent of a noise image, retain images to their own latent.
* ``"SalUn"`` (:func:`salun_mae`): weight saliency from the forget-set reconstruction loss, then
  training of the salient weights only, mapping forget inputs to noise outputs while keeping the
  retain outputs of the original.

Both train on random patch masks; an epoch is one pass over the forget set, each forget batch
paired with a retain batch of the same size drawn from a running permutation of the retain set.
"""

from __future__ import annotations

import copy
import math
from typing import Callable, Iterator

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .mae import MAE, _check_images, _masked_mse, random_keep

__all__ = [
    "GENERATIVE_METHODS",
    "unlearn_generative",
    "i2i",
    "salun_mae",
    "saliency_mask",
    "noise_like",
]


# ----------------------------------------------------------------------------- helpers

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


def _validate(original: MAE, retain_x: Tensor, forget_x: Tensor, epochs: int, lr: float,
              batch_size: int) -> None:
    if not isinstance(original, MAE):
        raise ValueError("original must be a umalib.mae.MAE")
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


SCHEDULES = ("constant", "cosine")


def _check_schedule(schedule: str) -> None:
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")


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


# ----------------------------------------------------------------------------- I2I

def i2i(original: MAE, retain_x: Tensor, forget_x: Tensor, *, epochs: int, lr: float,
        batch_size: int, seed: int = 0, device: str | torch.device = "cpu",
        progress: bool = True, forget_weight: float = 0.2, retain_weight: float = 1.0,
        weight_decay: float = 0.05, patch_mask_ratio: float | None = None,
        schedule: str = "constant") -> MAE:
    """I2I unlearning (Li et al., 2024) of an MAE; returns a new model in eval mode.

    Loss per step, with one random patch mask shared by student and frozen teacher (the
    original):  retain_weight * MSE(E_s(x_r), E_t(x_r)) + forget_weight * MSE(E_s(x_f), E_t(z_f))
    where E is the encoder latent (all tokens, [CLS] included) and z_f = N(mean(x_f), std(x_f))
    per image, clamped to [0, 1], drawn afresh every step. Only the encoder trains (the decoder
    stays bit-identical). AdamW, betas (0.9, 0.95), ``lr`` constant or cosine-decayed to 0
    (``schedule``). ``patch_mask_ratio`` defaults to ``original.cfg.mask_ratio``.
    """
    _validate(original, retain_x, forget_x, epochs, lr, batch_size)
    _check_schedule(schedule)
    ratio = original.cfg.mask_ratio if patch_mask_ratio is None else patch_mask_ratio
    _check_ratio("patch_mask_ratio", ratio)
    cfg = original.cfg
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    teacher = copy.deepcopy(original).to(device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = copy.deepcopy(original).to(device).train()
    enc_params = student.encoder_parameters()
    enc_ids = {id(p) for p in enc_params}
    for p in student.parameters():
        p.requires_grad_(id(p) in enc_ids)
    opt = torch.optim.AdamW(enc_params, lr=lr, betas=(0.9, 0.95), weight_decay=weight_decay)

    steps = epochs * math.ceil(forget_x.shape[0] / batch_size)
    batches = _paired_batches(forget_x.shape[0], retain_x.shape[0], batch_size, gen)
    bar = tqdm(range(steps), desc="I2I unlearning", disable=not progress)
    for step in bar:
        _set_lr(opt, lr, step, steps, schedule)
        f_idx, r_idx = next(batches)
        xf = forget_x[f_idx].to(device)
        xr = retain_x[r_idx].to(device)
        x = torch.cat([xf, xr])
        keep = random_keep(cfg, x.shape[0], ratio, gen, device=device)
        with torch.no_grad():
            target = teacher.encode(torch.cat([noise_like(xf, gen), xr]), keep)
        latent = student.encode(x, keep)
        nf = xf.shape[0]
        loss_f = (latent[:nf] - target[:nf]).pow(2).mean()
        loss_r = (latent[nf:] - target[nf:]).pow(2).mean()
        loss = forget_weight * loss_f + retain_weight * loss_r
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.set_postfix(forget=f"{loss_f.detach().item():.4f}", retain=f"{loss_r.detach().item():.4f}")
    for p in student.parameters():
        p.requires_grad_(True)
    return student.eval()


# ----------------------------------------------------------------------------- SalUn

def saliency_mask(model: MAE, forget_x: Tensor, *, ratio: float = 0.5, batch_size: int = 256,
                  seed: int = 0, device: str | torch.device = "cpu",
                  patch_mask_ratio: float | None = None) -> dict[str, Tensor]:
    """SalUn weight saliency for an MAE: {parameter name: bool mask of the parameter's shape}.

    The gradient of the mean forget-set reconstruction loss (MSE on masked patches, random
    masks from ``seed``) is taken w.r.t. every parameter; the ``round(ratio * total)`` entries
    with the largest |g|, ranked globally over all parameters, are True (salient). ``model`` is
    left unchanged (its gradients are computed on a copy).
    """
    _check_ratio("ratio", ratio, low_open=True)
    _check_images(forget_x, model.cfg, "forget_x")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    pm = model.cfg.mask_ratio if patch_mask_ratio is None else patch_mask_ratio
    _check_ratio("patch_mask_ratio", pm)
    work = copy.deepcopy(model).to(device).eval()
    for p in work.parameters():
        p.requires_grad_(True)
        p.grad = None
    gen = torch.Generator().manual_seed(seed)
    n = forget_x.shape[0]
    for i in range(0, n, batch_size):
        xb = forget_x[i:i + batch_size].to(device)
        keep = random_keep(work.cfg, xb.shape[0], pm, gen, device=device)
        (_masked_mse(work(xb, keep), xb, keep, work.cfg).sum() / n).backward()
    names = [name for name, _ in work.named_parameters()]
    grads = [p.grad.detach().abs().reshape(-1) if p.grad is not None
             else torch.zeros(p.numel(), device=p.device) for p in work.parameters()]
    flat = torch.cat(grads)
    k = int(round(ratio * flat.numel()))
    chosen = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    if k > 0:
        # topk breaks ties arbitrarily but returns exactly k entries
        chosen[torch.topk(flat, k, sorted=False).indices] = True
    masks, pos = {}, 0
    for name, p in zip(names, work.parameters()):
        masks[name] = chosen[pos:pos + p.numel()].reshape(p.shape).cpu()
        pos += p.numel()
    return masks


def salun_mae(original: MAE, retain_x: Tensor, forget_x: Tensor, *, epochs: int, lr: float,
              batch_size: int, seed: int = 0, device: str | torch.device = "cpu",
              progress: bool = True, mask_ratio: float = 0.5, forget_weight: float = 1.0,
              retain_weight: float = 1.0, retain_target: str = "original",
              weight_decay: float = 0.0, patch_mask_ratio: float | None = None,
              schedule: str = "cosine") -> MAE:
    """SalUn (Fan et al., 2024) for the MAE inpainter; returns a new model in eval mode.

    1. Saliency: :func:`saliency_mask` with ``ratio=mask_ratio`` (global top share by |grad| of
       the forget-set reconstruction loss over ALL parameters).
    2. Training of the salient weights only: gradients of the others are zeroed and, after
       every optimiser step, their values are restored to the original ones (so they stay
       bit-identical despite weight decay or Adam state). AdamW, betas (0.9, 0.95), ``lr``
       cosine-decayed to 0 by default (``schedule``): the noise targets make the gradients
       noisy, and the decay lets the retain outputs settle back at the end.

    Objective per step (one random patch mask per image, masked patches only):
        forget_weight * MSE(f(x_f), z_f) + retain_weight * MSE(f(x_r), t_r)
    z_f = N(mean(x_f), std(x_f)) per image clamped to [0, 1], fresh every step: the generative
    analogue of SalUn's random labels (forget inputs are mapped to a meaningless output).
    t_r is chosen by ``retain_target``:
      * ``"original"`` (default): the frozen original's output f_0(x_r). The aim of unlearning
        here is to change nothing but the forget behaviour, and L1(I2, I1) on the retain set is
        measured against the original's output; distilling to it pins the retain behaviour
        directly, whereas fitting the ground truth keeps training the inpainter and moves its
        retain outputs (to better or worse) for reasons unrelated to forgetting. It is also
        the analogue of I2I's retain term, so both methods are compared on the same footing.
      * ``"ground_truth"``: x_r itself (the MAE training loss, as SalUn's retain term in its
        own generative setting uses the original training loss).
    The mask is stored on the returned model as ``salient_mask`` ({name: bool tensor}).
    """
    _validate(original, retain_x, forget_x, epochs, lr, batch_size)
    _check_ratio("mask_ratio", mask_ratio, low_open=True)
    _check_schedule(schedule)
    if retain_target not in ("original", "ground_truth"):
        raise ValueError("retain_target must be 'original' or 'ground_truth'")
    ratio = original.cfg.mask_ratio if patch_mask_ratio is None else patch_mask_ratio
    _check_ratio("patch_mask_ratio", ratio)
    cfg = original.cfg
    masks = saliency_mask(original, forget_x, ratio=mask_ratio, batch_size=max(batch_size, 256),
                          seed=seed, device=device, patch_mask_ratio=ratio)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    teacher = copy.deepcopy(original).to(device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = copy.deepcopy(original).to(device).train()
    params = dict(student.named_parameters())
    for p in params.values():
        p.requires_grad_(True)
    dev_masks = {n: m.to(device) for n, m in masks.items()}
    # parameters with no salient entry never need to move
    trainable = {n: p for n, p in params.items() if bool(dev_masks[n].any())}
    for n, p in params.items():
        if n not in trainable:
            p.requires_grad_(False)
    frozen_vals = {n: p.detach().clone() for n, p in trainable.items()}
    opt = torch.optim.AdamW(list(trainable.values()), lr=lr, betas=(0.9, 0.95),
                            weight_decay=weight_decay)

    steps = epochs * math.ceil(forget_x.shape[0] / batch_size)
    batches = _paired_batches(forget_x.shape[0], retain_x.shape[0], batch_size, gen)
    bar = tqdm(range(steps), desc="SalUn unlearning", disable=not progress)
    for step in bar:
        _set_lr(opt, lr, step, steps, schedule)
        f_idx, r_idx = next(batches)
        xf = forget_x[f_idx].to(device)
        xr = retain_x[r_idx].to(device)
        x = torch.cat([xf, xr])
        nf = xf.shape[0]
        keep = random_keep(cfg, x.shape[0], ratio, gen, device=device)
        with torch.no_grad():
            t_r = teacher(xr, keep[nf:]) if retain_target == "original" else xr
            target = torch.cat([noise_like(xf, gen), t_r])
        per = _masked_mse(student(x, keep), target, keep, cfg)
        loss_f, loss_r = per[:nf].mean(), per[nf:].mean()
        loss = forget_weight * loss_f + retain_weight * loss_r
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for n, p in trainable.items():
            if p.grad is not None:
                p.grad.mul_(dev_masks[n])
        opt.step()
        with torch.no_grad():
            for n, p in trainable.items():
                p.copy_(torch.where(dev_masks[n], p, frozen_vals[n]))
        bar.set_postfix(forget=f"{loss_f.detach().item():.4f}", retain=f"{loss_r.detach().item():.4f}")
    for p in student.parameters():
        p.requires_grad_(True)
    student.salient_mask = masks
    return student.eval()


# ----------------------------------------------------------------------------- registry

GENERATIVE_METHODS: dict[str, Callable[..., MAE]] = {"I2I": i2i, "SalUn": salun_mae}


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
