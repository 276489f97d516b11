"""Cached stages of the generative experiment (notebook 03): MAE training, I2I / SalUn
unlearning of the MAE, UMA on the generator, and the IS / FID / L1 tables.

Pipeline (paper Appendix A.3): I0 ground truth, Im = I0 with a centred square of patches
masked, I1 = original MAE's inpainting of Im, I2 = unlearned MAE's inpainting of Im, I3 =
unlearned MAE's inpainting of Im + delta where UMA chose delta to make I3 close to I1.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable

import pandas as pd
import torch

from .. import cache
from ..attacks.uma import uma
from ..config import GENERATIVE_METHODS, GenerativeConfig
from ..data.splits import to_float
from ..metrics.generative import classifier_features, fid_from_features, inception_score, l1_distance
from ..models.mae import (MAE, Inpainter, MAEConfig, centre_square_keep, inpainted_region,
                          mask_image, train_mae)
from ..unlearn.generative import GENERATIVE_METHODS as GENERATIVE_UNLEARNING
from .stage import Built, cached_model, cpu_state

if TYPE_CHECKING:
    from .discriminative import Experiment

MAE_CODE = ("umalib.models.mae", "umalib.data.splits")  # code roots of every MAE stage

ATTACKS: tuple[str, ...] = ("none", "8/255", "unbounded")
TABLE3_COLUMNS = ["method", "attack", "IS_R", "IS_F", "FID_R", "FID_F"]
TABLE7_COLUMNS = ["method", "set", "attack", "L1_per_image", "L1_per_pixel"]


def mae_config(g: GenerativeConfig, channels: int, image_size: int) -> MAEConfig:
    """The MAE architecture of a generative config."""
    dec_heads = g.heads if g.decoder_dim % g.heads == 0 else 1
    return MAEConfig(image_size=image_size, channels=channels, patch_size=g.patch_size,
                     embed_dim=g.embed_dim, depth=g.depth, heads=g.heads,
                     decoder_dim=g.decoder_dim, decoder_depth=g.decoder_depth,
                     decoder_heads=dec_heads, mask_ratio=g.mask_ratio)


@dataclass
class EvalSet:
    """Held-out test images of one side (forget or retain) and their masked versions."""

    i0: torch.Tensor
    im: torch.Tensor
    labels: torch.Tensor


class GenerativeStages:
    """The MAE stages of an :class:`Experiment` (``exp.generative``): same data, and its original
    classifier serves as the domain feature network for FID / IS."""

    def __init__(self, exp: Experiment) -> None:
        self.exp = exp
        self.g = exp.profile.generative
        c, h, _ = exp.splits.shape
        self.cfg = mae_config(self.g, c, h)
        bad = [k for k in self.g.forget_classes if k >= exp.splits.num_classes]
        if bad:
            raise ValueError(f"generative.forget_classes {bad} not in the dataset's classes")

    # ------------------------------------------------------------------ data
    @cached_property
    def keep(self) -> torch.Tensor:
        """The evaluation mask: one keep row (L,), a centred square hidden."""
        return centre_square_keep(self.cfg, 1, self.g.square_frac)[0]

    def _side(self, x: torch.Tensor, y: torch.Tensor, forget: bool, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        m = torch.isin(y, torch.tensor(self.g.forget_classes))
        m = m if forget else ~m
        return to_float(x[m][:n]), y[m][:n]

    def unlearn_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(retain_x, forget_x): training images used to unlearn."""
        sp = self.exp.splits
        f, _ = self._side(sp.x_train, sp.y_train, True, self.g.unlearn_samples)
        r, _ = self._side(sp.x_train, sp.y_train, False, self.g.unlearn_samples)
        return r, f

    def eval_set(self, side: str) -> EvalSet:
        """Held-out test images of the "forget" or "retain" classes."""
        sp = self.exp.splits
        x, y = self._side(sp.x_test, sp.y_test, side == "forget", self.g.eval_samples)
        keep = self.keep[None].expand(len(x), -1)
        return EvalSet(x, mask_image(x, keep, self.cfg), y)

    # ---------------------------------------------------------------- models
    def _key(self, stage: str, extra: dict, upstream: list[str], code: tuple) -> str:
        return cache.make_key(stage, {"generative": self.g, "seed": self.exp.profile.seed, **extra},
                              upstream=upstream, data=self.exp.splits.fingerprint,
                              code=MAE_CODE + (mae_config,) + code)

    def _mae(self, tensors: dict[str, torch.Tensor]) -> MAE:
        m = MAE(self.cfg)
        m.load_state_dict(tensors)
        return m.to(self.exp.device).eval()

    def original_key(self) -> str:
        return self._key("mae", {}, [], (GenerativeStages.original,))

    def original(self) -> Built:
        """The MAE trained on the training split (all classes), cached."""
        def build() -> tuple[dict, dict]:
            x = to_float(self.exp.splits.x_train[: self.g.train_subset])
            mae, losses = train_mae(self.cfg, x, epochs=self.g.epochs, batch_size=self.g.batch_size,
                                    lr=self.g.lr, seed=self.exp.profile.seed, device=self.exp.device,
                                    progress=self.exp.progress)
            return cpu_state(mae), {"losses": losses}

        return cached_model("mae", self.original_key(), build, self._mae, self.exp.force)

    def unlearned_key(self, method: str) -> str:
        return self._key("mae_unlearned", {"method": method}, [self.original_key()],
                         (GENERATIVE_UNLEARNING[method].__module__, GenerativeStages.unlearned,
                          GenerativeStages.unlearn_data, GenerativeStages._side))

    def unlearned(self, method: str) -> Built:
        """The MAE unlearned with "I2I" or "SalUn", cached."""
        if method not in GENERATIVE_METHODS:
            raise ValueError(f"generative method must be one of {GENERATIVE_METHODS}, got {method!r}")

        def build() -> tuple[dict, dict]:
            orig = self.original().model
            r, f = self.unlearn_data()
            t0 = time.perf_counter()
            m = GENERATIVE_UNLEARNING[method](orig, r, f, epochs=self.g.unlearn_epochs,
                                              lr=self.g.unlearn_lr,
                                              batch_size=self.g.unlearn_batch_size,
                                              seed=self.exp.profile.seed, device=self.exp.device,
                                              progress=self.exp.progress)
            return cpu_state(m), {"seconds": time.perf_counter() - t0}

        return cached_model("mae_unlearned", self.unlearned_key(method), build, self._mae,
                            self.exp.force)

    # ---------------------------------------------------------------- outputs
    @torch.no_grad()
    def inpaint(self, mae: MAE, im: torch.Tensor) -> torch.Tensor:
        return Inpainter(mae, self.keep).eval()(im.to(self.exp.device)).cpu()

    @cached_property
    def region(self) -> torch.Tensor:
        """Bool (1, 1, H, W): the pixels the MAE generates (the masked square)."""
        return inpainted_region(self.keep, self.cfg)

    def composite(self, generated: torch.Tensor, i0: torch.Tensor) -> torch.Tensor:
        """The generated square pasted into the clean image: what a user of the inpainter sees.

        Outside the square an inpainter returns its input, so an attacked output would carry
        the perturbation there one-to-one; the paper's L1 values (Table 7) show it is not
        counted, so every metric here compares images that differ only where the model draws.
        """
        r = self.region.to(generated.dtype)
        return r * generated + (1 - r) * i0

    def attacked(self, method: str, side: str, attack: str) -> dict[str, torch.Tensor]:
        """UMA on the generator: I3 for ``attack`` in "8/255" (eps = generative.eps) or
        "unbounded"; cached. The loss is the MSE between the two models' generated squares
        (the pass-through border carries no knowledge). Returns x_adv, outputs (I3 composited
        into the clean image), loss_history, seconds."""
        if attack not in ATTACKS[1:]:
            raise ValueError(f"attack must be one of {ATTACKS[1:]}, got {attack!r}")
        bounded = attack != "unbounded"
        key = self._key("mae_uma", {"method": method, "side": side, "attack": attack},
                        [self.unlearned_key(method)],
                        ("umalib.attacks.uma", GenerativeStages.attacked, GenerativeStages.eval_set,
                         GenerativeStages._side, GenerativeStages.keep.func,
                         GenerativeStages.region.func, GenerativeStages.composite))

        def build() -> tuple[dict, dict]:
            orig = self.original().model
            unl = self.unlearned(method).model
            ev = self.eval_set(side)
            r = self.region.float()
            f_orig = lambda im, m=Inpainter(orig, self.keep).eval(): m(im) * r.to(im.device)
            f_unl = lambda im, m=Inpainter(unl, self.keep).eval(): m(im) * r.to(im.device)
            res = uma(f_orig, f_unl, ev.im,
                      eps=self.g.eps if bounded else None,
                      step_size=self.g.step_size if bounded else self.g.unbounded_step_size,
                      steps=self.g.steps, loss="mse", task="generative",
                      batch_size=256, seed=self.exp.profile.seed, device=self.exp.device,
                      progress=self.exp.progress)
            return ({"x_adv": res.x_adv, "outputs": self.composite(res.outputs, ev.i0),
                     "loss_history": res.loss_history}, {"seconds": res.seconds})

        t, meta, _ = cache.cached("mae_uma", key, build, self.exp.force)
        return {**t, **meta}

    def outputs(self) -> dict[tuple[str, str, str], torch.Tensor]:
        """(method, attack, side) -> output images; method "Original" gives I1 ("none")."""
        orig = self.original().model
        out = {}
        for side in ("retain", "forget"):
            ev = self.eval_set(side)
            out[("Original", "none", side)] = self.composite(self.inpaint(orig, ev.im), ev.i0)
            for m in GENERATIVE_METHODS:
                unl = self.unlearned(m).model
                out[(m, "none", side)] = self.composite(self.inpaint(unl, ev.im), ev.i0)
                for a in ATTACKS[1:]:
                    out[(m, a, side)] = self.attacked(m, side, a)["outputs"]
        return out

    # ----------------------------------------------------------------- tables
    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
        """Table 3 (IS / FID per method, attack and side) and Table 7 (L1 to I1)."""
        clf = self.exp.original().model
        feats: Callable[[torch.Tensor], torch.Tensor] = classifier_features(clf)

        @torch.no_grad()
        def probs(x: torch.Tensor) -> torch.Tensor:
            clf.eval()
            return torch.softmax(clf(x.to(self.exp.device)), 1).cpu()

        outs = self.outputs()
        i0 = {s: self.eval_set(s).i0 for s in ("retain", "forget")}
        ref_feats = {s: feats(i0[s].to(self.exp.device)).cpu() for s in i0}
        t3, t7 = [], []
        keys = [("Original", "none")] + [(m, a) for m in GENERATIVE_METHODS for a in ATTACKS]
        for m, a in keys:
            row: dict[str, Any] = {"method": m, "attack": a}
            for s, tag in (("retain", "R"), ("forget", "F")):
                o = outs[(m, a, s)]
                row[f"IS_{tag}"] = inception_score(probs(o).numpy())[0]
                row[f"FID_{tag}"] = fid_from_features(feats(o.to(self.exp.device)).cpu(), ref_feats[s])
                if m != "Original":
                    per_img, _ = l1_distance(o, outs[("Original", "none", s)])
                    n_values = int(self.region.sum()) * self.cfg.channels
                    t7.append({"method": m, "set": s, "attack": a, "L1_per_image": per_img,
                               "L1_per_pixel": per_img / n_values})
            t3.append(row)
        return (pd.DataFrame(t3, columns=TABLE3_COLUMNS), pd.DataFrame(t7, columns=TABLE7_COLUMNS),
                outs)

    def grid(self, method: str, side: str, n: int = 6) -> dict[str, torch.Tensor]:
        """Rows I0, Im, I1, I2, I3 (8/255) for the figure of ``method`` on ``side``."""
        ev = self.eval_set(side)
        orig = self.original().model
        unl = self.unlearned(method).model
        return {"I0 ground truth": ev.i0[:n], "Im masked": ev.im[:n],
                "I1 original": self.composite(self.inpaint(orig, ev.im[:n]), ev.i0[:n]),
                "I2 unlearned": self.composite(self.inpaint(unl, ev.im[:n]), ev.i0[:n]),
                "I3 UMA 8/255": self.attacked(method, side, "8/255")["outputs"][:n],
                "I3 unbounded": self.attacked(method, side, "unbounded")["outputs"][:n]}


def l1_ratio(t7: pd.DataFrame, method: str) -> float:
    """Forget-set L1(I2, I1) over retain-set L1(I2, I1): how much unlearning happened."""
    q = lambda s: float(t7[(t7.method == method) & (t7.set == s) & (t7.attack == "none")].L1_per_image.iloc[0])
    r = q("retain")
    return q("forget") / r if r > 0 else math.inf
