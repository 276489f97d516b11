"""SalUn (Fan et al., 2024) for the MAE inpainter: weight saliency from the forget-set
reconstruction loss, then training of the salient weights only, mapping forget inputs to noise
outputs while keeping the retain outputs of the original."""

from __future__ import annotations

import copy

import torch
from torch import Tensor

from ...models.hf_mae import HFMAE
from ...models.mae import MAE, _check_images, _masked_mse, random_keep
from ..saliency import top_share_mask
from ._common import _check_ratio, _check_schedule, _validate, noise_like, paired_steps


def saliency_mask(model: MAE | HFMAE, forget_x: Tensor, *, ratio: float = 0.5,
                  batch_size: int = 256, seed: int = 0, device: str | torch.device = "cpu",
                  patch_mask_ratio: float | None = None) -> dict[str, Tensor]:
    """SalUn weight saliency for an MAE: {parameter name: bool mask of the parameter's shape}
    over the trainable parameters (``requires_grad``; frozen ones have no entry).

    The gradient of the mean forget-set reconstruction loss (MSE on masked patches, random
    masks from ``seed``) is taken w.r.t. every trainable parameter; the ``round(ratio * total)``
    entries with the largest |g|, ranked globally over them, are True (salient). ``model`` is
    left unchanged (its gradients are computed on a copy).
    """
    _check_ratio("ratio", ratio, low_open=True)
    _check_images(forget_x, model.cfg, "forget_x")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    pm = model.cfg.mask_ratio if patch_mask_ratio is None else patch_mask_ratio
    _check_ratio("patch_mask_ratio", pm)
    work = copy.deepcopy(model).to(device).eval()
    for p in work.parameters():  # frozen parameters (fixed position embeddings) get no gradient
        p.grad = None
    gen = torch.Generator().manual_seed(seed)
    n = forget_x.shape[0]
    for i in range(0, n, batch_size):
        xb = forget_x[i:i + batch_size].to(device)
        keep = random_keep(work.cfg, xb.shape[0], pm, gen, device=device)
        (_masked_mse(work(xb, keep), xb, keep, work.cfg).sum() / n).backward()
    grads = {name: p.grad.detach() if p.grad is not None else torch.zeros_like(p)
             for name, p in work.named_parameters() if p.requires_grad}
    return {name: m.cpu() for name, m in top_share_mask(grads, ratio).items()}


def salun_mae(original: MAE | HFMAE, retain_x: Tensor, forget_x: Tensor, *, epochs: int, lr: float,
              batch_size: int, seed: int = 0, device: str | torch.device = "cpu",
              progress: bool = True, mask_ratio: float = 0.5, forget_weight: float = 1.0,
              retain_weight: float = 1.0, retain_target: str = "original",
              weight_decay: float = 0.0, patch_mask_ratio: float | None = None,
              schedule: str = "cosine") -> MAE | HFMAE:
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
    # only parameters the original trains can be salient; frozen ones stay as they are
    params = {n: p for n, p in student.named_parameters() if p.requires_grad}
    dev_masks = {n: m.to(device) for n, m in masks.items() if n in params}
    # parameters with no salient entry never need to move
    trainable = {n: p for n, p in params.items() if bool(dev_masks[n].any())}
    for n, p in params.items():
        if n not in trainable:
            p.requires_grad_(False)
    frozen_vals = {n: p.detach().clone() for n, p in trainable.items()}
    opt = torch.optim.AdamW(list(trainable.values()), lr=lr, betas=(0.9, 0.95),
                            weight_decay=weight_decay)

    for xf, xr, bar in paired_steps(forget_x, retain_x, epochs=epochs, batch_size=batch_size,
                                    gen=gen, opt=opt, lr=lr, schedule=schedule, device=device,
                                    desc="SalUn unlearning", progress=progress):
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
    for p in params.values():
        p.requires_grad_(True)
    student.salient_mask = masks
    return student.eval()
