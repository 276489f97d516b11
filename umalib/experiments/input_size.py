"""The input-size study of notebook 03: does the share of the L1 gap that UMA closes on an
unlearned MAE depend on how many input values the attacker controls?

The paper attacks a ViT-MAE on 3x224x224 images; the quick profile's MAE reads 28x28 grey ones,
two orders of magnitude fewer values. This study holds everything else fixed: the same images
(the profile's dataset, resized; resizing up adds no content), the same forget classes, the same
training and unlearning settings, and the same transformer. The patch size grows with the image
(4 px at 28, 8 at 56, 16 at 112, ...), so the patch grid, the mask, the token count and every
transformer block are identical; only the patch embedding and the pixel head grow with the
patch. Each size trains its own original MAE and unlearns it with I2I and SalUn, then UMA
attacks it at the study's budgets (:class:`umalib.config.InputSizeConfig`).

Scores: the share of the L1 gap closed (as the budget curve: per image the best of the attacks
up to a budget), and the domain FID of the outputs, computed after an exact area downsampling
to the native size with the native size's feature network, so that every size is measured
with the same instrument. Native-size stages are notebook 03's own (same cache keys).
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..budget import to_255
from ..config import GENERATIVE_METHODS, Profile
from ..metrics.generative import fid_torchmetrics, l1_distance
from .generative import GenerativeStages, closed_rows, nested_best

if TYPE_CHECKING:
    from .discriminative import Experiment

STUDY_COLUMNS = ["size", "patch", "input_values", "method", "set", "eps", "closed",
                 "L1_per_image", "FID", "FID_original", "original_L1_per_pixel"]
STUDY_KEYS = ["size", "patch", "input_values", "method", "set", "eps"]
PAPER_INPUT = (3, 224, 224)  # the paper's images (ImageNet-1k at the ViT-MAE's size)


def why_not(profile: Profile) -> str | None:
    """Why ``profile`` runs no input-size study, or None when it runs one."""
    if not profile.input_size.sizes:
        return "input_size.sizes is empty"
    if profile.generative.pretrained is not None:
        return "the MAE is pretrained (generative.pretrained), so it has one input size"
    return None


def native_size(exp: Experiment) -> int:
    """The dataset's own image size (square images)."""
    _, h, w = exp.splits.shape
    if h != w:
        raise ValueError(f"the input-size study needs square images, {exp.splits.name} has {h}x{w}")
    return h


def stages_at(exp: Experiment, size: int) -> GenerativeStages:
    """The generative stages at ``size`` pixels: notebook 03's own at the native size, else the
    profile's generative config with the patch size scaled by ``size / native`` and
    ``input_size.samples`` evaluation images, on resized images. Raises ``ValueError`` when
    ``size`` is not a whole multiple of the native size (the grid would change)."""
    native = native_size(exp)
    if not (isinstance(size, int) and size > 0 and size % native == 0):
        raise ValueError(f"input sizes must be whole multiples of the dataset's {native} px "
                         f"(the patch grid must stay the same), got {size!r}")
    if size == native:
        return exp.generative
    g = exp.profile.generative
    study = exp.profile.input_size
    scaled = dataclasses.replace(g, patch_size=g.patch_size * (size // native),
                                 eval_samples=study.samples)
    return GenerativeStages(exp, g=scaled, resize=size, interpolation=study.interpolation)


def input_values(st: GenerativeStages) -> int:
    """How many input values the attacker controls: the visible context (the masked square
    never reaches the encoder), times the channels."""
    return int((~st.region).sum()) * st.cfg.channels


def paper_input_values(st: GenerativeStages) -> int:
    """The paper's 3x224x224 input with the same share of it visible as ``st``'s mask leaves
    (the paper does not state its mask; this places its point on the same axis)."""
    visible = float((~st.region).float().mean())
    return int(round(math.prod(PAPER_INPUT) * visible))


def architecture(st: GenerativeStages) -> dict[str, int]:
    """The MAE of ``st`` by its parts, built from the architecture (nothing trained): image
    size, patch, grid (patches per side), tokens, input values the attacker controls, and the
    parameters of the transformer blocks (encoder and decoder; the study keeps them equal at
    every size), of the patch embedding and of the pixel head (the parts that grow)."""
    from ..models.mae import MAE

    m = MAE(st.cfg)
    count = lambda mods: sum(p.numel() for mod in mods for p in mod.parameters())  # noqa: E731
    return {"size": st.cfg.image_size, "patch": st.cfg.patch_size, "grid": st.cfg.grid,
            "tokens": st.cfg.num_patches, "input_values": input_values(st),
            "block_params": count([*m.blocks, *m.decoder_blocks]),
            "patch_embed_params": count([m.patch_embed]),
            "pixel_head_params": count([m.decoder_pred])}


def architecture_table(exp: Experiment) -> pd.DataFrame:
    """:func:`architecture` at every size of the profile's input-size study."""
    return pd.DataFrame([architecture(stages_at(exp, s)) for s in exp.profile.input_size.sizes])


def _at_native(x: torch.Tensor, native: int) -> torch.Tensor:
    """Images at the native size: an exact area average (sizes are whole multiples)."""
    return x if x.shape[-1] == native else F.interpolate(x, size=(native, native), mode="area")


def study_table(exp: Experiment, methods: tuple[str, ...] = GENERATIVE_METHODS) -> pd.DataFrame:
    """One seed's study (columns :data:`STUDY_COLUMNS`): per size, method, set ("forget",
    "retain") and budget ``eps`` (units of 1/255; 0 = no attack, i.e. I2; inf = unbounded):

    - ``closed``: 1 - L1(I3, I1) / L1(I2, I1), I3 per image the best of the attacks up to eps;
    - ``L1_per_image``: L1(I3, I1), 0-255 units, at the study's size;
    - ``FID``: domain FID of those outputs against the ground truth of the set, at the native
      size; ``FID_original``: the same for I1 (what an unforgotten model scores);
    - ``original_L1_per_pixel``: L1(I1, I0) per value of the generated square, the original
      inpainter's own error (are the models of every size comparably good?).

    Builds (or reads from the cache) every size's MAEs and attacks; the first
    ``input_size.samples`` evaluation images per side are scored at every size.
    """
    study = exp.profile.input_size
    reason = why_not(exp.profile)
    if reason is not None:
        raise ValueError(f"this profile runs no input-size study: {reason}")
    bad = [m for m in methods if m not in GENERATIVE_METHODS]
    if bad or not methods:
        raise ValueError(f"methods must be a non-empty subset of {GENERATIVE_METHODS}, got {methods!r}")
    stages = [stages_at(exp, s) for s in study.sizes]  # every size checked before any compute
    native = native_size(exp)
    ref = exp.generative
    feats, per_dim = ref.fid_features()
    n = study.samples
    budgets = [*study.budget_eps, None]
    real = {side: ref.eval_set(side).i0[:n] for side in ("forget", "retain")}  # FID's reference
    fid = lambda side, x: fid_torchmetrics(real[side], _at_native(x, native), feats,  # noqa: E731
                                           device=exp.device, min_samples_per_dim=per_dim)
    rows = []
    for size, st in zip(study.sizes, stages):
        head = {"size": size, "patch": st.cfg.patch_size, "input_values": input_values(st)}
        values = int(st.region.sum()) * st.cfg.channels
        for side in ("forget", "retain"):
            i0 = st.eval_set(side).i0[:n]
            i1 = st.clean_output("Original", side)[:n]
            own = l1_distance(i1, i0)[0] / values  # per value of the generated square
            fid_i1 = fid(side, i1)
            for m in methods:
                i2 = st.clean_output(m, side)[:n]
                i3 = [(math.inf if e is None else to_255(e), st.attacked(m, side, e)["outputs"][:n])
                      for e in budgets]
                gap, _ = l1_distance(i2, i1)
                common = {**head, "method": m, "set": side, "FID_original": fid_i1,
                          "original_L1_per_pixel": own}
                rows.append({**common, "eps": 0.0, "closed": 0.0, "L1_per_image": gap,
                             "FID": fid(side, i2)})
                # the budget curve's rows (eps, L1_per_image, closed) and their nested images
                nested = nested_best(i1, i2, i3)
                for (_, x, _), r in zip(nested, closed_rows(i1, i2, nested)):
                    rows.append({**common, **r, "FID": fid(side, x)})
    return pd.DataFrame(rows, columns=STUDY_COLUMNS)


def at_budget(study: pd.DataFrame, eps: float) -> pd.DataFrame:
    """The aggregated study (means, ``<column>_std``) read at one budget, one row per size,
    method and set: ``closed`` at ``eps`` (units of 1/255) and unbounded, the FID of I2 (no
    attack), of I3 at ``eps`` and of I1, and the original inpainter's own error."""
    need = {"eps", "closed", "closed_std", "FID", "FID_std"}
    if not need <= set(study.columns):
        raise ValueError(f"the study table needs the columns {sorted(need)} (an aggregated table)")
    keys = ["method", "set", "size", "input_values"]
    pick = lambda e, cols: study[np.isclose(study["eps"].astype(float), e)][keys + cols]  # noqa: E731
    at = pick(eps, ["closed", "closed_std", "FID", "FID_std", "FID_original", "FID_original_std",
                    "original_L1_per_pixel", "original_L1_per_pixel_std"])
    if at.empty:
        raise ValueError(f"the study has no rows at eps {eps:g}/255")
    none = pick(0.0, ["FID", "FID_std"]).rename(columns={"FID": "FID_I2", "FID_std": "FID_I2_std"})
    inf = pick(math.inf, ["closed", "closed_std"]).rename(
        columns={"closed": "closed_unbounded", "closed_std": "closed_unbounded_std"})
    out = at.merge(none, on=keys).merge(inf, on=keys)
    order = keys + ["closed", "closed_std", "closed_unbounded", "closed_unbounded_std",
                    "FID_I2", "FID_I2_std", "FID", "FID_std", "FID_original", "FID_original_std",
                    "original_L1_per_pixel", "original_L1_per_pixel_std"]
    return out[order].sort_values(["set", "method", "size"]).reset_index(drop=True)
