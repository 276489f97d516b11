"""I2I unlearning (Li et al., 2024) of the MAE inpainter: encoder-latent distillation to a
frozen copy of the original; forget images are pulled to the latent of a noise image, retain
images to their own latent."""

from __future__ import annotations

import copy

import torch
from torch import Tensor

from ...models.hf_mae import HFMAE
from ...models.mae import MAE, random_keep
from ._common import _check_ratio, _check_schedule, _validate, noise_like, paired_steps


def i2i(original: MAE | HFMAE, retain_x: Tensor, forget_x: Tensor, *, epochs: int, lr: float,
        batch_size: int, seed: int = 0, device: str | torch.device = "cpu",
        progress: bool = True, forget_weight: float = 0.2, retain_weight: float = 1.0,
        weight_decay: float = 0.05, patch_mask_ratio: float | None = None,
        schedule: str = "constant") -> MAE | HFMAE:
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
    # parameters frozen in the original stay frozen (the HF ViT-MAE's fixed sin-cos position
    # embeddings are parameters with requires_grad=False)
    learnable = {id(p) for p in student.parameters() if p.requires_grad}
    enc_params = [p for p in student.encoder_parameters() if id(p) in learnable]
    enc_ids = {id(p) for p in enc_params}
    for p in student.parameters():
        p.requires_grad_(id(p) in enc_ids)
    opt = torch.optim.AdamW(enc_params, lr=lr, betas=(0.9, 0.95), weight_decay=weight_decay)

    for xf, xr, bar in paired_steps(forget_x, retain_x, epochs=epochs, batch_size=batch_size,
                                    gen=gen, opt=opt, lr=lr, schedule=schedule, device=device,
                                    desc="I2I unlearning", progress=progress):
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
        p.requires_grad_(id(p) in learnable)
    return student.eval()
