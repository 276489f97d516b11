"""Weight saliency (SalUn): the globally top share of parameters by |gradient|, used by the
classifier SalUn (:mod:`umalib.unlearn.salun`) and the MAE SalUn
(:mod:`umalib.unlearn.generative.salun`)."""

from __future__ import annotations

from typing import Mapping

import torch


def top_share_mask(grads: Mapping[str, torch.Tensor], ratio: float) -> dict[str, torch.Tensor]:
    """Boolean masks, one per entry of ``grads`` (same shapes and device): True for the
    ``round(ratio * total)`` entries with the largest |g|, ranked over ALL tensors together.

    Exactly that many entries are True (``torch.topk`` breaks ties, never returns fewer).
    """
    flat = torch.cat([g.abs().flatten() for g in grads.values()])
    k = int(round(ratio * flat.numel()))
    keep = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    if k > 0:
        keep[torch.topk(flat, k, sorted=False).indices] = True
    mask, i = {}, 0
    for n, g in grads.items():
        mask[n] = keep[i:i + g.numel()].view_as(g)
        i += g.numel()
    return mask
